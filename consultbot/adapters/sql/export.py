"""The analyst's per-consult export, streamed: the summaries of a period in batches (keyset
pagination on requested time and consult id: one index range scan, no join), so that a year
of a million consults is written with flat memory on SQLite and on PostgreSQL alike
(`consultbot consults`)."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms
from consultbot.adapters.sql.dialect import Connection, marks
from consultbot.domain.consult.stats import UNKNOWN_UNIT, ConsultSummary, requester_kind_of

BATCH = 2000

# The requester's unit and kind are those frozen at request time (migration 9).
_COLUMNS = (
    "s.consult_id, s.consult_id, s.requested_ms, s.counted, s.track, s.services, s.requester,"
    " s.outcome, s.first_page_ms, s.acked_ms, s.closed_ms, s.levels, s.escalated,"
    " s.unanswered, s.phone_contacts, s.unit, s.requester_kind"
)


@dataclass(frozen=True)
class ExportRow:
    """One consult of the export: its summary, the requester's unit and, when asked for, the
    people paged and who acknowledged (Matrix ids)."""

    summary: ConsultSummary
    unit: str
    paged: tuple[str, ...] = field(default=())
    acknowledged_by: tuple[str, ...] = field(default=())


def _instant(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


@functools.lru_cache(maxsize=8192)
def _tuple(text: str) -> tuple[Any, ...]:
    """A JSON list column as a tuple (few distinct values: services, levels)."""
    return tuple(json.loads(text))


def _summary(row: Sequence[Any]) -> ConsultSummary:
    return ConsultSummary(
        consult=row[1],
        requested_at=from_ms(row[2]),
        counted=bool(row[3]),
        track=row[4],
        services=_tuple(row[5]),
        requester=row[6],
        outcome=row[7],
        first_page_at=_instant(row[8]),
        acknowledged_at=_instant(row[9]),
        closed_at=_instant(row[10]),
        levels=_tuple(row[11]),
        escalated=bool(row[12]),
        unanswered=bool(row[13]),
        phone_contacts=row[14],
        unit=str(row[15]),
        requester_kind=requester_kind_of(str(row[16])),
    )


async def _people(db: Connection, consults: Sequence[str]) -> dict[str, tuple[set[str], set[str]]]:
    """Per consult: who was paged and who acknowledged, from its event log."""
    found: dict[str, tuple[set[str], set[str]]] = {c: (set(), set()) for c in consults}
    if not consults:
        return found
    rows = await db.execute_fetchall(
        "SELECT consult_id, kind, data FROM consult_event WHERE kind IN"
        " ('paged', 'acknowledged', 'conference_acknowledged')"
        f" AND consult_id IN ({marks(len(consults))})",
        list(consults),
    )
    for consult, kind, data in rows:
        value = json.loads(data)
        paged, acked = found[consult]
        if kind == "paged":
            paged.update(str(p["user"]) for p in value.get("people", ()))
        elif value.get("user"):
            acked.add(str(value["user"]))
    return found


async def export_rows(
    db: Connection, start: datetime, end: datetime, *, people: bool, batch: int = BATCH
) -> AsyncIterator[list[ExportRow]]:
    """The counted consults requested in [start, end), oldest first, `batch` at a time."""
    after_ms, after_id = to_ms(start), ""
    while True:
        rows = await db.execute_fetchall(
            f"SELECT {_COLUMNS} FROM consult_stat s"
            " WHERE s.requested_ms >= $1 AND s.requested_ms < $2 AND s.counted = 1"
            " AND (s.requested_ms > $1 OR s.consult_id > $3)"
            f" ORDER BY s.requested_ms, s.consult_id LIMIT {int(batch)}",
            (after_ms, to_ms(end), after_id),
        )
        if not rows:
            return
        found = [_summary(r) for r in rows]
        involved = await _people(db, [s.consult for s in found]) if people else {}
        yield [
            ExportRow(
                summary=s,
                unit=s.unit or UNKNOWN_UNIT,
                paged=tuple(sorted(involved[s.consult][0])) if people else (),
                acknowledged_by=tuple(sorted(involved[s.consult][1])) if people else (),
            )
            for s in found
        ]
        after_ms, after_id = int(rows[-1][2]), str(rows[-1][1])
        del rows, found


class ExportSql(SqlBase):
    """The per-consult export over the store's connection."""

    async def consult_export(
        self, start: datetime, end: datetime, *, people: bool = False, batch: int = BATCH
    ) -> AsyncIterator[list[ExportRow]]:
        """Batches of the export's rows; the lock is held for each batch's reading only."""
        iterator = export_rows(self._db, start, end, people=people, batch=batch)
        while True:
            async with self._lock:
                try:
                    rows = await anext(iterator)
                except StopAsyncIteration:
                    return
            yield rows
