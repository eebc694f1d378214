"""Pages to the people on duty are prepared before anyone asks (engine/duty_keys.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from consultbot.adapters.memory import MemoryDataStore
from consultbot.adapters.memory.clock import ManualClock
from consultbot.adapters.memory.messenger import MemoryMessenger
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ServiceId, UserId
from consultbot.engine import duty_keys
from consultbot.engine.duty_keys import DutyKeys

from .support.catalogue import CATALOGUE

NOW = datetime(2027, 3, 1, 7, 50, tzinfo=UTC)


def shift(service: str, level: int, user: str, start: timedelta, end: timedelta) -> Shift:
    return Shift(
        service=ServiceId(service),
        level=level,
        start=NOW + start,
        end=NOW + end,
        user=UserId(user),
        name=user,
    )


async def rostered() -> MemoryDataStore:
    data = MemoryDataStore()
    await data.import_catalogue(CATALOGUE, source="test", now=NOW)
    hour = timedelta(hours=1)
    shifts = [
        shift("kardiologi", 1, "@jour:x", -hour, 2 * hour),
        shift("kardiologi", 2, "@bakjour:x", -hour, 2 * hour),
        shift("kardiologi", 1, "@natt:x", -10 * hour, -timedelta(minutes=10)),  # went home
        shift("radiologi", 1, "@snart:x", timedelta(minutes=20), 8 * hour),
        shift("vc-mora", 1, "@senare:x", timedelta(minutes=40), 8 * hour),
    ]
    period = (NOW - 12 * hour, NOW + 12 * hour)
    periods = {s.service: period for s in shifts}
    await data.import_roster(shifts, periods, source="t", now=NOW)
    return data


async def test_everyone_on_duty_now_or_within_half_an_hour_is_prepared_at_every_level() -> None:
    messenger, clock = MemoryMessenger(), ManualClock(NOW)
    keys = DutyKeys(datasets=await rostered(), messenger=messenger, clock=clock)
    await keys.run_once()
    assert messenger.prepared == [("@bakjour:x", "@jour:x", "@snart:x")]
    clock.advance(timedelta(minutes=15))  # the vårdcentral's doctor starts in 25 minutes
    await keys.run_once()
    assert messenger.prepared[-1] == ("@bakjour:x", "@jour:x", "@senare:x", "@snart:x")


class Recording(MemoryMessenger):
    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def prepare(self, users: Sequence[UserId]) -> int:
        self.asked.set()
        return await super().prepare(users)


async def test_nothing_is_prepared_while_messages_are_on_their_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(duty_keys, "QUIET_SECONDS", 0.01)
    messenger = Recording()
    keys = DutyKeys(datasets=await rostered(), messenger=messenger, clock=ManualClock(NOW))
    sending = True
    looked = asyncio.Event()

    def busy() -> bool:
        looked.set()
        return sending

    running = asyncio.create_task(keys.run(busy=busy))
    try:
        await asyncio.wait_for(looked.wait(), 5)
        for _ in range(3):  # it looks again and again, and does nothing yet
            looked.clear()
            await asyncio.wait_for(looked.wait(), 5)
        assert messenger.prepared == []
        sending = False
        await asyncio.wait_for(messenger.asked.wait(), 5)
        assert messenger.prepared == [("@bakjour:x", "@jour:x", "@snart:x")]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_lane_busy_on_end_holds_it_up_only_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(duty_keys, "QUIET_SECONDS", 0.01)
    monkeypatch.setattr(duty_keys, "MAX_BUSY_SECONDS", 0.05)
    messenger = Recording()
    keys = DutyKeys(datasets=await rostered(), messenger=messenger, clock=ManualClock(NOW))
    running = asyncio.create_task(keys.run(busy=lambda: True))
    try:
        await asyncio.wait_for(messenger.asked.wait(), 5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert messenger.prepared == [("@bakjour:x", "@jour:x", "@snart:x")]


async def test_a_failure_is_logged_and_the_loop_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(duty_keys, "EVERY_SECONDS", 0.01)
    calls = 0
    again = asyncio.Event()

    class Failing(MemoryMessenger):
        async def prepare(self, users: Sequence[UserId]) -> int:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("homeserver gone")
            again.set()
            return 0

    keys = DutyKeys(datasets=await rostered(), messenger=Failing(), clock=ManualClock(NOW))
    running = asyncio.create_task(keys.run(busy=lambda: False))
    try:
        await asyncio.wait_for(again.wait(), 5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert "preparing pages to the people on duty failed" in caplog.text
