"""Login through the homeserver, and logout (issue 22, item 4).

    GET  /login            the form (user and password; "log in with SSO" when offered)
    POST /login            the homeserver checks the password; a session starts
    GET  /login/sso        to the homeserver's SSO page, which comes back to …
    GET  /login/sso/done   … with a login token, which the homeserver turns into a user id
    POST /logout           the session ends

Only users on `bot.allowed_servers` get a session: an id typed on another server is refused
before the password goes anywhere, and the id the homeserver answers with is checked again.
Attempts are limited per browser address and per user name (context.py).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from aiohttp import web

from consultbot.domain.chat.audience import on_allowed_server
from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.files.validation import servers_of
from consultbot.engine.web.context import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SSO_COOKIE,
    Board,
    board_of,
    client_address,
    over_tls,
    page,
    session_of,
    set_cookie,
)
from consultbot.engine.web.sessions import new_token, same_token
from consultbot.ports.login import HomeserverBusy, HomeserverUnavailable

log = logging.getLogger(__name__)

LOGIN_FORM_SECONDS = 3600  # how long a login form may stay open
SSO_SECONDS = 600.0  # how long an SSO round trip may take
MAX_SSO_STATES = 10_000  # SSO round trips remembered at once (the oldest go first)
FLOWS_SECONDS = 300.0  # the homeserver is asked again whether it offers SSO after this long
MAX_FIELD = 512  # characters of a user name or password read

routes = web.RouteTableDef()


def allowed(board: Board, user_id: str) -> bool:
    """The same check as in chat (engine/intake/guard.py): on one of the allowed servers."""
    return on_allowed_server(user_id, servers_of(board.config.bot.allowed_servers))


def _servers(board: Board) -> str:
    return ", ".join(board.config.bot.allowed_servers)


def _qualified(board: Board, typed: str) -> str:
    """A full user id for what was typed: a localpart is on the bot's own server."""
    if typed.startswith("@"):
        return normalise_matrix_id(typed) or typed.lower()
    return f"@{typed.lower()}:{board.config.matrix.user_id.split(':', 1)[1]}"


async def _form(request: web.Request, *, status: int = 200, error: str = "") -> web.Response:
    """The login form with a fresh double-submit token (cookie and hidden field)."""
    board = board_of(request)
    token = new_token()
    sso = await _offers_sso(board)
    response = page(
        request,
        "login.html",
        status=status,
        csrf=token,
        sso=sso,
        error=error,
        servers=_servers(board),
        logged_out="out" in request.query,
    )
    set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_FORM_SECONDS)
    return response


async def _offers_sso(board: Board) -> bool:
    """Whether the homeserver offers SSO, asked at most every 5 minutes (the form is public:
    a flood of it must not become a flood of requests to the homeserver)."""
    now = time.monotonic()
    if board.sso_offered is None or now - board.sso_offered[0] > FLOWS_SECONDS:
        board.sso_offered = (now, await board.login.offers_sso())
    return board.sso_offered[1]


def _see_other(location: str) -> web.Response:
    """A redirect to return (rather than raise) with cookies set on it."""
    return web.Response(status=303, headers={"Location": location})


def _start(request: web.Request, user_id: str, response: web.StreamResponse) -> None:
    board = board_of(request)
    board.sessions.end(request.cookies.get(SESSION_COOKIE, ""))  # a login replaces any other
    session = board.sessions.start(user_id)
    set_cookie(request, response, SESSION_COOKIE, session.id, board.config.web.session_seconds)
    response.del_cookie(LOGIN_COOKIE, path="/")
    log.info("board login by %s", user_id)


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    if board.sessions.get(request.cookies.get(SESSION_COOKIE, "")) is not None:
        raise web.HTTPSeeOther("/")
    return await _form(request)


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    form = await request.post()
    if not same_token(str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")):
        return await _form(request, status=403, error="form_expired")
    address = client_address(request)
    if not board.by_address.allows(address):
        return await _form(request, status=429, error="too_many")
    board.by_address.hit(address)
    typed = str(form.get("user", "")).strip()[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    if not typed or not password:
        return await _form(request, status=400, error="missing")
    user = _qualified(board, typed)
    if not allowed(board, user):
        return await _form(request, status=403, error="not_allowed")
    if not board.by_user.allows(user):
        return await _form(request, status=429, error="too_many")
    try:
        user_id = await board.login.password_login(user, password)
    except HomeserverBusy:
        log.warning("board login: the homeserver limits logins (docs/operations.md)")
        return await _form(request, status=429, error="too_many")
    except HomeserverUnavailable as exc:
        log.warning("board login: the homeserver did not answer (%s)", exc)
        return await _form(request, status=503, error="homeserver_down")
    if user_id is None:
        board.by_user.hit(user)
        return await _form(request, status=401, error="wrong_password")
    if not allowed(board, user_id):
        return await _form(request, status=403, error="not_allowed")
    response = _see_other("/")
    _start(request, user_id, response)
    return response


@routes.get("/login/sso")
async def sso(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    now = time.monotonic()
    for state, started in list(board.sso_states.items()):
        if now - started > SSO_SECONDS:
            del board.sso_states[state]
    state = new_token()
    board.sso_states[state] = now
    while len(board.sso_states) > MAX_SSO_STATES:
        del board.sso_states[next(iter(board.sso_states))]
    scheme = "https" if over_tls(request) else request.scheme
    base = board.config.web.public_url.rstrip("/") or f"{scheme}://{request.host}"
    back = f"{base}/login/sso/done?{urlencode({'state': state})}"
    away = web.HTTPFound(board.login.sso_redirect(back))
    # Only the browser that began the round trip may end it: a link to another person's
    # return address (with their login token) would log the clicker in as that person.
    set_cookie(request, away, SSO_COOKIE, state, int(SSO_SECONDS), samesite="Lax")
    raise away


@routes.get("/login/sso/done")
async def sso_done(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    state = request.query.get("state", "")
    ours = same_token(state, request.cookies.get(SSO_COOKIE, ""))
    started = board.sso_states.pop(state, None) if ours else None
    token = request.query.get("loginToken", "")
    if started is None or time.monotonic() - started > SSO_SECONDS or not token:
        return await _form(request, status=403, error="form_expired")
    try:
        user_id = await board.login.token_login(token)
    except HomeserverBusy:
        return await _form(request, status=429, error="too_many")
    except HomeserverUnavailable:
        return await _form(request, status=503, error="homeserver_down")
    if user_id is None:
        return await _form(request, status=401, error="sso_refused")
    if not allowed(board, user_id):
        return await _form(request, status=403, error="not_allowed")
    # A page of our own, not a redirect: the browser came here from the homeserver's site and
    # would not send a SameSite=Strict cookie along a redirect that started there.
    response = page(request, "continue.html")
    _start(request, user_id, response)
    response.del_cookie(SSO_COOKIE, path="/")
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    board = board_of(request)
    session = session_of(request)
    form = await request.post()
    if not same_token(str(form.get("csrf", "")), session.csrf):
        raise web.HTTPForbidden()
    board.sessions.end(session.id)
    response = _see_other("/login?" + urlencode({"out": "1"}))
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


PUBLIC = frozenset({login_form, login, sso, sso_done})
"""The handlers served without a session (besides the static files and the feeds)."""
