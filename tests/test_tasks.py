"""The owner of background tasks: failures are logged with their context, stop cancels all."""

from __future__ import annotations

import asyncio
import logging

import pytest

from consultbot.tasks import Tasks
from tests.support.waiting import eventually


async def test_a_failing_task_is_logged_with_its_name_and_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = Tasks()
    failed = asyncio.Event()

    async def fails() -> None:
        failed.set()
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="consultbot.tasks"):
        task = tasks.spawn(fails(), name="outbox K-000001", context="outbox lane K-000001")
        await asyncio.wait_for(failed.wait(), 5)
        await asyncio.gather(task, return_exceptions=True)
        await eventually(lambda: not tasks.running, within=5, what="the task's done callback")
    [record] = [r for r in caplog.records if r.name == "consultbot.tasks"]
    assert "outbox K-000001" in record.getMessage()
    assert "outbox lane K-000001" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert tasks.running == frozenset()
    await tasks.stop()


async def test_stop_cancels_every_running_task_and_waits_for_it() -> None:
    tasks = Tasks()
    started = asyncio.Event()
    cleaned_up: list[str] = []

    async def forever(name: str) -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            cleaned_up.append(name)

    first = tasks.spawn(forever("sync"), name="sync")
    second = tasks.spawn(forever("outbox"), name="outbox")
    await asyncio.wait_for(started.wait(), 5)
    await tasks.stop()
    assert first.cancelled() and second.cancelled()
    assert sorted(cleaned_up) == ["outbox", "sync"]
    assert tasks.running == frozenset()


async def test_a_cancelled_task_is_not_reported_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = Tasks()

    async def idle() -> None:
        await asyncio.Event().wait()

    tasks.spawn(idle(), name="idle")
    with caplog.at_level(logging.ERROR, logger="consultbot.tasks"):
        await tasks.stop()
    assert not [r for r in caplog.records if r.name == "consultbot.tasks"]
