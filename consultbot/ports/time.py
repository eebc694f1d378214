"""The clock and timers, so that tests can set time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime


class Timers(ABC):
    """One timer per key; scheduling again replaces it."""

    @abstractmethod
    def schedule(self, key: str, at: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` at `at` (at once if `at` has passed)."""

    @abstractmethod
    def cancel(self, key: str) -> None:
        """Forget the timer for `key`, if any."""


class Clock(ABC):
    """The time, so that tests can set it."""

    @abstractmethod
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
