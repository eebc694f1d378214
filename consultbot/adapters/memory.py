"""In-memory twins of the ports, for tests and dry runs. Same semantics as the SQLite store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from consultbot.domain.chat.audience import Fault
from consultbot.domain.consult.escalation import Consult, fold
from consultbot.domain.consult.events import Event, RoomCreated
from consultbot.domain.consult.stats import (
    ConsultSummary,
    FactTable,
    frozen_unit,
    summarise,
    table_of,
    unit_of,
)
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.handover import Handover, HandoverState, cover
from consultbot.domain.duty.oncall import OnDuty, on_duty
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.duty.roster import Period, Shift, in_periods, period_list
from consultbot.domain.errors import NothingToRollBack
from consultbot.domain.files.uploads import PendingUpload
from consultbot.domain.types import ConsultId, Dataset, ServiceId, UserId
from consultbot.ports import (
    AdminAction,
    Clock,
    ConflictError,
    ConsultStore,
    Content,
    DataStore,
    Messenger,
    OutboxItem,
    OutboxKind,
    Outgoing,
    PoolRoom,
    Purged,
    RoomRefused,
    Timers,
    UnsafeRoom,
    Version,
)


@dataclass
class _RosterRow:
    shift: Shift
    version: int
    removed_in: int | None = None


@dataclass
class MemoryDataStore(DataStore):
    """Keeps every version in lists, like the SQLite store keeps them in tables."""

    _versions: list[Version] = field(default_factory=list)
    _catalogues: dict[int, Catalogue] = field(default_factory=dict)
    _staff: dict[int, list[StaffMember]] = field(default_factory=dict)
    _directory: dict[int, list[DirectoryEntry]] = field(default_factory=dict)
    _roster: list[_RosterRow] = field(default_factory=list)
    _uploads: dict[UserId, PendingUpload] = field(default_factory=dict)
    _admin_actions: list[AdminAction] = field(default_factory=list)

    _handovers: list[Handover] = field(default_factory=list)

    def _active(self, dataset: Dataset) -> int | None:
        live = [v.number for v in self._versions if v.dataset is dataset and not v.rolled_back]
        return max(live) if live else None

    def _new_version(self, dataset: Dataset, source: str, summary: str, now: datetime) -> int:
        number = 1 + max((v.number for v in self._versions if v.dataset is dataset), default=0)
        self._versions.append(
            Version(
                dataset=dataset,
                number=number,
                imported_at=now,
                source=source,
                summary=summary,
                active=True,
                rolled_back=False,
            )
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
            v.number for v in self._versions if v.dataset is dataset and not v.rolled_back
        )
        if len(live) < 2:
            raise NothingToRollBack(dataset.value)
        undone = live[-1]
        self._versions = [
            replace(v, rolled_back=True, active=False)
            if v.dataset is dataset and v.number == undone
            else v
            for v in self._versions
        ]
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
            (replace(v, active=v.number == active) for v in self._versions if v.dataset is dataset),
            key=lambda v: -v.number,
        )


@dataclass
class MemoryConsultStore(ConsultStore):
    """Consult logs, outbox and bot state in dictionaries."""

    _logs: dict[ConsultId, list[Event]] = field(default_factory=dict)
    _outbox: list[tuple[OutboxItem, bool]] = field(default_factory=list)
    _handled: set[str] = field(default_factory=set)
    _meta: dict[str, str] = field(default_factory=dict)
    _numbers: int = 0
    staff: DataStore | None = None  # where requesters' units come from, for statistics

    _reminders: dict[tuple[UserId, datetime], SentReminder] = field(default_factory=dict)
    _pool: list[PoolRoom] = field(default_factory=list)
    # Retention: when outbox entries were sent and events handled; purged consults' summaries.
    _outbox_next: int = 0
    _sent_at: dict[int, datetime] = field(default_factory=dict)
    _handled_at: dict[str, datetime] = field(default_factory=dict)
    _purged: dict[ConsultId, ConsultSummary] = field(default_factory=dict)

    async def allocate_consult(self, *, now: datetime) -> ConsultId:
        self._numbers += 1
        consult = ConsultId(f"K-{self._numbers:06d}")
        self._logs[consult] = []
        return consult

    async def record(
        self,
        consult: ConsultId | None,
        expected_length: int,
        events: Sequence[Event],
        outgoing: Sequence[Outgoing],
        *,
        handled: str | None = None,
        sent: int | None = None,
        now: datetime,
    ) -> list[int]:
        if consult is not None and events:
            log = self._logs.get(consult)
            if log is None or len(log) != expected_length:
                raise ConflictError(f"{consult}: expected {expected_length} events")
            fold([*log, *events])  # refuse a log that does not fold, as SQLite does
            log.extend(events)
        ids = []
        for item in outgoing:
            self._outbox_next += 1  # never reused, also after a purge
            number = self._outbox_next
            stored = OutboxItem(
                id=number,
                kind=item.kind,
                consult=item.consult,
                room=item.room,
                payload=item.payload,
                txn=f"consultbot-memory-{number}",
            )
            self._outbox.append((stored, False))
            ids.append(number)
        if handled is not None:
            self._handled.add(handled)
            self._handled_at.setdefault(handled, now)
        if sent is not None:
            await self.sent(sent, now=now)
        return ids

    async def events(self, consult: ConsultId) -> list[Event]:
        return list(self._logs.get(consult, []))

    async def consult(self, consult: ConsultId) -> Consult | None:
        log = self._logs.get(consult)
        return fold(log) if log else None

    def _all(self) -> list[Consult]:
        found = [fold(log) for _, log in sorted(self._logs.items(), reverse=True) if log]
        return found

    async def open_consults(self) -> list[Consult]:
        return [c for c in self._all() if c.is_open or c.deadline is not None]

    async def consult_for_room(self, room: str) -> ConsultId | None:
        return next((c.id for c in self._all() if c.room == room), None)

    async def consults_of(self, user: UserId, *, open_only: bool = True) -> list[Consult]:
        return [
            c
            for c in self._all()
            if (user == c.requester or user in c.paged_users) and (c.is_open or not open_only)
        ]

    async def consults_between(self, start: datetime, end: datetime) -> list[Consult]:
        return [c for c in self._all() if start <= c.requested_at < end]

    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        units: dict[str, str] = {}
        if self.staff is not None:
            units = {m.user: m.unit for m in await self.staff.staff() if m.unit}
        summaries = [summarise(log) for _, log in sorted(self._logs.items()) if log]
        summaries += self._purged.values()
        return table_of(
            s.facts(unit_of(s.requester, units))
            for s in sorted(summaries, key=lambda s: s.requested_at)
            if s.counted and start <= s.requested_at < end
        )

    async def duty_reminders(self, since: datetime) -> list[SentReminder]:
        found = [r for r in self._reminders.values() if r.end > since]
        return sorted(found, key=lambda r: (r.start, r.user))

    async def record_reminders(
        self,
        remove: Sequence[SentReminder],
        add: Sequence[SentReminder],
        outgoing: Sequence[Outgoing],
        *,
        now: datetime,
    ) -> None:
        for reminder in remove:
            self._reminders.pop((reminder.user, reminder.start), None)
        for reminder in add:
            self._reminders[(reminder.user, reminder.start)] = reminder
        await self.record(None, 0, [], outgoing, now=now)

    async def pending(self) -> list[OutboxItem]:
        return [item for item, done in self._outbox if not done]

    async def sent(self, item: int, *, now: datetime) -> None:
        # A sent entry keeps no payload, as in the SQL stores.
        self._outbox = [
            (replace(i, payload={}), True) if i.id == item else (i, done)
            for i, done in self._outbox
        ]
        self._sent_at.setdefault(item, now)

    async def is_handled(self, event_id: str) -> bool:
        return event_id in self._handled

    async def add_pool_room(self, room: str, *, policy: str, now: datetime) -> None:
        if all(p.room != room for p in self._pool):
            self._pool.append(PoolRoom(room=room, created_at=now, policy=policy))

    async def pool_rooms(self) -> list[PoolRoom]:
        return sorted(self._pool, key=lambda p: (p.created_at, p.room))

    async def drop_pool_room(self, room: str) -> bool:
        before = len(self._pool)
        self._pool = [p for p in self._pool if p.room != room]
        return len(self._pool) < before

    async def claim_pool_room(
        self,
        consult: ConsultId,
        expected_length: int,
        *,
        policy: str,
        made_after: datetime,
        now: datetime,
    ) -> str | None:
        usable = [p for p in await self.pool_rooms() if p.policy == policy]
        found = next((p for p in usable if p.created_at > made_after), None)
        if found is None:
            return None
        await self.record(
            consult, expected_length, [Event.of(now, RoomCreated(room=found.room))], [], now=now
        )
        await self.drop_pool_room(found.room)
        return found.room

    async def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    async def meta_under(self, prefix: str) -> dict[str, str]:
        return {k: v for k, v in self._meta.items() if k.startswith(prefix)}

    # -- retention (as the SQLite store: ports.py) ----------------------------------------------

    def _quiet(self, before: datetime) -> list[tuple[ConsultId, Consult]]:
        """The consults, not purged, closed/unanswered/withdrawn without a deadline, whose
        last event is before `before`, by number."""
        found = []
        for cid, log in sorted(self._logs.items()):
            if log and log[-1].at < before:
                consult = fold(log)
                if not consult.is_open and consult.deadline is None:
                    found.append((cid, consult))
        return found

    def _leaves(self, consult: ConsultId) -> list[tuple[OutboxItem, bool]]:
        return [
            (item, done)
            for item, done in self._outbox
            if item.consult == consult and item.kind is OutboxKind.LEAVE
        ]

    async def leave_closed_rooms(self, quiet_since: datetime, *, now: datetime) -> list[str]:
        rooms = [
            (cid, c.room) for cid, c in self._quiet(quiet_since) if c.room and not self._leaves(cid)
        ]
        leaving = [Outgoing(kind=OutboxKind.LEAVE, room=r, payload={}, consult=c) for c, r in rooms]
        await self.record(None, 0, [], leaving, now=now)
        return [room for _, room in rooms]

    async def purge_consults(self, before: datetime, *, now: datetime) -> Purged:
        units: dict[str, str] = {}
        if self.staff is not None:
            units = {m.user: m.unit for m in await self.staff.staff() if m.unit}
        consults = events = 0
        gone: set[ConsultId] = set()
        for cid, consult in self._quiet(before):
            if consult.room and not any(done for _, done in self._leaves(cid)):
                continue  # its room is not left yet
            summary = summarise(self._logs[cid])
            unit = unit_of(summary.requester, units)
            self._purged[cid] = replace(summary, requester=frozen_unit(unit))
            events += len(self._logs[cid])
            self._logs[cid] = []
            consults += 1
            gone.add(cid)
        newest = max((item.id for item, _ in self._outbox), default=0)
        kept = [
            (item, done)
            for item, done in self._outbox
            if item.consult not in gone
            and not (
                item.consult is None
                and done
                and self._sent_at.get(item.id, now) < before
                and item.id < newest
            )
        ]
        outbox = len(self._outbox) - len(kept)
        self._outbox = kept
        old = {e for e in self._handled if e.startswith("$") and self._handled_at[e] < before}
        self._handled -= old
        return Purged(consults=consults, events=events, outbox=outbox, handled=len(old))


@dataclass
class ManualClock(Clock):
    """A clock that tests move by hand."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.current += delta


