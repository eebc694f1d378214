"""Who is on duty: for a service at an instant, the people per escalation level."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ServiceId


@dataclass(frozen=True, kw_only=True)
class OnDuty:
    """The escalation chain of a service at one instant: level → shifts, lowest level first."""

    service: ServiceId
    at: datetime
    levels: tuple[tuple[int, tuple[Shift, ...]], ...]

    def level(self, number: int) -> tuple[Shift, ...]:
        return next((shifts for n, shifts in self.levels if n == number), ())

    @property
    def empty(self) -> bool:
        return not self.levels


def on_duty(service: ServiceId, at: datetime, shifts: Iterable[Shift]) -> OnDuty:
    """Group the shifts of `service` that cover `at` by level, ordered by level then name."""
    if at.tzinfo is None:
        raise ValueError("on_duty needs an aware datetime")
    by_level: dict[int, list[Shift]] = {}
    for shift in shifts:
        if shift.service == service and shift.covers(at):
            by_level.setdefault(shift.level, []).append(shift)
    return OnDuty(
        service=service,
        at=at,
        levels=tuple(
            (level, tuple(sorted(found, key=lambda s: (s.name, s.user))))
            for level, found in sorted(by_level.items())
        ),
    )
