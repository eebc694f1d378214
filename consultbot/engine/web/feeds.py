"""Calendar feeds over HTTP: `GET /feed/TOKEN.ics` (and HEAD), without login: the token in the
address is the credential (docs/decisions.md, "Calendar feeds").

Every request hashes the token and looks the hash up in the store, so a feed revoked a moment
ago (by the CLI in another process, or in chat) answers 404 from the next request on, and a
guessed token costs one index lookup: nothing is compared byte by byte. Anything that is not a
token of a feed in force is the same 404, with no hint of why. The answer is not to be cached
(`no-store`): a revoked address must not live on in a proxy.

The token is a secret in a URL: the access log must not print the path (`redacted_path`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from consultbot.domain.duty.feeds import is_token, token_hash
from consultbot.engine.feeds import FEED_PREFIX, feed_ical
from consultbot.ports import Clock, DataSets, Feeds
from consultbot.text.render import Messages

log = logging.getLogger(__name__)

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, kw_only=True)
class FeedSources:
    """What the feed routes read: the feeds by token hash, the roster (with its handovers)
    and catalogue, the clock, and the language of the events' texts (`bot.language`)."""

    feeds: Feeds
    datasets: DataSets
    clock: Clock
    language: str = "sv"


def redacted_path(path: str) -> str:
    """`path` as a log may show it: a feed's token replaced by `…`."""
    if path.startswith(FEED_PREFIX):
        return f"{FEED_PREFIX}….ics"
    return path


class RedactingAccessLogger(AbstractAccessLogger):
    """An access log for the web app without feed tokens (`web.AppRunner(app,
    access_log_class=RedactingAccessLogger)`): method, path as `redacted_path` shows it, status
    and seconds; no query string, no client address, no user agent."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = redacted_path(request.path)
        self.logger.info("%s %s %d %.3fs", request.method, path, response.status, time)


def feed_routes(sources: FeedSources) -> web.RouteTableDef:
    """The route `GET /feed/{token}.ics`, for the web app (`app.add_routes(...)`)."""
    routes = web.RouteTableDef()
    messages = Messages(sources.language)

    @routes.get(FEED_PREFIX + "{token}.ics")
    async def feed(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = (
            await sources.feeds.feed_by_token_hash(token_hash(token)) if is_token(token) else None
        )
        if found is None:
            raise web.HTTPNotFound(headers=_HEADERS)
        body = await feed_ical(found, sources.datasets, sources.clock.now(), messages)
        log.debug("calendar feed %d fetched", found.id)
        return web.Response(
            body=body, content_type="text/calendar", charset="utf-8", headers=_HEADERS
        )

    return routes


def add_feed_routes(app: web.Application, sources: FeedSources) -> None:
    """Add the feed route to `app` (the board's app; the login must let `FEED_PREFIX` by)."""
    app.add_routes(feed_routes(sources))
