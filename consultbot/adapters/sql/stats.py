"""The statistics read path of the SQLite store: one summary row per consult.

`write` runs inside the transaction that appends a consult's events, so the summary is always
the event log's (`domain.stats.summarise`). For speed over millions of consults, the values
`stats` counts are packed into one integer `code` (with the acknowledgement time beside it in
a covering index): a year is one index range scan of two integer columns, unpacked with numpy.

Layout of `code`, lowest bits first: phone contacts (8 bits, capped at 255), acknowledged,
escalated, unanswered, counted (1 bit each), status (4 bits: index in `OUTCOME_KEYS`), track
(4 bits), first service (16 bits), requester (24 bits). Track, service and requester are
small integers from `consult_stat_code`, allocated on first use and never changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms
from consultbot.adapters.sql.dialect import Connection, marks, one, transaction
from consultbot.domain.consult.escalation import Consult
from consultbot.domain.consult.events import Event
from consultbot.domain.consult.stats import (
    OPEN,
    OUTCOME_KEYS,
    REQUESTER_KINDS,
    UNKNOWN_UNIT,
    ConsultSummary,
    FactTable,
    summarise,
    unit_of,
)
from consultbot.ports import Stats

_PHONE_BITS = 8
_ACK, _ESC, _UNANS, _COUNTED = 8, 9, 10, 11
_STATUS, _TRACK, _SERVICE, _REQUESTER = 12, 16, 20, 36
_LIMITS = {"track": 1 << 4, "service": 1 << 16, "requester": 1 << 24}
BACKFILL_KEY = "consult_stat_backfill"


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


def with_requester(code: int, requester: int) -> int:
    """A packed `code` with its requester replaced (the purge: by a frozen unit)."""
    mask = ((1 << 24) - 1) << _REQUESTER
    return (code & ~mask) | requester << _REQUESTER


def pack(summary: ConsultSummary, track: int, service: int, requester: int) -> int:
    """The packed `code` of one consult's summary."""
    status = OUTCOME_KEYS.index(summary.outcome) if summary.outcome else OPEN
    return (
        min(summary.phone_contacts, (1 << _PHONE_BITS) - 1)
        | (summary.acknowledged_at is not None) << _ACK
        | summary.escalated << _ESC
        | summary.unanswered << _UNANS
        | summary.counted << _COUNTED
        | status << _STATUS
        | track << _TRACK
        | service << _SERVICE
        | requester << _REQUESTER
    )


_STAT_COLUMNS = (
    "consult_id length requested_ms counted track services requester outcome first_page_ms"
    " acked_ms closed_ms levels escalated unanswered phone_contacts ack_ms code repeated"
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
        int(s.repeated),
    )


INSERT_EXTRA = "INSERT INTO consult_stat_service VALUES ($1, $2, $3, $4, $5, $6)"


def extra_rows(
    consult: str, s: ConsultSummary, service_codes: Sequence[int], code: int
) -> list[tuple[object, ...]]:
    """A conference's further services, each with a copy of what the period scan reads."""
    ack = s.ack_seconds
    ack_ms = round(ack * 1000) if ack is not None else None
    requested = _ms(s.requested_at)
    return [
        (consult, position, service, requested, code, ack_ms)
        for position, service in enumerate(service_codes)
        if position > 0
    ]


async def write(db: Connection, consult: str, length: int, events: Sequence[Event]) -> None:
    """Store the summary of `consult`'s whole log `events`; call inside its transaction."""
    s = summarise(events)
    wanted = [("track", s.track), ("requester", s.requester), *(("service", n) for n in s.services)]
    # One round trip for the codes that exist (all of them after the first event).
    rows = await db.execute_fetchall(
        "SELECT kind, value, code FROM consult_stat_code WHERE (kind, value) IN (VALUES "
        + ", ".join(f"(${n}, ${n + 1})" for n in range(1, 2 * len(wanted), 2))
        + ")",
        [x for pair in wanted for x in pair],
    )
    known = {(str(r[0]), str(r[1])): int(r[2]) for r in rows}
    for kind, value in wanted:
        if (kind, value) not in known:
            known[kind, value] = await code_of(db, kind, value)
    service_codes = [known["service", name] for name in s.services]
    code = pack(s, known["track", s.track], service_codes[0], known["requester", s.requester])
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
        for cid, events in logs.items():
            await write(db, cid, len(events), events)
        await db.execute("DELETE FROM meta WHERE key = $1", (BACKFILL_KEY,))
    return len(logs)


async def requester_units(db: Connection) -> dict[str, str]:
    """Matrix id → unit, from the active staff list."""
    rows = await db.execute_fetchall(
        "SELECT matrix_id, unit FROM staff WHERE version = (SELECT max(version)"
        " FROM dataset_version WHERE dataset = 'staff' AND rolled_back_at IS NULL)"
    )
    return {str(r[0]): str(r[1]) for r in rows if r[1]}


async def _codes(db: Connection, kind: str) -> list[str]:
    rows = await db.execute_fetchall(
        "SELECT code, value FROM consult_stat_code WHERE kind = $1 ORDER BY code", (kind,)
    )
    names = [""] * (int(rows[-1][0]) + 1 if rows else 0)
    for code, value in rows:
        names[int(code)] = str(value)
    return names


