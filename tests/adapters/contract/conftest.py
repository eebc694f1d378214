"""The backends every store port's contract suite runs against: in-memory, SQLite and
PostgreSQL (a fresh database on the session's throwaway server).

One suite per port (test_consult_log.py, test_outbox.py, test_data_sets.py, …). A new backend
joins by adding an opener to `CONSULT_BACKENDS` / `DATA_BACKENDS`: an async context manager
that yields a fresh, empty store and releases it afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from consultbot.adapters.memory import MemoryConsultStore, MemoryDataStore
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.adapters.sql.stores import open_store
from consultbot.ports import ConsultStore, DataStore


@asynccontextmanager
async def _sqlite(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "db" / "consultbot.db")
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _memory_consults(tmp_path: Path) -> AsyncIterator[ConsultStore]:
    yield MemoryConsultStore()


@asynccontextmanager
async def _memory_data(tmp_path: Path) -> AsyncIterator[DataStore]:
    yield MemoryDataStore()


CONSULT_BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[ConsultStore]]] = {
    "memory": _memory_consults,
    "sqlite": _sqlite,
}
DATA_BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[DataStore]]] = {
    "memory": _memory_data,
    "sqlite": _sqlite,
}


@asynccontextmanager
async def _postgres(request: pytest.FixtureRequest) -> AsyncIterator[SqliteStore]:
    store = await open_store(request.getfixturevalue("pg_store_url")())
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=[*sorted(CONSULT_BACKENDS), "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConsultStore]:
    """A fresh, empty consult store of each kind."""
    if request.param == "postgres":
        async with _postgres(request) as backend:
            yield backend
        return
    async with CONSULT_BACKENDS[request.param](tmp_path) as consults:
        yield consults


@pytest.fixture(params=[*sorted(DATA_BACKENDS), "postgres"])
async def data_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DataStore]:
    """A fresh, empty data store of each kind."""
    if request.param == "postgres":
        async with _postgres(request) as backend:
            yield backend
        return
    async with DATA_BACKENDS[request.param](tmp_path) as data:
        yield data
