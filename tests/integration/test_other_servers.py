"""People on other servers, through real federation on loopback: kept out of consult rooms,
and no staff numbers in rooms they are in."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest
from nio import RoomCreateResponse, RoomGetStateEventResponse

from consultbot.adapters.matrix_user import MatrixUser
from consultbot.adapters.synapse import EmbeddedHomeserver
from consultbot.app import running_bot

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


async def test_who_in_a_room_with_someone_from_another_server_answers_in_a_direct_chat(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver], tmp_path: Path
) -> None:
    region, other = federation
    async with world(region, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600)
        await w.seed(config, {1: ["l1"]})
        eve = await outsider(other, tmp_path)
        try:
            async with running_bot(config):
                doctor = w.people["doctor"].c
                created = await doctor.client.room_create(
                    name="Samverkan", invite=[w.bot_id, eve.user_id]
                )
                assert isinstance(created, RoomCreateResponse), created
                room = created.room_id
                await eve.join(room)
                await doctor.wait_until(
                    lambda: (
                        w.bot_id in doctor.client.rooms[room].users
                        and eve.user_id in doctor.client.rooms[room].users
                    )
                )
                await doctor.send_text(room, "!vem kardiologi")
                why = await doctor.wait_for(
                    lambda s: s.room == room and s.sender == w.bot_id and s.kind == "message", 30
                )
                assert "direktchatt" in why.body
                assert w.people["l1"].name not in why.body
                direct = await join_invite(doctor)
                answer = await doctor.wait_for(
                    lambda s: s.room == direct and s.sender == w.bot_id and s.kind == "message", 30
                )
                assert w.people["l1"].name in answer.body and w.people["l1"].phone in answer.body
                assert all(w.people["l1"].phone not in s.body for s in eve.seen if s.room == room)
        finally:
            await eve.close()
