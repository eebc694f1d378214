"""The statistics read path of the SQLite store: one summary row per consult.

`write` runs inside the transaction that appends a consult's events, so the summary is always
the event log's (`domain.stats.summarise`). For speed over millions of consults, the values
`stats` counts are packed into one integer `code` (with the acknowledgement time beside it in
a covering index): a year is one index range scan, read as a text of numbers per column by
numpy.

Layout of `code`, lowest bits first: phone contacts (8 bits, capped at 255), acknowledged,
escalated, unanswered, counted (1 bit each), status (4 bits: index in `OUTCOME_KEYS`), track
(4 bits), first service (16 bits), the requester's unit (24 bits), the requester's kind (3
bits: index in `REQUESTER_KINDS`). Track, service and unit are small integers from
`consult_stat_code`, allocated on first use and never changed.

The requester's unit and kind are the ones frozen in the consult's `requested` entry
(domain/consult/requester.py), never the current staff list's. A consult requested before
they were recorded has them frozen once, from the staff list and catalogue active then: by
`freeze` when the store is opened after migration 9, or on its first summary after that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms
from consultbot.adapters.sql.dialect import Connection, marks, one, transaction
from consultbot.adapters.sql.requesters import Lists, active_lists
from consultbot.domain.consult.escalation import Consult
from consultbot.domain.consult.events import Event
from consultbot.domain.consult.stats import (
    OPEN,
    OUTCOME_KEYS,
    REQUESTER_KINDS,
    UNKNOWN_UNIT,
    ConsultSummary,
    FactTable,
    Ints,
    requester_kind_of,
    summarise,
)
from consultbot.ports import Stats

_PHONE_BITS = 8
_ACK, _ESC, _UNANS, _COUNTED = 8, 9, 10, 11
_STATUS, _TRACK, _SERVICE, _UNIT, _KIND = 12, 16, 20, 36, 60
_UNIT_MASK = (1 << 24) - 1
_LIMITS = {"track": 1 << 4, "service": 1 << 16, "unit": 1 << 24}
BACKFILL_KEY = "consult_stat_backfill"
FREEZE_KEY = "consult_stat_freeze"  # migration 9: freeze the unit and kind of older consults


def _ms(instant: datetime | None) -> int | None:
    return to_ms(instant) if instant is not None else None


def _instant(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


async def code_of(db: Connection, kind: str, value: str) -> int:
    """The small integer standing for `value` of `kind` (allocated on first use)."""
    row = await one(
        db, "SELECT code FROM consult_stat_code WHERE kind = $1 AND value = $2", (kind, value)
    )
    if row is not None:
        return int(row[0])
    [code] = await one(
        db, "SELECT coalesce(max(code), -1) + 1 FROM consult_stat_code WHERE kind = $1", (kind,)
    )
    if code >= _LIMITS[kind]:
        raise OverflowError(f"more than {_LIMITS[kind]} distinct {kind} values in statistics")
    await db.execute("INSERT INTO consult_stat_code VALUES ($1, $2, $3)", (kind, value, code))
    return int(code)


def with_requester(code: int, unit: int, kind: str) -> int:
    """A packed `code` with the requester's unit (code) and kind replaced."""
    mask = (_UNIT_MASK << _UNIT) | (0b111 << _KIND)
    return (code & ~mask) | unit << _UNIT | REQUESTER_KINDS.index(requester_kind_of(kind)) << _KIND


def pack(summary: ConsultSummary, track: int, service: int, unit: int) -> int:
    """The packed `code` of one consult's summary; `unit` is its frozen unit's code."""
    status = OUTCOME_KEYS.index(summary.outcome) if summary.outcome else OPEN
    kind = REQUESTER_KINDS.index(requester_kind_of(summary.requester_kind))
    return (
        min(summary.phone_contacts, (1 << _PHONE_BITS) - 1)
        | (summary.acknowledged_at is not None) << _ACK
        | summary.escalated << _ESC
        | summary.unanswered << _UNANS
        | summary.counted << _COUNTED
        | status << _STATUS
        | track << _TRACK
        | service << _SERVICE
        | unit << _UNIT
        | kind << _KIND
    )


_STAT_COLUMNS = (
    "consult_id length requested_ms counted track services requester outcome first_page_ms"
    " acked_ms closed_ms levels escalated unanswered phone_contacts ack_ms code unit"
    " requester_kind repeated"
)  # the table's columns in order
INSERT_STAT = (
    f"INSERT INTO consult_stat VALUES ({marks(len(_STAT_COLUMNS.split()))})"
    " ON CONFLICT (consult_id)"
    f" DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _STAT_COLUMNS.split()[1:])}"
)


