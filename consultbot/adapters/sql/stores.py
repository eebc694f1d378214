"""Opening the store `bot.database` names: a SQLite file, or a PostgreSQL database by URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from consultbot.adapters.sql.sqlite import SqliteStore

if TYPE_CHECKING:
    from consultbot.adapters.sql.postgres import Fence


def is_postgres_url(database: str | Path) -> bool:
    """True when `database` is a PostgreSQL URL rather than the path of a SQLite file."""
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


async def open_store(database: str | Path, *, fence: Fence | None = None) -> SqliteStore:
    """Open and migrate the store at `database`: a `postgresql://user@host:5432/db` URL, else
    a SQLite file path. `fence` (the leader lease) is for PostgreSQL only."""
    if is_postgres_url(database):
        from consultbot.adapters.sql.postgres import PostgresStore  # psycopg only when wanted

        return await PostgresStore.open(str(database), fence=fence)
    if fence is not None:
        raise ValueError("a leader fence needs a PostgreSQL database")
    return await SqliteStore.open(database)
