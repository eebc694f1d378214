"""`consultbot feed create|list|revoke`: calendar feeds for calendar apps (engine/feeds.py).

`create` prints the feed's address once (the token in it is never stored), `list` shows the
feeds without any token, `revoke` makes the address answer 404 at once. Bad input is one
line on stderr, and nothing is changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from consultbot.cli.context import EXIT_OK, Context
from consultbot.cli.data import os_user
from consultbot.domain.errors import FeedRefused
from consultbot.domain.types import UserId

if TYPE_CHECKING:
    from consultbot.domain.duty.feeds import Feed
    from consultbot.engine.feeds import FeedDesk
    from consultbot.text.render import Messages


def feed_what(feed: Feed, messages: Messages) -> str:
    """What a feed shows, in words: `tjänst kardiologi`, `person @anna:region.se`."""
    return messages.cli(f"feed_{feed.kind.value}", target=feed.target)


async def _desk(ctx: Context) -> FeedDesk:
    from consultbot.engine.feeds import FeedDesk

    store = await ctx.store()
    base = ctx.config.web.base_url
    return FeedDesk(feeds=store, datasets=store, admin_log=store, base_url=base)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def cmd_feed_create(ctx: Context) -> int:
    service, person = ctx.args.service or "", ctx.args.person or ""
    if bool(service) == bool(person):
        raise ctx.fail("feed_what_missing")
    desk = await _desk(ctx)
    try:
        made = await desk.create(service=service, person=person, by=UserId(os_user()), now=_now())
    except FeedRefused as refused:
        raise ctx.fail(f"feed_{refused.code}", **refused.params) from None
    what = feed_what(made.feed, ctx.messages)
    ctx.print(ctx.messages.cli("feed_created", number=made.feed.id, what=what), made.url)
    if not ctx.config.web.base_url:
        ctx.warn(ctx.messages.cli("feed_no_web"))
    return EXIT_OK


async def cmd_feed_list(ctx: Context) -> int:
    feeds = await (await _desk(ctx)).feeds()
    if not feeds:
        ctx.print(ctx.messages.cli("feed_none"))
    for feed in feeds:
        at = f"{feed.created_at.astimezone(ctx.tz):%Y-%m-%d %H:%M}"
        what = feed_what(feed, ctx.messages)
        line = ctx.messages.cli("feed_line", number=feed.id, what=what, at=at, by=feed.created_by)
        ctx.print(line)
    return EXIT_OK


async def cmd_feed_revoke(ctx: Context) -> int:
    desk = await _desk(ctx)
    try:
        feed = await desk.revoke(ctx.args.number, by=UserId(os_user()), now=_now())
    except FeedRefused as refused:
        raise ctx.fail(f"feed_{refused.code}", **refused.params) from None
    what = feed_what(feed, ctx.messages)
    ctx.print(ctx.messages.cli("feed_revoked", number=feed.id, what=what))
    return EXIT_OK