def stat_row(consult: str, length: int, s: ConsultSummary, code: int) -> tuple[object, ...]:
    """The `consult_stat` row of a summary whose packed code is `code`."""
    ack = s.ack_seconds
    return (
        consult,
        length,
        _ms(s.requested_at),
        int(s.counted),
        s.track,
        json.dumps(list(s.services), ensure_ascii=False),
        s.requester,
        s.outcome,
        _ms(s.first_page_at),
        _ms(s.acknowledged_at),
        _ms(s.closed_at),
        json.dumps(list(s.levels)),
        int(s.escalated),
        int(s.unanswered),
        s.phone_contacts,
        round(ack * 1000) if ack is not None else None,
        code,
        s.unit,
        requester_kind_of(s.requester_kind),
        int(s.repeated),
    )


INSERT_EXTRA = "INSERT INTO consult_stat_service VALUES ($1, $2, $3, $4, $5, $6, $7)"


def extra_rows(
    consult: str, s: ConsultSummary, service_codes: Sequence[int], code: int
) -> list[tuple[object, ...]]:
    """A conference's further services, each with a copy of what the period scan reads."""
    ack = s.ack_seconds
    ack_ms = round(ack * 1000) if ack is not None else None
    requested = _ms(s.requested_at)
    return [
        (consult, position, service, requested, code, ack_ms, int(s.repeated))
        for position, service in enumerate(service_codes)
        if position > 0
    ]


async def _frozen_before(
    db: Connection, consult: str, requester: str, lists: Lists | None
) -> tuple[str, str]:
    """The unit and kind of a consult requested before its requested entry recorded them:
    as frozen in its row already, else from the lists active now."""
    row = await one(
        db, "SELECT unit, requester_kind FROM consult_stat WHERE consult_id = $1", (consult,)
    )
    if row is not None and row[1]:
        return str(row[0]), str(row[1])
    return (lists or await active_lists(db)).frozen(requester)


async def write(
    db: Connection,
    consult: str,
    length: int,
    events: Sequence[Event],
    lists: Lists | None = None,
    committed: dict[tuple[str, str], int] | None = None,
) -> None:
    """Store the summary of `consult`'s whole log `events`; call inside its transaction.

    `committed`: codes known to be in the database before this transaction, kept by the
    caller across transactions (a code never changes once allocated); those it lacks are
    read, and remembered there (those allocated here are not: the transaction may roll back).
    """
    s = summarise(events)
    if "requester_kind" not in events[0].data:  # requested before the kind was recorded
        unit, kind = await _frozen_before(db, consult, s.requester, lists)
        s = replace(s, unit=unit, requester_kind=kind)
    wanted = [("track", s.track), ("unit", s.unit), *(("service", n) for n in s.services)]
    known = {key: committed[key] for key in wanted if committed and key in committed}
    asked = [key for key in wanted if key not in known]
    if asked:  # one round trip for the codes that exist (all of them after the first event)
        rows = await db.execute_fetchall(
            "SELECT kind, value, code FROM consult_stat_code WHERE (kind, value) IN (VALUES "
            + ", ".join(f"(${n}, ${n + 1})" for n in range(1, 2 * len(asked), 2))
            + ")",
            [x for pair in asked for x in pair],
        )
        found = {(str(r[0]), str(r[1])): int(r[2]) for r in rows}
        known.update(found)
        if committed is not None:
            committed.update(found)
    for kind, value in wanted:
        if (kind, value) not in known:
            known[kind, value] = await code_of(db, kind, value)
    service_codes = [known["service", name] for name in s.services]
    code = pack(s, known["track", s.track], service_codes[0], known["unit", s.unit])
    await db.execute(INSERT_STAT, stat_row(consult, length, s, code))
    if len(service_codes) > 1:  # a consult's services are fixed by its request
        await db.execute("DELETE FROM consult_stat_service WHERE consult_id = $1", (consult,))
        await db.executemany(INSERT_EXTRA, extra_rows(consult, s, service_codes, code))


