"""The keys chores (key upload, query and claim; queued to-device messages) run beside the
sync loop, as nio's own loop runs them: the next sync request does not wait for them (in a
rush a key query before each request held up the sync that shows a page's room), never two
runs at once, and what a sync asked for while they ran is done after (adapters/matrix/sync.py).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from nio import SyncResponse

from consultbot.adapters.matrix.sync import SyncLoop


class Session:
    """What the sync loop asks of a session: syncs answered at once, chores that wait for
    `release` and count their runs."""

    def __init__(self) -> None:
        self.requests = 0
        self.chores_running = 0
        self.most_at_once = 0
        self.runs = 0
        self.release = asyncio.Event()
        self.fail_next = False
        self.nio = self

    async def sync(self, **request: Any) -> SyncResponse:
        self.requests += 1
        return SyncResponse.from_dict({"next_batch": f"s{self.requests}"})

    async def crypto_chores(self) -> None:
        self.chores_running += 1
        self.most_at_once = max(self.most_at_once, self.chores_running)
        try:
            await self.release.wait()
            self.runs += 1
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("keys upload refused")
        finally:
            self.chores_running -= 1

    async def synced(self) -> None:
        pass


class Rooms:
    def learn(self, response: SyncResponse) -> None:
        pass


def loop(session: Session) -> SyncLoop:
    return SyncLoop(
        cast(Any, session), cast(Any, Rooms()), cast(Any, None), cast(Any, None), caught_up=list
    )


async def test_the_next_sync_does_not_wait_for_the_last_ones_chores() -> None:
    session = Session()
    syncs = loop(session)
    handled: list[str] = []

    async def handle(response: SyncResponse, first: bool) -> bool:
        while not session.chores_running:  # noqa: ASYNC110 (the first sync's chores have begun)
            await asyncio.sleep(0)
        handled.append(response.next_batch)
        return len(handled) == 3

    ending = asyncio.create_task(syncs._sync_until(None, request=lambda *_: {}, handle=handle))
    async with asyncio.timeout(5):
        while len(handled) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0)
    assert session.requests == 3  # three syncs while the first chores still wait
    assert session.runs == 0
    assert not ending.done()  # the loop ends only once the chores are done

    session.release.set()
    async with asyncio.timeout(5):
        assert await ending == "s3"
    assert session.runs == 2  # the first run, and once more for what the later syncs asked
    assert session.most_at_once == 1


async def test_chores_that_fail_are_logged_and_the_next_sync_runs_them_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = Session()
    session.fail_next = True
    session.release.set()
    syncs = loop(session)
    handled: list[str] = []

    async def handle(response: SyncResponse, first: bool) -> bool:
        handled.append(response.next_batch)
        await asyncio.sleep(0.01)  # the chores of this sync end meanwhile
        return len(handled) == 2

    async with asyncio.timeout(5):
        assert await syncs._sync_until(None, request=lambda *_: {}, handle=handle) == "s2"
    assert session.runs == 2
    assert "the keys chores failed" in caplog.text


async def test_a_bot_that_stops_does_not_wait_for_chores_that_hang() -> None:
    """nio retries a request for ever: chores on an unreachable homeserver are cancelled
    with the loop."""
    session = Session()
    syncs = loop(session)

    async def handle(response: SyncResponse, first: bool) -> bool:
        await asyncio.Event().wait()  # the bot is stopped while it handles
        return True

    running = asyncio.create_task(syncs._sync_until(None, request=lambda *_: {}, handle=handle))
    async with asyncio.timeout(5):
        while session.chores_running == 0:  # noqa: ASYNC110
            await asyncio.sleep(0)
    running.cancel()
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await running
        while session.chores_running:  # noqa: ASYNC110
            await asyncio.sleep(0)
