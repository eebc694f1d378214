"""Calendar feeds in SQL: the hash of each token, who made and revoked the feed, and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms
from consultbot.adapters.sql.dialect import one
from consultbot.domain.duty.feeds import Feed, FeedKind
from consultbot.domain.types import UserId
from consultbot.ports import Feeds

_COLUMNS = "id, kind, target, token_hash, created_at_ms, created_by, revoked_at_ms, revoked_by"


def _feed(row: Sequence[Any]) -> Feed:
    number, kind, target, hashed, created, by, revoked, revoked_by = row
    return Feed(
        id=int(number),
        kind=FeedKind(kind),
        target=target,
        token_hash=hashed,
        created_at=from_ms(created),
        created_by=UserId(by),
        revoked_at=from_ms(revoked) if revoked is not None else None,
        revoked_by=UserId(revoked_by) if revoked_by is not None else None,
    )


class FeedSql(SqlBase, Feeds):
    """The `feed` table (migration 14)."""

    async def add_feed(
        self, kind: FeedKind, target: str, token_hash: str, *, by: UserId, now: datetime
    ) -> Feed:
        async with self._transaction() as db:
            row = await one(
                db,
                "INSERT INTO feed (kind, target, token_hash, created_at_ms, created_by)"
                f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
                (kind.value, target, token_hash, to_ms(now), by),
            )
        return _feed(row)

    async def feeds(self) -> list[Feed]:
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM feed WHERE revoked_at_ms IS NULL ORDER BY id"
        )
        return [_feed(row) for row in rows]

    async def feed_by_token_hash(self, token_hash: str) -> Feed | None:
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM feed WHERE token_hash = $1 AND revoked_at_ms IS NULL",
            (token_hash,),
        )
        return _feed(rows[0]) if rows else None

    async def revoke_feed(self, feed: int, *, by: UserId, now: datetime) -> Feed | None:
        async with self._transaction() as db:
            row = await one(
                db,
                "UPDATE feed SET revoked_at_ms = $1, revoked_by = $2"
                f" WHERE id = $3 AND revoked_at_ms IS NULL RETURNING {_COLUMNS}",
                (to_ms(now), by, feed),
            )
        return _feed(row) if row is not None else None
