"""The in-memory consult log, outbox, pool, reminders, meta and retention: dictionaries with
the SQL store's semantics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from consultbot.domain.consult.escalation import Consult, fold
from consultbot.domain.consult.events import Event
from consultbot.domain.consult.requester import frozen_requester
from consultbot.domain.consult.stats import (
    ConsultSummary,
    FactTable,
    frozen_unit,
    summarise,
    table_of,
)
from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.types import ConsultId, RequesterKind, UserId
from consultbot.ports import (
    ConflictError,
    ConsultStore,
    DataStore,
    OutboxItem,
    OutboxKind,
    Outgoing,
    PoolRoom,
    PoolRoomGone,
    Purged,
)


@dataclass
class MemoryConsultStore(ConsultStore):
    """Consult logs, outbox and bot state in dictionaries."""

    _logs: dict[ConsultId, list[Event]] = field(default_factory=dict)
    _outbox: list[tuple[OutboxItem, datetime | None]] = field(default_factory=list)  # when sent
    _handled: dict[str, datetime] = field(default_factory=dict)  # event id → when handled
    _meta: dict[str, str] = field(default_factory=dict)
    _numbers: int = 0
    # The staff list and catalogue that freeze the unit and kind of a consult whose requested
    # entry has none (written before it recorded them), on its first record, as SQL does.
    staff: DataStore | None = None
    _frozen: dict[ConsultId, tuple[str, str]] = field(default_factory=dict)

    _reminders: dict[tuple[UserId, datetime], SentReminder] = field(default_factory=dict)
    _pool: dict[str, PoolRoom] = field(default_factory=dict)
    _outbox_next: int = 0
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
        pool_room: str | None = None,
        now: datetime,
        before: Sequence[Event] | None = None,
    ) -> list[int]:
        log = self._logs.get(consult) if consult is not None and events else None
        if consult is not None and events:
            if log is None or len(log) != expected_length:
                raise ConflictError(f"{consult}: expected {expected_length} events")
            fold([*log, *events])  # refuse a log that does not fold, as SQLite does
            if not log and "requester_kind" not in events[0].data:  # requested before it was
                self._frozen[consult] = await self._freeze(str(events[0].data["requester"]))
        if pool_room is not None and not await self.drop_pool_room(pool_room):
            raise PoolRoomGone(pool_room)  # checked before anything changed: nothing recorded
        if log is not None:
            log.extend(events)
        ids = self._queue(outgoing)
        if handled is not None:
            self._handled.setdefault(handled, now)
        if sent is not None:
            await self.sent(sent, now=now)
        return ids

    def _queue(self, outgoing: Sequence[Outgoing]) -> list[int]:
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
            self._outbox.append((stored, None))
            ids.append(number)
        return ids

    async def events(self, consult: ConsultId) -> list[Event]:
        return list(self._logs.get(consult, []))

    async def consult(self, consult: ConsultId) -> Consult | None:
        log = self._logs.get(consult)
        return fold(log) if log else None

    def _all(self) -> list[Consult]:
        return [fold(log) for _, log in sorted(self._logs.items(), reverse=True) if log]

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

    async def asked_by(self, user: UserId, since: datetime) -> list[Consult]:
        return [c for c in self._all() if c.requester == user and c.requested_at >= since]

    async def consults_between(self, start: datetime, end: datetime) -> list[Consult]:
        return [c for c in self._all() if start <= c.requested_at < end]

    async def _freeze(self, requester: str) -> tuple[str, str]:
        """(unit, kind) of `requester` in the staff list and catalogue now."""
        if self.staff is None:
            return "", RequesterKind.UNKNOWN.value
        member = await self.staff.staff_member(UserId(requester))
        unit, kind = frozen_requester(member.unit if member else None, await self.staff.catalogue())
        return unit, kind.value

    def _summary(self, consult: ConsultId) -> ConsultSummary:
        """The consult's summary, with the unit and kind frozen for it if its log has none."""
        summary = summarise(self._logs[consult])
        if consult in self._frozen:
            unit, kind = self._frozen[consult]
            summary = replace(summary, unit=unit, requester_kind=kind)
        return summary

    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        summaries = [self._summary(cid) for cid, log in sorted(self._logs.items()) if log]
        summaries += self._purged.values()
        return table_of(
            s.facts(s.unit)
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
        self._reminders.update({(r.user, r.start): r for r in add})
        self._queue(outgoing)

    async def pending(self) -> list[OutboxItem]:
        return [item for item, sent_at in self._outbox if sent_at is None]

    async def sent(self, item: int, *, now: datetime) -> None:
        # A sent entry keeps no payload, as in the SQL stores.
        self._outbox = [
            (replace(i, payload={}), at or now) if i.id == item else (i, at)
            for i, at in self._outbox
        ]

    async def is_handled(self, event_id: str) -> bool:
        return event_id in self._handled

    async def add_pool_room(self, room: str, *, policy: str, now: datetime) -> None:
        self._pool.setdefault(room, PoolRoom(room=room, created_at=now, policy=policy))

    async def pool_rooms(self) -> list[PoolRoom]:
        return sorted(self._pool.values(), key=lambda p: (p.created_at, p.room))

    async def drop_pool_room(self, room: str) -> bool:
        return self._pool.pop(room, None) is not None

    async def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    async def delete_meta(self, key: str) -> None:
        self._meta.pop(key, None)

    async def meta_under(self, prefix: str) -> dict[str, str]:
        return {k: v for k, v in self._meta.items() if k.startswith(prefix)}

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

    def _leaves(self, consult: ConsultId) -> list[datetime | None]:
        """When each leave of the consult's room was sent (None: not yet)."""
        return [
            at
            for item, at in self._outbox
            if item.consult == consult and item.kind is OutboxKind.LEAVE
        ]

    async def leave_closed_rooms(self, quiet_since: datetime, *, now: datetime) -> list[str]:
        rooms = [
            (cid, c.room) for cid, c in self._quiet(quiet_since) if c.room and not self._leaves(cid)
        ]
        leaving = [Outgoing(kind=OutboxKind.LEAVE, room=r, payload={}, consult=c) for c, r in rooms]
        self._queue(leaving)
        return [room for _, room in rooms]

    async def purge_consults(self, before: datetime, *, now: datetime) -> Purged:
        events = 0
        gone: set[ConsultId] = set()
        for cid, consult in self._quiet(before):
            if consult.room and all(at is None for at in self._leaves(cid)):
                continue  # its room is not left yet
            summary = self._summary(cid)
            # The unit and kind frozen at request time stay; the requester is only that unit.
            self._purged[cid] = replace(summary, requester=frozen_unit(summary.unit))
            events += len(self._logs[cid])
            self._logs[cid] = []
            gone.add(cid)
        newest = max((item.id for item, _ in self._outbox), default=0)
        kept = [
            (item, at)
            for item, at in self._outbox
            if item.consult not in gone
            and not (item.consult is None and at is not None and at < before and item.id < newest)
        ]
        outbox = len(self._outbox) - len(kept)
        self._outbox = kept
        old = [e for e, at in self._handled.items() if e.startswith("$") and at < before]
        for event_id in old:
            del self._handled[event_id]
        return Purged(consults=len(gone), events=events, outbox=outbox, handled=len(old))
