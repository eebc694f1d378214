"""The SQLite store (aiosqlite): the store classes of this folder composed over one connection.

Instants are stored as UTC epoch seconds or milliseconds (adapters/sql/base.py)."""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from consultbot.adapters.sql import stats as stats_sqlite
from consultbot.adapters.sql.base import to_seconds
from consultbot.adapters.sql.consult_log import ConsultLogSql
from consultbot.adapters.sql.datasets import DataSetSql
from consultbot.adapters.sql.dialect import SQLITE_WORDS, Cursor
from consultbot.adapters.sql.export import ExportSql
from consultbot.adapters.sql.feeds import FeedSql
from consultbot.adapters.sql.migrations import migrate
from consultbot.adapters.sql.retention import RetentionSql
from consultbot.adapters.sql.stats import StatsSql
from consultbot.adapters.sql.uploads import UploadSql
from consultbot.domain.errors import StoreError
from consultbot.domain.types import ConsultId
from consultbot.ports import ConsultStore, DataStore


def _owner_only(name: str) -> None:
    """Consult metadata and the sync position are the bot's alone: 0600 for the database and
    its WAL files (SQLite creates new WAL files with the database's mode)."""
    for path in (name, f"{name}-wal", f"{name}-shm"):
        try:
            if os.path.exists(path):
                os.chmod(path, 0o600)
        except OSError as exc:
            logging.getLogger(__name__).warning("could not make %s owner-only: %s", path, exc)


def backup_database(source: Path, target: Path) -> int:
    """A consistent copy of the database at `source` written to `target` (which must not
    exist), also while the bot writes to it: SQLite's online backup, then an integrity check
    of the copy. Returns how many consults the copy holds. Blocking: run it in a thread.

    The copy holds what the database holds (staff numbers, who asked whom): the file is made
    owner-only (0600) as it is created, not chmod-ed after, so no other user can open it even
    for a moment; SQLite gives its journal the file's mode. FileExistsError if it exists."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src:
            with sqlite3.connect(str(target)) as dst:
                src.backup(dst)
                checked = dst.execute("PRAGMA integrity_check").fetchone()[0]
                if checked != "ok":
                    raise sqlite3.DatabaseError(f"the copy fails its integrity check: {checked}")
                consults = int(dst.execute("SELECT count(*) FROM consult").fetchone()[0])
            dst.close()
        return consults
    except BaseException:
        target.unlink(missing_ok=True)  # no half copy left behind
        raise


@functools.lru_cache(maxsize=1024)
def sqlite_spelling(sql: str) -> str:
    """`sql` with each numbered parameter `$N` written `?N`, SQLite's own spelling of "the Nth
    value", which binds by position; nothing else in the text changes. Binding `$N` by name
    took about twice as long per row (a national roster import: +60 % in the store)."""
    head, *rest = sql.split("$")
    return head + "".join(("?" if part[:1].isdigit() else "$") + part for part in rest)


class SqliteConnection:
    """aiosqlite, binding each statement's values to its numbered parameters by position."""

    begin = "BEGIN IMMEDIATE"  # takes the write lock at once: no deadlock between writers
    words = SQLITE_WORDS

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.raw = db

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None, /) -> Cursor:
        return await self.raw.execute(sqlite_spelling(sql), tuple(parameters or ()))

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> None:
        await self.raw.executemany(sqlite_spelling(sql), (tuple(p) for p in parameters))

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> list[Any]:
        rows = await self.raw.execute_fetchall(sqlite_spelling(sql), tuple(parameters or ()))
        return list(rows)

    def iterdump(self) -> AsyncIterator[str]:
        """The whole database as SQL statements (tests read it for what must not be stored)."""
        return self.raw.iterdump()

    async def close(self) -> None:
        await self.raw.close()


class SqliteStore(
    ConsultLogSql,
    DataSetSql,
    UploadSql,
    FeedSql,
    StatsSql,
    ExportSql,
    RetentionSql,
    DataStore,
    ConsultStore,
):
    """Both stores on one SQLite file in WAL mode with foreign keys on (`PostgresStore`: the
    same class over a PostgreSQL connection)."""

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        """Open (creating if needed) and migrate the database at `path`."""
        name = str(path)
        if sqlite3.sqlite_version_info < (3, 35):  # RETURNING (adapters/sql/dialect.py)
            raise StoreError(name, f"needs SQLite 3.35 or newer, not {sqlite3.sqlite_version}")
        if name != ":memory:":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        try:
            raw = await aiosqlite.connect(name, isolation_level=None)
        except Exception as exc:  # sqlite3.OperationalError and OSError
            raise StoreError(name, f"cannot be opened: {exc}") from None
        db = SqliteConnection(raw)
        try:
            await db.execute("PRAGMA busy_timeout = 5000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA synchronous = NORMAL")
            # What is deleted (the retention purge) is overwritten, not left in free pages.
            await db.execute("PRAGMA secure_delete = ON")
            await migrate(db, name)
            if name != ":memory:":
                _owner_only(name)
            await stats_sqlite.backfill(db)
            await stats_sqlite.freeze(db)
        except aiosqlite.DatabaseError as exc:
            await db.close()
            raise StoreError(name, f"is not a usable database: {exc}") from None
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def allocate_consult(self, *, now: datetime) -> ConsultId:
        """As on PostgreSQL, in one statement (one round trip to aiosqlite's thread, not four):
        one SQLite file has no other writer to fence out, and a statement is atomic."""
        [(consult,)] = await self._rows(
            "INSERT INTO consult (id, number, created_at)"
            " SELECT printf('K-%06d', next), next, $1"
            " FROM (SELECT coalesce(max(number), 0) + 1 AS next FROM consult) RETURNING id",
            (to_seconds(now),),
        )
        return ConsultId(consult)
