"""Room keys on a real Synapse: a page is never sent under a key the paged person's device lacks.

After a restart the bot holds no room key (nio keeps outbound keys in memory only), so the
first message into a consult room shares a new one. If that first message is the escalation
notice, its key share is under way while the page's invite goes out: nio would send the page
under the notice's key, shared before the invitee was a member. The page then reaches them once
and cannot be read (the SIGKILL suite's rare "undecryptable" level-2 page, issue 10).

Here the order is forced, not hoped for: a proxy in front of Synapse holds the bot's to-device
messages (the key share) until the invite is done.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from consultbot.adapters.matrix.client import MatrixBot
from consultbot.adapters.memory import MemoryConsultStore
from consultbot.config import MatrixConfig
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import UserId
from consultbot.ports import (
    Content,
    IncomingFile,
    IncomingInvite,
    IncomingMessage,
    IncomingReaction,
    IncomingVote,
)

from .faults_proxy import RateLimitingProxy
from .harness import world

pytestmark = [pytest.mark.integration]


class Nobody:
    """A handler that takes everything and does nothing (the adapter is under test here)."""

    async def handle_message(self, message: IncomingMessage) -> None:
        pass

    async def handle_reaction(self, reaction: IncomingReaction) -> None:
        pass

    async def handle_file(self, file: IncomingFile) -> None:
        pass

    async def handle_vote(self, vote: IncomingVote) -> None:
        pass

    async def handle_invite(self, invite: IncomingInvite) -> None:
        pass

    def allowed(self, user: str) -> bool:
        return True


async def started(config: MatrixConfig) -> tuple[MatrixBot, asyncio.Task[None]]:
    """A bot process's Matrix side: logged in (the saved device) and syncing."""
    bot = MatrixBot(config, MemoryConsultStore())
    await bot.session.login()
    return bot, asyncio.create_task(bot.run(Nobody()))


async def stopped(bot: MatrixBot, running: asyncio.Task[None]) -> None:
    await bot.close()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


def text(body: str, *, notice: bool, mentions: tuple[UserId, ...] = ()) -> Content:
    return Content(text=body, html=body, mentions=mentions, notice=notice)


async def test_a_page_sent_while_the_rooms_first_key_is_shared_is_readable_by_the_invitee(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    proxy = RateLimitingProxy(upstream=homeserver.url)
    await proxy.start()
    try:
        async with world(homeserver, tmp_path, "l1", "l2") as w:
            config = replace(w.config().matrix, homeserver=proxy.url)
            l1, l2 = w.people["l1"], w.people["l2"]

            # The bot's first run: a consult room with level 1 in it and a page they read, and
            # an earlier consult that paged level 2 (so the bot knows their device already).
            bot, running = await started(config)
            try:
                earlier = await bot.create_pool_room()
                await bot.fill_room(earlier, invite=[UserId(l2.user_id)])
                await l2.c.join(earlier)
                before = await bot.send(
                    earlier,
                    text("tidigare", notice=False),
                    txn="p0",
                    recipients=(UserId(l2.user_id),),
                )
                seen = await l2.c.wait_for(lambda s: s.event_id == before, 30)
                assert seen.kind == "message", seen
                room = await bot.create_pool_room()
                await bot.fill_room(room, invite=[UserId(l1.user_id)])
                await l1.c.join(room)
                first = await bot.send(
                    room, text("nivå 1", notice=False), txn="p1", recipients=(UserId(l1.user_id),)
                )
                seen = await l1.c.wait_for(lambda s: s.event_id == first, 30)
                assert seen.kind == "message", seen
            finally:
                await stopped(bot, running)

            # Started again: no room key in memory. The notice's key share is held in flight
            # while level 2 is invited and paged.
            bot, running = await started(config)
            try:
                assert await bot.session.wait(lambda: room in bot.session.nio.rooms, 30.0)
                proxy.hold("/sendToDevice/")
                notice = asyncio.create_task(
                    bot.send(room, text("eskalerar", notice=True), txn="n2")
                )
                async with asyncio.timeout(30):
                    await proxy.held.wait()
                await bot.invite(room, [UserId(l2.user_id)])
                page = asyncio.create_task(
                    bot.send(
                        room,
                        text("nivå 2", notice=False, mentions=(UserId(l2.user_id),)),
                        txn="p2",
                        recipients=(UserId(l2.user_id),),
                    )
                )
                proxy.release()
                async with asyncio.timeout(60):
                    noticed = await notice
                    paged = await page
            finally:
                await stopped(bot, running)

            # Level 2 joins and reads the page: its key came to their device.
            await l2.c.wait_for(lambda s: s.kind == "invite" and s.room == room, 30)
            await l2.c.join(room)
            seen = await l2.c.wait_for(lambda s: s.event_id == paged, 30)
            assert seen.kind == "message" and seen.body == "nivå 2", seen
            # … and so is the notice that went out beside it.
            seen = await l2.c.wait_for(lambda s: s.event_id == noticed, 30)
            assert seen.kind == "message" and seen.body == "eskalerar", seen
    finally:
        await proxy.stop()
