"""What the board's pages show, read from the data sets: plain records for the templates.

Who is on duty is what pages and `!vem` see (the stores lay accepted handovers over the
roster); the contact directory is searched as `!kontakt` searches it (`search_directory`,
diacritic-blind); coverage gaps are the level-1 holes inside opening hours (`coverage_gaps`);
the matrix of paths and routines is `domain/duty/matrix.py`'s, as `!rutin` shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from consultbot.config import Config
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.matrix import Cell, Instead, matrix, open_instead
from consultbot.domain.duty.people import DirectoryEntry, search_directory
from consultbot.domain.duty.roster import Gap, coverage_gaps
from consultbot.domain.duty.routines import KINDS
from consultbot.domain.duty.shifts import Shift
from consultbot.domain.types import RequesterKind, ServiceKind, Track
from consultbot.ports import DataStore

GAP_DAYS = 14  # admins see the coverage gaps of the coming two weeks
SEARCH_LIMIT = 50  # directory entries a search shows


@dataclass(frozen=True, kw_only=True)
class OnDutyRow:
    """A service and its people on duty at one instant, by level (lowest first)."""

    service: Service
    levels: tuple[tuple[int, tuple[Shift, ...]], ...]
    handed: frozenset[tuple[int, str]]  # (level, user) on duty through a handover

    @property
    def empty(self) -> bool:
        return not self.levels


@dataclass(frozen=True, kw_only=True)
class Area:
    """One page of the printed phone list: a municipality (or the whole county: "")."""

    name: str
    services: tuple[Service, ...]
    entries: tuple[DirectoryEntry, ...]


@dataclass(frozen=True, kw_only=True)
class Closed:
    """Requester kinds a path is closed to, and the paths open to them instead."""

    kinds: tuple[RequesterKind, ...]
    instead: Instead


@dataclass(frozen=True, kw_only=True)
class RoutineRow:
    """A service in the matrix: each of its paths with its routine and whom it turns away."""

    service: Service
    paths: tuple[tuple[Cell, tuple[Closed, ...]], ...]


class _OfService(Protocol):
    @property
    def service(self) -> Service: ...


Row = TypeVar("Row", bound=_OfService)
KIND_ORDER = (ServiceKind.SPECIALTY, ServiceKind.PRIMARY_CARE, ServiceKind.OTHER)


def _order(service: Service) -> tuple[int, str]:
    kind = KIND_ORDER.index(service.kind) if service.kind in KIND_ORDER else len(KIND_ORDER)
    return (kind, service.name.casefold())


def _area_order(name: str) -> tuple[bool, str]:
    """The county-wide area ("") first, then the municipalities by name."""
    return (name != "", name.casefold())


def by_kind(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """The rows under their kind of service (specialties, vårdcentraler, other), in order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.service.kind.value, []).append(row)
    return list(groups.items())


def by_area(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """The rows under their service area, as the phone list's pages (`phone_list`)."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.service.municipality, []).append(row)
    return sorted(groups.items(), key=lambda group: _area_order(group[0]))


def routines(catalogue: Catalogue, track_hours: Mapping[Track, Hours]) -> list[RoutineRow]:
    """The matrix: every paged service (specialties first) on each of its paths, with the
    requester kinds each path turns away grouped by where they are sent instead."""
    cells: dict[str, list[Cell]] = {}
    for cell in matrix(catalogue, track_hours):
        cells.setdefault(cell.service.id, []).append(cell)
    rows = []
    for service in paged(catalogue):
        paths = []
        for cell in cells.get(service.id, []):
            closed: dict[Instead, list[RequesterKind]] = {}
            for kind in (k for k in KINDS if k not in cell.open_to):
                closed.setdefault(open_instead(catalogue, service, kind), []).append(kind)
            turned = tuple(Closed(kinds=tuple(k), instead=i) for i, k in closed.items())
            paths.append((cell, turned))
        if paths:
            rows.append(RoutineRow(service=service, paths=tuple(paths)))
    return rows


def paged(catalogue: Catalogue) -> list[Service]:
    """The services that have people on duty (not the units that only ask), specialties first."""
    return sorted((s for s in catalogue.services if not s.asks_only), key=_order)


def in_force(handovers: Sequence[Handover], at: datetime) -> list[Handover]:
    """The accepted handovers whose period holds `at`, earliest start first."""
    found = [h for h in handovers if h.state is HandoverState.ACCEPTED and h.start <= at < h.end]
    return sorted(found, key=lambda h: (h.start, h.id))


async def on_duty(
    data: DataStore, catalogue: Catalogue, at: datetime, handovers: Sequence[Handover]
) -> list[OnDutyRow]:
    """Every paged service's people on duty at `at`."""
    handed = {(h.service, h.level, h.taker) for h in handovers}
    rows = []
    for service in paged(catalogue):
        duty = await data.on_duty(service.id, at)
        through = frozenset(
            (level, shift.user)
            for level, shifts in duty.levels
            for shift in shifts
            if (service.id, level, shift.user) in handed
        )
        rows.append(OnDutyRow(service=service, levels=duty.levels, handed=through))
    return rows


async def directory(data: DataStore, query: str) -> Sequence[DirectoryEntry]:
    """The directory entries matching `query`, as `!kontakt` finds them."""
    return search_directory(await data.directory(), query, limit=SEARCH_LIMIT)


async def gaps(data: DataStore, config: Config, catalogue: Catalogue, now: datetime) -> list[Gap]:
    """Level-1 stretches inside opening hours with nobody on duty, from now for 14 days."""
    end = now + timedelta(days=GAP_DAYS)
    services = paged(catalogue)
    shifts = [shift for s in services for shift in await data.shifts(s.id, now, end)]
    periods = {s.id: [(now, end)] for s in services}
    found = coverage_gaps(shifts, periods, catalogue, config.hours_of(), config.bot.timezone)
    return sorted(found, key=lambda g: (g.start, g.service))


async def phone_list(data: DataStore, catalogue: Catalogue) -> list[Area]:
    """The printed phone list: one area per municipality, the county-wide one ("") first."""
    entries = await data.directory()
    names = {e.municipality for e in entries} | {s.municipality for s in catalogue.services}
    return [
        Area(
            name=name,
            services=tuple(
                s for s in sorted(catalogue.services, key=_order) if s.municipality == name
            ),
            entries=tuple(
                sorted(
                    (e for e in entries if e.municipality == name),
                    key=lambda e: (e.unit.casefold(), e.name.casefold()),
                )
            ),
        )
        for name in sorted(names, key=_area_order)
    ]
