"""A small in-process notifier: the board's live update learns here that what it shows changed.

Told by the parts of the engine that change what the board shows: a data set activated or
rolled back by chat (admin/chat.py), a handover offered, accepted or made (handovers.py), and
a consult step with an acknowledgement (the stepper's observers). Each open board listens
(`listen`) and fetches its view again. In process only: a change made by another process (a
CLI import, the other instance) reaches the board at its next minute's refresh (board.js).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.events import Event, EventKind

QUEUE_LIMIT = 8  # a listener that falls behind needs only one "changed": older ones drop


class Changes:
    """Tells every listener that something the board shows changed."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[str]] = set()

    def notify(self, what: str = "changed") -> None:
        """Something changed (`what`: roster, handover, acknowledgement)."""
        for queue in self._listeners:
            if queue.full():
                continue
            queue.put_nowait(what)

    def step(
        self, before: esc.Consult | None, events: Sequence[Event], after: esc.Consult | None
    ) -> None:
        """A stepper observer: an acknowledgement changes who is busy with what."""
        if any(event.kind is EventKind.ACKNOWLEDGED for event in events):
            self.notify("acknowledgement")

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of changes for as long as the context lasts."""
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)
