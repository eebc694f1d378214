"""A hostile account on an allowed server, and people on another server, against the real bot
over real federation (issue 19): the bot joins no crafted room, stops answering in a room that
gains someone from elsewhere, and posts no staff number where such a person is."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from nio import RoomCreateResponse, RoomGetStateEventResponse, RoomPreset

from consultbot.app import Bot, running_bot
from consultbot.devkit.matrix_user import MatrixUser, Seen
from consultbot.devkit.synapse import EmbeddedHomeserver
from tests.support.waiting import eventually

from .faults_proxy import RateLimitingProxy
from .harness import World, ask, join_invite, world

pytestmark = [pytest.mark.integration]

ENCRYPTED = [
    {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }
]


async def outsider(server: EmbeddedHomeserver, folder: Path) -> MatrixUser:
    password = secrets.token_urlsafe(12)
    user_id = await server.register_user(f"eve-{uuid.uuid4().hex[:8]}", password)
    user = MatrixUser(server.url, user_id, password, folder / f"eve-{user_id[5:13]}")
    await user.start()
    return user


async def make_room(user: MatrixUser, **options: Any) -> str:
    created = await user.client.room_create(**options)
    assert isinstance(created, RoomCreateResponse), created
    return str(created.room_id)


def by_bot(w: World, room: str, kind: str = "message") -> Callable[[Seen], bool]:
    return lambda s: s.room == room and s.sender == w.bot_id and s.kind == kind


async def membership(user: MatrixUser, room: str, who: str) -> str:
    state = await user.client.room_get_state_event(room, "m.room.member", who)
    assert isinstance(state, RoomGetStateEventResponse), state
    return str(state.content["membership"])


async def settled(bot: Bot, event_id: str) -> None:
    """Until the bot has handled `event_id` and sent everything that came of it."""

    async def done() -> bool:
        return await bot.store.is_handled(event_id) and await bot.store.pending() == []

    await eventually(done, within=30, what=f"{event_id} handled, nothing left to send")


async def test_the_bot_declines_crafted_rooms_and_never_answers_in_them(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver], tmp_path: Path
) -> None:
    region, other = federation
    async with world(region, tmp_path, "mallory", "l1") as w:
        config = w.config(ack_timeout=600)
        await w.seed(config, {1: ["l1"]})
        mallory = w.people["mallory"].c
        eve = await outsider(other, tmp_path)
        try:
            async with running_bot(config) as bot:
                unencrypted = await make_room(mallory, name="Team", invite=[w.bot_id])
                public = await make_room(
                    mallory,
                    name="Öppet",
                    preset=RoomPreset.public_chat,
                    initial_state=ENCRYPTED,
                    invite=[w.bot_id],
                )
                # Encrypted, but someone from another server is in it: the invite's state does
                # not show members, so the bot finds out only after joining.
                mixed = await make_room(mallory, name="Samverkan", initial_state=ENCRYPTED)
                await mallory.client.room_invite(mixed, eve.user_id)
                await eve.join(mixed)
                await mallory.client.room_invite(mixed, w.bot_id)
                # Encrypted, someone from elsewhere only invited.
                pending = await make_room(
                    mallory, name="Väntar", initial_state=ENCRYPTED, invite=[eve.user_id]
                )
                await mallory.client.room_invite(pending, w.bot_id)
                for room in (unencrypted, public, mixed, pending):
                    await mallory.wait_for(by_bot(w, room, "leave"), 60)
                    assert await membership(mallory, room, w.bot_id) == "leave"
                for room in (unencrypted, public):
                    # Declined from the invite alone: the bot never joined.
                    assert not any(by_bot(w, room, "join")(s) for s in mallory.seen)
                # A room the bot did join and leave again holds nothing from it.
                assert not any(s.sender == w.bot_id and s.kind == "message" for s in mallory.seen)
                assert not any(s.sender == w.bot_id and s.kind == "message" for s in eve.seen)
                assert await bot.store.consults_of(w.people["mallory"].user_id) == []
        finally:
            await eve.close()


async def test_a_team_room_that_gains_someone_from_elsewhere_is_answered_no_more(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver], tmp_path: Path
) -> None:
    region, other = federation
    async with world(region, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600)
        await w.seed(config, {1: ["l1"]})
        doctor, l1 = w.people["doctor"].c, w.people["l1"]
        eve = await outsider(other, tmp_path)
        try:
            async with running_bot(config) as bot:
                team = await make_room(
                    doctor, name="VC Mora läkare", initial_state=ENCRYPTED, invite=[w.bot_id]
                )
                await doctor.wait_for(by_bot(w, team, "join"), 30)
                await doctor.send_text(team, "!vem kardiologi")
                answer = await doctor.wait_for(by_bot(w, team), 30)
                assert l1.phone in answer.body  # the region's own people: answered there

                await doctor.client.room_invite(team, eve.user_id)
                await eve.join(team)
                await doctor.wait_until(lambda: eve.user_id in doctor.client.rooms[team].users)
                await doctor.send_text(team, "!vem kardiologi")
                direct = await join_invite(doctor)
                told = await doctor.wait_for(by_bot(w, direct), 30)
                assert "svarar inte längre" in told.body and "utanför regionen" in told.body
                again = await doctor.send_text(team, "!vem kardiologi")
                await settled(bot, again)
                from_bot = [s for s in doctor.seen if s.sender == w.bot_id and s.kind == "message"]
                assert [s.room for s in from_bot] == [team, direct]  # told once, nothing more
                assert all(l1.phone not in s.body for s in eve.seen)
                assert await membership(doctor, team, w.bot_id) == "join"  # it may pass again
        finally:
            await eve.close()


async def test_ring_where_someone_from_elsewhere_is_invited_gives_the_number_privately(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver], tmp_path: Path
) -> None:
    """The bot withdraws an invite from elsewhere at once; the proxy holds that withdrawal,
    so the outsider is still invited when `!ring` is answered."""
    region, other = federation
    proxy = RateLimitingProxy(upstream=region.url)
    await proxy.start()
    try:
        async with world(region, tmp_path, "doctor", "l1") as w:
            config = w.config(ack_timeout=600)
            config = replace(config, matrix=replace(config.matrix, homeserver=proxy.url))
            await w.seed(config, {1: ["l1"]})
            l1, doctor_phone = w.people["l1"].c, w.people["doctor"].phone
            eve = await outsider(other, tmp_path)
            try:
                async with running_bot(config):
                    await ask(w)
                    room = await join_invite(l1)
                    await l1.wait_for(by_bot(w, room), 30)  # the page
                    proxy.hold("/kick")
                    mark = len(l1.seen)
                    await l1.client.room_invite(room, eve.user_id)
                    async with asyncio.timeout(30):
                        await proxy.held.wait()  # the bot has seen the invite
                    await l1.send_text(room, "!ring")
                    withheld = await l1.wait_for(
                        lambda s: by_bot(w, room)(s) and "direktchatt" in s.body, 30
                    )
                    assert "Ring beställaren: (numret skickat i direktchatt)" in withheld.body
                    invite = await l1.wait_for(lambda s: s.kind == "invite" and s.room != room)
                    direct = invite.room
                    await l1.join(direct)
                    private = await l1.wait_for(by_bot(w, direct), 30)
                    assert doctor_phone in private.body
                    proxy.release()
                    await l1.wait_for(lambda s: by_bot(w, room)(s) and "återkallad" in s.body, 30)
                    later = [s for s in l1.seen[mark:] if by_bot(w, room)(s)]
                    assert all(doctor_phone not in s.body + s.html for s in later)
                    # (Eve's devices may have been sent a room key while invited; never a message.)
                    assert not any(by_bot(w, room)(s) for s in eve.seen)
            finally:
                await eve.close()
    finally:
        proxy.release()
        await proxy.stop()