async def backfill(db: Connection) -> int:
    """Summarise every consult that has events, if a migration asked for it; return how many.

    Runs in its own transaction: the flag goes with the rows, so it is done exactly once.
    """
    if await one(db, "SELECT 1 FROM meta WHERE key = $1", (BACKFILL_KEY,)) is None:
        return 0
    async with transaction(db):
        cursor = await db.execute(
            "SELECT consult_id, at_ms, kind, data FROM consult_event ORDER BY consult_id, seq"
        )
        logs: dict[str, list[Event]] = {}
        async for cid, at_ms, kind, data in cursor:
            event = Event(kind=kind, at=from_ms(at_ms), data=json.loads(data))
            logs.setdefault(cid, []).append(event)
        lists = await active_lists(db)
        for cid, events in logs.items():
            await write(db, cid, len(events), events, lists)
        await db.execute("DELETE FROM meta WHERE key = $1", (BACKFILL_KEY,))
    return len(logs)


async def freeze(db: Connection) -> int:
    """Once, after migration 9: give every statistics row without a frozen requester kind
    (consults requested before it was recorded, purged ones too) the unit and kind of its
    requester in the staff list and catalogue active now; a purged consult's unit is the one
    its `#unit:` marker kept. Forget the requesters' codes (Matrix ids) the rows packed
    before. Return how many rows were frozen."""
    if await one(db, "SELECT 1 FROM meta WHERE key = $1", (FREEZE_KEY,)) is None:
        return 0
    async with transaction(db):
        lists = await active_lists(db)
        rows = await db.execute_fetchall(
            "SELECT consult_id, requester, code, services FROM consult_stat"
            " WHERE requester_kind = ''"
        )
        units: dict[str, int] = {}
        updates, extras = [], []
        for cid, requester, code, services in rows:
            unit, kind = lists.frozen(str(requester))
            if unit not in units:
                units[unit] = await code_of(db, "unit", unit)
            new = with_requester(int(code), units[unit], kind)
            updates.append((unit, kind, new, cid))
            if len(json.loads(services)) > 1:  # a conference: its further services' rows too
                extras.append((new, cid))
        await db.executemany(
            "UPDATE consult_stat SET unit = $1, requester_kind = $2, code = $3"
            " WHERE consult_id = $4",
            updates,
        )
        await db.executemany(
            "UPDATE consult_stat_service SET code = $1 WHERE consult_id = $2", extras
        )
        await db.execute("DELETE FROM consult_stat_code WHERE kind = 'requester'")
        await db.execute("DELETE FROM meta WHERE key = $1", (FREEZE_KEY,))
    return len(updates)


async def _codes(db: Connection, kind: str) -> list[str]:
    rows = await db.execute_fetchall(
        "SELECT code, value FROM consult_stat_code WHERE kind = $1 ORDER BY code", (kind,)
    )
    names = [""] * (int(rows[-1][0]) + 1 if rows else 0)
    for code, value in rows:
        names[int(code)] = str(value)
    return names


#: The text aggregate of SQLite, one per column (PostgreSQL's `string_agg` in postgres.py):
#: without a separator argument, which SQLite would evaluate again for every row (twice the
#: time of the scan of a year; its default separator is the comma).
GROUP_CONCAT = "group_concat({})"


#: The acknowledgement time and `repeated` in one value (ack_ms × 2 + repeated; -2 or -1 when
#: not acknowledged): one column fewer for each of a year's rows.
_ACK_REPEATED = "(coalesce(ack_ms, -1) * 2 + repeated)"


async def _numbers(
    db: Connection, concat: str, table: str, columns: Sequence[str], lo: int, hi: int
) -> Ints:
    """The `columns` of `table`'s counted rows requested in [lo, hi) ms, one row of a 2-D
    integer array each: a text per column made by the database, read by numpy in one pass."""
    facts = ", ".join(concat.format(column) for column in columns)
    texts = await one(
        db,
        f"SELECT {facts} FROM {table} WHERE requested_ms >= $1 AND requested_ms < $2",
        (lo, hi),
    )
    rows: Ints = np.stack(
        [np.fromstring(text or "", dtype=np.int64, sep=",") for text in texts], axis=1
    )
    counted: Ints = rows[(rows[:, 0] >> _COUNTED) & 1 == 1]
    return counted


