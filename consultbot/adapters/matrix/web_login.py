"""Login for the who's-on board against the homeserver (ports/login.py), over aiohttp.

`POST /_matrix/client/v3/login` with the password (or SSO's login token), then at once
`POST /_matrix/client/v3/logout` with the token it gave: the board keeps only the user id.
A refusal (403, 400, 401) is None; anything else the homeserver cannot answer is
`HomeserverUnavailable`. Nothing here logs a password or a token.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp

from consultbot.ports.login import HomeserverBusy, HomeserverLogin, HomeserverUnavailable

log = logging.getLogger(__name__)

LOGIN = "/_matrix/client/v3/login"
LOGOUT = "/_matrix/client/v3/logout"
SSO_REDIRECT = "/_matrix/client/v3/login/sso/redirect"
REFUSED = (400, 401, 403, 404)
DEVICE_NAME = "consultbot board login"
TIMEOUT_SECONDS = 10.0


class MatrixWebLogin(HomeserverLogin):
    """The bot's homeserver, asked over HTTP (one client session, closed with the bot)."""

    def __init__(self, homeserver: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.homeserver = homeserver.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def offers_sso(self) -> bool:
        try:
            async with self._http().get(self.homeserver + LOGIN) as answer:
                if answer.status != 200:
                    return False
                flows = (await answer.json()).get("flows", [])
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        return any(isinstance(f, dict) and f.get("type") == "m.login.sso" for f in flows)

    async def password_login(self, user: str, password: str) -> str | None:
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        }
        return await self._login(body)

    async def token_login(self, token: str) -> str | None:
        return await self._login({"type": "m.login.token", "token": token})

    def sso_redirect(self, return_to: str) -> str:
        return f"{self.homeserver}{SSO_REDIRECT}?{urlencode({'redirectUrl': return_to})}"

    async def _login(self, body: dict[str, Any]) -> str | None:
        body = {**body, "initial_device_display_name": DEVICE_NAME}
        try:
            async with self._http().post(self.homeserver + LOGIN, json=body) as answer:
                if answer.status in REFUSED:
                    return None
                if answer.status == 429:
                    raise HomeserverBusy("login answered HTTP 429")
                if answer.status != 200:
                    raise HomeserverUnavailable(f"login answered HTTP {answer.status}")
                data = await answer.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise HomeserverUnavailable(type(exc).__name__) from None
        user_id, token = data.get("user_id"), data.get("access_token")
        if isinstance(token, str) and token:
            await self._logout(token)
        return user_id if isinstance(user_id, str) and user_id else None

    async def _logout(self, token: str) -> None:
        """The session the login opened, ended: the board never uses it."""
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self._http().post(self.homeserver + LOGOUT, headers=headers, json={}):
                pass
        except (aiohttp.ClientError, TimeoutError):
            log.warning("logging out the board's login session failed; it stays on the server")
