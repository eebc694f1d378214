"""The consult log in SQL: consult numbers, event logs (compare-and-set on their length),
the outbox, handled Matrix events, duty reminders and the warm room pool.

`record` is the one method that appends to a consult's log (called by the stepper alone,
engine/stepper.py): the entries it is given, never ones of its own; it also takes a pool room
out of the pool in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from consultbot.adapters.sql import stats as stats_sqlite
from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms, to_seconds
from consultbot.adapters.sql.dialect import Connection, marks, one
from consultbot.domain.consult.escalation import Consult, fold
from consultbot.domain.consult.events import Event, EventKind
from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.types import ConsultId, UserId
from consultbot.ports import (
    ConflictError,
    ConsultLog,
    Outbox,
    OutboxItem,
    OutboxKind,
    Outgoing,
    PoolRoom,
    PoolRoomGone,
    PoolRooms,
    ReminderLog,
)

# A sent entry's payload is emptied: it holds staff numbers, and none of it is needed again
# (a resend reads only pending entries).
_MARK_SENT = "UPDATE outbox SET sent_at_ms = $1, payload = '{}' WHERE id = $2"
_UNSENT_IDS = "SELECT id FROM outbox WHERE sent_at_ms IS NULL ORDER BY id"
_UNSENT_FROM = (
    "SELECT id, kind, consult_id, room, payload FROM outbox"
    " WHERE sent_at_ms IS NULL AND id >= $1 ORDER BY id"
)
QUEUE_ROWS = 150  # outbox entries per INSERT: 750 values, under SQLite's oldest limit of 999


async def read_events(db: Connection, consult: ConsultId) -> list[Event]:
    """The consult's log, oldest first, read on `db` (inside the caller's lock)."""
    rows = await db.execute_fetchall(
        "SELECT at_ms, kind, data FROM consult_event WHERE consult_id = $1 ORDER BY seq", (consult,)
    )
    return [Event(kind=EventKind(r[1]), at=from_ms(r[0]), data=json.loads(r[2])) for r in rows]


async def queue(db: Connection, outgoing: Sequence[Outgoing], now: datetime) -> list[int]:
    """Put `outgoing` in the outbox, inside the caller's transaction; their ids, in order.

    One statement (one round trip to aiosqlite's thread) per `QUEUE_ROWS` entries. The ids are
    allocated in the rows' order (SQLite's rowid, PostgreSQL's identity, row by row), whatever
    order RETURNING gives them in: sorted, they are the entries' ids in order."""
    ids: list[int] = []
    for start in range(0, len(outgoing), QUEUE_ROWS):
        chunk = outgoing[start : start + QUEUE_ROWS]
        rows = ", ".join(f"({marks(5, 5 * n + 1)})" for n in range(len(chunk)))
        values = [
            value
            for item in chunk
            for value in (
                item.kind,
                item.consult,
                item.room,
                json.dumps(item.payload, ensure_ascii=False),
                to_ms(now),
            )
        ]
        returned = await db.execute_fetchall(
            "INSERT INTO outbox (kind, consult_id, room, payload, created_at_ms)"
            f" VALUES {rows} RETURNING id",
            values,
        )
        ids += sorted(int(r[0]) for r in returned)
    return ids


class ConsultLogSql(SqlBase, ConsultLog, Outbox, PoolRooms, ReminderLog):
    """Consult logs and what is written in the same transactions."""

    async def allocate_consult(self, *, now: datetime) -> ConsultId:
        async with self._transaction() as db:
            [number] = await one(db, "SELECT coalesce(max(number), 0) + 1 FROM consult")
            consult = ConsultId(f"K-{number:06d}")
            await db.execute(
                "INSERT INTO consult (id, number, created_at) VALUES ($1, $2, $3)",
                (consult, number, to_seconds(now)),
            )
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
        async with self._transaction() as db:
            if consult is not None and events:
                await self._append(db, consult, expected_length, events, before)
            if pool_room is not None:
                cursor = await db.execute("DELETE FROM room_pool WHERE room = $1", (pool_room,))
                if cursor.rowcount != 1:
                    raise PoolRoomGone(pool_room)  # taken or dropped: nothing is recorded
            ids = await queue(db, outgoing, now)
            if handled is not None:
                await db.execute(
                    "INSERT INTO handled_event VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    (handled, to_ms(now)),
                )
            if sent is not None:
                await db.execute(_MARK_SENT + " AND sent_at_ms IS NULL", (to_ms(now), sent))
        return ids

    async def _append(
        self,
        db: Connection,
        consult: ConsultId,
        expected_length: int,
        events: Sequence[Event],
        before: Sequence[Event] | None,
    ) -> None:
        row = await one(db, "SELECT length FROM consult WHERE id = $1", (consult,))
        if row is None:
            raise ConflictError(f"{consult} was not allocated")
        if int(row[0]) != expected_length:
            raise ConflictError(f"{consult} has {row[0]} events, expected {expected_length}")
        await db.executemany(
            "INSERT INTO consult_event VALUES ($1, $2, $3, $4, $5)",
            [
                (consult, n, to_ms(e.at), e.kind, json.dumps(e.data, ensure_ascii=False))
                for n, e in enumerate(events, expected_length)
            ],
        )
        # Entries are only ever appended (a purge empties the log and zeroes its length, see
        # retention.py): with the length as expected, the caller's read is the log's start.
        if before is not None and len(before) == expected_length:
            log = [*before, *events]
        else:
            log = await read_events(db, consult)
        state = fold(log)
        await stats_sqlite.write(
            db, consult, expected_length + len(events), log, committed=self._stat_codes
        )
        await db.execute(
            "UPDATE consult SET length = $1, requester = $2, service = $3, track = $4, state = $5,"
            " room = $6, requested_at_ms = $7, deadline_ms = $8 WHERE id = $9",
            (
                expected_length + len(events),
                state.requester,
                state.service,
                state.track.value,
                state.state.value,
                state.room or None,
                to_ms(state.requested_at),
                to_ms(state.deadline) if state.deadline else None,
                consult,
            ),
        )
        await db.executemany(
            "INSERT INTO consult_party VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(consult, user) for user in (state.requester, *state.paged_users)],
        )

    async def events(self, consult: ConsultId) -> list[Event]:
        async with self._lock:
            return await read_events(self._db, consult)

    async def consult(self, consult: ConsultId) -> Consult | None:
        events = await self.events(consult)
        return fold(events) if events else None

    async def open_consults(self) -> list[Consult]:
        return await self._consults(
            "c.deadline_ms IS NOT NULL"
            " OR c.state IN ('offered', 'queued', 'paging', 'acknowledged')"
        )

    async def consult_for_room(self, room: str) -> ConsultId | None:
        value = await self._one("SELECT id FROM consult WHERE room = $1", (room,))
        return ConsultId(value) if value else None

    async def consults_of(self, user: UserId, *, open_only: bool = True) -> list[Consult]:
        condition = 'c.id IN (SELECT consult_id FROM consult_party WHERE "user" = $1)'
        if open_only:
            condition += " AND c.state IN ('offered', 'queued', 'paging', 'acknowledged')"
        return await self._consults(condition, (user,))

    async def asked_by(self, user: UserId, since: datetime) -> list[Consult]:
        return await self._consults(
            "c.requester = $1 AND c.requested_at_ms >= $2", (user, to_ms(since))
        )

    async def duty_reminders(self, since: datetime) -> list[SentReminder]:
        rows = await self._rows(
            'SELECT "user", start_ms, end_ms, told FROM duty_reminder WHERE end_ms > $1'
            ' ORDER BY start_ms, "user"',
            (to_ms(since),),
        )
        return [
            SentReminder(user=UserId(r[0]), start=from_ms(r[1]), end=from_ms(r[2]), told=r[3])
            for r in rows
        ]

    async def record_reminders(
        self,
        remove: Sequence[SentReminder],
        add: Sequence[SentReminder],
        outgoing: Sequence[Outgoing],
        *,
        now: datetime,
    ) -> None:
        async with self._transaction() as db:
            await db.executemany(
                'DELETE FROM duty_reminder WHERE "user" = $1 AND start_ms = $2',
                [(r.user, to_ms(r.start)) for r in remove],
            )
            await db.executemany(
                "INSERT INTO duty_reminder VALUES ($1, $2, $3, $4, $5)"
                ' ON CONFLICT ("user", start_ms)'
                " DO UPDATE SET end_ms = excluded.end_ms, told = excluded.told,"
                " sent_at_ms = excluded.sent_at_ms",
                [(r.user, to_ms(r.start), to_ms(r.end), r.told, to_ms(now)) for r in add],
            )
            await queue(db, outgoing, now)

    async def pending(self) -> list[OutboxItem]:
        """The unsent entries, oldest first. Each lane worker asks after every send, so the
        entries already read are kept decoded (an unsent entry never changes; only its being
        sent does): each call reads the ids still unsent and decodes only the new ones."""
        ids = [int(r[0]) for r in await self._rows(_UNSENT_IDS)]
        known = self._unsent
        missing = [i for i in ids if i not in known]
        if missing:
            instance = await self._instance()
            rows = await self._rows(_UNSENT_FROM, (missing[0],))
            for r in rows:
                known[int(r[0])] = OutboxItem(
                    id=int(r[0]),
                    kind=OutboxKind(r[1]),
                    consult=ConsultId(r[2]) if r[2] else None,
                    room=r[3],
                    payload=json.loads(r[4]),
                    txn=f"consultbot-{instance}-{r[0]}",
                )
        items = [known[i] for i in ids if i in known]
        self._unsent = {item.id: item for item in items}
        return items

    async def sent(self, item: int, *, now: datetime) -> None:
        await self._write(_MARK_SENT, (to_ms(now), item))

    async def is_handled(self, event_id: str) -> bool:
        return (
            await self._one("SELECT 1 FROM handled_event WHERE event_id = $1", (event_id,))
            is not None
        )

    async def add_pool_room(self, room: str, *, policy: str, now: datetime) -> None:
        await self._write(
            "INSERT INTO room_pool VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            (room, to_ms(now), policy),
        )

    async def pool_rooms(self) -> list[PoolRoom]:
        rows = await self._rows(
            "SELECT room, created_at_ms, policy FROM room_pool ORDER BY created_at_ms, room"
        )
        return [PoolRoom(room=r[0], created_at=from_ms(r[1]), policy=r[2]) for r in rows]

    async def drop_pool_room(self, room: str) -> bool:
        return await self._write("DELETE FROM room_pool WHERE room = $1", (room,)) > 0
