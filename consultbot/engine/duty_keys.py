"""Ready to page the people on duty before anyone asks (issue 24, item 4).

At start and every minute the bot asks the Messenger to set up, ahead of time, what a first
page to each person on duty now or within the next half hour needs (`Messenger.prepare`; in
Matrix, Olm sessions with their devices: adapters/matrix/olm_ready.py). A shift that starts at
08:00 is ready before the Monday-morning rush at 08:05, and its first pages go out without a
key claim each.

It waits while messages are on their way (the pages of a rush go first) and blocks nothing: a
failure is logged and tried again a minute later, and a page to someone not yet prepared does
the work itself, as before. Outbox lanes busy for a minute on end (a send retried) hold it up no
longer: each request it makes is bounded (adapters/matrix/olm_ready.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from consultbot.domain.types import UserId
from consultbot.ports import Clock, DataSets, Messenger

log = logging.getLogger(__name__)

EVERY_SECONDS = 60.0
LEAD = timedelta(minutes=30)  # shifts starting this soon are prepared too
QUIET_SECONDS = 0.5  # while messages are on their way, look again this often
MAX_BUSY_SECONDS = 60.0  # a lane busy for longer (retrying a send) holds it up no more


class DutyKeys:
    """Prepares the first pages to the people on duty now or soon."""

    def __init__(self, *, datasets: DataSets, messenger: Messenger, clock: Clock) -> None:
        self._datasets = datasets
        self._messenger = messenger
        self._clock = clock

    async def on_duty_soon(self) -> list[UserId]:
        """Everyone on a shift (handovers included) of any service, at any level, between now
        and `LEAD` from now."""
        now = self._clock.now()
        people: set[UserId] = set()
        for service in (await self._datasets.catalogue()).services:
            people.update(s.user for s in await self._datasets.shifts(service.id, now, now + LEAD))
        return sorted(people)

    async def run_once(self) -> int:
        """Prepare them; how many devices were made ready."""
        return await self._messenger.prepare(await self.on_duty_soon())

    async def run(self, *, busy: Callable[[], bool]) -> None:
        """At start and every `EVERY_SECONDS`, once nothing is on its way (`busy`), or
        after `MAX_BUSY_SECONDS` of waiting for that."""
        loop = asyncio.get_running_loop()
        while True:
            since = loop.time()
            # The outbox's lanes have no event for "idle".
            while busy() and loop.time() - since < MAX_BUSY_SECONDS:  # noqa: ASYNC110
                await asyncio.sleep(QUIET_SECONDS)
            try:
                await self.run_once()
            except Exception:
                log.exception("preparing pages to the people on duty failed; again in a minute")
            await asyncio.sleep(EVERY_SECONDS)
