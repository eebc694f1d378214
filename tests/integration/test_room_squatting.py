"""A hostile account on an allowed server cannot get the bot to speak in a room it made
(issue 19): the bot never takes a room by its alias, and nothing goes into a room it made
unless that room passes the room policy.

Eve is an ordinary user on the bot's own server. Before the bot starts she creates a room
under every alias the bot used to create rooms under (consult rooms, private rooms, admin
rooms), each unencrypted, public and with herself at power level 100; the test fails if the
bot ever joins one or anything of the bot's reaches her.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nio import (
    RoomCreateResponse,
    RoomGetStateEventError,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
)

from consultbot.adapters.matrix_user import MatrixUser
from consultbot.adapters.room_policy import CREATION_KEY
from consultbot.adapters.stores import open_store
from consultbot.adapters.synapse import EmbeddedHomeserver
from consultbot.app import Bot, running_bot
from consultbot.outbox import content_to_dict, direct_key
from consultbot.ports import Content, OutboxKind, Outgoing

from .harness import QUESTION, World, ask, join_invite, world

pytestmark = [pytest.mark.integration]

NUMBER = "070-555 12 34"


def admin_key(user: str) -> str:
    """The bot-state key of the private admin room with `user` (as outbox._admin_rooms)."""
    return f"admin-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


async def aliases_the_bot_could_use(w: World, database: str) -> list[str]:
    """Every alias the bot created rooms under before this change, computed as it did:
    `konsult-<instance>-<key>` for the next consults, and every person's private and admin
    room."""
    store = await open_store(database)
    try:
        instance = await store.get_meta("instance")
        if instance is None:  # as the store makes it at the first consult
            await store.allocate_consult(now=datetime.now(UTC))
            instance = await store.get_meta("instance")
    finally:
        await store.close()
    keys = [f"K-{n:06d}" for n in range(1, 6)]
    for person in w.people.values():
        keys += [direct_key(person.user_id), admin_key(person.user_id)]
    return [f"konsult-{instance}-{key}".lower() for key in keys]


async def squat(eve: MatrixUser, alias: str) -> str:
    """A room under `alias`: unencrypted, anyone may join, Eve its only admin."""
    made = await eve.client.room_create(
        alias=alias,
        name="Konsultbot",
        visibility=RoomVisibility.private,
        preset=RoomPreset.public_chat,
    )
    assert isinstance(made, RoomCreateResponse), made
    return made.room_id


async def the_bot_never_came(w: World, eve: MatrixUser, rooms: list[str]) -> None:
    """The bot is no member of any of `rooms`, and Eve, synced past a message of her own in
    each, saw nothing from it there."""
    for room in rooms:
        member = await eve.client.room_get_state_event(room, "m.room.member", w.bot_id)
        assert isinstance(member, RoomGetStateEventError), f"the bot is in {room}: {member}"
        sent = await eve.client.room_send(
            room, "m.room.message", {"msgtype": "m.text", "body": "synkmarkör"}
        )
        assert isinstance(sent, RoomSendResponse), sent
        await eve.wait_for(lambda s, e=sent.event_id: s.event_id == e, 30)
    leaks = [s for s in eve.seen if s.room in rooms and s.sender == w.bot_id]
    assert leaks == [], leaks


async def join_new_invite(user: MatrixUser, known: set[str]) -> str:
    """Wait for an invite to a room not in `known`, join it; the room."""
    invite = await user.wait_for(lambda s: s.kind == "invite" and s.room not in known, 30)
    await user.join(invite.room)
    return invite.room


async def made_by_the_bot(w: World, member: MatrixUser, room: str) -> bool:
    """The room's creation event is the bot's and carries its key (no room under an alias)."""
    create = await member.client.room_get_state_event(room, "m.room.create")
    return CREATION_KEY in getattr(create, "content", {})


async def queue(bot: Bot, outgoing: Outgoing) -> None:
    """An outbox entry as the inbox writes it, then the outbox is woken."""
    await bot.store.record(None, 0, [], [outgoing], now=datetime.now(UTC))
    bot.service.dispatcher.kick()


async def test_rooms_squatted_under_every_alias_the_bot_used_get_nothing(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "admin", "eve") as w:
        admin = w.people["admin"]
        # No warm pool: every room of this test is made when it is needed.
        config = w.config(ack_timeout=600, room_pool=0, admins=[admin.user_id])
        await w.seed(config, {1: ["l1"]})
        eve = w.people["eve"].c
        squatted = [
            await squat(eve, alias)
            for alias in await aliases_the_bot_could_use(w, config.bot.database)
        ]
        async with running_bot(config) as bot:
            # A consult: the page and the question.
            _, number = await ask(w)
            assert number == "K-000002"  # K-000001 went to making the instance tag
            l1 = w.people["l1"].c
            room = await join_invite(l1)
            page = await l1.wait_for(
                lambda s: s.room == room and s.sender == w.bot_id and QUESTION in s.body, 30
            )
            assert page.encrypted
            # A number in a private room, and an admin post.
            doctor = w.people["doctor"]
            content = Content(text=f"Ring {NUMBER}", html=f"Ring {NUMBER}")
            await queue(
                bot,
                Outgoing(
                    kind=OutboxKind.DIRECT, room=doctor.user_id, payload=content_to_dict(content)
                ),
            )
            payload = await bot.service.admin_posts.coverage(datetime.now(UTC))
            await queue(bot, Outgoing(kind=OutboxKind.COVERAGE, room="", payload=payload))
            private = await join_new_invite(doctor.c, {room})
            await doctor.c.wait_for(lambda s: s.room == private and NUMBER in s.body, 30)
            admin_room = await join_invite(admin.c)
            # The post arrives, encrypted. (Sent without waiting for the admin's devices, as
            # admin posts are, this first one may not be readable to them: no matter here.)
            await admin.c.wait_for(
                lambda s: s.room == admin_room
                and s.sender == w.bot_id
                and (s.kind == "undecryptable" or (s.kind == "message" and s.encrypted)),
                30,
            )
            for member, made in ((l1, room), (doctor.c, private), (admin.c, admin_room)):
                assert made not in squatted and await made_by_the_bot(w, member, made)
            await the_bot_never_came(w, eve, squatted)
