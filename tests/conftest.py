"""Test-suite settings shared by every folder.

Hypothesis draws new examples on every local run, so the property tests keep finding new
cases where they are developed; CI (which sets CI=true) runs a fixed, derandomised set, so a
submission's result does not depend on the luck of the draw.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from psycopg import sql

from consultbot.devkit.pg_server import ThrowawayPostgres
from consultbot.engine.delivery import outbox

# The hand-driven bot's fixtures (`make`, `bot`, `open_db`) for every test module.
pytest_plugins = ["tests.support.bots"]

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _no_rush_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a rush of pages the bot holds names and confirmations until the pages have been
    out `outbox.READING_SECONDS` (4 s): every test that pages three consults at once would
    wait that long for them. Off here; the tests of the hold (tests/test_pool.py) set it."""
    monkeypatch.setattr(outbox, "READING_SECONDS", 0.0)


# -- a throwaway PostgreSQL (consultbot/devkit/pg_server.py) ----------------------------------
# One server per test session, started only when a test asks for it; each test gets its own
# empty database (pg_url), or reused migrated ones (pg_store_url) where only the store matters.

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    with server:
        yield server


@pytest.fixture
def pg_url(pg_server: ThrowawayPostgres) -> str:
    """The URL of a fresh, empty PostgreSQL database for this test."""
    return pg_server.create_database(f"test_{next(_databases)}")


class MigratedDatabases:
    """Databases at consultbot's schema with no rows, reused from test to test: a test takes
    one, and gives it back emptied (TRUNCATE … RESTART IDENTITY), which is much faster than
    creating and migrating a database for each of the many store tests. A database that cannot
    be emptied (a test left a transaction open on it) is not reused."""

    def __init__(self, server: ThrowawayPostgres) -> None:
        self.server = server
        self.idle: list[str] = []
        self._names = itertools.count(1)

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        url = self.server.create_database(f"store_{next(self._names)}")
        # Migrated by the store itself, on a loop of its own (a test's loop may be running).
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _open_and_close(url)).result()
        return url

    def give_back(self, url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '5s'")
            tables = [
                str(r[0])
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                    " current_schema() AND table_name <> 'schema_version'"
                )
            ]
            try:
                conn.execute(
                    sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                        sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                    )
                )
            except psycopg.errors.LockNotAvailable:
                return
        self.idle.append(url)


async def _open_and_close(url: str) -> None:
    from consultbot.adapters.sql.stores import open_store

    await (await open_store(url)).close()


@pytest.fixture(scope="session")
def pg_migrated(pg_server: ThrowawayPostgres) -> MigratedDatabases:
    return MigratedDatabases(pg_server)


@pytest.fixture
def pg_store_url(pg_migrated: MigratedDatabases) -> Iterator[Callable[[], str]]:
    """`pg_store_url()`: the URL of a migrated, empty consultbot database (another one each
    call), for tests of what a store does rather than of how it is created."""
    taken: list[str] = []

    def take() -> str:
        taken.append(pg_migrated.take())
        return taken[-1]

    yield take
    for url in taken:
        pg_migrated.give_back(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a SQL store lives, once per kind: a SQLite file, or an empty PostgreSQL database
    at the current schema (`consultbot.adapters.sql.stores.open_store` opens either)."""
    if request.param == "sqlite":
        return str(tmp_path / "db" / "consultbot.db")
    take: Callable[[], str] = request.getfixturevalue("pg_store_url")
    return take()
