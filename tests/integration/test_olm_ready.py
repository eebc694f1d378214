"""Olm sessions with the on-duty consultants' devices before their first page, on a real Synapse
(adapters/matrix/olm_ready.py, issue 24 item 4).

A consultant the bot shares no room with gets an Olm session with each device ahead of any
page (their device sets up its side at once), so their first page claims no one-time key. The
homeserver tells the bot nothing of the devices of someone it shares no room with: a phone the
consultant logs in afterwards must still get the page's room key, because the page's room
makes the bot ask for their devices afresh.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from nio import ToDeviceError

from consultbot.adapters.matrix.client import MatrixBot
from consultbot.adapters.memory import MemoryConsultStore
from consultbot.config import MatrixConfig
from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import UserId

from .harness import world
from .test_room_keys import Nobody, started, stopped, text

pytestmark = [pytest.mark.integration]


def has_session_with(user: MatrixUser, key: str) -> bool:
    return user.client.olm.session_store.get(key) is not None


async def running_on(
    config: MatrixConfig, store: MemoryConsultStore
) -> tuple[MatrixBot, asyncio.Task[None]]:
    """A bot process's Matrix side on `store` (kept across its restarts), syncing."""
    bot = MatrixBot(config, store)
    await bot.session.login()
    return bot, asyncio.create_task(bot.run(Nobody()))


async def test_a_first_page_after_preparing_claims_only_for_a_phone_logged_in_since(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "l1", "l2") as w:
        l1, l2 = w.people["l1"], w.people["l2"]
        consultant, colleague = UserId(l1.user_id), UserId(l2.user_id)
        store, config = MemoryConsultStore(), w.config().matrix  # kept across the restart
        bot, running = await running_on(config, store)
        phone: MatrixUser | None = None
        try:
            nio = bot.session.nio
            bot_key = nio.olm.account.identity_keys["curve25519"]
            # l2 is in a consult room with the bot (no message yet: no Olm session).
            earlier = await bot.create_pool_room()
            await bot.fill_room(earlier, invite=[colleague])
            await l2.c.join(earlier)
            assert await bot.session.wait(lambda: colleague in nio.rooms[earlier].users, 30)

            # The first greeting does not go out (as if the homeserver failed it).
            to_device = nio.to_device
            failed: list[Any] = []

            async def fails_once(*args: Any) -> Any:
                if not failed:
                    failed.append(args)
                    return ToDeviceError("503")
                return await to_device(*args)

            nio.to_device = fails_once
            assert await bot.prepare([consultant, colleague]) == 0
            assert not has_session_with(l1.c, bot_key)
            # Restarted: the sessions are in the crypto store; the first round after greets
            # both devices (nothing is claimed again), and each sets up its side.
            await stopped(bot, running)
            bot, running = await running_on(config, store)
            nio = bot.session.nio
            assert await bot.prepare([consultant, colleague]) == 2
            for user in (l1.c, l2.c):
                await user.wait_until(lambda u=user: has_session_with(u, bot_key))  # type: ignore[misc]
            # Only someone who shares an encrypted room with the bot stays tracked.
            assert colleague in nio.olm.tracked_users
            assert consultant not in nio.olm.tracked_users
            assert await bot.prepare([consultant, colleague]) == 0  # ready already

            phone = MatrixUser(homeserver.url, l1.user_id, l1.password, tmp_path / "phone")
            await phone.start()
            claims: list[dict[str, list[str]]] = []
            claim = nio.keys_claim

            async def counted(users: dict[str, list[str]]) -> Any:
                claims.append(users)
                return await claim(users)

            nio.keys_claim = counted  # type: ignore[method-assign,assignment]
            room = await bot.create_pool_room()
            await bot.fill_room(room, invite=[consultant])
            # As in a consult: the page goes out before they join (a join would tell the bot
            # of their devices anew; the page must not depend on it).
            page = await bot.send(
                room, text("sida", notice=False), txn="p1", recipients=(consultant,)
            )
            await l1.c.join(room)
            for device in (l1.c, phone):
                await device.wait_for(lambda s: s.event_id == page and s.kind == "message", 30)
            claimed = [d for users in claims for d in users.get(l1.user_id, [])]
            assert claimed == [phone.client.device_id]

            # Untracked with the sync that tells of it, not a round later: l1 leaves the only
            # room l1 shares with the bot (the homeserver lists l1 under device_lists.left) …
            assert consultant in nio.olm.tracked_users
            await l1.c.client.room_leave(room)
            assert await bot.session.wait(lambda: consultant not in nio.olm.tracked_users, 30)
            # … and the bot leaves its only room with l2.
            assert colleague in nio.olm.tracked_users
            await bot.leave(earlier)
            assert await bot.session.wait(lambda: colleague not in nio.olm.tracked_users, 30)
        finally:
            if phone is not None:
                await phone.close()
            await stopped(bot, running)


async def test_a_phone_logged_in_after_the_first_round_is_ready_at_the_next(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path) as w:
        password = secrets.token_urlsafe(12)
        consultant = UserId(await homeserver.register_user(f"late-{uuid.uuid4().hex}", password))
        bot, running = await started(w.config().matrix)
        phone: MatrixUser | None = None
        try:
            assert await bot.prepare([consultant]) == 0  # on duty, not logged in anywhere yet
            phone = MatrixUser(homeserver.url, consultant, password, tmp_path / "phone")
            await phone.start()
            assert await bot.prepare([consultant]) == 1  # asked again: no device was known
            bot_key = bot.session.nio.olm.account.identity_keys["curve25519"]
            await phone.wait_until(lambda: has_session_with(phone, bot_key))
        finally:
            if phone is not None:
                await phone.close()
            await stopped(bot, running)
