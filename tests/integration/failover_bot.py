"""`python -m consultbot`, except that the process stops itself at one chosen moment.

For the failover test (test_failover.py). `CONSULTBOT_TEST_DIE_AT` names the moment:
- `page`: the outbox is about to send its first page (nothing of it has gone out yet);
- `ack`: an acknowledgement (✅) has just been recorded in the database — its confirmation is
  not yet sent and the sync position after it not yet saved.
`CONSULTBOT_TEST_DIE_BY` is `KILL` (SIGKILL: dead) or `STOP` (SIGSTOP: frozen, for the test to
wake with SIGCONT). Run by `BotProcess(..., module="tests.integration.failover_bot")`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from consultbot.cli.main import main
from consultbot.domain.consult.acknowledgement import acknowledges
from consultbot.engine.delivery.effects import Effects
from consultbot.engine.intake.inbox import Inbox

MOMENT = os.environ.get("CONSULTBOT_TEST_DIE_AT", "")
SIGNAL = signal.SIGSTOP if os.environ.get("CONSULTBOT_TEST_DIE_BY") == "STOP" else signal.SIGKILL
_done = False


def _die() -> None:
    global _done
    if not _done:
        _done = True
        print(f"failover_bot: {SIGNAL.name} at {MOMENT}", flush=True)
        os.kill(os.getpid(), SIGNAL)


_page = Effects.page
_reaction = Inbox.handle_reaction


async def _die_before_page(self: Effects, *args: Any, **kwargs: Any) -> None:
    _die()
    await _page(self, *args, **kwargs)


async def _die_after_ack(self: Inbox, reaction: Any) -> None:
    await _reaction(self, reaction)
    if acknowledges(reaction.key) and await self.consults.is_handled(reaction.event_id):
        _die()


if MOMENT == "page":
    Effects.page = _die_before_page  # type: ignore[method-assign]
elif MOMENT == "ack":
    Inbox.handle_reaction = _die_after_ack  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
