"""`python -m consultbot`, except that the process stops itself at one chosen moment.

For the failover test (test_failover.py). `CONSULTBOT_TEST_DIE_AT` names the moment:
- `page`: the first page is about to go to the homeserver (nothing of it has gone out yet);
- `ack`: an acknowledgement (✅) has just been recorded in the database — its confirmation is
  not yet sent and the sync position after it not yet saved.
`CONSULTBOT_TEST_DIE_BY` is `KILL` (SIGKILL: dead) or `STOP` (SIGSTOP: frozen, for the test to
wake with SIGCONT). Run by `BotProcess(..., module="tests.integration.failover_bot")`.

The moments are found at public seams: the Matrix messenger's `send` (a page is the one message
that notifies: not a notice) and the inbox's `handle_reaction`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from consultbot.adapters.matrix.client import MatrixBot
from consultbot.cli.main import main
from consultbot.domain.consult.acknowledgement import acknowledges
from consultbot.engine.intake.inbox import Inbox
from consultbot.ports import Content

MOMENT = os.environ.get("CONSULTBOT_TEST_DIE_AT", "")
SIGNAL = signal.SIGSTOP if os.environ.get("CONSULTBOT_TEST_DIE_BY") == "STOP" else signal.SIGKILL
_done = False


def _die() -> None:
    global _done
    if not _done:
        _done = True
        print(f"failover_bot: {SIGNAL.name} at {MOMENT}", flush=True)
        os.kill(os.getpid(), SIGNAL)


_send = MatrixBot.send
_reaction = Inbox.handle_reaction


async def _die_before_page(self: MatrixBot, room: str, content: Content, **kwargs: Any) -> str:
    if not content.notice:
        _die()
    return await _send(self, room, content, **kwargs)


async def _die_after_ack(self: Inbox, reaction: Any) -> None:
    await _reaction(self, reaction)
    if acknowledges(reaction.key) and await self.consults.is_handled(reaction.event_id):
        _die()


if MOMENT == "page":
    MatrixBot.send = _die_before_page  # type: ignore[method-assign]
elif MOMENT == "ack":
    Inbox.handle_reaction = _die_after_ack  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
