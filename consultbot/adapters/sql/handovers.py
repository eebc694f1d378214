"""Handovers in SQL: offered, accepted or declined, laid over the roster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms
from consultbot.adapters.sql.dialect import marks, one
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.types import ServiceId, UserId
from consultbot.ports import Handovers

_HANDOVER_COLUMNS = (
    "id, service_id, level, giver, taker, taker_name, taker_phone, start_ms, end_ms,"
    " offered_by, offered_at_ms, answer_by_ms, state, decided_at_ms, room, language, source_event"
)


def _handover_row(h: Handover) -> tuple[Any, ...]:
    return (
        h.id,
        h.service,
        h.level,
        h.giver,
        h.taker,
        h.taker_name,
        h.taker_phone,
        to_ms(h.start),
        to_ms(h.end),
        h.offered_by,
        to_ms(h.offered_at),
        to_ms(h.answer_by) if h.answer_by else None,
        h.state.value,
        to_ms(h.decided_at) if h.decided_at else None,
        h.room,
        h.language,
        h.source_event,
    )


def _handover(row: Sequence[Any]) -> Handover:
    return Handover(
        id=int(row[0]),
        service=ServiceId(row[1]),
        level=int(row[2]),
        giver=UserId(row[3]),
        taker=UserId(row[4]),
        taker_name=row[5],
        taker_phone=row[6],
        start=from_ms(row[7]),
        end=from_ms(row[8]),
        offered_by=UserId(row[9]),
        offered_at=from_ms(row[10]),
        answer_by=from_ms(row[11]) if row[11] is not None else None,
        state=HandoverState(row[12]),
        decided_at=from_ms(row[13]) if row[13] is not None else None,
        room=row[14],
        language=row[15],
        source_event=row[16],
    )


class HandoverSql(SqlBase, Handovers):
    """Handovers, and the accepted ones cached as the layer over the roster."""

    async def _layer(self, service: ServiceId) -> list[Handover]:
        """The accepted handovers of `service` (all accepted ones are cached)."""
        if self._accepted is None:
            self._accepted = await self.handovers(HandoverState.ACCEPTED)
        return [h for h in self._accepted if h.service == service]

    async def add_handovers(self, handovers: Sequence[Handover]) -> list[Handover]:
        added = []
        async with self._transaction() as db:
            for h in handovers:
                [(number,)] = await db.execute_fetchall(
                    f"INSERT INTO handover ({_HANDOVER_COLUMNS[4:]})"
                    f" VALUES ({marks(16)}) RETURNING id",
                    _handover_row(h)[1:],
                )
                added.append(replace(h, id=int(number)))
        self._accepted = None
        return added

    async def handovers(self, state: HandoverState | None = None) -> list[Handover]:
        where, params = ("WHERE state = $1", (state.value,)) if state else ("", ())
        rows = await self._rows(
            f"SELECT {_HANDOVER_COLUMNS} FROM handover {where} ORDER BY id", params
        )
        return [_handover(row) for row in rows]

    async def decide_handover(
        self, handover: int, state: HandoverState, *, now: datetime
    ) -> Handover | None:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE handover SET state = $1, decided_at_ms = $2 WHERE id = $3 AND state = $4",
                (state.value, to_ms(now), handover, HandoverState.OFFERED.value),
            )
            if cursor.rowcount != 1:
                return None
            row = await one(
                db, f"SELECT {_HANDOVER_COLUMNS} FROM handover WHERE id = $1", (handover,)
            )
        self._accepted = None
        return _handover(row) if row else None
