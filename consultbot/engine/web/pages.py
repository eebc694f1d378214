"""The board's pages (issue 22, item 3); every one needs a session (server.py checks).

GET /               who is on duty now or at `?at=` (a date-time form), per service and
                    level; handovers in force; the directory search (`?q=`); for
                    admins the coverage gaps of the coming 14 days and the chart
GET /live           the part of / that changes, fetched again by board.js on a change
GET /events         server-sent events: "change" when a roster, a handover or an
                    acknowledgement changed (changes.py), "expired" when the session ended
GET /matrix         the plan's matrix: each service's paths with who may use them, when,
                    and the routine (what to have ready, when to ring, when to refer,
                    boundary documents), under their kind of service
GET /print/matrix   the matrix to print, one page per service area (as the phone list)
GET /print/phones   the phone list to print, one page per service area (municipality)
GET /chart.png      the follow-up chart (admins only)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from consultbot.engine.web import views
from consultbot.engine.web.context import board_of, language, page, session_of
from consultbot.text.render import Messages
from consultbot.text.report import goals_chart

KEEP_ALIVE_SECONDS = 20.0  # a comment line now and then keeps proxies from closing the stream
CHART_SECONDS = 600.0  # the chart is drawn again at most this often
MAX_QUERY = 200  # characters of a search read

routes = web.RouteTableDef()


def _at(request: web.Request) -> tuple[datetime, str, bool]:
    """The instant asked for (`?at=` in local time, else now), the form's value, and whether
    what was typed could not be read."""
    board = board_of(request)
    now = board.clock.now()
    typed = request.query.get("at", "").strip()[:32]
    if typed:
        try:
            local = datetime.fromisoformat(typed)
            if local.tzinfo is None:
                local = local.replace(tzinfo=board.config.bot.timezone)
            return local.astimezone(UTC), typed, False
        except (ValueError, OverflowError):  # not a time, or at the edge of the calendar
            return now, typed, True
    return now, "", False


async def _live(request: web.Request) -> dict[str, Any]:
    """What the live part shows: who is on duty, handovers in force, gaps for admins."""
    board = board_of(request)
    session = session_of(request)
    at, typed, bad = _at(request)
    catalogue = await board.data.catalogue()
    handovers = views.in_force(await board.data.handovers(), at)
    admin = board.is_admin(session.user)
    gaps = await views.gaps(board.data, board.config, catalogue, board.clock.now()) if admin else []
    return {
        "at": at,
        "at_typed": typed,
        "bad_at": bad,
        "now": not typed or bad,
        "groups": views.by_kind(await views.on_duty(board.data, catalogue, at, handovers)),
        "handovers": handovers,
        "names": {s.id: s.name for s in catalogue.services},
        "admin": admin,
        "gaps": gaps,
    }


@routes.get("/")
async def board_page(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    session = session_of(request)
    query = request.query.get("q", "").strip()[:MAX_QUERY]
    found = await views.directory(board.data, query) if query else []
    live = await _live(request)
    live_url = request.rel_url.with_path("/live").human_repr()
    return page(
        request,
        "board.html",
        user=session.user,
        csrf=session.csrf,
        query=query,
        found=found,
        live_url=live_url,
        **live,
    )


@routes.get("/live")
async def live_part(request: web.Request) -> web.StreamResponse:
    return page(request, "live.html", **await _live(request))


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    session = session_of(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        async with board.changes.listen() as changes:
            await response.write(b"retry: 5000\n\n")
            while not board.closing.is_set():
                if board.sessions.get(session.id) is None:
                    await response.write(b"event: expired\ndata: \n\n")
                    break
                # Woken when the session ends, too: the page goes to the login at once.
                wait = min(KEEP_ALIVE_SECONDS, board.sessions.left(session) + 0.05)
                try:
                    async with asyncio.timeout(wait):
                        what = await changes.get()
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if board.closing.is_set():  # the server stops: the browser reconnects later
                    break
                await response.write(f"event: change\ndata: {what}\n\n".encode())
    return response


async def _routines(request: web.Request) -> list[views.RoutineRow]:
    board = board_of(request)
    return views.routines(await board.data.catalogue(), board.config.hours_of())


@routes.get("/matrix")
async def matrix_page(request: web.Request) -> web.StreamResponse:
    groups = views.by_kind(await _routines(request))
    return page(request, "matrix.html", groups=groups, user=session_of(request).user)


@routes.get("/print/matrix")
async def matrix_print(request: web.Request) -> web.StreamResponse:
    areas = views.by_area(await _routines(request))
    return page(request, "matrix_print.html", areas=areas, printed=board_of(request).clock.now())


@routes.get("/print/phones")
async def phone_list(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    catalogue = await board.data.catalogue()
    areas = await views.phone_list(board.data, catalogue)
    return page(request, "phones.html", areas=areas, printed=board.clock.now())


@routes.get("/chart.png")
async def chart(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    if not board.is_admin(session_of(request).user) or board.stats is None:
        raise web.HTTPForbidden()
    lang = language(request)
    drawn = board.charts.get(lang)
    if drawn is None or time.monotonic() - drawn[0] > CHART_SECONDS:
        today: date = board.clock.now().astimezone(board.config.bot.timezone).date()
        png = await goals_chart(board.stats, today, board.config.bot.timezone, Messages(lang))
        board.charts[lang] = drawn = (time.monotonic(), png)
    return web.Response(body=drawn[1], content_type="image/png")
