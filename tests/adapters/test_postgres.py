"""PostgreSQL specifics: the same schema as SQLite, migrations (one transaction each, a newer or
foreign database refused), unreachable servers, and the leader fence on every write."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consultbot.adapters.sql import migrations, postgres
from consultbot.adapters.sql.migrations import SCHEMA_VERSION
from consultbot.adapters.sql.postgres import PostgresStore, redact
from consultbot.adapters.sql.stores import open_store
from consultbot.devkit.pg_server import ThrowawayPostgres
from consultbot.domain.consult.escalation import Event
from consultbot.domain.errors import NotLeader, StoreError
from consultbot.ports import Outgoing
from tests.support.sqldb import query, run_sql

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


def _requested(consult: str) -> Event:
    return Event(
        kind="requested",
        at=NOW,
        data={
            "consult": consult,
            "requester": "@a:localhost",
            "service": "kardiologi",
            "track": "halvakut",
            "request_room": "!dm:localhost",
            "request_event": "$q",
        },
    )


async def test_the_schema_is_sqlite_s_table_for_table_and_column_for_column(
    pg_url: str, tmp_path: Path
) -> None:
    await (await open_store(pg_url)).close()
    await (await open_store(tmp_path / "s.db")).close()
    with psycopg.connect(pg_url) as conn:
        pg = {
            (str(t), str(c))
            for t, c in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name <> 'schema_version'"
            )
        }
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    with sqlite3.connect(tmp_path / "s.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        lite = {
            (t, str(r[1]))
            for t in tables
            if not t.startswith("sqlite_")
            for r in db.execute(f"PRAGMA table_info({t})")
        }
    db.close()
    assert pg == lite


async def test_newer_schema_is_refused_with_a_clear_message(pg_url: str) -> None:
    await (await open_store(pg_url)).close()
    run_sql(pg_url, f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this consultbot knows"):
        await open_store(pg_url)


async def test_foreign_database_is_refused_and_left_alone(pg_url: str) -> None:
    run_sql(pg_url, "CREATE TABLE patients (x integer)")
    with pytest.raises(StoreError, match="not consultbot's"):
        await open_store(pg_url)
    assert query(
        pg_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    ) == [("patients",)]


async def test_an_unreachable_server_is_one_clear_error_without_the_password(
    pg_server: ThrowawayPostgres,
) -> None:
    with socket_port() as port:
        url = f"postgresql://bot:secret@127.0.0.1:{port}/consultbot"
        with pytest.raises(StoreError, match="cannot be reached") as raised:
            await open_store(url)
    assert "secret" not in str(raised.value)
    assert redact(url) in str(raised.value)


class socket_port:
    """A port nobody listens on (bound, not listening) for the length of the block."""

    def __enter__(self) -> int:
        import socket

        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))
        return int(self._s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._s.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_failing_migration_step_leaves_no_trace(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Each step runs in one transaction with its version bump: a step that fails halfway
    leaves neither its first statements nor a new version behind."""
    database = str(tmp_path / "m.db") if kind == "sqlite" else request.getfixturevalue("pg_url")
    await (await open_store(database)).close()
    broken = (
        *migrations.MIGRATIONS,
        ("CREATE TABLE half_done (x INTEGER)", "CREATE TABLE half_done (x INTEGER)"),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    for module in (migrations, postgres):
        monkeypatch.setattr(module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(Exception, match="half_done"):
        await open_store(database)
    if kind == "sqlite":
        assert query(database, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert query(database, "SELECT name FROM sqlite_master WHERE name = 'half_done'") == []
    else:
        assert query(database, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert query(database, "SELECT to_regclass('half_done')") == [(None,)]


class Fence:
    """A stand-in for the leader lease: records each check, refuses once told to."""

    def __init__(self) -> None:
        self.leader = True
        self.checks: list[str] = []

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        status = conn.info.transaction_status
        self.checks.append(status.name)
        if not self.leader:
            raise NotLeader


async def test_every_write_checks_the_fence_first_inside_its_transaction(pg_url: str) -> None:
    fence = Fence()
    store = await PostgresStore.open(pg_url, fence=fence)
    try:
        consult = await store.allocate_consult(now=NOW)
        ids = await store.record(
            consult,
            0,
            [_requested(consult)],
            [Outgoing(kind="send", room="!r", payload={})],
            now=NOW,
        )
        await store.sent(ids[0], now=NOW)
        await store.set_meta("k", "v")
        await store.add_pool_room("!pool", policy="p", now=NOW)
        # Each write was one check, made inside the transaction before any statement of it.
        assert fence.checks == ["INTRANS"] * 5
        assert await store.pending() == []  # its first call stores the instance's name
        fence.leader = False
        with pytest.raises(NotLeader):
            await store.record(
                consult, 1, [], [Outgoing(kind="send", room="!r", payload={})], now=NOW
            )
        with pytest.raises(NotLeader):
            await store.set_meta("k", "changed")
        with pytest.raises(NotLeader):
            await store.allocate_consult(now=NOW)
        # Nothing of the refused writes is stored, and the store still reads.
        assert await store.pending() == []
        assert await store.get_meta("k") == "v"
        assert query(pg_url, "SELECT count(*) FROM consult") == [(1,)]
    finally:
        await store.close()


async def test_a_store_without_a_fence_never_checks(pg_url: str, tmp_path: Path) -> None:
    store = await open_store(pg_url)
    try:
        await store.set_meta("k", "v")
        assert await store.get_meta("k") == "v"
    finally:
        await store.close()
    with pytest.raises(ValueError, match="PostgreSQL"):
        await open_store(tmp_path / "x.db", fence=Fence())


async def test_a_lost_connection_is_replaced_and_no_write_is_repeated(pg_url: str) -> None:
    """The server ends the store's session (a restart, a failover): a read is answered on a new
    connection; a write that was cut off fails (it may or may not have happened, so it is not
    sent again) and the next one goes through."""
    store = await open_store(pg_url)

    def cut() -> None:
        run_sql(
            pg_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )

    try:
        await store.set_meta("k", "v")
        cut()
        assert await store.get_meta("k") == "v"
        cut()
        with pytest.raises(psycopg.OperationalError):
            await store.set_meta("k", "lost")
        await store.set_meta("k", "kept")
        assert await store.get_meta("k") == "kept"
        cut()
        consult = await store.allocate_consult(now=NOW)  # a transaction: BEGIN reconnects
        assert consult == "K-000001"
    finally:
        await store.close()


def test_messages_show_a_url_without_its_password() -> None:
    assert redact("postgresql://bot:s3cret@db:5432/cb") == "postgresql://bot:***@db:5432/cb"
    assert redact("postgresql://bot@db/cb?password=s3cret&sslmode=require") == (
        "postgresql://bot@db/cb?password=***&sslmode=require"
    )
    assert redact("postgresql://bot@db/cb") == "postgresql://bot@db/cb"


async def test_instances_starting_at_once_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(open_store(pg_url) for _ in range(4)))
    for store in stores:
        await store.close()
    assert query(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
