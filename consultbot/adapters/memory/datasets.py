"""The in-memory data sets: every version kept, as the SQL store keeps them in tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from consultbot.adapters.memory.feeds import MemoryFeeds
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.handover import Handover, HandoverState, cover
from consultbot.domain.duty.oncall import OnDuty, on_duty
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.roster import Period, Shift, in_periods, period_list
from consultbot.domain.errors import NothingToRollBack
from consultbot.domain.files.uploads import PendingUpload
from consultbot.domain.types import Dataset, ServiceId, UserId
from consultbot.ports import AdminAction, DataStore, Version


@dataclass
class _RosterRow:
    shift: Shift
    version: int
    removed_in: int | None = None


@dataclass
class MemoryDataStore(MemoryFeeds, DataStore):
    _versions: dict[tuple[Dataset, int], Version] = field(default_factory=dict)
    _catalogues: dict[int, Catalogue] = field(default_factory=dict)
    _staff: dict[int, list[StaffMember]] = field(default_factory=dict)
    _directory: dict[int, list[DirectoryEntry]] = field(default_factory=dict)
    _roster: list[_RosterRow] = field(default_factory=list)
    _uploads: dict[UserId, PendingUpload] = field(default_factory=dict)
    _admin_actions: list[AdminAction] = field(default_factory=list)

    _handovers: list[Handover] = field(default_factory=list)

    def _active(self, dataset: Dataset) -> int | None:
        live = [n for (d, n), v in self._versions.items() if d is dataset and not v.rolled_back]
        return max(live) if live else None

    def _new_version(self, dataset: Dataset, source: str, summary: str, now: datetime) -> int:
        number = 1 + max((n for d, n in self._versions if d is dataset), default=0)
        self._versions[dataset, number] = Version(
            dataset=dataset,
            number=number,
            imported_at=now,
            source=source,
            summary=summary,
            active=True,
            rolled_back=False,
        )
        return number

    async def import_catalogue(self, catalogue: Catalogue, *, source: str, now: datetime) -> int:
        number = self._new_version(Dataset.CATALOGUE, source, f"{len(catalogue)} services", now)
        self._catalogues[number] = catalogue
        return number

    async def catalogue(self) -> Catalogue:
        active = self._active(Dataset.CATALOGUE)
        return self._catalogues[active] if active is not None else Catalogue()

    async def import_roster(
        self,
        shifts: Sequence[Shift],
        periods: Mapping[ServiceId, Period | Sequence[Period]],
        *,
        source: str,
        now: datetime,
    ) -> int:
        number = self._new_version(Dataset.ROSTER, source, f"{len(shifts)} shifts", now)
        spans = {service: period_list(value) for service, value in periods.items()}
        for row in self._roster:
            if row.removed_in is None and in_periods(row.shift, spans.get(row.shift.service, [])):
                row.removed_in = number
        self._roster.extend(_RosterRow(shift, number) for shift in shifts)
        return number

    def _live_shifts(self) -> list[Shift]:
        return [row.shift for row in self._roster if row.removed_in is None]

    async def on_duty(self, service: ServiceId, at: datetime) -> OnDuty:
        return on_duty(service, at, cover(self._live_shifts(), self._handovers))

    async def shifts(
        self, service: ServiceId, start: datetime | None = None, end: datetime | None = None
    ) -> list[Shift]:
        found = [
            s
            for s in cover(self._live_shifts(), self._handovers)
            if s.service == service
            and (start is None or s.end > start)
            and (end is None or s.start < end)
        ]
        return sorted(found, key=lambda s: (s.start, s.level, s.user))

    async def import_staff(
        self, members: Sequence[StaffMember], *, source: str, now: datetime
    ) -> int:
        number = self._new_version(Dataset.STAFF, source, f"{len(members)} people", now)
        self._staff[number] = list(members)
        return number

    async def staff(self) -> list[StaffMember]:
        active = self._active(Dataset.STAFF)
        return list(self._staff[active]) if active is not None else []

    async def staff_member(self, user: UserId) -> StaffMember | None:
        return next((m for m in await self.staff() if m.user == user), None)

    async def import_directory(
        self, entries: Sequence[DirectoryEntry], *, source: str, now: datetime
    ) -> int:
        number = self._new_version(Dataset.DIRECTORY, source, f"{len(entries)} entries", now)
        self._directory[number] = list(entries)
        return number

    async def directory(self) -> list[DirectoryEntry]:
        active = self._active(Dataset.DIRECTORY)
        return list(self._directory[active]) if active is not None else []

    async def rollback(self, dataset: Dataset, *, now: datetime) -> int:
        live = sorted(
            n for (d, n), v in self._versions.items() if d is dataset and not v.rolled_back
        )
        if len(live) < 2:
            raise NothingToRollBack(dataset.value)
        undone = live[-1]
        key = (dataset, undone)
        self._versions[key] = replace(self._versions[key], rolled_back=True, active=False)
        if dataset is Dataset.ROSTER:
            self._roster = [row for row in self._roster if row.version != undone]
            for row in self._roster:
                if row.removed_in == undone:
                    row.removed_in = None
        return live[-2]

    async def add_handovers(self, handovers: Sequence[Handover]) -> list[Handover]:
        added = [replace(h, id=len(self._handovers) + n + 1) for n, h in enumerate(handovers)]
        self._handovers.extend(added)
        return added

    async def handovers(self, state: HandoverState | None = None) -> list[Handover]:
        return [h for h in self._handovers if state is None or h.state is state]

    async def decide_handover(
        self, handover: int, state: HandoverState, *, now: datetime
    ) -> Handover | None:
        for n, found in enumerate(self._handovers):
            if found.id == handover and found.state is HandoverState.OFFERED:
                self._handovers[n] = replace(found, state=state, decided_at=now)
                return self._handovers[n]
        return None

    async def close(self) -> None:
        """Nothing to release."""

    async def save_upload(self, upload: PendingUpload) -> None:
        self._uploads[upload.admin] = upload

    async def pending_upload(self, admin: UserId) -> PendingUpload | None:
        return self._uploads.get(admin)

    async def drop_upload(self, admin: UserId) -> bool:
        return self._uploads.pop(admin, None) is not None

    async def record_admin_action(
        self, *, actor: UserId, action: str, allowed: bool, detail: str, now: datetime
    ) -> None:
        self._admin_actions.append(
            AdminAction(at=now, actor=actor, action=action, allowed=allowed, detail=detail)
        )

    async def admin_actions(self) -> list[AdminAction]:
        return list(self._admin_actions)

    async def versions(self, dataset: Dataset) -> list[Version]:
        active = self._active(dataset)
        return sorted(
            (
                replace(v, active=v.number == active)
                for v in self._versions.values()
                if v.dataset is dataset
            ),
            key=lambda v: -v.number,
        )