async def fact_table(db: Connection, start: datetime, end: datetime) -> FactTable:
    """The facts of the consults requested in [start, end), as columns."""
    lo, hi = _ms(start), _ms(end)
    rows = await db.execute_fetchall(
        "SELECT code, coalesce(ack_ms, -1), repeated FROM consult_stat"
        " WHERE requested_ms >= $1 AND requested_ms < $2",
        (lo, hi),
    )
    fields = [("code", np.int64), ("ack", np.int64), ("repeated", np.int64)]
    data = np.fromiter(rows, dtype=fields, count=len(rows))
    del rows
    data = data[(data["code"] >> _COUNTED) & 1 == 1]
    code, ack = data["code"], data["ack"]
    extras = await db.execute_fetchall(
        "SELECT e.code, coalesce(e.ack_ms, -1), e.service, s.repeated"
        " FROM consult_stat_service e JOIN consult_stat s ON s.consult_id = e.consult_id"
        " WHERE e.requested_ms >= $1 AND e.requested_ms < $2",
        (lo, hi),
    )
    extras = [e for e in extras if (int(e[0]) >> _COUNTED) & 1]
    tracks = await _codes(db, "track")
    services = await _codes(db, "service")
    # Each requester's unit in the active staff list, by requester code.
    # A purged consult's requester is their unit then (`domain.stats.unit_of`).
    units = await db.execute_fetchall(
        "SELECT c.code, c.value, s.unit FROM consult_stat_code c LEFT JOIN staff s"
        " ON s.matrix_id = c.value AND s.version = (SELECT max(version) FROM dataset_version"
        " WHERE dataset = 'staff' AND rolled_back_at IS NULL)"
        " WHERE c.kind = 'requester'"
    )
    unit_names: dict[str, int] = {}
    unit_of_requester = np.zeros(max((int(r[0]) for r in units), default=0) + 1, dtype=np.int64)
    for requester_code, requester, unit in units:
        name = unit_of(str(requester), {str(requester): unit} if unit else {})
        unit_of_requester[int(requester_code)] = unit_names.setdefault(name, len(unit_names))
    if extras:
        # A conference's further services: the same facts again, counted only by service.
        more = np.array(extras, dtype=np.int64).reshape(-1, 4)
        code = np.concatenate([code, more[:, 0]])
        ack = np.concatenate([ack, more[:, 1]])
        service = np.concatenate([(data["code"] >> _SERVICE) & 0xFFFF, more[:, 2]])
        repeated = np.concatenate([data["repeated"], more[:, 3]])
    else:
        service = (code >> _SERVICE) & 0xFFFF
        repeated = data["repeated"]
    primary = np.arange(len(code)) < len(data)
    requester = (code >> _REQUESTER) & ((1 << 24) - 1)
    return FactTable(
        tracks=tracks,
        services=services,
        units=list(unit_names) or [UNKNOWN_UNIT],
        track=(code >> _TRACK) & 0xF,
        service=service,
        unit=unit_of_requester[requester] if len(code) else requester,
        kind=np.full(len(code), len(REQUESTER_KINDS) - 1, dtype=np.int64),  # TODO(issue 23)
        status=(code >> _STATUS) & 0xF,
        acknowledged=((code >> _ACK) & 1).astype(np.bool_),
        escalated=((code >> _ESC) & 1).astype(np.bool_),
        unanswered=((code >> _UNANS) & 1).astype(np.bool_),
        phone=code & ((1 << _PHONE_BITS) - 1),
        ack_ms=ack,
        primary=primary,
        repeated=repeated != 0,
    )


async def summaries(
    db: Connection, start: datetime, end: datetime
) -> list[tuple[ConsultSummary, str]]:
    """Each counted consult requested in [start, end) and its requester's unit, oldest first."""
    rows = await db.execute_fetchall(
        "SELECT s.consult_id, s.requested_ms, s.counted, s.track, s.services, s.requester,"
        " s.outcome, s.first_page_ms, s.acked_ms, s.closed_ms, s.levels, s.escalated,"
        " s.unanswered, s.phone_contacts, s.repeated"
        " FROM consult_stat s JOIN consult c ON c.id = s.consult_id"
        " WHERE s.requested_ms >= $1 AND s.requested_ms < $2 AND s.counted = 1"
        " ORDER BY s.requested_ms, c.number",
        (_ms(start), _ms(end)),
    )
    units = await requester_units(db)
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
            repeated=bool(row[14]),
        )
        for row in rows
    ]
    return [(s, unit_of(s.requester, units)) for s in found]


class StatsSql(SqlBase, Stats):
    """The statistics queries, over the store's connection."""

    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        async with self._lock:
            return await fact_table(self._db, start, end)

    async def consult_summaries(
        self, start: datetime, end: datetime
    ) -> list[tuple[ConsultSummary, str]]:
        async with self._lock:
            return await summaries(self._db, start, end)

    async def consults_between(self, start: datetime, end: datetime) -> list[Consult]:
        return await self._consults(
            "c.requested_at_ms >= $1 AND c.requested_at_ms < $2", (to_ms(start), to_ms(end))
        )
