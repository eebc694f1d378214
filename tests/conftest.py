"""Test-suite settings shared by every folder.

Hypothesis draws new examples on every local run, so the property tests keep finding new
cases where they are developed; CI (which sets CI=true) runs a fixed, derandomised set, so a
submission's result does not depend on the luck of the draw.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from consultbot.adapters.pg_server import ThrowawayPostgres

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


# -- a throwaway PostgreSQL (consultbot/adapters/pg_server.py) ----------------------------------
# One server per test session, started only when a test asks for it; each test gets its own
# empty database.

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


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a SQL store lives, once per kind: a SQLite file, or a fresh PostgreSQL database
    (`consultbot.adapters.stores.open_store` opens either)."""
    if request.param == "sqlite":
        return str(tmp_path / "db" / "consultbot.db")
    url: str = request.getfixturevalue("pg_url")
    return url
