"""Data-file work off the event loop: parsers run in a worker thread, and full garbage
collections wait until the files are checked."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# Full garbage collections are postponed while files are checked (see full_collections_postponed).
_checking = 0
_checking_lock = threading.Lock()
_thresholds = gc.get_threshold()


@contextlib.contextmanager
def full_collections_postponed() -> Iterator[None]:
    """While files are checked, the oldest generation is not collected.

    A full collection holds every thread, the event loop's too, while it walks the whole heap,
    and a check builds a large one (200,000 shifts and their problems: a second on a busy
    machine). Young objects are still collected as usual; what the check leaves behind is
    freed by reference counting once its result is dropped. Nested and concurrent checks
    share one postponement."""
    global _checking, _thresholds
    with _checking_lock:
        if not _checking:
            _thresholds = gc.get_threshold()
            gc.set_threshold(_thresholds[0], _thresholds[1], 1 << 30)
        _checking += 1
    try:
        yield
    finally:
        with _checking_lock:
            _checking -= 1
            if not _checking:
                gc.set_threshold(*_thresholds)


async def parse_off_loop(parse: Callable[..., T], *args: Any) -> T:
    """Run a data-file parser in a worker thread: never on the event loop."""
    with full_collections_postponed():
        return await asyncio.to_thread(parse, *args)
