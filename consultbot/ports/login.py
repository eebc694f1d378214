"""The login port: the homeserver checks who someone is, for the who's-on board (engine/web).

The board keeps no passwords and no Matrix tokens: a password (or an SSO login token) is
passed once to the homeserver, and a token it answers with is logged out at once. All that
is kept is the user id the homeserver vouched for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class HomeserverUnavailable(Exception):
    """The homeserver did not answer (or answered an error that is not a refusal)."""


class HomeserverBusy(HomeserverUnavailable):
    """The homeserver limits logins just now (HTTP 429): every board login comes from the
    bot's one address (docs/operations.md)."""


class HomeserverLogin(ABC):
    """Password and SSO login against the bot's homeserver (Matrix client-server API)."""

    @abstractmethod
    async def offers_sso(self) -> bool:
        """True when the homeserver's login flows include `m.login.sso`."""

    @abstractmethod
    async def password_login(self, user: str, password: str) -> str | None:
        """The user id when the homeserver accepts `user` (an id or a localpart) with
        `password`, else None; the session it opened is logged out before this returns."""

    @abstractmethod
    async def token_login(self, token: str) -> str | None:
        """The user id for an SSO login token (`m.login.token`), else None; as above."""

    @abstractmethod
    def sso_redirect(self, return_to: str) -> str:
        """The homeserver's SSO address that sends the browser back to `return_to` with a
        `loginToken`."""
