"""Consult rooms admit only the region's servers, no guests, and only the bot changes them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from nio import RoomCreateResponse, RoomPreset

from consultbot.adapters.matrix.provisioning import ROOM_POLICY
from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver

from .harness import ask, assert_locked, join_invite, world

pytestmark = [pytest.mark.integration]


async def test_a_consult_room_admits_only_allowed_servers_and_only_the_bot_changes_it(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600, allowed_servers=["localhost", "region.example"])
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config):
            await ask(w)
            l1 = w.people["l1"].c
            room = await join_invite(l1)
            await assert_locked(l1, room, w.bot_id, ["localhost", "region.example"])


async def test_consult_rooms_made_before_the_policy_are_brought_up_to_it_once(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "l1") as w:
        config = w.config()
        await w.seed(config, {})
        async with running_bot(config) as bot:
            client = bot.matrix.session.client
            assert client is not None
            # The start-up run (in the background, after the catch-up) is over first: run
            # beside the one below it would take part of the work and its count.
            async with asyncio.timeout(30):
                while await bot.store.get_meta(ROOM_POLICY) is None:  # noqa: ASYNC110 (a row)
                    await asyncio.sleep(0.05)
            # A room as the bot made them before: private_chat preset, nothing more.
            created = await client.room_create(
                alias=f"konsult-old-{uuid.uuid4().hex[:8]}",
                name="K-000099 kardiologi",
                preset=RoomPreset.private_chat,
                invite=[w.people["l1"].user_id],
            )
            assert isinstance(created, RoomCreateResponse), created
            room = created.room_id
            l1 = w.people["l1"].c
            await join_invite(l1)
            assert await bot.matrix.session.wait(
                lambda: room in client.rooms and bool(client.rooms[room].canonical_alias), 30.0
            )
            await bot.store.set_meta(ROOM_POLICY, "0")
            assert (
                await bot.matrix.provisioner.lock_down_rooms() == 3
            )  # ACL, guest access, power levels
            await assert_locked(l1, room, w.bot_id, ["localhost"])
            assert await bot.matrix.provisioner.lock_down_rooms() == 0, (
                "done once, not at every start"
            )
