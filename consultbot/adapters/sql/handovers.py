"""Handovers in SQL: offered, accepted or declined, laid over the roster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms
from consultbot.adapters.sql.dialect import marks, one
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.types import ServiceId
from consultbot.ports import Handovers

# The handover's fields, stored in columns of the same names except these: instants as epoch
# milliseconds in `<name>_ms`, and `service` in `service_id`.
_FIELDS = [f.name for f in fields(Handover)]
_MS = {"start", "end", "offered_at", "answer_by", "decided_at"}
_COLUMNS = [f"{n}_ms" if n in _MS else "service_id" if n == "service" else n for n in _FIELDS]
_HANDOVER_COLUMNS = ", ".join(_COLUMNS)


def _handover(row: Sequence[Any]) -> Handover:
    values = dict(zip(_FIELDS, row, strict=True))
    values |= {n: from_ms(values[n]) for n in _MS if values[n] is not None}
    return Handover(**values | {"state": HandoverState(values["state"])})


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
                values = [(n, getattr(h, n)) for n in _FIELDS[1:]]  # all but the id
                [(number,)] = await db.execute_fetchall(
                    f"INSERT INTO handover ({', '.join(_COLUMNS[1:])})"
                    f" VALUES ({marks(16)}) RETURNING id",
                    [to_ms(v) if n in _MS and v is not None else v for n, v in values],
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
            row = await one(
                db,
                "UPDATE handover SET state = $1, decided_at_ms = $2 WHERE id = $3 AND state = $4"
                f" RETURNING {_HANDOVER_COLUMNS}",
                (state.value, to_ms(now), handover, HandoverState.OFFERED.value),
            )
        if row is None:
            return None
        self._accepted = None
        return _handover(row)
