"""The PostgreSQL store (psycopg 3, async): `SqliteStore` over a psycopg connection.

The store's statements run as written (adapters/sql/dialect.py): their numbered parameters
(`$1`) are PostgreSQL's own, so they go through a raw cursor. The migrations are SQLite's, with
PostgreSQL's column types; the version lives in the table `schema_version`, bumped in each
step's transaction. A store may be given a `fence` (the leader lease), checked first in every
write transaction: `NotLeader` rolls the transaction back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg

from consultbot.adapters.sql import stats as stats_sqlite
from consultbot.adapters.sql.dialect import POSTGRES_WORDS
from consultbot.adapters.sql.migrations import SCHEMA_VERSION, refuse_newer, statements
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.domain.errors import StoreError
from consultbot.domain.types import ConsultId

# Held (per transaction) while migrating, so two instances starting at once migrate once.
_MIGRATION_LOCK = 0x43424F54


def redact(url: str) -> str:
    """The URL without its password (in the user part or as `?password=`), for messages."""
    parts = urlsplit(url)
    query = "&".join(
        "password=***" if part.startswith("password=") else part for part in parts.query.split("&")
    )
    if parts.password is None and query == parts.query:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class PgConnection:
    """A psycopg AsyncConnection (autocommit: BEGIN/COMMIT are explicit, as the store does with
    SQLite) that runs the store's statements through raw cursors, as written."""

    begin = "BEGIN"
    words = POSTGRES_WORDS

    def __init__(self, conn: psycopg.AsyncConnection[Any], url: str = "") -> None:
        self.raw = conn
        self._url = url
        self._in_transaction = False

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        """The connection; a lost one is replaced, but never inside a transaction (its
        statements would run outside it): the transaction's own error stands, the next
        call reconnects."""
        if self.raw.broken and self._url and not self._in_transaction:
            self.raw = await connect(self._url)
        return self.raw

    async def execute(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> psycopg.AsyncRawCursor[Any]:
        values = tuple(parameters or ())
        word = sql.lstrip()[:8].upper()
        if word.startswith("ROLLBACK") and (self.raw.broken or self.raw.closed):
            self._in_transaction = False  # the server rolled it back with the connection
            return psycopg.AsyncRawCursor(self.raw)
        conn = await self._connection()
        try:
            cursor = await _run(conn, sql, values)
        except psycopg.OperationalError:
            # BEGIN and reads outside a transaction did nothing yet: once more, reconnected.
            if self._in_transaction or not (
                conn.broken and (word == "BEGIN" or word.startswith("SELECT"))
            ):
                raise
            cursor = await _run(await self._connection(), sql, values)
        if word == "BEGIN":
            self._in_transaction = True
        elif word.startswith(("COMMIT", "ROLLBACK")):
            self._in_transaction = False
        return cursor

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> None:
        batch = [tuple(p) for p in parameters]
        if batch:
            async with psycopg.AsyncRawCursor(await self._connection()) as cursor:
                await cursor.executemany(sql.encode(), batch)  # bytes: no LiteralString

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> list[Any]:
        cursor = await self.execute(sql, parameters)
        return await cursor.fetchall() if cursor.description else []

    async def close(self) -> None:
        await self.raw.close()


async def _run(
    conn: psycopg.AsyncConnection[Any], sql: str, parameters: tuple[Any, ...]
) -> psycopg.AsyncRawCursor[Any]:
    """`sql` with its numbered parameters, on a raw cursor (no `%s` placeholders)."""
    cursor = psycopg.AsyncRawCursor(conn)
    await cursor.execute(sql.encode(), parameters)  # bytes: no LiteralString
    return cursor


class Fence(Protocol):
    """Decides whether this instance may still write (the leader lease)."""

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Raise `NotLeader` when it may not; called first in every write transaction."""


async def _schema_version(conn: psycopg.AsyncConnection[Any]) -> int | None:
    row = await (await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")).fetchone()
    if not row or not row[0]:
        return None
    row = await (await conn.execute("SELECT max(version) FROM schema_version")).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def migrate(conn: psycopg.AsyncConnection[Any], name: str) -> int:
    """Bring the schema up to date, one transaction per numbered step with its version bump;
    return the version it was at. Refuse another program's database and a newer schema."""
    async with conn.transaction():  # under the lock: another instance may be migrating
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        current = await _schema_version(conn)
        if current is None:
            cursor = await conn.execute(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
            row = await cursor.fetchone()
            if row and row[0]:
                raise StoreError(name, "is a PostgreSQL database but not consultbot's")
    start = current or 0
    refuse_newer(name, start)
    for number in range(start + 1, SCHEMA_VERSION + 1):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT)")
            now_at = await _schema_version(conn) or 0
            refuse_newer(name, now_at)
            if now_at >= number:
                continue  # another instance did this step meanwhile
            for statement in statements(number, POSTGRES_WORDS):
                await conn.execute(statement.encode())
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version VALUES (%s)", (number,))
    return start


async def connect(url: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection to `url`, or a StoreError saying why not (password hidden)."""
    try:
        return await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10)
    except (psycopg.Error, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(redact(url), f"cannot be reached: {reason}") from None


class PostgresStore(SqliteStore):
    """Both stores on one PostgreSQL database, through one connection."""

    _concat = "string_agg(({})::text, ',')"  # SQLite's group_concat (stats.py)

    def __init__(self, db: PgConnection, fence: Fence | None = None) -> None:
        super().__init__(db)
        self._pg = db
        self._fence = fence

    async def allocate_consult(self, *, now: datetime) -> ConsultId:
        """In a write transaction, as every write here: the leader fence first."""
        return await super(SqliteStore, self).allocate_consult(now=now)  # ConsultLogSql's

    @classmethod
    async def open(cls, path: Path | str, *, fence: Fence | None = None) -> PostgresStore:
        """Connect to the database at the URL `path` and migrate it."""
        name = redact(str(path))
        raw = await connect(str(path))
        db = PgConnection(raw, str(path))
        try:
            await migrate(raw, name)
            await stats_sqlite.backfill(db)
            await stats_sqlite.freeze(db)
        except psycopg.Error as exc:
            await raw.close()
            raise StoreError(name, f"is not a usable database: {exc}") from None
        except BaseException:
            await raw.close()
            raise
        return cls(db, fence)

    async def _may_write(self) -> None:
        if self._fence is not None:
            await self._fence.check(self._pg.raw)

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        if self._fence is None:
            return await super()._write(sql, params)
        async with self._transaction() as db:
            return (await db.execute(sql, params)).rowcount
