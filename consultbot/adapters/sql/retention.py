"""The retention purge in SQL (consultbot/engine/retention.py; docs/privacy.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from consultbot.adapters.sql.base import SqlBase, to_ms
from consultbot.adapters.sql.consult_log import queue, read_events
from consultbot.adapters.sql.dialect import Connection, marks
from consultbot.domain.consult.escalation import OPEN_STATES, State, fold
from consultbot.domain.consult.stats import frozen_unit
from consultbot.domain.types import ConsultId
from consultbot.ports import OutboxKind, Outgoing, Purged, Retention

_PURGE_BATCH = 50  # consults forgotten per transaction
_SCAN_SLICE = 5000  # consults read per statement by the retention scans


class RetentionSql(SqlBase, Retention):
    """Leaving quiet consults' rooms, then forgetting their metadata."""

    # Plain SQL that both databases run as written (adapters/sql/dialect.py). Every
    # statement holds the store while it runs, so the nightly scans go in slices (by consult
    # number, by outbox id) and the changes in batches: a page never waits long behind them.
    # The outbox and the parties have no index by consult: they are found by id and by key.

    async def _quiet_consults(
        self, before: datetime, among: Sequence[str] = ()
    ) -> list[tuple[str, str | None, str]]:
        """(id, room, requester) of the consults not yet purged (`among` these, when given)
        that are closed, unanswered or withdrawn, have no deadline, and whose last event is
        before `before`; by number. Call it inside a transaction when `among` is given."""
        states = [s.value for s in State if s not in OPEN_STATES]
        first = 2 + len(states)  # the slice's parameters follow the cutoff and the states
        slices: list[tuple[str, list[Any]]]
        if among:
            slices = [(f"c.id IN ({marks(len(among), first)})", list(among))]
        else:
            top = await self._one("SELECT max(number) FROM consult") or 0
            slices = [
                (f"c.number >= ${first} AND c.number < ${first + 1}", [lo, lo + _SCAN_SLICE])
                for lo in range(0, int(top) + 1, _SCAN_SLICE)
            ]
        read = self._db.execute_fetchall if among else self._rows  # `among`: the lock is held
        found: list[tuple[str, str | None, str]] = []
        for where, params in slices:
            rows = await read(
                "SELECT q.id, q.room, q.requester FROM (SELECT c.id, c.room, c.requester,"
                " c.number, (SELECT max(e.at_ms) FROM consult_event e"
                " WHERE e.consult_id = c.id) AS last_ms FROM consult c WHERE"
                " c.requester IS NOT NULL AND c.deadline_ms IS NULL AND c.requested_at_ms < $1"
                f" AND c.state IN ({marks(len(states), 2)}) AND {where}) q"
                " WHERE q.last_ms < $1 ORDER BY q.number",
                (to_ms(before), *states, *params),
            )
            found += [(str(r[0]), r[1], str(r[2])) for r in rows]
        return found

    async def _outbox_scan(self, also: str = "", params: Sequence[Any] = ()) -> AsyncIterator[Any]:
        """(id, consult) of the outbox entries of consults (and `also`, its parameters from
        $3), read in slices by id."""
        top = await self._one("SELECT max(id) FROM outbox") or 0
        for lo in range(0, int(top) + 1, _SCAN_SLICE * 20):
            for row in await self._rows(
                "SELECT id, consult_id FROM outbox WHERE id >= $1 AND id < $2"
                f" AND consult_id IS NOT NULL{also}",
                (lo, lo + _SCAN_SLICE * 20, *params),
            ):
                yield row

    async def _leaves(self, *, sent: bool) -> set[str]:
        """The consults whose room the bot was told to leave (and, with `sent`, has left)."""
        done = " AND sent_at_ms IS NOT NULL" if sent else ""
        leaves = self._outbox_scan(f" AND kind = $3{done}", (OutboxKind.LEAVE.value,))
        return {str(cid) async for _, cid in leaves}

    async def leave_closed_rooms(self, quiet_since: datetime, *, now: datetime) -> list[str]:
        # Read in slices, then queue in batches for the consults still quiet. Only the
        # retention run queues these leaves, one run at a time (its lock); were two instances
        # ever to overlap, a room would be left twice, which is harmless.
        asked = await self._leaves(sent=False)
        due = [
            (cid, room)
            for cid, room, _ in await self._quiet_consults(quiet_since)
            if room and cid not in asked
        ]
        queued: list[str] = []
        for start in range(0, len(due), _PURGE_BATCH):
            rooms = dict(due[start : start + _PURGE_BATCH])
            async with self._transaction() as db:
                still = await self._quiet_consults(quiet_since, list(rooms))
                leaving = [
                    Outgoing(
                        kind=OutboxKind.LEAVE, room=rooms[cid], payload={}, consult=ConsultId(cid)
                    )
                    for cid, _, _ in still
                ]
                await queue(db, leaving, now)
            queued += [rooms[cid] for cid, _, _ in still]
        return queued

    async def purge_consults(self, before: datetime, *, now: datetime) -> Purged:
        left = await self._leaves(sent=True)
        found = await self._quiet_consults(before)
        ready = [cid for cid, room, _ in found if room is None or cid in left]
        entries: dict[str, list[int]] = {}  # their outbox ids
        wanted = set(ready)
        if ready:
            async for item, cid in self._outbox_scan():
                if cid in wanted:
                    entries.setdefault(str(cid), []).append(int(item))
        consults = events = outbox = 0
        # In small transactions, each checking its consults again.
        for start in range(0, len(ready), _PURGE_BATCH):
            async with self._transaction() as db:
                again = await self._quiet_consults(before, ready[start : start + _PURGE_BATCH])
                batch = [(cid, requester) for cid, _, requester in again]
                if batch:
                    own = [i for cid, _ in batch for i in entries.get(cid, [])]
                    forgot_events, forgot_outbox = await self._purge_batch(db, batch, own)
                    consults += len(batch)
                    events += forgot_events
                    outbox += forgot_outbox
        async with self._transaction() as db:
            cutoff = to_ms(before)
            # The newest outbox id stays: ids (and so Matrix transaction ids) are never reused.
            cursor = await db.execute(
                "DELETE FROM outbox WHERE consult_id IS NULL AND sent_at_ms IS NOT NULL"
                " AND sent_at_ms < $1 AND id < (SELECT max(id) FROM outbox)",
                (cutoff,),
            )
            outbox += max(cursor.rowcount, 0)
            cursor = await db.execute(
                "DELETE FROM handled_event WHERE at_ms < $1 AND event_id LIKE $2", (cutoff, "$%")
            )
            handled = max(cursor.rowcount, 0)
        return Purged(consults=consults, events=events, outbox=outbox, handled=handled)

    async def _purge_batch(
        self, db: Connection, batch: Sequence[tuple[str, str]], outbox_ids: Sequence[int]
    ) -> tuple[int, int]:
        """Forget these consults' logs, parties, outbox entries (`outbox_ids`), rooms and
        requesters; their statistics rows keep the unit and kind frozen at request time, and
        the requester's unit (`#unit:`) in the requester's place. Return how many events and
        outbox entries were forgotten."""
        ids = [cid for cid, _ in batch]
        among = f"({marks(len(ids))})"
        stats = await db.execute_fetchall(
            f"SELECT consult_id, unit FROM consult_stat WHERE consult_id IN {among}", ids
        )
        await db.executemany(
            "UPDATE consult_stat SET requester = $1 WHERE consult_id = $2",
            [(frozen_unit(str(unit)), cid) for cid, unit in stats],
        )
        parties = []
        for cid in ids:  # by the parties' key (user, consult): the log names them
            state = fold(await read_events(db, ConsultId(cid)))
            parties += [(user, cid) for user in {state.requester, *state.paged_users}]
        await db.executemany(
            'DELETE FROM consult_party WHERE "user" = $1 AND consult_id = $2', parties
        )
        cursor = await db.execute(f"DELETE FROM consult_event WHERE consult_id IN {among}", ids)
        events = max(cursor.rowcount, 0)
        outbox = 0
        for start in range(0, len(outbox_ids), _PURGE_BATCH):
            chunk = outbox_ids[start : start + _PURGE_BATCH]
            cursor = await db.execute(
                f"DELETE FROM outbox WHERE id IN ({marks(len(chunk))})", chunk
            )
            outbox += max(cursor.rowcount, 0)
        # Its log is empty now, and so is its length: a step stepped from the log as it was
        # before the purge (the stepper's guess, or a read just before) is refused by the
        # compare-and-set on the length instead of appending to a purged consult.
        await db.execute(
            f"UPDATE consult SET requester = NULL, room = NULL, length = 0 WHERE id IN {among}",
            ids,
        )
        return events, outbox
