"""Repeats and floods: is a new request the same as one just made, or one too many?

A double tap, or a client resending after a network hiccup, delivers the same request twice
as two Matrix events. The second is the same consult, not a new one: nobody is paged twice.
And one requester cannot page those on duty more than `limit` times in `window`.
A conference (`!mdk`) is judged the same way, by its set of services: it is a repeat of an
open conference of the same services with the same text, and it counts against the same
limit as every consult (each pages people and takes a room).
Pure: the inbox gathers the requester's earlier consults and their question texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from consultbot.domain.types import ConsultId, ServiceId, Track


@dataclass(frozen=True)
class Earlier:
    """A consult the same person asked for earlier."""

    consult: ConsultId
    service: ServiceId
    track: Track
    requested_at: datetime
    text: str | None  # its question, None when it cannot be read
    open: bool = True  # a closed (or unanswered) consult is never repeated: asking again is new
    services: frozenset[ServiceId] = frozenset()  # a conference's services; empty for a consult


@dataclass(frozen=True)
class Limits:
    """How close a repeat is, and how many requests a window allows (0 = off)."""

    repeat_window: timedelta
    limit: int
    limit_window: timedelta


@dataclass(frozen=True)
class New:
    """A new consult."""


@dataclass(frozen=True)
class Repeat:
    """The same request as `consult`, made moments ago."""

    consult: ConsultId


@dataclass(frozen=True)
class Limited:
    """One request too many: `count` consults already in the window."""

    count: int


Verdict = New | Repeat | Limited


def same_text(a: str, b: str) -> bool:
    """The same question, whatever the case and spacing (a client may re-wrap it)."""
    return a.casefold().split() == b.casefold().split()


def candidates(
    earlier: list[Earlier],
    service: ServiceId,
    track: Track,
    now: datetime,
    limits: Limits,
    services: frozenset[ServiceId] = frozenset(),
) -> list[Earlier]:
    """Earlier consults that may be this one repeated (their text still to compare);
    `services` for a conference."""
    if limits.repeat_window <= timedelta(0):
        return []
    return [
        e
        for e in earlier
        if e.open
        and e.services == services
        and (bool(services) or e.service == service)  # a conference: its services, any order
        and e.track == track
        and now - limits.repeat_window <= e.requested_at <= now
    ]


def judge(
    earlier: list[Earlier],
    *,
    service: ServiceId,
    track: Track,
    text: str,
    now: datetime,
    limits: Limits,
    services: frozenset[ServiceId] = frozenset(),
) -> Verdict:
    """What a request for `service` on `track` with `text`, at `now`, is (a conference of
    `services`: its first service is `service`)."""
    near = candidates(earlier, service, track, now, limits, services)
    for e in sorted(near, key=lambda e: e.requested_at, reverse=True):
        if e.text is not None and same_text(e.text, text):
            return Repeat(e.consult)
    if limits.limit:
        recent = [e for e in earlier if now - limits.limit_window < e.requested_at <= now]
        if len(recent) >= limits.limit:
            return Limited(len(recent))
    return New()
