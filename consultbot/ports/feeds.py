"""The calendar feeds port: feeds by the hash of their token, made and revoked by admins."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from consultbot.domain.duty.feeds import Feed, FeedKind
from consultbot.domain.types import UserId


class Feeds(ABC):
    """Calendar feeds (domain/duty/feeds.py). Only a token's hash is ever stored."""

    @abstractmethod
    async def add_feed(
        self, kind: FeedKind, target: str, token_hash: str, *, by: UserId, now: datetime
    ) -> Feed:
        """Store a new feed whose token has the hash `token_hash`; return it with its number."""

    @abstractmethod
    async def feeds(self) -> list[Feed]:
        """Every feed not revoked, oldest first."""

    @abstractmethod
    async def feed_by_token_hash(self, token_hash: str) -> Feed | None:
        """The feed whose token has the hash `token_hash`, unless it is revoked."""

    @abstractmethod
    async def revoke_feed(self, feed: int, *, by: UserId, now: datetime) -> Feed | None:
        """Revoke feed number `feed` at `now`; None (and no change) when there is no such feed
        or it is revoked already."""
