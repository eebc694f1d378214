"""Calendar feeds: the roster as an iCalendar feed a calendar app subscribes to (issue 22,
item 5).

A feed is per service (every shift of every level) or per person ("my duties": that person's
shifts in every service). Its URL carries a secret token; only the token's SHA-256 is stored
(`token_hash`), so the database never holds a working URL and a request is answered by
looking the hash up: a guess costs one index lookup, and compares nothing byte by byte.

The calendar (`feed_calendar`) has one VEVENT per shift as the roster has it with the accepted
handovers laid over it (domain/duty/handover.py `cover`), from `PAST_DAYS` before now to the
roster's end. Times are in UTC, which every calendar app shows in its own zone; the UID is
stable (the same shift keeps it in every fetch, so the app updates rather than duplicates);
DTSTAMP is the moment of the fetch, passed in. The texts of an event come from the caller
(templates), as pure values.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from consultbot.domain.duty.shifts import Shift
from consultbot.domain.types import UserId

PRODID = "-//consultbot//calendar feed//SV"
PAST_DAYS = 14
"""How far back a feed reaches: two weeks of past shifts stay visible (who was on duty last
weekend), the rest of the calendar is the roster ahead, to its end."""
REFRESH = "PT1H"
"""How often a calendar app is asked to fetch the feed again (REFRESH-INTERVAL, and the
older X-PUBLISHED-TTL that Outlook reads)."""

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What a token looks like: 32 random bytes in URL-safe base64 without padding."""


class FeedKind(StrEnum):
    """What a feed shows. The values are stored: never change one."""

    SERVICE = "service"  # every shift of one service, each level
    PERSON = "person"  # one person's shifts in every service ("my duties")


@dataclass(frozen=True, kw_only=True)
class Feed:
    """One feed: its number, what it shows (`target`: a service id or a Matrix id), the hash of
    its token, and who made and revoked it when."""

    id: int
    kind: FeedKind
    target: str
    token_hash: str
    created_at: datetime
    created_by: UserId
    revoked_at: datetime | None = None
    revoked_by: UserId | None = None

    @property
    def active(self) -> bool:
        """True until the feed is revoked."""
        return self.revoked_at is None


@dataclass(frozen=True, kw_only=True)
class EventText:
    """What a person reads in one calendar event."""

    summary: str
    description: str = ""


def token_hash(token: str) -> str:
    """The stored form of a feed token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_token(text: str) -> bool:
    """True when `text` has a token's shape (anything else is no feed, without a lookup)."""
    return TOKEN.fullmatch(text) is not None


def window_start(now: datetime) -> datetime:
    """The earliest instant a feed fetched at `now` shows shifts from."""
    return now - timedelta(days=PAST_DAYS)


def shift_uid(shift: Shift, kind: FeedKind) -> str:
    """The event's UID: the same for the same shift in every fetch of a feed of `kind`, and
    different between the two kinds (one app may subscribe to both)."""
    start = f"{shift.start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{kind.value}-{shift.service}-{shift.level}-{start}-{shift.user}@consultbot"


def feed_calendar(
    shifts: Iterable[Shift],
    *,
    name: str,
    kind: FeedKind,
    stamp: datetime,
    text: Callable[[Shift], EventText],
) -> bytes:
    """The feed as an iCalendar file: one VEVENT per shift (times in UTC), in the order given;
    `name` is the calendar's name in the app, `stamp` the DTSTAMP (the moment of the fetch)."""
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    stamp = stamp.astimezone(UTC).replace(microsecond=0)
    for shift in shifts:
        shown = text(shift)
        event = icalendar.Event()
        event.add("uid", shift_uid(shift, kind))
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        event.add("summary", shown.summary)
        if shown.description:
            event.add("description", shown.description)
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
