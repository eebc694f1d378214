"""Board sessions, CSRF tokens and login rate limits, all in this process's memory.

A session is a random id (the cookie) → the user the homeserver vouched for, a CSRF token
for the session's forms, and when it ends (`[web] session_seconds` after the login, 8 h by
default). Nothing is written to the database: a restart, or the other instance behind the
same address, asks for a new login (docs/decisions.md). The login form itself carries a
token that must match a cookie set with it (double submit), so that no other site can post
a login.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_SESSIONS = 10_000  # past this the oldest session ends first (memory stays bounded)
MAX_TRACKED = 10_000  # addresses and users a rate limit remembers


def new_token() -> str:
    """A random, unguessable token (256 bits)."""
    return secrets.token_urlsafe(32)


def same_token(given: str, expected: str) -> bool:
    """Compared in constant time; an empty token never matches."""
    return bool(given) and bool(expected) and hmac.compare_digest(given, expected)


@dataclass(frozen=True, kw_only=True)
class Session:
    """One login: whose, the token its forms carry, and when it ends (monotonic seconds)."""

    id: str
    user: str
    csrf: str
    ends: float


class Sessions:
    """The logged-in browsers of this process."""

    def __init__(self, lifetime: float, now: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self._now = now
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def start(self, user: str) -> Session:
        """A new session for `user`, lasting `lifetime` seconds from now."""
        session = Session(
            id=new_token(), user=user, csrf=new_token(), ends=self._now() + self.lifetime
        )
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str) -> Session | None:
        """The session with this id while it lasts; an ended one is forgotten."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if self._now() >= session.ends:
            del self._sessions[session_id]
            return None
        return session

    def left(self, session: Session) -> float:
        """Seconds until `session` ends (0 when it has)."""
        return max(0.0, session.ends - self._now())

    def end(self, session_id: str) -> None:
        """Logout: the session is gone at once."""
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


class RateLimit:
    """At most `limit` attempts per key within `window` seconds (a sliding window)."""

    def __init__(
        self, limit: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._now = now
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        cutoff = self._now() - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def allows(self, key: str) -> bool:
        """True when `key` has attempts left now."""
        return len(self._recent(key)) < self.limit

    def hit(self, key: str) -> None:
        """Count one attempt by `key`."""
        hits = self._recent(key)
        hits.append(self._now())
        self._hits[key] = hits
        self._hits.move_to_end(key)
        while len(self._hits) > MAX_TRACKED:
            self._hits.popitem(last=False)
