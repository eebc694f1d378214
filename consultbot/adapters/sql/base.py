"""What every SQL store module builds on: the connection, its lock and transactions,
instants as integers, data-set versions and the small bot state (meta)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from consultbot.adapters.sql.dialect import Connection, one, transaction
from consultbot.domain.consult.escalation import Consult, apply
from consultbot.domain.consult.events import Event, EventKind
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.handover import Handover
from consultbot.domain.types import Dataset
from consultbot.ports import BotState, OutboxItem


def to_seconds(instant: datetime) -> int:
    return int(instant.timestamp())


def from_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class SqlBase(BotState):
    """One connection shared by every concern's store class (consultbot/adapters/sql/sqlite.py
    composes them). Write through `_transaction` or `_write`, so that a leader fence sees
    every write there."""

    def __init__(self, db: Connection) -> None:
        self._db = db
        # One connection, many coroutines: every statement and every transaction takes this
        # lock, so no coroutine's statements ever run inside another's transaction.
        self._lock = asyncio.Lock()
        self._catalogue: tuple[int | None, Catalogue] | None = None
        self._accepted: list[Handover] | None = None  # the layer over the roster, cached
        self._unsent: dict[int, OutboxItem] = {}  # outbox entries read and not yet sent
        self._instance_name: str | None = None  # `_instance`, once read
        # Statistics codes read from the database (stats.write): allocated once, never changed.
        self._stat_codes: dict[tuple[str, str], int] = {}

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._lock, transaction(self._db) as db:
            await self._may_write()
            yield db

    async def _may_write(self) -> None:
        """Raise when this instance may no longer write: first in every write transaction (the
        leader fence on PostgreSQL; one SQLite file has no other writer)."""

    async def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self._lock:
            return await self._db.execute_fetchall(sql, tuple(params))

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        async with self._lock:
            return (await self._db.execute(sql, tuple(params))).rowcount

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    async def _active(self, dataset: Dataset) -> int | None:
        value = await self._one(
            "SELECT max(version) FROM dataset_version WHERE dataset = $1"
            " AND rolled_back_at IS NULL",
            (dataset.value,),
        )
        return int(value) if value is not None else None

    async def _new_version(
        self, db: Connection, dataset: Dataset, source: str, summary: str, now: datetime
    ) -> int:
        [number] = await one(
            db,
            "SELECT coalesce(max(version), 0) + 1 FROM dataset_version WHERE dataset = $1",
            (dataset.value,),
        )
        await db.execute(
            "INSERT INTO dataset_version (dataset, version, imported_at, source, summary)"
            " VALUES ($1, $2, $3, $4, $5)",
            (dataset.value, number, to_seconds(now), source, summary),
        )
        return int(number)

    async def _consults(self, where: str, params: tuple[Any, ...] = ()) -> list[Consult]:
        """The consults whose row in `consult c` matches `where`, newest first, from their logs."""
        rows = await self._rows(
            "SELECT c.id, e.at_ms, e.kind, e.data FROM consult c"
            " JOIN consult_event e ON e.consult_id = c.id"
            f" WHERE {where} ORDER BY c.number DESC, e.seq",
            params,
        )
        consults: dict[str, Consult | None] = {}
        for cid, at_ms, kind, data in rows:
            event = Event(kind=EventKind(kind), at=from_ms(at_ms), data=json.loads(data))
            consults[cid] = apply(consults.get(cid), event)
        return [c for c in consults.values() if c is not None]

    async def _instance(self) -> str:
        """The store's instance name (in the outbox's Matrix transaction ids): made once, the
        first writer's kept when two instances start together, and read once per process."""
        name = self._instance_name
        if name is None:
            name = await self.get_meta("instance")
            if name is None:
                await self._write(
                    "INSERT INTO meta VALUES ('instance', $1) ON CONFLICT (key) DO NOTHING",
                    (secrets.token_hex(4),),
                )
                name = await self.get_meta("instance")
                assert name is not None
            self._instance_name = name
        return name

    async def get_meta(self, key: str) -> str | None:
        value = await self._one("SELECT value FROM meta WHERE key = $1", (key,))
        return str(value) if value is not None else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO meta VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def delete_meta(self, key: str) -> None:
        await self._write("DELETE FROM meta WHERE key = $1", (key,))

    async def meta_under(self, prefix: str) -> dict[str, str]:
        # substr, not LIKE: a prefix's `_` or `%` is taken as written.
        rows = await self._rows(
            "SELECT key, value FROM meta WHERE substr(key, 1, $1) = $2", (len(prefix), prefix)
        )
        return {str(key): str(value) for key, value in rows}
