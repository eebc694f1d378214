"""What an import would do against the active version: per service the shifts a roster adds,
replaces and removes, the coverage holes it leaves (domain/duty/coverage.py), how much a
new version removes (domain/duty/shrink.py), and the services a catalogue drops while they
still have shifts. Only reads the store; datasets.py puts it into the check's result."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from consultbot.domain.duty.catalogue import Catalogue, Service, normalise
from consultbot.domain.duty.coverage import Hole, new_holes
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.roster import (
    Changes,
    RosterCheck,
    Shift,
    changes,
    in_periods,
    overlaps_with_kept,
)
from consultbot.domain.duty.shrink import Kind, Shrink, shrinkage
from consultbot.domain.errors import Problem
from consultbot.domain.types import ServiceId, Track
from consultbot.engine.admin.off_loop import parse_off_loop
from consultbot.ports import DataSets
from consultbot.text.render import Messages

MAX_LISTED_HOLES = 20


@dataclass(frozen=True, kw_only=True)
class ActiveShifts:
    """A service's active shifts around the periods a roster file replaces.

    `removed`: those starting inside a period (the import takes them away); `kept_before`:
    those starting before a period and running into it; `staying`: every shift the import
    keeps that overlaps a period or a removed shift's tail past the period's end."""

    removed: list[Shift]
    kept_before: list[Shift]
    staying: list[Shift]


@dataclass(frozen=True, kw_only=True)
class RosterImpact:
    """A checked roster compared with the active one, for each service it has a period for."""

    changes: tuple[Changes, ...]
    active: Mapping[ServiceId, ActiveShifts]
    added: Mapping[ServiceId, list[Shift]]
    # New shifts that overlap, for the same person, a shift the import keeps.
    clashes: tuple[Problem, ...]

    async def holes(
        self, catalogue: Catalogue, hours: Mapping[Track, Hours], tz: ZoneInfo
    ) -> list[Hole]:
        """Every new hole in coverage, at every level, within hours or not."""
        holes: list[Hole] = []
        for service, active in self.active.items():
            found = functools.partial(
                new_holes,
                service,
                removed=active.removed,
                staying=active.staying,
                added=self.added.get(service, []),
                hours=_hours_of(catalogue.find(service), hours),
                tz=tz,
            )
            holes.extend(await parse_off_loop(found))
        return holes

    def shrink(self, share: float) -> Shrink | None:
        """The shrink of the shifts the import replaces, None within `share`."""
        before = sum(c.replaced + c.removed + c.unchanged for c in self.changes)
        removed = [c.service for c in self.changes for _ in range(c.removed)]
        return shrinkage(Kind.SHIFTS, before, removed, share)

    def change_lines(self) -> list[tuple[str, dict[str, str]]]:
        """Summary lines (message key, fields): added, replaced, removed per service."""
        return [
            (
                "roster_changes",
                {
                    "service": c.service,
                    "added": str(c.added),
                    "replaced": str(c.replaced),
                    "removed": str(c.removed),
                    "unchanged": str(c.unchanged),
                },
            )
            for c in self.changes
        ]


async def roster_impact(store: DataSets, result: RosterCheck, tz: ZoneInfo) -> RosterImpact:
    """Compare the shifts of checked roster files with the active ones they replace."""
    added = await parse_off_loop(_by_service, result.shifts)
    kept: list[Shift] = []
    per_service: list[Changes] = []
    actives: dict[ServiceId, ActiveShifts] = {}
    for service, spans in sorted(result.periods.items()):
        active = actives[service] = await _active_around(store, service, spans)
        new = added.get(service, [])
        per_service.append(await parse_off_loop(changes, service, new, active.removed))
        kept.extend(active.kept_before)
    clashes = await parse_off_loop(overlaps_with_kept, result, _unique(kept), tz)
    return RosterImpact(
        changes=tuple(per_service), active=actives, added=added, clashes=tuple(clashes)
    )


def _by_service(shifts: Sequence[Shift]) -> dict[ServiceId, list[Shift]]:
    grouped: dict[ServiceId, list[Shift]] = {}
    for shift in shifts:
        grouped.setdefault(shift.service, []).append(shift)
    return grouped


async def _active_around(
    store: DataSets, service: ServiceId, spans: Sequence[tuple[datetime, datetime]]
) -> ActiveShifts:
    removed: list[Shift] = []
    kept_before: list[Shift] = []
    staying: list[Shift] = []
    for start, end in spans:
        running = await store.shifts(service, start, end)
        ours = [s for s in running if start <= s.start < end]
        removed.extend(ours)
        kept_before.extend(s for s in running if s.start < start and not in_periods(s, spans))
        staying.extend(s for s in running if not in_periods(s, spans))
        # A removed shift may run past the period's end (a night shift into the next
        # morning): what covers that tail after the import decides whether a hole opens.
        tail = max((s.end for s in ours), default=end)
        if tail > end:
            after = await store.shifts(service, end, tail)
            staying.extend(s for s in after if not in_periods(s, spans))
    return ActiveShifts(
        removed=_unique(removed), kept_before=_unique(kept_before), staying=_unique(staying)
    )


def _hours_of(service: Service | None, hours: Mapping[Track, Hours]) -> list[Hours]:
    tracks = service.tracks if service is not None else ()
    return [hours[track] for track in tracks if track in hours]


def _unique(shifts: list[Shift]) -> list[Shift]:
    return list(dict.fromkeys(shifts))


def hole_lines(holes: Sequence[Hole], tz: ZoneInfo) -> list[tuple[str, dict[str, str]]]:
    """Summary lines (message key, fields) for new coverage holes: a title, then each hole
    up to MAX_LISTED_HOLES (the ones that stop an import first)."""
    if not holes:
        return []
    stopping = sum(hole.stops_import for hole in holes)
    lines = [("holes_title", {"count": str(len(holes)), "stopping": str(stopping)})]
    ordered = sorted(holes, key=lambda h: (not h.stops_import, h.service, h.level, h.start))
    for hole in ordered[:MAX_LISTED_HOLES]:
        start, end = hole.start.astimezone(tz), hole.end.astimezone(tz)
        fields = {
            "service": hole.service,
            "level": str(hole.level),
            "start": f"{start:%Y-%m-%d %H:%M}",
            "end": f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}",
            "in_hours": "yes" if hole.in_hours else "",
        }
        lines.append(("hole", fields))
    if len(holes) > MAX_LISTED_HOLES:
        lines.append(("holes_more", {"count": str(len(holes) - MAX_LISTED_HOLES)}))
    return lines


async def dropped_with_shifts(
    store: DataSets,
    active: Sequence[Service],
    catalogue: Catalogue,
    file: tuple[str, bytes],
    now: datetime,
) -> list[Problem]:
    """An error for each `active` service the catalogue file drops, or makes a unit that only
    asks, while it still has shifts from `now` on (its rosters would be orphaned: nobody could
    reach that duty).

    A service whose entry is in the file but has errors is not "dropped": its own errors say
    what to fix, and advice to remove its shifts would be wrong."""
    name, data = file
    written = _written_ids(data)
    problems: list[Problem] = []
    for service in active:
        kept = catalogue.find(service.id)
        # One made a unit that only asks (ambulance, municipal care) is never paged: as dropped.
        asks_only = kept is not None and kept.id == service.id and kept.asks_only
        if not asks_only and (
            (kept is not None and kept.id == service.id) or service.id in written
        ):
            continue
        future = await store.shifts(service.id, now, None)
        if future:
            code = "asks_only_with_shifts" if asks_only else "service_dropped_with_shifts"
            params = {"service": service.id, "count": str(len(future))}
            problems.append(Problem(file=name, line=None, code=code, params=params))
    return problems


def _written_ids(data: bytes) -> set[str]:
    """The ids the entries of a catalogue file give, valid or not (empty when unreadable)."""
    try:
        entries = tomllib.loads(data.decode("utf-8-sig")).get("service", [])
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return set()
    if not isinstance(entries, list):
        return set()
    return {e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}


def directory_gone(
    active: Sequence[DirectoryEntry], entries: Sequence[DirectoryEntry]
) -> list[str]:
    """The names of the `active` entries no new entry keeps (same unit and name)."""

    def key(entry: DirectoryEntry) -> tuple[str, str]:
        return normalise(entry.unit), normalise(entry.name)

    staying = {key(entry) for entry in entries}
    return [entry.name for entry in active if key(entry) not in staying]


def staff_gone(active: Sequence[StaffMember], members: Sequence[StaffMember]) -> list[str]:
    """The names (else ids) of the `active` staff list's people the new list drops."""
    staying = {m.user for m in members}
    return [m.name or m.user for m in active if m.user not in staying]


def shrink_line(shrink: Shrink, messages: Messages) -> str:
    """The change summary of a shrinking version: how many removed, a few named."""
    return messages.cli(
        "shrink",
        kind=shrink.kind.value,
        removed=shrink.removed,
        before=shrink.before,
        percent=shrink.percent,
        examples=", ".join(shrink.examples),
    )
