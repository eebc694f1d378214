"""Retention (issue 13, docs/privacy.md): leave closed consult rooms, purge old consult metadata.

A minute after start and every night at 03:30 local time (`domain/retention.py`):

1. the room of each consult quiet for more than 30 days is left and forgotten: a LEAVE outbox
   entry, queued once per consult (the entry itself is the record, so a restart cannot queue
   it again), sent by the outbox like every other entry;
2. the metadata of each consult quiet for more than `bot.retention_days` days, whose room is
   left, is purged (`ports.Retention.purge_consults`): the statistics stay, without the person;
3. the question texts held in memory (questions.py) of consults no longer open are dropped.

Only counts are logged. A failure is logged and tried again the next night: pages matter more.
The run is a task of the bot's task owner (tasks.py), so a stop waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from consultbot.config import Config
from consultbot.domain.consult.retention import START_DELAY, cutoffs, next_run
from consultbot.engine.questions import Questions
from consultbot.ports import Clock, ConsultLog, Purged, Retention as RetentionStore, Timers
from consultbot.tasks import Tasks

log = logging.getLogger(__name__)

TIMER_KEY = "retention"


@dataclass(frozen=True)
class RetentionRun:
    """What one run did: rooms queued to be left, and what the purge forgot."""

    left: int
    purged: Purged


class Retention:
    """Runs the retention rules once at start, then nightly."""

    def __init__(
        self,
        *,
        config: Config,
        retention: RetentionStore,
        consult_log: ConsultLog,
        timers: Timers,
        clock: Clock,
        tasks: Tasks,
        on_outbox: Callable[[], None],
        questions: Questions,
    ) -> None:
        self._days = config.bot.retention_days
        self._tz = config.bot.timezone
        self._store = retention
        self._log = consult_log
        self._timers = timers
        self._clock = clock
        self._tasks = tasks
        self._on_outbox = on_outbox
        self._questions = questions
        self._lock = asyncio.Lock()

    def start(self) -> None:
        """Run a minute after start (a restart's catch-up goes first), then nightly."""
        self._timers.schedule(TIMER_KEY, self._clock.now() + START_DELAY, self._fire)

    async def _fire(self) -> None:
        self._tasks.spawn(self._tick(), name="retention", context="the retention purge")

    async def _tick(self) -> None:
        try:
            await self.run_once()
        except Exception:
            log.exception("the retention run failed; it runs again tomorrow")
        finally:
            self._timers.schedule(TIMER_KEY, next_run(self._clock.now(), self._tz), self._fire)

    async def run_once(self) -> RetentionRun:
        """Queue the leaves that are due, purge what is old enough and forget the question
        texts of consults no longer open; log counts only."""
        async with self._lock:
            now = self._clock.now()
            due = cutoffs(now, self._days)
            rooms = await self._store.leave_closed_rooms(due.leave_before, now=now)
            if rooms:
                self._on_outbox()
            purged = await self._store.purge_consults(due.purge_before, now=now)
            self._questions.keep_only(c.id for c in await self._log.open_consults())
            log.info(
                "retention: %d consult rooms to leave; purged %d consults (%d events, "
                "%d outbox entries, %d handled event ids)",
                len(rooms),
                purged.consults,
                purged.events,
                purged.outbox,
                purged.handled,
            )
            return RetentionRun(left=len(rooms), purged=purged)
