"""Consult rooms admit only the region's servers, no guests, and only the bot changes them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from nio import RoomCreateResponse, RoomGetStateEventResponse, RoomPreset, RoomPutStateError

from consultbot.adapters.matrix.provisioning import ROOM_POLICY
from consultbot.app import running_bot
from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver

from .harness import ask, join_invite, world

pytestmark = [pytest.mark.integration]


async def state(user: MatrixUser, room: str, kind: str) -> dict[str, Any]:
    answer = await user.client.room_get_state_event(room, kind)
    assert isinstance(answer, RoomGetStateEventResponse), answer
    content: dict[str, Any] = answer.content
    return content


async def assert_locked(member: MatrixUser, room: str, bot_id: str, servers: list[str]) -> None:
    acl = await state(member, room, "m.room.server_acl")
    assert acl["allow"] == servers and acl["deny"] == [] and acl["allow_ip_literals"] is False
    assert "*" not in acl["allow"]
    assert (await state(member, room, "m.room.guest_access"))["guest_access"] == "forbidden"
    assert (await state(member, room, "m.room.join_rules"))["join_rule"] == "invite"
    levels = await state(member, room, "m.room.power_levels")
    version = (await state(member, room, "m.room.create")).get("room_version", "1")
    if version.isdigit() and int(version) >= 12:  # the creator's power is implicit, unlisted
        assert bot_id not in levels["users"]
    else:
        assert levels["users"][bot_id] == 100
    assert all(level < 100 for user, level in levels["users"].items() if user != bot_id)
    assert levels["state_default"] == 100 and levels["invite"] == 0
    for kind in ("m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.topic"):
        assert levels["events"][kind] == 100
    # A member cannot open the room up, rename it or change who may do what.
    for kind, content in (
        ("m.room.server_acl", {"allow": ["*"], "deny": [], "allow_ip_literals": True}),
        ("m.room.name", {"name": "öppet rum"}),
        ("m.room.guest_access", {"guest_access": "can_join"}),
    ):
        refused = await member.client.room_put_state(room, kind, content)
        assert isinstance(refused, RoomPutStateError) and refused.status_code == "M_FORBIDDEN"


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
            client = bot.matrix.client
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
            assert await bot.matrix.wait_synced(
                lambda: room in client.rooms and bool(client.rooms[room].canonical_alias)
            )
            await bot.store.set_meta(ROOM_POLICY, "0")
            assert await bot.matrix.lock_down_rooms() == 3  # ACL, guest access, power levels
            await assert_locked(l1, room, w.bot_id, ["localhost"])
            assert await bot.matrix.lock_down_rooms() == 0, "done once, not at every start"
