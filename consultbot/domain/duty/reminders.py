"""Duty reminders (SPEC §4 `bot.shift_reminder_minutes`): what to tell whom, and when.

A person's duty is their shifts joined end to end (back-to-back shifts, also of different
services or levels, are one duty and get one reminder). `plan` compares the duties about to
start with the reminders already sent and says what to send now: a reminder for a duty nobody
was told about, a correction when the roster (or a handover) changed what someone was told,
and a cancellation when a duty someone was told about is gone. Pure: the caller gives `now`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from consultbot.domain.duty.shifts import Shift
from consultbot.domain.types import UserId

CANCELLED = "[]"
"""What a reminder 'told' once its duty is gone."""


@dataclass(frozen=True, kw_only=True)
class Duty:
    """One person's shifts joined end to end."""

    user: UserId
    name: str
    start: datetime
    end: datetime
    shifts: tuple[Shift, ...]

    @property
    def told(self) -> str:
        """What a reminder of this duty says, in a stable form (metadata only)."""
        return json.dumps(
            [[s.service, s.level, s.start.isoformat(), s.end.isoformat()] for s in self.shifts]
        )

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True, kw_only=True)
class SentReminder:
    """A reminder (or correction) sent: to whom, for which duty, and what it said."""

    user: UserId
    start: datetime
    end: datetime
    told: str

    @property
    def cancelled(self) -> bool:
        """True when the last word about this duty was that it is gone."""
        return self.told == CANCELLED


@dataclass(frozen=True, kw_only=True)
class Remind:
    """Tell `duty.user` about the duty about to start."""

    duty: Duty


@dataclass(frozen=True, kw_only=True)
class Correct:
    """The duty `replaces` told about has changed: tell the person what it is now."""

    duty: Duty
    replaces: SentReminder


@dataclass(frozen=True, kw_only=True)
class Cancel:
    """The duty `reminder` told about is gone."""

    reminder: SentReminder


Action = Remind | Correct | Cancel


def duties(shifts: Iterable[Shift]) -> list[Duty]:
    """Each person's shifts joined where one starts at or before the end of the other."""
    by_user: defaultdict[UserId, list[Shift]] = defaultdict(list)
    for shift in shifts:
        by_user[shift.user].append(shift)
    found: list[Duty] = []
    for user, own in by_user.items():
        own.sort(key=lambda s: (s.start, s.end, s.service, s.level))
        group = [own[0]]
        end = own[0].end
        for shift in own[1:]:
            if shift.start <= end:
                group.append(shift)
                end = max(end, shift.end)
                continue
            found.append(_duty(user, group, end))
            group, end = [shift], shift.end
        found.append(_duty(user, group, end))
    return sorted(found, key=lambda d: (d.start, d.user))


def _duty(user: UserId, group: Sequence[Shift], end: datetime) -> Duty:
    return Duty(user=user, name=group[0].name, start=group[0].start, end=end, shifts=tuple(group))


def plan(
    current: Sequence[Duty], sent: Sequence[SentReminder], now: datetime, lead: timedelta
) -> list[Action]:
    """What to send at `now`, `lead` before duties start, given the reminders already sent."""
    actions: list[Action] = []
    active = [r for r in sent if not r.cancelled and r.start > now]
    for reminder in active:
        own = [d for d in current if d.user == reminder.user]
        overlapping = [d for d in own if d.overlaps(reminder.start, reminder.end)]
        if not overlapping:
            actions.append(Cancel(reminder=reminder))
        elif all(d.told != reminder.told for d in overlapping):
            actions.append(Correct(duty=overlapping[0], replaces=reminder))
    for duty in current:
        if not now < duty.start <= now + lead:
            continue
        told = [r for r in sent if r.user == duty.user and not r.cancelled and r.end > now]
        if not any(duty.overlaps(r.start, r.end) for r in told):
            actions.append(Remind(duty=duty))
    return actions


def next_check(
    current: Sequence[Duty], sent: Sequence[SentReminder], now: datetime, lead: timedelta
) -> datetime | None:
    """When the next reminder falls due (None when no duty ahead needs one)."""
    due = [
        duty.start - lead
        for duty in current
        if duty.start - lead > now
        and not any(
            r.user == duty.user and not r.cancelled and duty.overlaps(r.start, r.end) for r in sent
        )
    ]
    return min(due, default=None)
