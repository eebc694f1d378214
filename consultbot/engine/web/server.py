"""The who's-on board over HTTP (`[web] listen`; issue 22): aiohttp's server, jinja2 pages.

Every route needs a session (login.py) except the login itself, the static files
(templates/web/static) and the route tables passed as `public` (the calendar feeds, which
carry a secret token of their own). Every answer carries headers that keep it out of frames
and caches and allow only this site's own script and style sheet.

More pages are more route tables: `make_app(board, routes=(...,))`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from consultbot.engine.web import login, pages
from consultbot.engine.web.context import BOARD, SESSION_COOKIE, SESSION_KEY, Board
from consultbot.text.web import web_folder

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RouteTable = Iterable[web.AbstractRouteDef]
SHUTDOWN_SECONDS = 2.0  # open event streams are told to end; a stop waits this long at most
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PUBLIC_KEY = web.AppKey("public", frozenset)


def _public(request: web.Request) -> bool:
    if isinstance(request.match_info.route.resource, web.StaticResource):
        return True
    return request.match_info.handler in request.app[PUBLIC_KEY]


def _away(request: web.Request) -> web.HTTPException:
    """No session: a page goes to the login form; anything a script fetches gets 401."""
    if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
        return web.HTTPSeeOther("/login")
    return web.HTTPUnauthorized()


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No page and no data without a session; security headers on every answer."""
    try:
        if not _public(request):
            session = request.app[BOARD].sessions.get(request.cookies.get(SESSION_COOKIE, ""))
            if session is None:
                raise _away(request)
            request[SESSION_KEY] = session
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        exc.headers.setdefault("Cache-Control", "no-store")
        raise
    if not response.prepared:  # an event stream has sent its headers already
        response.headers.update(HEADERS)
        if not isinstance(request.match_info.route.resource, web.StaticResource):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def make_app(
    board: Board, *, routes: Iterable[RouteTable] = (), public: Iterable[RouteTable] = ()
) -> web.Application:
    """The board's application: its pages and login, plus `routes` (need a session) and
    `public` (served without one, e.g. the calendar feeds)."""
    app = web.Application(middlewares=[_guard])
    app[BOARD] = board
    open_tables = list(public)
    handlers = set(login.PUBLIC)
    for table in (login.routes, pages.routes, *routes, *open_tables):
        app.router.add_routes(table)
    for table in open_tables:
        handlers |= {route.handler for route in table if isinstance(route, web.RouteDef)}
    app[PUBLIC_KEY] = frozenset(handlers)
    app.router.add_static("/static", web_folder() / "static")
    return app


class WebServer:
    """The board served on `[web] listen` (started and stopped with the bot, app.py)."""

    def __init__(self, board: Board, app: web.Application | None = None) -> None:
        self.board = board
        self.app = app or make_app(board)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        addresses = self._runner.addresses  # the port actually bound (0 = any free one)
        self.port = int(addresses[0][1]) if addresses else port
        log.info("the who's-on board on http://%s:%d/", host, self.port)

    async def stop(self) -> None:
        self.board.closing.set()
        self.board.changes.notify("closing")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
