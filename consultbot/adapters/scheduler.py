"""Timers on APScheduler 3 (asyncio). Rebuilt from the database's deadlines at every start."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

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

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Start firing jobs (needs a running event loop)."""
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop; jobs not yet run are forgotten (the database still has their deadlines)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, key: str, at: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        run_at = max(at, datetime.now(UTC))
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
