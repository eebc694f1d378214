"""Where a consult's requester was, for consults requested before their `requested` entry
recorded it: the active staff list and catalogue, read once (adapters/sql/stats.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consultbot.adapters.sql.dialect import Connection
from consultbot.domain.consult.requester import frozen_requester
from consultbot.domain.consult.stats import UNKNOWN_UNIT, unit_of
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.types import ServiceId, ServiceKind


async def requester_units(db: Connection) -> dict[str, str]:
    """Matrix id → unit, from the active staff list."""
    rows = await db.execute_fetchall(
        "SELECT matrix_id, unit FROM staff WHERE version = (SELECT max(version)"
        " FROM dataset_version WHERE dataset = 'staff' AND rolled_back_at IS NULL)"
    )
    return {str(r[0]): str(r[1]) for r in rows if r[1]}


@dataclass(frozen=True)
class Lists:
    """The staff list's units (Matrix id → unit) and the catalogue active now: what freezes
    the requester of a consult requested before the requested entry recorded it."""

    units: Mapping[str, str]
    catalogue: Catalogue

    def frozen(self, requester: str) -> tuple[str, str]:
        """(unit, kind) of `requester`, a Matrix id or a purged consult's `#unit:` marker."""
        unit = unit_of(requester, self.units)
        found, kind = frozen_requester(None if unit == UNKNOWN_UNIT else unit, self.catalogue)
        return found, kind.value


async def active_lists(db: Connection) -> Lists:
    """The `Lists` of the active staff list and catalogue."""
    rows = await db.execute_fetchall(
        "SELECT id, name, kind FROM service WHERE version = (SELECT max(version)"
        " FROM dataset_version WHERE dataset = 'catalogue' AND rolled_back_at IS NULL)"
    )
    kinds = {k.value: k for k in ServiceKind}
    services = tuple(
        Service(
            id=ServiceId(str(r[0])), name=str(r[1]), kind=kinds.get(str(r[2]), ServiceKind.OTHER)
        )
        for r in rows
    )
    return Lists(await requester_units(db), Catalogue(services))
