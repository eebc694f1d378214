"""Handovers: a layer over the roster (SPEC §6 "Handovers").

The person on duty hands their current duty (service and level) to a colleague for a period;
it counts once the colleague has accepted (or at once when an admin made it). The roster is
never changed: `cover` lays the accepted handovers over the shifts, so that everything that
asks who is on duty — pages, `!vem`, `consultbot who`, the export — sees the colleague for the
handover's period and the roster's person before and after it. A handover ends by itself at
its end; an offer not answered in time (`bot.handover_answer_seconds`, 10 min) lapses and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum

from consultbot.domain.duty.shifts import Shift
from consultbot.domain.types import ServiceId, UserId


class HandoverState(StrEnum):
    """Where a handover is. The values are stored: never change one."""

    OFFERED = "offered"  # asked, not yet answered
    ACCEPTED = "accepted"  # in force for [start, end)
    DECLINED = "declined"
    LAPSED = "lapsed"  # not answered in time
    WITHDRAWN = "withdrawn"  # the offerer stopped being on duty before the answer


@dataclass(frozen=True, kw_only=True)
class Handover:
    """One duty (service and level) handed from `giver` to `taker` over [start, end).

    `offered_by` is the giver, or the admin who made it (then there is no `answer_by`: it is
    in force at once). `room` is where the offer was made, for answers to whoever made it.
    """

    id: int
    service: ServiceId
    level: int
    giver: UserId
    taker: UserId
    taker_name: str
    taker_phone: str
    start: datetime
    end: datetime
    offered_by: UserId
    offered_at: datetime
    answer_by: datetime | None
    state: HandoverState
    decided_at: datetime | None = None
    room: str = ""
    language: str = ""
    source_event: str = ""

    @property
    def by_admin(self) -> bool:
        """True when an admin handed someone else's duty."""
        return self.offered_by != self.giver


def cover(shifts: Iterable[Shift], handovers: Sequence[Handover]) -> list[Shift]:
    """The shifts with every accepted handover laid over them, in the order they were decided.

    A handover replaces the giver by the taker in the giver's shifts of its service and level
    for the part of them inside the handover's period; the rest of a shift stays the giver's.
    A later handover can hand on what an earlier one gave.
    """
    result = list(shifts)
    accepted = [h for h in handovers if h.state is HandoverState.ACCEPTED]
    for handover in sorted(accepted, key=lambda h: (h.decided_at or h.offered_at, h.id)):
        laid: list[Shift] = []
        for shift in result:
            if (
                shift.service != handover.service
                or shift.level != handover.level
                or shift.user != handover.giver
                or shift.end <= handover.start
                or shift.start >= handover.end
            ):
                laid.append(shift)
                continue
            if shift.start < handover.start:
                laid.append(replace(shift, end=handover.start))
            laid.append(
                replace(
                    shift,
                    start=max(shift.start, handover.start),
                    end=min(shift.end, handover.end),
                    user=handover.taker,
                    name=handover.taker_name,
                    phone=handover.taker_phone,
                )
            )
            if shift.end > handover.end:
                laid.append(replace(shift, start=handover.end))
        result = laid
    return result


def until(now: datetime, shift_end: datetime, at: time | None, tz: tzinfo) -> datetime:
    """The end of a handover made at `now`: the next `at` (local time), never past the end of
    the giver's shift; the shift's end when no time was given."""
    if at is None:
        return shift_end
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return min(candidate.astimezone(shift_end.tzinfo), shift_end)