@dataclass
class ManualTimers(Timers):
    """Timers that fire only when a test says so."""

    due: dict[str, tuple[datetime, Callable[[], Awaitable[None]]]] = field(default_factory=dict)

    def schedule(self, key: str, at: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        self.due[key] = (at, callback)

    def cancel(self, key: str) -> None:
        self.due.pop(key, None)

    async def fire_until(self, now: datetime) -> int:
        """Run every timer due at or before `now`, in deadline order; return how many ran."""
        ran = 0
        while True:
            ready = sorted((at, key) for key, (at, _) in self.due.items() if at <= now)
            if not ready:
                return ran
            _, key = ready[0]
            _, callback = self.due.pop(key)
            await callback()
            ran += 1


@dataclass
class Sent:
    """One thing the in-memory messenger was asked to do."""

    action: str
    room: str
    content: Content | None = None
    users: tuple[UserId, ...] = ()
    txn: str = ""
    event_id: str = ""
    data: bytes = b""  # an image's bytes (action "image")
    name: str = ""  # an image's file name
    event: dict[str, Any] = field(default_factory=dict)  # a non-message event's content


@dataclass
class MemoryMessenger(Messenger):
    """Records what would go to Matrix; deduplicates transaction ids as a homeserver does."""

    log: list[Sent] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    state: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0
    _txns: dict[str, str] = field(default_factory=dict)
    _rooms: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    policy: str = "1"
    _pooled: int = 0
    # Who can read a room, as the Matrix adapter would find it when sending: rooms people
    # opened that are unfit for answers, and rooms where someone from elsewhere is invited.
    unfit_rooms: dict[str, tuple[Fault, ...]] = field(default_factory=dict)
    outsiders: set[str] = field(default_factory=set)
    _made: int = 0
    owned: set[str] = field(default_factory=set)  # rooms the bot made, or the service says so
    #: Rooms the bot made that fail the room policy (room → faults), as a test sets them up.
    unsafe: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def own_room(self, room: str) -> None:
        self.owned.add(room)

    def _vet(self, room: str) -> None:
        """As the Matrix adapter: nothing goes into a room of the bot's that fails the policy
        (a room the bot neither made nor was told it made is not the policy's)."""
        if room in self.unsafe and room in self.owned:
            raise UnsafeRoom(room, self.unsafe[room])

    def _maybe_fail(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("homeserver unreachable (simulated)")

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        self._maybe_fail()
        if key in self._rooms and self._rooms[key] not in self.unsafe:
            return self._rooms[key]
        self._made += 1
        room = f"!room{self._made}:localhost"
        self._rooms[key] = room
        self.owned.add(room)
        self.log.append(Sent(action="create", room=room, users=tuple(invite)))
        return room

    async def create_pool_room(self) -> str:
        self._maybe_fail()
        self._pooled += 1
        room = f"!pool{self._pooled}:localhost"
        self.owned.add(room)
        self.log.append(Sent(action="create", room=room))
        return room

    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        self._maybe_fail()
        self._vet(room)
        self.log.append(Sent(action="invite", room=room, users=tuple(invite)))

    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        self._maybe_fail()
        self._vet(room)
        self.names[room] = name

    def pool_policy(self) -> str:
        return self.policy

    async def invite(self, room: str, users: Sequence[UserId]) -> None:
        self._maybe_fail()
        self._vet(room)
        self.log.append(Sent(action="invite", room=room, users=tuple(users)))

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        self._maybe_fail()
        if room in self.unfit_rooms:
            raise RoomRefused(room, self.unfit_rooms[room], fit=False)
        if numbers and room in self.outsiders:
            raise RoomRefused(room, (Fault.FOREIGN_MEMBER,), fit=True)
        self._vet(room)
        if txn in self._txns:
            return self._txns[txn]
        event_id = f"$sent{len(self.log) + 1}"
        self._txns[txn] = event_id
        self.log.append(Sent(action="send", room=room, content=content, txn=txn, event_id=event_id))
        return event_id

    async def kick(self, room: str, user: UserId, *, reason: str) -> None:
        self._maybe_fail()
        self.log.append(Sent(action="kick", room=room, users=(user,)))

    async def send_event(
        self, room: str, event_type: str, content: Mapping[str, Any], *, txn: str
    ) -> str:
        self._maybe_fail()
        self._vet(room)
        if txn in self._txns:
            return self._txns[txn]
        event_id = f"$sent{len(self.log) + 1}"
        self._txns[txn] = event_id
        self.log.append(
            Sent(action=event_type, room=room, txn=txn, event_id=event_id, event=dict(content))
        )
        return event_id

    async def send_image(
        self, room: str, data: bytes, *, name: str, width: int, height: int, txn: str
    ) -> str:
        self._maybe_fail()
        self._vet(room)
        if txn in self._txns:
            return self._txns[txn]
        event_id = f"$sent{len(self.log) + 1}"
        self._txns[txn] = event_id
        self.log.append(
            Sent(action="image", room=room, txn=txn, event_id=event_id, data=data, name=name)
        )
        return event_id

    async def redact(self, room: str, event_id: str, *, reason: str, txn: str) -> bool:
        self._maybe_fail()
        self.log.append(Sent(action="redact", room=room, txn=txn, event_id=event_id))
        return True

    async def leave(self, room: str) -> None:
        self.log.append(Sent(action="leave", room=room))

    async def put_state(
        self, room: str, kind: str, state_key: str, content: dict[str, Any]
    ) -> None:
        self._maybe_fail()
        self._vet(room)
        self.state[(room, kind, state_key)] = content
        self.log.append(Sent(action="state", room=room))

    async def message_text(self, room: str, event_id: str) -> str | None:
        return self.texts.get(event_id)

    def sent_to(self, room: str) -> list[Content]:
        """Every message sent to `room`, in order."""
        return [s.content for s in self.log if s.action == "send" and s.room == room and s.content]
