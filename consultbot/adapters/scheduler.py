"""Timers on APScheduler 3 (asyncio). Rebuilt from the database's deadlines at every start.

The system clock lives here too; everything else reads time only through an injected `Clock`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from consultbot.ports import Clock, Timers

log = logging.getLogger(__name__)


async def _call(callback: Callable[[], Awaitable[None]]) -> None:
    # APScheduler awaits coroutine functions only; a plain callable would run in a thread.
    await callback()


class SystemClock(Clock):
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SchedulerTimers(Timers):
    """One APScheduler date job per key; a deadline in the past runs at once."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Start firing jobs (needs a running event loop)."""
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop; jobs not yet run are forgotten (the database still has their deadlines)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, key: str, at: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        # `at` is in the injected clock's time, APScheduler runs on the machine's: schedule
        # after the same delay, at once when `at` has passed.
        delay = max(timedelta(0), at - self._clock.now())
        run_at = datetime.now(UTC) + delay
        self._scheduler.add_job(
            _call,
            args=[callback],
            trigger="date",
            run_date=run_at,
            id=key,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def cancel(self, key: str) -> None:
        job = self._scheduler.get_job(key)
        if job is not None:
            job.remove()
