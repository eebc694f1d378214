"""The CLI, with the SQLite store holding its first write transaction open at one point until
told to go on: how the exit-status tests stop an import "mid-import" deterministically.

`python tests/cli/paused_cli.py VERB ...` with PAUSE_AT = `before-commit` (all of the import
written, COMMIT not yet sent) or `after-commit`, and PAUSE_DIR a folder: the file `paused`
appears there when the pause begins, and the pause ends when a file `go` appears (or the
verb is cancelled, which is what a stop signal does). Only this test helper pauses; the
product has no hook.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.cli.main import main

PAUSE_AT = os.environ["PAUSE_AT"]
FOLDER = Path(os.environ["PAUSE_DIR"])
paused_once: list[str] = []


async def pause(point: str) -> None:
    if point != PAUSE_AT or paused_once:
        return
    paused_once.append(point)
    (FOLDER / "paused").write_text(point, encoding="utf-8")
    # `go` comes from another process (the test): no event of this loop can say so.
    while not (FOLDER / "go").exists():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


@asynccontextmanager
async def transaction(self: Any) -> AsyncIterator[Any]:
    # SqliteStore._transaction, with the two pause points.
    async with self._lock:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            await pause("before-commit")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")
        await pause("after-commit")


SqliteStore._transaction = transaction  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
