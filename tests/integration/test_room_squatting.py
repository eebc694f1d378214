"""A hostile account on an allowed server cannot get the bot to speak in a room it made
(issue 19): the bot never takes a room by its alias, and nothing goes into a room it made
unless that room passes the room policy.

Eve is an ordinary user on the bot's own server. Before the bot starts she creates a room
under every alias the bot used to create rooms under (consult rooms, private rooms, admin
rooms), each unencrypted, public and with herself at power level 100; the test fails if the
bot ever joins one or anything of the bot's reaches her.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nio import (
    JoinedRoomsResponse,
    JoinResponse,
    RoomCreateResponse,
    RoomGetStateEventError,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
)
from nio.api import Api

from consultbot.adapters.matrix.provisioning import ROOM_INTENT
from consultbot.adapters.matrix.room_policy import CREATION_KEY
from consultbot.adapters.sql.stores import open_store
from consultbot.app import Bot, running_bot
from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.engine.delivery.content import admin_key, content_to_dict, direct_key
from consultbot.ports import Content, OutboxKind, Outgoing

from .harness import QUESTION, World, ask, join_invite, world

pytestmark = [pytest.mark.integration]

NUMBER = "070-555 12 34"


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
                lambda s: (
                    s.room == admin_room
                    and s.sender == w.bot_id
                    and (s.kind == "undecryptable" or (s.kind == "message" and s.encrypted))
                ),
                30,
            )
            for member, made in ((l1, room), (doctor.c, private), (admin.c, admin_room)):
                assert made not in squatted and await made_by_the_bot(w, member, made)
            await the_bot_never_came(w, eve, squatted)


async def test_rooms_taken_by_alias_before_this_change_are_left_and_made_anew(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    """The old bot adopted a squatted room by its alias and recorded it as a private and an
    admin room; now such a room gets nothing, is left, and a room of the bot's own is made."""
    async with world(homeserver, tmp_path, "doctor", "admin", "eve") as w:
        admin, doctor = w.people["admin"], w.people["doctor"]
        config = w.config(room_pool=0, admins=[admin.user_id])
        await w.seed(config, {})
        eve = w.people["eve"].c
        private_squat = await squat(eve, f"squat-{tmp_path.name}-direct".lower())
        admin_squat = await squat(eve, f"squat-{tmp_path.name}-admin".lower())
        async with running_bot(config) as bot:
            client = bot.matrix.session.client
            assert client is not None
            for room in (private_squat, admin_squat):  # as the old bot joined by the alias
                assert isinstance(await client.join(room), JoinResponse)
            await bot.store.set_meta(direct_key(doctor.user_id), private_squat)
            await bot.store.set_meta(admin_key(admin.user_id), admin_squat)

            content = Content(text=f"Ring {NUMBER}", html=f"Ring {NUMBER}")
            payload = content_to_dict(content)
            await queue(bot, Outgoing(kind=OutboxKind.DIRECT, room=doctor.user_id, payload=payload))

            private = await join_new_invite(doctor.c, set())
            await doctor.c.wait_for(lambda s: s.room == private and NUMBER in s.body, 30)
            admin_room = await join_new_invite(admin.c, set())
            # The admins are told of both rooms, in a room of the bot's own.
            await admin.c.wait_until(
                lambda: (
                    sum(s.room == admin_room and s.sender == w.bot_id for s in admin.c.seen) >= 2
                )
            )
            for made in (private, admin_room):
                assert made not in (private_squat, admin_squat)
            assert await made_by_the_bot(w, doctor.c, private)
            assert await made_by_the_bot(w, admin.c, admin_room)
            for squatted in (private_squat, admin_squat):
                assert await bot.store.get_meta(f"unsafe-room:{squatted}")
                await eve.wait_for(
                    lambda s, r=squatted: s.room == r and s.sender == w.bot_id and s.kind == "leave"
                )
            # Eve, synced past a message of her own in each, saw no message of the bot's.
            for squatted in (private_squat, admin_squat):
                sent = await eve.client.room_send(
                    squatted, "m.room.message", {"msgtype": "m.text", "body": "synkmarkör"}
                )
                assert isinstance(sent, RoomSendResponse), sent
                await eve.wait_for(lambda s, e=sent.event_id: s.event_id == e, 30)
            said = [
                s
                for s in eve.seen
                if s.room in (private_squat, admin_squat)
                and s.sender == w.bot_id
                and s.kind not in ("join", "leave")
            ]
            assert said == [], said


