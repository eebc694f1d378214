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

_claim = SqliteStore.claim_pool_room


async def _claim_then_die(self: SqliteStore, *args: Any, **kwargs: Any) -> str | None:
    room = await _claim(self, *args, **kwargs)
    if room is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return room


SqliteStore.claim_pool_room = _claim_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
