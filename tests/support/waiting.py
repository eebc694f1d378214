"""Waiting for something to happen, with a deadline, instead of sleeping and then asserting.

A fixed sleep followed by an assert is either too short on a loaded machine (a false failure)
or longer than needed everywhere; `eventually` re-checks a condition until it holds and fails
with a message that says what never happened.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Condition = Callable[[], bool | Awaitable[bool]]


async def eventually(
    condition: Condition, *, within: float, what: str, every: float = 0.05
) -> float:
    """Return as soon as `condition()` holds (it may be a coroutine function), re-checked every
    `every` seconds: how many seconds that took. AssertionError naming `what` when it still
    does not hold after `within` seconds."""
    started = time.monotonic()
    deadline = started + within
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(every)
