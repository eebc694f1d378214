"""New holes in on-duty coverage that a roster import would leave (issue 20).

An import replaces a service's shifts that start inside the file's period for it. A shift it
takes away may run past that period's end (a night shift into the next morning), so the hole
it leaves can lie outside the file's period, yet the import made it. Coverage is therefore
compared where the change lands, at every level: the stretches that a shift taken away
covered, minus what still covers them after the import (the shifts that stay and the file's
own). What remains is a new hole: one the active version did not have. Only the shifts taken
away are looked at, so the work grows with the change, not with the roster.

A hole is split where a track of the service opens or closes: a new level-1 hole inside the
opening hours stops an import until the admin confirms it; every other hole is listed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.roster import Period, merge_periods, subtract_periods
from consultbot.domain.duty.shifts import Shift
from consultbot.domain.types import ServiceId


@dataclass(frozen=True, kw_only=True, order=True)
class Hole:
    """A stretch [start, end) of one level of a service that was covered and no longer is.

    `in_hours` says whether a track of the service is open all through it (holes are split
    where a track opens or closes)."""

    service: ServiceId
    level: int
    start: datetime
    end: datetime
    in_hours: bool

    @property
    def stops_import(self) -> bool:
        """True for a level-1 hole inside opening hours: nobody would be paged at all."""
        return self.level == 1 and self.in_hours


def _slot(shift: Shift) -> tuple[int, datetime, datetime]:
    return (shift.level, shift.start, shift.end)


def taken_away(removed: Iterable[Shift], added: Iterable[Shift]) -> list[Shift]:
    """The removed shifts whose level and times no new shift brings back.

    Coverage does not depend on who is on duty, so a shift handed to another person at the
    same level and times leaves no hole."""
    removed = list(removed)
    if not removed:  # a first import: nothing to count the file's shifts against
        return []
    back = Counter(_slot(shift) for shift in added)
    lost: list[Shift] = []
    for shift in removed:
        slot = _slot(shift)
        if back[slot] > 0:
            back[slot] -= 1
        else:
            lost.append(shift)
    return lost


def new_holes(
    service: ServiceId,
    *,
    removed: Iterable[Shift],
    staying: Iterable[Shift],
    added: Iterable[Shift],
    hours: Sequence[Hours],
    tz: ZoneInfo,
) -> list[Hole]:
    """Every hole an import leaves in `service`'s coverage, at every level, in order.

    `removed`: the active shifts the import takes away (they start inside the file's period,
    wherever they end); `staying`: active shifts it keeps that overlap the removed ones;
    `added`: the file's shifts for the service; `hours`: the opening hours of its tracks."""
    added = list(added)
    lost_by_level: dict[int, list[Period]] = defaultdict(list)
    for shift in taken_away(removed, added):
        lost_by_level[shift.level].append((shift.start, shift.end))
    if not lost_by_level:
        return []
    cover_by_level: dict[int, list[Period]] = defaultdict(list)
    for shift in (*staying, *added):
        if shift.level in lost_by_level:
            cover_by_level[shift.level].append((shift.start, shift.end))
    holes: list[Hole] = []
    for level, lost in sorted(lost_by_level.items()):
        for start, end in subtract_periods(lost, cover_by_level[level]):
            holes.extend(
                Hole(service=service, level=level, start=lo, end=hi, in_hours=inside)
                for lo, hi, inside in split_by_hours(start, end, hours, tz)
            )
    return holes


def split_by_hours(
    start: datetime, end: datetime, hours: Sequence[Hours], tz: ZoneInfo
) -> list[tuple[datetime, datetime, bool]]:
    """[start, end) cut where any of `hours` opens or closes: (from, to, open) in order."""
    open_windows = merge_periods(
        window for each in hours for window in each.windows(start, end, tz)
    )
    closed = subtract_periods([(start, end)], open_windows)
    pieces = [(lo, hi, True) for lo, hi in open_windows]
    pieces.extend((lo, hi, False) for lo, hi in closed)
    return sorted(pieces)
