"""The connection interface the SQL store is written against: the part of aiosqlite it uses.

The store's SQL is written once, in SQLite's dialect (`?` parameters, `INSERT OR IGNORE`,
`lastrowid`). SQLite runs it through aiosqlite as it is; PostgreSQL runs it through
`consultbot.adapters.sql.postgres.PgConnection`, which has the same shape and translates the
dialect. So a method added to the store works on both databases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterable
from types import TracebackType
from typing import Any, Protocol


class Cursor(Protocol):
    """The rows and counts of one executed statement."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Iterable[Any]: ...

    def __aiter__(self) -> AsyncIterator[Any]: ...


class Result(Protocol):
    """What `execute` returns: awaited, a cursor; `async with`, a cursor too."""

    def __await__(self) -> Generator[Any, None, Cursor]: ...

    async def __aenter__(self) -> Cursor: ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...


class Connection(Protocol):
    """One database connection in autocommit mode: transactions are explicit BEGIN/COMMIT."""

    def execute(self, sql: str, parameters: Iterable[Any] | None = None, /) -> Result: ...

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> Cursor: ...

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> Iterable[Any]: ...

    async def close(self) -> None: ...
