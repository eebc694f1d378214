"""People on other servers, through real federation on loopback: kept out of consult rooms
(rooms with them in it: tests/integration/test_hostile_rooms.py)."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest
from nio import RoomGetStateEventResponse

from consultbot.app import running_bot
from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver

from .harness import ask, join_invite, world

pytestmark = [pytest.mark.integration]


async def outsider(server: EmbeddedHomeserver, folder: Path) -> MatrixUser:
    password = secrets.token_urlsafe(12)
    user_id = await server.register_user(f"eve-{uuid.uuid4().hex[:8]}", password)
    user = MatrixUser(server.url, user_id, password, folder / "eve")
    await user.start()
    return user


async def test_an_invite_of_someone_on_a_server_not_allowed_is_withdrawn(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver], tmp_path: Path
) -> None:
    region, other = federation
    async with world(region, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600)
        await w.seed(config, {1: ["l1"]})
        eve = await outsider(other, tmp_path)
        try:
            async with running_bot(config):
                await ask(w)
                l1 = w.people["l1"].c
                room = await join_invite(l1)
                await l1.client.room_invite(room, eve.user_id)
                notice = await l1.wait_for(
                    lambda s: s.room == room and s.sender == w.bot_id and "återkallad" in s.body,
                    30,
                )
                assert eve.user_id in notice.body
                state = await l1.client.room_get_state_event(room, "m.room.member", eve.user_id)
                assert isinstance(state, RoomGetStateEventResponse), state
                assert state.content["membership"] == "leave"
                # A colleague on the region's own server may still be brought in.
                await l1.client.room_invite(room, w.people["doctor"].user_id)
                await join_invite(w.people["doctor"].c)
        finally:
            await eve.close()
