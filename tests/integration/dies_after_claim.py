"""`python -m consultbot`, except that the process kills itself with SIGKILL right after it has
taken its first room from the warm pool: the claim is committed, the room not yet named and
nobody invited. Run by `BotProcess(..., module="tests.integration.dies_after_claim")`."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.cli.main import main

_record = SqliteStore.record


async def _claim_then_die(self: SqliteStore, *args: Any, **kwargs: Any) -> list[int]:
    ids = await _record(self, *args, **kwargs)
    if kwargs.get("pool_room") is not None:  # a pool room taken, recorded as a consult's
        os.kill(os.getpid(), signal.SIGKILL)
    return ids


SqliteStore.record = _claim_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
