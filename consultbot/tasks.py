"""The one owner of the bot's background tasks.

Every task the bot starts (the sync loop, the outbox, one worker per outbox lane) is started
here: a task that fails is logged with its name and context (never a message body), and `stop`
cancels every task still running and waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Tasks:
    """Starts, watches and stops background tasks."""

    def __init__(self) -> None:
        self._context: dict[asyncio.Task[None], str] = {}  # the tasks running

    def spawn(
        self, work: Coroutine[Any, Any, None], *, name: str, context: str = ""
    ) -> asyncio.Task[None]:
        """Run `work` as a task; a failure is logged with `name` and `context`."""
        task = asyncio.create_task(work, name=name)
        self._context[task] = context
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        context = self._context.pop(task, "")
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            log.error(
                "background task %s failed%s",
                task.get_name(),
                f" ({context})" if context else "",
                exc_info=failure,
            )

    @property
    def running(self) -> frozenset[asyncio.Task[None]]:
        return frozenset(self._context)

    async def stop(self) -> None:
        """Cancel every task still running and wait until all have ended."""
        while self._context:
            pending = list(self._context)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
