"""A member's encrypted message is never room state (issue 19, review finding "spoof").

nio turns a decrypted Megolm event into whatever type its plaintext names, `state_key` and
all; only the sender comes from the real event. Here a member of a consult room (Mallory, on
an allowed server) encrypts a forged `m.room.create`, power levels, encryption or member
leave under a real Megolm session; the bot's nio client decrypts it during the sync as it
would on the homeserver's word. Neither nio's room model nor the state the room policy reads
may change, and the room still passes the check every send makes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nio import Event, MegolmEvent, RoomMessageText, Rooms, SyncResponse, UnknownBadEvent
from nio.crypto.sessions import InboundGroupSession, OutboundGroupSession
from nio.responses import RoomInfo, Timeline

from consultbot.adapters.matrix import nio_client, room_policy
from consultbot.adapters.matrix.client import MatrixBot
from tests.adapters.matrix_support import logged_in_client, offline_bot

BOT = "@bot:region.se"
ANNA = "@anna:region.se"  # the requester
MALLORY = "@mallory:region.se"  # an allowed account, a member of the consult room
ROOM = "!consult:region.se"
MALLORY_CURVE = "mallory-curve25519"


def state(kind: str, content: dict[str, Any], key: str = "", sender: str = BOT) -> Event:
    return Event.parse_event(
        {
            "type": kind,
            "state_key": key,
            "content": content,
            "sender": sender,
            "event_id": f"${kind}-{key}",
            "origin_server_ts": 1,
        }
    )


def consult_room_state(servers: tuple[str, ...]) -> list[Event]:
    return [
        state("m.room.create", {"room_version": "10"}),
        state("m.room.encryption", {"algorithm": room_policy.MEGOLM}),
        state("m.room.power_levels", room_policy.power_levels({BOT: 100})),
        state("m.room.join_rules", {"join_rule": "invite"}),
        state("m.room.server_acl", room_policy.server_acl(servers)),
        *(state("m.room.member", {"membership": "join"}, u, u) for u in (BOT, ANNA, MALLORY)),
    ]


class Mallory:
    """Mallory's Megolm session, its key already shared with the bot's device."""

    def __init__(self, client: nio_client.Client) -> None:
        self.session = OutboundGroupSession()
        self.session.shared = True
        inbound = InboundGroupSession(
            self.session.session_key, "mallory-ed25519", MALLORY_CURVE, ROOM
        )
        client.olm.inbound_group_store.add(inbound)
        self.sent = 0

    def encrypted(self, plaintext: dict[str, Any]) -> MegolmEvent:
        """What the homeserver hands the bot for Mallory's m.room.encrypted event."""
        self.sent += 1
        return MegolmEvent.from_dict(
            {
                "type": "m.room.encrypted",
                "event_id": f"$mallory{self.sent}",
                "sender": MALLORY,
                "origin_server_ts": 2,
                "content": {
                    "algorithm": "m.megolm.v1.aes-sha2",
                    "sender_key": MALLORY_CURVE,
                    "device_id": "MALLORYDEV",
                    "session_id": self.session.id,
                    "ciphertext": self.session.encrypt(json.dumps({**plaintext, "room_id": ROOM})),
                },
            }
        )


def sync(state_events: list[Any], timeline: list[Any]) -> Any:
    """The joined part of a sync response, as nio parses one."""
    info = RoomInfo(Timeline(timeline, False, None), state_events, [], [])
    return SyncResponse("s1", Rooms({}, {ROOM: info}, {}), None, None, [], [])


async def bot_in_consult_room(tmp_path: Path) -> tuple[MatrixBot, nio_client.Client]:
    client = logged_in_client(tmp_path, BOT)
    b = offline_bot(tmp_path, BOT)
    b.session.client = client
    first = sync(consult_room_state(b.session.servers), [])
    await client._handle_joined_rooms(first)
    b.rooms.learn(first)
    b.own_room(ROOM)
    assert b.rooms.faults(ROOM) == ()
    return b, client


FORGED = [
    pytest.param("m.room.create", "", {"room_version": "10", "creator": MALLORY}, id="create"),
    pytest.param(
        "m.room.power_levels",
        "",
        room_policy.power_levels({BOT: 0, MALLORY: 100}),
        id="power_levels",
    ),
    pytest.param("m.room.encryption", "", {"algorithm": "none"}, id="encryption"),
    pytest.param("m.room.join_rules", "", {"join_rule": "public"}, id="join_rules"),
    pytest.param("m.room.member", ANNA, {"membership": "leave"}, id="member_leave"),
]


@pytest.mark.parametrize(("kind", "key", "content"), FORGED)
async def test_a_forged_state_event_inside_an_encrypted_message_changes_nothing(
    tmp_path: Path, kind: str, key: str, content: dict[str, Any]
) -> None:
    b, client = await bot_in_consult_room(tmp_path)
    mallory = Mallory(client)
    forged = mallory.encrypted({"type": kind, "state_key": key, "content": content})
    response = sync([], [forged])
    await client._handle_joined_rooms(response)  # nio's step inside `client.sync`
    b.rooms.learn(response)

    (seen,) = response.rooms.join[ROOM].timeline.events
    assert isinstance(seen, UnknownBadEvent) and seen.decrypted  # dropped, not state
    assert b.rooms.creators[ROOM] == BOT
    assert b.rooms.faults(ROOM) == ()
    assert not b.sync.joins([seen])  # a forged create does not hide a gap from the backfill
    room = client.rooms[ROOM]
    assert set(room.users) == {BOT, ANNA, MALLORY}  # Anna is still a member
    assert room.power_levels.get_user_level(BOT) == 100
    assert room.encrypted and room.join_rule == "invite"
    await b.rooms.vet(ROOM)  # the check before every send: the page still goes into the room


async def test_a_member_s_encrypted_message_still_reads_as_a_message(tmp_path: Path) -> None:
    _, client = await bot_in_consult_room(tmp_path)
    mallory = Mallory(client)
    plain = mallory.encrypted(
        {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "!ring"}}
    )
    response = sync([], [plain])
    await client._handle_joined_rooms(response)

    (seen,) = response.rooms.join[ROOM].timeline.events
    assert isinstance(seen, RoomMessageText) and seen.decrypted
    assert (seen.sender, seen.body) == (MALLORY, "!ring")


async def test_an_event_decrypted_later_is_dropped_the_same_way(tmp_path: Path) -> None:
    """Events whose key arrives after the sync (and backfilled ones) go through `decrypt_event`."""
    _, client = await bot_in_consult_room(tmp_path)
    mallory = Mallory(client)
    forged = mallory.encrypted({"type": "m.room.create", "state_key": "", "content": {}})
    forged.room_id = ROOM
    assert isinstance(client.decrypt_event(forged), UnknownBadEvent)