async def test_a_room_made_just_before_a_crash_is_found_again_not_made_twice(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    """The intent is recorded, the room made, then the bot dies before the room's id is
    recorded: after the restart the same key finds that room, by state only the bot can
    have written; a look-alike room Eve made with the same creation content is not it."""
    async with world(homeserver, tmp_path, "l1", "eve") as w:
        config = w.config(room_pool=0)
        await w.seed(config, {})
        l1 = w.people["l1"]
        key = "K-000042"
        async with running_bot(config) as bot:
            made = await bot.matrix.create_room(
                key=key, name="K-000042 kardiologi", topic="", invite=[l1.user_id]
            )
            mark = await bot.store.get_meta(ROOM_INTENT + key)
            assert mark
            # Eve's look-alike: the same creation content, and the bot is in it.
            eve = w.people["eve"].c
            method, path, data = Api.room_create(
                eve.client.access_token, preset=RoomPreset.public_chat
            )
            body = json.loads(data) | {"creation_content": {CREATION_KEY: mark}}
            fake = await eve.client._send(RoomCreateResponse, method, path, json.dumps(body))
            assert isinstance(fake, RoomCreateResponse), fake
            assert bot.matrix.session.client is not None
            assert isinstance(await bot.matrix.session.client.join(fake.room_id), JoinResponse)
        # A new run (the caller never recorded `made`): the same key, the same room.
        async with running_bot(config) as bot:
            again = await bot.matrix.create_room(
                key=key, name="K-000042 kardiologi", topic="", invite=[l1.user_id]
            )
            assert again == made
            client = bot.matrix.session.client
            assert client is not None
            joined = await client.joined_rooms()
            assert isinstance(joined, JoinedRoomsResponse)
            with_mark = []
            for room in joined.rooms:
                create = await client.room_get_state_event(room, "m.room.create")
                if getattr(create, "content", {}).get(CREATION_KEY) == mark:
                    with_mark.append(room)
            assert sorted(with_mark) == sorted([made, fake.room_id]), "no second room was made"
            # A crash after recording the intent but before creating: a room is made then.
            await bot.store.set_meta(ROOM_INTENT + "K-000043", "K-000043/0123456789abcdef")
            fresh = await bot.matrix.create_room(
                key="K-000043", name="K-000043 kardiologi", topic="", invite=[]
            )
            assert fresh not in (made, fake.room_id)


ENCRYPTED = [
    {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
]


async def test_a_fit_room_a_non_admin_made_under_the_admin_rooms_alias_gets_no_alert(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    """Eve, on the bot's own server, makes an encrypted invite-only room under the configured
    admin room's alias and invites the bot: the bot leaves it and the admins' alerts go to
    their private rooms; a room an admin made under an alias is taken."""
    async with world(homeserver, tmp_path, "admin", "eve") as w:
        admin, eve = w.people["admin"], w.people["eve"].c
        name = f"admins-{uuid.uuid4().hex[:8]}"
        made = await eve.client.room_create(
            alias=name,
            preset=RoomPreset.private_chat,
            initial_state=ENCRYPTED,
            invite=[w.bot_id],
        )
        assert isinstance(made, RoomCreateResponse), made
        alias = f"#{name}:{homeserver.server_name}"
        config = w.config(room_pool=0, admins=[admin.user_id], admin_room=alias)
        await w.seed(config, {})
        async with running_bot(config) as bot:
            assert bot.service.admin_room == ""
            await eve.wait_for(
                lambda s: s.room == made.room_id and s.sender == w.bot_id and s.kind == "leave", 30
            )
            payload = await bot.service.admin_posts.coverage(datetime.now(UTC))
            await queue(bot, Outgoing(kind=OutboxKind.COVERAGE, room="", payload=payload))
            private = await join_new_invite(admin.c, set())
            await admin.c.wait_for(lambda s: s.room == private and s.sender == w.bot_id, 30)
            assert await made_by_the_bot(w, admin.c, private)
        said = [s for s in eve.seen if s.room == made.room_id and s.sender == w.bot_id]
        assert said and all(s.kind in ("join", "leave") for s in said), said

        theirs = await admin.c.client.room_create(
            alias=f"{name}-ok",
            preset=RoomPreset.private_chat,
            initial_state=ENCRYPTED,
            invite=[w.bot_id],
        )
        assert isinstance(theirs, RoomCreateResponse), theirs
        ok = replace(config.bot, admin_room=f"#{name}-ok:{homeserver.server_name}")
        config = replace(config, bot=ok)
        async with running_bot(config) as bot:
            assert bot.service.admin_room == theirs.room_id
