"""The versioned data sets in SQL: catalogue, roster, staff list, contact directory."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from consultbot.adapters.sql.base import from_seconds, to_seconds
from consultbot.adapters.sql.dialect import marks
from consultbot.adapters.sql.handovers import HandoverSql
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.handover import cover
from consultbot.domain.duty.oncall import OnDuty, on_duty
from consultbot.domain.duty.outcomes import OutcomeSets, complete_sets
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.roster import MAX_SHIFT, Period, Shift, period_list
from consultbot.domain.duty.routines import Routine, from_dict, to_dict
from consultbot.domain.errors import NothingToRollBack
from consultbot.domain.types import Dataset, Outcome, ServiceId, ServiceKind, Track, UserId
from consultbot.ports import DataSets, Version

_MAX_SHIFT_SECONDS = int(MAX_SHIFT.total_seconds())
_Step = tuple[str, Iterable[tuple[Any, ...]]]  # a statement and the rows it is run for
_SHIFT_COLUMNS = "service_id, level, start_ts, end_ts, matrix_id, name, phone"


def _shift(row: Sequence[Any]) -> Shift:
    return Shift(
        service=ServiceId(row[0]),
        level=row[1],
        start=from_seconds(row[2]),
        end=from_seconds(row[3]),
        user=UserId(row[4]),
        name=row[5],
        phone=row[6],
    )


class DataSetSql(HandoverSql, DataSets):
    """Every import a new version in one transaction; the previous one kept for rollback."""

    async def _import(
        self, dataset: Dataset, source: str, summary: str, now: datetime, *steps: _Step
    ) -> int:
        """A new version of `dataset`: each step's statement run once per row, with the
        version's number before the row's values."""
        async with self._transaction() as db:
            number = await self._new_version(db, dataset, source, summary, now)
            for sql, rows in steps:
                await db.executemany(sql, ((number, *row) for row in rows))
        self._catalogue = None
        return number

    async def import_catalogue(self, catalogue: Catalogue, *, source: str, now: datetime) -> int:
        rows = [
            (
                position,
                s.id,
                s.name,
                s.kind.value,
                json.dumps([t.value for t in s.tracks]),
                json.dumps(list(s.aliases), ensure_ascii=False),
                s.switchboard,
                s.municipality,
            )
            for position, s in enumerate(catalogue.services)
        ]
        summary = f"{len(catalogue)} services"
        sql = f"INSERT INTO service VALUES ({marks(9)})"
        outcomes = (
            f"INSERT INTO catalogue_outcome VALUES ({marks(3)})",
            [(t.value, json.dumps([o.value for o in os])) for t, os in catalogue.outcome_sets],
        )
        routines = (
            f"INSERT INTO catalogue_routine VALUES ({marks(3)})",
            [
                (s.id, json.dumps([to_dict(r) for r in s.routines], ensure_ascii=False))
                for s in catalogue.services
                if s.routines
            ],
        )
        return await self._import(
            Dataset.CATALOGUE, source, summary, now, (sql, rows), outcomes, routines
        )

    async def catalogue(self) -> Catalogue:
        active = await self._active(Dataset.CATALOGUE)
        if self._catalogue is not None and self._catalogue[0] == active:
            return self._catalogue[1]
        rows = await self._rows(
            "SELECT id, name, kind, tracks, aliases, switchboard, municipality FROM service"
            " WHERE version = $1 ORDER BY position",
            (active,),
        )
        routines = await self._routines(active)
        services = [
            Service(
                id=ServiceId(row[0]),
                name=row[1],
                kind=ServiceKind(row[2]),
                tracks=tuple(Track(t) for t in json.loads(row[3])),
                aliases=tuple(json.loads(row[4])),
                switchboard=row[5],
                municipality=row[6],
                routines=routines.get(row[0], ()),
            )
            for row in rows
        ]
        catalogue = Catalogue(tuple(services), await self._outcome_sets(active))
        self._catalogue = (active, catalogue)
        return catalogue

    async def _routines(self, version: int | None) -> dict[str, tuple[Routine, ...]]:
        """Each service's routines in catalogue `version` (none recorded: the defaults)."""
        rows = await self._rows(
            "SELECT service, routines FROM catalogue_routine WHERE version = $1", (version,)
        )
        return {r[0]: tuple(from_dict(d) for d in json.loads(r[1])) for r in rows}

    async def _outcome_sets(self, version: int | None) -> OutcomeSets:
        """The outcomes each path offers in catalogue `version` (the defaults where it has
        none recorded: a version imported before they were)."""
        rows = await self._rows(
            "SELECT track, outcomes FROM catalogue_outcome WHERE version = $1", (version,)
        )
        named = {Track(r[0]): tuple(Outcome(o) for o in json.loads(r[1])) for r in rows}
        return complete_sets(named)

    async def import_roster(
        self,
        shifts: Sequence[Shift],
        periods: Mapping[ServiceId, Period | Sequence[Period]],
        *,
        source: str,
        now: datetime,
    ) -> int:
        summary = f"{len(shifts)} shifts, {len(periods)} services"
        removed = (
            "UPDATE shift SET removed_in = $1 WHERE service_id = $2 AND removed_in IS NULL"
            " AND start_ts >= $3 AND start_ts < $4",
            [
                (sid, to_seconds(lo), to_seconds(hi))
                for sid, value in periods.items()
                for lo, hi in period_list(value)
            ],
        )
        rows = (
            (s.service, s.level, to_seconds(s.start), to_seconds(s.end), s.user, s.name, s.phone)
            for s in shifts
        )
        added = (f"INSERT INTO shift (version, {_SHIFT_COLUMNS}) VALUES ({marks(8)})", rows)
        return await self._import(Dataset.ROSTER, source, summary, now, removed, added)

    async def on_duty(self, service: ServiceId, at: datetime) -> OnDuty:
        moment = to_seconds(at)
        # One round trip to aiosqlite's thread: most of a lookup's time is the hand-over.
        rows = await self._rows(
            f"SELECT {_SHIFT_COLUMNS} FROM shift WHERE service_id = $1 AND removed_in IS NULL"
            " AND start_ts > $2 AND start_ts <= $3 AND end_ts > $4",
            (service, moment - _MAX_SHIFT_SECONDS, moment, moment),
        )
        layer = await self._layer(service)
        return on_duty(service, at, cover((_shift(row) for row in rows), layer))

    async def shifts(
        self, service: ServiceId, start: datetime | None = None, end: datetime | None = None
    ) -> list[Shift]:
        low = to_seconds(start) - _MAX_SHIFT_SECONDS if start else -(2**62)
        high = to_seconds(end) if end else 2**62
        rows = await self._rows(
            f"SELECT {_SHIFT_COLUMNS} FROM shift WHERE service_id = $1 AND removed_in IS NULL"
            " AND start_ts > $2 AND start_ts < $3 AND end_ts > $4"
            " ORDER BY start_ts, level, matrix_id",
            (service, low, high, to_seconds(start) if start else -(2**62)),
        )
        layer = await self._layer(service)
        if not layer:
            return [_shift(row) for row in rows]
        laid = cover((_shift(row) for row in rows), layer)
        found = [
            s for s in laid if (start is None or s.end > start) and (end is None or s.start < end)
        ]
        return sorted(found, key=lambda s: (s.start, s.level, s.user))

    async def import_staff(
        self, members: Sequence[StaffMember], *, source: str, now: datetime
    ) -> int:
        rows = [(m.user, m.name, m.unit, m.title, m.phone) for m in members]
        sql = f"INSERT INTO staff VALUES ({marks(6)})"
        return await self._import(Dataset.STAFF, source, f"{len(members)} people", now, (sql, rows))

    async def _staff(self, where: str = "", params: tuple[Any, ...] = ()) -> list[StaffMember]:
        active = await self._active(Dataset.STAFF)
        rows = await self._rows(
            "SELECT matrix_id, name, unit, title, phone FROM staff WHERE version = $1"
            f" {where} ORDER BY name, matrix_id",
            (active, *params),
        )
        return [
            StaffMember(user=UserId(r[0]), name=r[1], unit=ServiceId(r[2]), title=r[3], phone=r[4])
            for r in rows
        ]

    async def staff(self) -> list[StaffMember]:
        return await self._staff()

    async def staff_member(self, user: UserId) -> StaffMember | None:
        found = await self._staff("AND matrix_id = $2", (user,))
        return found[0] if found else None

    async def import_directory(
        self, entries: Sequence[DirectoryEntry], *, source: str, now: datetime
    ) -> int:
        rows = [
            (i, e.unit, e.name, e.phone, e.municipality, e.notes) for i, e in enumerate(entries)
        ]
        sql = f"INSERT INTO directory_entry VALUES ({marks(7)})"
        summary = f"{len(entries)} entries"
        return await self._import(Dataset.DIRECTORY, source, summary, now, (sql, rows))

    async def directory(self) -> list[DirectoryEntry]:
        active = await self._active(Dataset.DIRECTORY)
        rows = await self._rows(
            "SELECT unit, name, phone, municipality, notes FROM directory_entry"
            " WHERE version = $1 ORDER BY position",
            (active,),
        )
        return [
            DirectoryEntry(unit=r[0], name=r[1], phone=r[2], municipality=r[3], notes=r[4])
            for r in rows
        ]

    async def rollback(self, dataset: Dataset, *, now: datetime) -> int:
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                "SELECT version FROM dataset_version WHERE dataset = $1 AND rolled_back_at IS NULL"
                " ORDER BY version DESC LIMIT 2",
                (dataset.value,),
            )
            live = [int(r[0]) for r in rows]
            if len(live) < 2:
                raise NothingToRollBack(dataset.value)
            undone, previous = live
            await db.execute(
                "UPDATE dataset_version SET rolled_back_at = $1"
                " WHERE dataset = $2 AND version = $3",
                (to_seconds(now), dataset.value, undone),
            )
            if dataset is Dataset.ROSTER:
                await db.execute("DELETE FROM shift WHERE version = $1", (undone,))
                await db.execute(
                    "UPDATE shift SET removed_in = NULL WHERE removed_in = $1", (undone,)
                )
        self._catalogue = None
        return previous

    async def versions(self, dataset: Dataset) -> list[Version]:
        active = await self._active(dataset)
        rows = await self._rows(
            "SELECT version, imported_at, source, summary, rolled_back_at FROM dataset_version"
            " WHERE dataset = $1 ORDER BY version DESC",
            (dataset.value,),
        )
        return [
            Version(
                dataset=dataset,
                number=int(r[0]),
                imported_at=from_seconds(r[1]),
                source=r[2],
                summary=r[3],
                active=r[0] == active,
                rolled_back=r[4] is not None,
            )
            for r in rows
        ]
