"""A clock and timers that tests move by hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consultbot.ports import Clock, Timers


@dataclass
class ManualClock(Clock):
    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class ManualTimers(Timers):
    """Timers that fire only when a test says so."""

    due: dict[str, tuple[datetime, Callable[[], Awaitable[None]]]] = field(default_factory=dict)

    def schedule(self, key: str, at: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        self.due[key] = (at, callback)

    def cancel(self, key: str) -> None:
        self.due.pop(key, None)

    async def fire_until(self, now: datetime) -> int:
        """Run every timer due at or before `now`, in deadline order; return how many ran."""
        ran = 0
        while ready := sorted((at, key) for key, (at, _) in self.due.items() if at <= now):
            _, callback = self.due.pop(ready[0][1])
            await callback()
            ran += 1
        return ran
