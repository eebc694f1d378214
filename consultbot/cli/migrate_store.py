"""`consultbot migrate-store FROM TO`: copy a SQLite database into an empty PostgreSQL one.

The source is never changed: it is first copied with SQLite's online backup (consistent also
while the bot runs) and the copy is brought to this consultbot's schema. The target must be
empty (no tables, or consultbot's tables without rows); it gets the same numbered migrations,
then every table is copied in one transaction, which commits only when each table's row count
and content checksum read back from PostgreSQL equal the source's. A failure leaves no rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from consultbot.adapters.sql.postgres import PostgresStore, redact
from consultbot.adapters.sql.sqlite import SqliteStore, backup_database
from consultbot.domain.errors import ConsultbotError, StoreError


class MigrateError(ConsultbotError):
    """migrate-store cannot start: `code` names the message, `params` its values."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class _Sum:
    """An order-independent checksum of rows: the sum of each row's SHA-256 (64 bits)."""

    total: int = 0
    rows: int = 0

    def add(self, row: Sequence[Any]) -> None:
        digest = hashlib.sha256(repr(tuple(_plain(v) for v in row)).encode()).digest()
        self.total = (self.total + int.from_bytes(digest[:8], "big")) % (1 << 64)
        self.rows += 1


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def _tables(db: sqlite3.Connection) -> list[str]:
    """The source's tables, each after the tables its foreign keys point at."""
    names = [
        str(r[0])
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    needs = {
        name: {str(r[2]) for r in db.execute(f'PRAGMA foreign_key_list("{name}")')}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= {*ordered, n}]
        if not ready:
            raise StoreError("migrate-store", "the tables' foreign keys form a cycle")
        ordered.extend(ready)
    return ordered


def target_rows(url: str) -> tuple[str, int] | None:
    """The first table of the target that holds rows (and how many), or None when empty.
    Another program's tables count as not empty."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() ORDER BY table_name"
            )
        ]
        if tables and "schema_version" not in tables:
            return tables[0], -1
        for table in (t for t in tables if t != "schema_version"):
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            if row and row[0]:
                return table, int(row[0])
    return None


def _copy(source: Path, url: str) -> dict[str, int]:
    """Copy every table of the (migrated) SQLite file `source` into the migrated, empty
    PostgreSQL database at `url`, in one transaction that commits only when verified.
    Returns the rows copied per table."""
    copied: dict[str, int] = {}
    with (
        sqlite3.connect(f"file:{source}?mode=ro", uri=True) as lite,
        psycopg.connect(url, connect_timeout=10) as conn,  # one transaction
    ):
        for table in _tables(lite):
            columns = [str(r[1]) for r in lite.execute(f'PRAGMA table_info("{table}")')]
            names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            quoted = ", ".join(f'"{c}"' for c in columns)
            want = _Sum()
            with conn.cursor() as cursor:
                copy_in = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)
                with cursor.copy(copy_in) as copy:
                    for row in lite.execute(f'SELECT {quoted} FROM "{table}"'):
                        want.add(row)
                        copy.write_row(row)
            got = _Sum()
            query = sql.SQL("SELECT {} FROM {}").format(names, sql.Identifier(table))
            with conn.cursor(name=f"verify_{table}") as cursor:
                cursor.execute(query)
                for row in cursor:
                    got.add(row)
            if got != want:
                raise StoreError(
                    redact(url),
                    f"{table}: the copy differs ({got.rows} rows read back, {want.rows}"
                    " copied); nothing was stored",
                )
            _reset_identity(conn, table)
            copied[table] = want.rows
    lite.close()
    return copied


def _reset_identity(conn: psycopg.Connection[Any], table: str) -> None:
    """Identity columns continue after the copied ids, as SQLite's rowids would."""
    for (column,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = %s AND is_identity = 'YES'",
        (table,),
    ).fetchall():
        conn.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max({}), 0) + 1, false)"
                " FROM {}"
            ).format(sql.Identifier(column), sql.Identifier(table)),
            (table, column),
        )


async def migrate_store(source: Path, url: str) -> dict[str, int]:
    """Copy the SQLite database `source` into the empty PostgreSQL database `url`, verified;
    the rows copied per table. Raises MigrateError or StoreError (nothing changed) when it
    cannot."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise MigrateError("migrate_not_postgres", target=url)
    if not await asyncio.to_thread(source.is_file):
        raise MigrateError("backup_no_database", database=source)
    try:
        busy = await asyncio.to_thread(target_rows, url)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(redact(url), f"cannot be reached: {reason}") from None
    if busy is not None:
        table, rows = busy
        if rows < 0:
            raise StoreError(redact(url), "is a PostgreSQL database but not consultbot's")
        raise MigrateError("migrate_not_empty", target=redact(url), table=table, rows=rows)
    with tempfile.TemporaryDirectory(prefix="consultbot-migrate-") as folder:
        snapshot = Path(folder) / "source.db"
        try:
            await asyncio.to_thread(backup_database, source, snapshot)
        except sqlite3.Error as exc:
            if "no such table" in str(exc):
                raise StoreError(str(source), "is a SQLite database but not consultbot's") from None
            raise StoreError(str(source), str(exc)) from None
        await (await SqliteStore.open(snapshot)).close()  # the copy at this schema version
        await (await PostgresStore.open(url)).close()  # the target, migrated and empty
        return await asyncio.to_thread(_copy, snapshot, url)
