"""APScheduler timers follow the injected clock: a deadline fires after the delay that clock
gives, whatever the machine's clock says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from consultbot.adapters.memory import ManualClock
from consultbot.adapters.scheduler import SchedulerTimers

FAR_AWAY = datetime(2031, 5, 6, 7, 0, tzinfo=UTC)  # a clock years ahead of the machine's


@pytest.fixture
async def timers() -> AsyncIterator[tuple[SchedulerTimers, ManualClock]]:
    clock = ManualClock(FAR_AWAY)
    scheduler = SchedulerTimers(clock)
    scheduler.start()
    yield scheduler, clock
    scheduler.shutdown()


async def test_a_deadline_fires_after_the_injected_clocks_delay(
    timers: tuple[SchedulerTimers, ManualClock],
) -> None:
    scheduler, clock = timers
    fired = asyncio.Event()

    async def callback() -> None:
        fired.set()

    started = time.monotonic()
    scheduler.schedule("K-000001", clock.now() + timedelta(seconds=0.3), callback)
    await asyncio.wait_for(fired.wait(), 10)
    assert time.monotonic() - started >= 0.25  # not at once: the deadline had not passed


async def test_a_passed_deadline_fires_at_once_and_a_cancelled_one_never(
    timers: tuple[SchedulerTimers, ManualClock],
) -> None:
    scheduler, clock = timers
    fired: list[str] = []
    later = asyncio.Event()

    def note(key: str) -> Callable[[], Awaitable[None]]:
        async def callback() -> None:
            fired.append(key)
            if key == "later":
                later.set()

        return callback

    now = clock.now()
    scheduler.schedule("cancelled", now + timedelta(seconds=0.2), note("cancelled"))
    scheduler.cancel("cancelled")
    scheduler.schedule("late", now - timedelta(hours=1), note("late"))
    scheduler.schedule("later", now + timedelta(seconds=0.4), note("later"))
    await asyncio.wait_for(later.wait(), 10)  # after the cancelled deadline has passed too
    assert fired == ["late", "later"]
