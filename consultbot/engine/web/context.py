"""What every page of the board shares: its parts, the session, the language and rendering."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from consultbot.config import Config
from consultbot.engine.web.changes import Changes
from consultbot.engine.web.sessions import RateLimit, Session, Sessions
from consultbot.ports import Clock, DataStore
from consultbot.ports.login import HomeserverLogin
from consultbot.text.report import StatsSource
from consultbot.text.web import language_of, render_page

SESSION_COOKIE = "consultbot_session"
LOGIN_COOKIE = "consultbot_login"  # the login form's double-submit token
SSO_COOKIE = "consultbot_sso"  # the SSO round trip's state, bound to the browser that began it
# Login attempts: per address (the browser's, see `client_address`) and per user name.
ATTEMPTS_PER_ADDRESS = (20, 600.0)
ATTEMPTS_PER_USER = (5, 600.0)


@dataclass(kw_only=True)
class Board:
    """The board's parts: what it reads, who is logged in, and the login limits."""

    config: Config
    data: DataStore
    login: HomeserverLogin
    changes: Changes
    clock: Clock
    stats: StatsSource | None = None
    sessions: Sessions = field(init=False)
    by_address: RateLimit = field(default_factory=lambda: RateLimit(*ATTEMPTS_PER_ADDRESS))
    by_user: RateLimit = field(default_factory=lambda: RateLimit(*ATTEMPTS_PER_USER))
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    # Per language: (when drawn, PNG), drawn again at most every 10 minutes.
    charts: dict[str, tuple[float, bytes]] = field(default_factory=dict)
    sso_states: dict[str, float] = field(default_factory=dict)  # SSO round trips under way
    sso_offered: tuple[float, bool] | None = None  # (when asked, whether the homeserver has SSO)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.config.web.session_seconds)

    def is_admin(self, user: str) -> bool:
        return user in self.config.bot.admins


BOARD = web.AppKey("board", Board)
SESSION_KEY = web.RequestKey("session", Session)


def board_of(request: web.Request) -> Board:
    return request.app[BOARD]


def session_of(request: web.Request) -> Session:
    """The request's session (set by the login check for every page that needs one)."""
    return request[SESSION_KEY]


def language(request: web.Request) -> str:
    return language_of(request.headers.get("Accept-Language", ""))


def over_tls(request: web.Request) -> bool:
    """The browser reached the board over https: directly, or through a proxy that says so."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def client_address(request: web.Request) -> str:
    """The browser's address for the per-address login limit: the peer, or, when the peer is a
    proxy on this machine (loopback), the last address it added to X-Forwarded-For."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if local and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return peer


def page(request: web.Request, template: str, *, status: int = 200, **params: Any) -> web.Response:
    """An HTML page in the browser's language."""
    board = board_of(request)
    text = render_page(template, language(request), board.config.bot.timezone, **params)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    max_age: int,
    *,
    samesite: str = "Strict",
) -> None:
    """A cookie no script can read, sent only to this site (`Lax`: also on a link from
    elsewhere, as the homeserver's SSO page sends the browser back), and only over https
    behind TLS."""
    secure = board_of(request).config.web.secure_cookies or over_tls(request)
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, secure=secure, samesite=samesite
    )
