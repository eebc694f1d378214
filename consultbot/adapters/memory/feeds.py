"""The in-memory calendar feeds, as the SQL store keeps them in the `feed` table."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from consultbot.domain.duty.feeds import Feed, FeedKind
from consultbot.domain.types import UserId
from consultbot.ports import Feeds


@dataclass
class MemoryFeeds(Feeds):
    """Every feed ever made, revoked ones included (their numbers are never given again)."""

    _feeds: list[Feed] = field(default_factory=list)

    async def add_feed(
        self, kind: FeedKind, target: str, token_hash: str, *, by: UserId, now: datetime
    ) -> Feed:
        if any(f.token_hash == token_hash for f in self._feeds):
            raise ValueError("a feed with this token exists")  # UNIQUE in SQL
        feed = Feed(
            id=len(self._feeds) + 1,
            kind=kind,
            target=target,
            token_hash=token_hash,
            created_at=now,
            created_by=by,
        )
        self._feeds.append(feed)
        return feed

    async def feeds(self) -> list[Feed]:
        return [f for f in self._feeds if f.active]

    async def feed_by_token_hash(self, token_hash: str) -> Feed | None:
        return next((f for f in self._feeds if f.active and f.token_hash == token_hash), None)

    async def revoke_feed(self, feed: int, *, by: UserId, now: datetime) -> Feed | None:
        for n, found in enumerate(self._feeds):
            if found.id == feed and found.active:
                self._feeds[n] = replace(found, revoked_at=now, revoked_by=by)
                return self._feeds[n]
        return None