async def fact_table(
    db: Connection, start: datetime, end: datetime, concat: str = GROUP_CONCAT
) -> FactTable:
    """The facts of the consults requested in [start, end), as columns.

    A year is a million rows: they come as a text of numbers per column made by the database
    (its loop runs without Python's lock, and numpy reads each text in one pass), not a tuple
    per row (a third of the time of `stats` over a year, measured by bench/bench_stats.py)."""
    lo, hi = to_ms(start), to_ms(end)
    data = await _numbers(
        db, concat, "consult_stat", ("code", _ACK_REPEATED, "requested_ms"), lo, hi
    )
    code, ack, at = data[:, 0], data[:, 1], data[:, 2]
    more = await _numbers(
        db,
        concat,
        "consult_stat_service",
        ("code", _ACK_REPEATED, "service", "requested_ms"),
        lo,
        hi,
    )
    tracks = await _codes(db, "track")
    services = await _codes(db, "service")
    # The frozen unit of each unit code; no unit ("") is okänd.
    unit_names: dict[str, int] = {}
    unit_index = np.array(
        [
            unit_names.setdefault(u or UNKNOWN_UNIT, len(unit_names))
            for u in await _codes(db, "unit")
        ]
        or [0],
        dtype=np.int64,
    )
    primaries = len(code)
    if len(more):
        # A conference's further services: the same facts again, counted only by service.
        service = np.concatenate([(code >> _SERVICE) & 0xFFFF, more[:, 2]])
        code = np.concatenate([code, more[:, 0]])
        ack = np.concatenate([ack, more[:, 1]])
        at = np.concatenate([at, more[:, 3]])
    else:
        service = (code >> _SERVICE) & 0xFFFF
    repeated, ack = ack & 1, ack >> 1  # ack_ms × 2 + repeated; -1 (none) stays -1
    primary = np.arange(len(code)) < primaries
    return FactTable(
        tracks=tracks,
        services=services,
        units=list(unit_names) or [UNKNOWN_UNIT],
        track=(code >> _TRACK) & 0xF,
        service=service,
        unit=unit_index[(code >> _UNIT) & _UNIT_MASK],
        kind=(code >> _KIND) & 0b111,
        status=(code >> _STATUS) & 0xF,
        acknowledged=((code >> _ACK) & 1).astype(np.bool_),
        escalated=((code >> _ESC) & 1).astype(np.bool_),
        unanswered=((code >> _UNANS) & 1).astype(np.bool_),
        phone=code & ((1 << _PHONE_BITS) - 1),
        ack_ms=ack,
        primary=primary,
        requested_ms=at,
        repeated=repeated != 0,
    )


async def summaries(
    db: Connection, start: datetime, end: datetime
) -> list[tuple[ConsultSummary, str]]:
    """Each counted consult requested in [start, end) and its requester's unit (frozen at
    request time; okänd when none), oldest first."""
    rows = await db.execute_fetchall(
        "SELECT s.consult_id, s.requested_ms, s.counted, s.track, s.services, s.requester,"
        " s.outcome, s.first_page_ms, s.acked_ms, s.closed_ms, s.levels, s.escalated,"
        " s.unanswered, s.phone_contacts, s.unit, s.requester_kind, s.repeated"
        " FROM consult_stat s JOIN consult c ON c.id = s.consult_id"
        " WHERE s.requested_ms >= $1 AND s.requested_ms < $2 AND s.counted = 1"
        " ORDER BY s.requested_ms, c.number",
        (_ms(start), _ms(end)),
    )
    found = [
        ConsultSummary(
            consult=row[0],
            requested_at=from_ms(row[1]),
            counted=bool(row[2]),
            track=row[3],
            services=tuple(json.loads(row[4])),
            requester=row[5],
            outcome=row[6],
            first_page_at=_instant(row[7]),
            acknowledged_at=_instant(row[8]),
            closed_at=_instant(row[9]),
            levels=tuple(json.loads(row[10])),
            escalated=bool(row[11]),
            unanswered=bool(row[12]),
            phone_contacts=row[13],
            unit=str(row[14]),
            requester_kind=requester_kind_of(str(row[15])),
            repeated=bool(row[16]),
        )
        for row in rows
    ]
    return [(s, s.unit or UNKNOWN_UNIT) for s in found]


class StatsSql(SqlBase, Stats):
    """The statistics queries, over the store's connection."""

    _concat = GROUP_CONCAT  # the dialect's text aggregate

    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        async with self._lock:
            return await fact_table(self._db, start, end, self._concat)

    async def consult_summaries(
        self, start: datetime, end: datetime
    ) -> list[tuple[ConsultSummary, str]]:
        async with self._lock:
            return await summaries(self._db, start, end)

    async def consults_between(self, start: datetime, end: datetime) -> list[Consult]:
        return await self._consults(
            "c.requested_at_ms >= $1 AND c.requested_at_ms < $2", (to_ms(start), to_ms(end))
        )
