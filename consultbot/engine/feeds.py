"""Calendar feeds: made, listed and revoked by admins (`consultbot feed …` and `!kalender …`),
and the calendar a feed shows when a calendar app fetches it (engine/web/feeds.py).

A new feed gets 32 random bytes as its token, shown once in its URL; the store keeps only the
token's SHA-256 (domain/duty/feeds.py). Making and revoking are written to the admin audit
trail with who and when, as every admin action is (`consultbot audit`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.duty.feeds import (
    EventText,
    Feed,
    FeedKind,
    feed_calendar,
    token_hash,
    window_start,
)
from consultbot.domain.duty.shifts import Shift
from consultbot.domain.errors import FeedRefused
from consultbot.domain.types import ServiceId, UserId
from consultbot.ports import AdminLog, DataSets, Feeds
from consultbot.text.render import Messages

FEED_PREFIX = "/feed/"
"""Where feeds are served: `/feed/TOKEN.ics`, without login (the token is the credential)."""
_LARGEST_NUMBER = 2**63 - 1  # a feed number beyond what the database stores is no feed


@dataclass(frozen=True, kw_only=True)
class NewFeed:
    """A feed just made, with its token: the only moment the token is known."""

    feed: Feed
    token: str
    url: str


def feed_url(base_url: str, token: str) -> str:
    """The address a calendar app subscribes to; only the path when no base is configured."""
    return f"{base_url.rstrip('/')}{FEED_PREFIX}{token}.ics"


def feed_detail(feed: Feed) -> str:
    """The audit trail's record of a feed (text/stored.py shows it in the reader's language)."""
    return f"feed {feed.id}: {feed.kind.value} {feed.target}"


class FeedDesk:
    """Making, listing and revoking feeds, each change in the audit trail."""

    def __init__(
        self, *, feeds: Feeds, datasets: DataSets, admin_log: AdminLog, base_url: str
    ) -> None:
        self._feeds = feeds
        self._datasets = datasets
        self._admin_log = admin_log
        self._base_url = base_url

    async def create(
        self, *, service: str = "", person: str = "", by: UserId, now: datetime
    ) -> NewFeed:
        """A new feed of `service` (an id, alias or name in the active catalogue) or of
        `person` (a Matrix id); FeedRefused, and nothing stored, when it names nothing."""
        kind, target = await self._target(service, person)
        token = secrets.token_urlsafe(32)
        feed = await self._feeds.add_feed(kind, target, token_hash(token), by=by, now=now)
        await self._admin_log.record_admin_action(
            actor=by, action="feed_create", allowed=True, detail=feed_detail(feed), now=now
        )
        return NewFeed(feed=feed, token=token, url=feed_url(self._base_url, token))

    async def _target(self, service: str, person: str) -> tuple[FeedKind, str]:
        if person:
            user = normalise_matrix_id(person)
            if user is None:
                raise FeedRefused("bad_user", user=person)
            return FeedKind.PERSON, user
        catalogue = await self._datasets.catalogue()
        if not len(catalogue):
            raise FeedRefused("no_catalogue")
        found = catalogue.find(service)
        if found is None:
            raise FeedRefused("unknown_service", service=service)
        if found.asks_only:
            raise FeedRefused("asks_only", service=found.name)
        return FeedKind.SERVICE, found.id

    async def feeds(self) -> list[Feed]:
        """The feeds not revoked, oldest first."""
        return await self._feeds.feeds()

    async def revoke(self, number: int, *, by: UserId, now: datetime) -> Feed:
        """Revoke feed `number` at once; FeedRefused when there is no such feed (any more)."""
        found = None
        if 1 <= number <= _LARGEST_NUMBER:
            found = await self._feeds.revoke_feed(number, by=by, now=now)
        if found is None:
            raise FeedRefused("no_feed", number=str(number))
        await self._admin_log.record_admin_action(
            actor=by, action="feed_revoke", allowed=True, detail=feed_detail(found), now=now
        )
        return found


async def feed_shifts(feed: Feed, datasets: DataSets, now: datetime) -> list[Shift]:
    """The shifts a feed shows at `now`: from `PAST_DAYS` back to the roster's end, with the
    accepted handovers laid over them; a person's in every service of the catalogue."""
    start = window_start(now)
    if feed.kind is FeedKind.SERVICE:
        return await datasets.shifts(ServiceId(feed.target), start)
    mine = [
        shift
        for service in (await datasets.catalogue()).services
        for shift in await datasets.shifts(service.id, start)
        if shift.user == feed.target
    ]
    return sorted(mine, key=lambda s: (s.start, s.service, s.level))


async def feed_ical(feed: Feed, datasets: DataSets, now: datetime, messages: Messages) -> bytes:
    """The feed as an iCalendar file at `now`, its texts in `messages`' language."""
    shifts = await feed_shifts(feed, datasets, now)
    catalogue = await datasets.catalogue()

    def service_name(service: str) -> str:
        found = catalogue.find(service)
        return found.name if found is not None else service

    def text(shift: Shift) -> EventText:
        fields = {"service": service_name(shift.service), "level": shift.level}
        return EventText(
            summary=messages.text("feed", "summary", name=shift.name, **fields),
            description=messages.text(
                "feed", "description", phone=shift.phone, user=shift.user, **fields
            ),
        )

    if feed.kind is FeedKind.SERVICE:
        name = messages.text("feed", "service_calendar", service=service_name(feed.target))
    else:
        person = await datasets.staff_member(UserId(feed.target))
        who = person.name if person is not None else feed.target
        name = messages.text("feed", "person_calendar", name=who)
    return feed_calendar(shifts, name=name, kind=feed.kind, stamp=now, text=text)
