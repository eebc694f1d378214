"""The Matrix adapter's checks of who can read a room, without a homeserver: which invites it
joins, what it believes after joining, and what it refuses to send (domain/audience.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import (
    InviteMemberEvent,
    JoinResponse,
    MatrixRoom,
    RoomForgetResponse,
    RoomGetStateResponse,
    RoomLeaveResponse,
    RoomPutStateResponse,
    RoomSendResponse,
)

from consultbot.adapters.matrix.client import MatrixBot
from consultbot.adapters.matrix.rooms import state_facts
from consultbot.domain.chat.audience import Fault, RoomFacts
from consultbot.ports import RoomRefused
from tests.adapters.matrix_support import offline_bot

BOT = "@bot:region.se"
ANNA = "@anna:region.se"
EVE = "@eve:evil.example"
ROOM = "!r:region.se"


def member(user: str, membership: str = "join", sender: str = ANNA) -> dict[str, Any]:
    return {
        "type": "m.room.member",
        "state_key": user,
        "sender": sender,
        "content": {"membership": membership},
    }


ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m"}}
CREATE = {"type": "m.room.create", "state_key": "", "sender": ANNA, "content": {}}


def join_rule(rule: str) -> dict[str, Any]:
    return {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": rule}}


@pytest.mark.parametrize(
    ("events", "facts"),
    [
        (
            [CREATE, ENCRYPTION, join_rule("invite"), member(ANNA), member(BOT, "invite")],
            RoomFacts(encrypted=True, join_rule="invite", members=(ANNA, BOT)),
        ),
        (
            [CREATE, member(ANNA), member(EVE, "leave"), member("@x:region.se", "ban")],
            RoomFacts(encrypted=False, join_rule="invite", members=(ANNA,)),
        ),
        (
            [{"type": "m.room.encryption", "state_key": "", "content": {}}, join_rule("public")],
            RoomFacts(encrypted=False, join_rule="public", members=()),
        ),
        (["not an event", {"type": "m.room.member", "content": "odd"}], None),
    ],
)
def test_the_facts_of_a_room_are_read_from_its_state(
    events: list[Any], facts: RoomFacts | None
) -> None:
    found, _ = state_facts(events)
    assert found == (facts or RoomFacts(encrypted=False, join_rule="invite", members=()))


def test_the_creator_is_the_sender_of_the_create_event() -> None:
    assert state_facts([CREATE])[1] == ANNA
    assert state_facts([])[1] == ""


class InvitedClient:
    """Joins, reads the room's (real) state and leaves, recording each request."""

    def __init__(self, real_state: list[dict[str, Any]]) -> None:
        self.real_state = real_state
        self.calls: list[str] = []
        self.rooms: dict[str, Any] = {}

    async def join(self, room: str) -> Any:
        self.calls.append("join")
        return JoinResponse(ROOM)  # an alias resolves to the room's id

    async def room_get_state(self, room: str) -> Any:
        self.calls.append("state")
        return RoomGetStateResponse(self.real_state, room)

    async def room_leave(self, room: str) -> Any:
        self.calls.append("leave")
        return RoomLeaveResponse()

    async def room_forget(self, room: str) -> Any:
        return RoomForgetResponse(room)


def matrix_bot(tmp_path: Path) -> MatrixBot:
    b = offline_bot(tmp_path / "store", BOT)
    b.session.handler = SimpleNamespace(allowed=lambda user: user != EVE)  # type: ignore[assignment]
    return b


def invited(by: str, offered: list[dict[str, Any]]) -> Any:
    invite = InviteMemberEvent.parse_event(member(BOT, "invite", sender=by))
    return SimpleNamespace(
        rooms=SimpleNamespace(invite={ROOM: SimpleNamespace(invite_state=[invite])}),
        invite_states={ROOM: [*offered, member(BOT, "invite", sender=by)]},
    )


GOOD = [CREATE, ENCRYPTION, join_rule("invite"), member(ANNA)]


@pytest.mark.parametrize(
    ("inviter", "offered", "real", "calls"),
    [
        pytest.param(ANNA, GOOD, GOOD, ["join", "state"], id="encrypted-all-region"),
        pytest.param(EVE, GOOD, GOOD, ["leave"], id="inviter-from-elsewhere"),
        pytest.param(ANNA, GOOD[:2], GOOD, ["join", "state"], id="no-join-rule-is-invite-only"),
        pytest.param(ANNA, [CREATE, member(ANNA)], GOOD, ["leave"], id="unencrypted"),
        pytest.param(ANNA, [*GOOD, join_rule("public")], GOOD, ["leave"], id="public"),
        pytest.param(ANNA, [*GOOD, member(EVE)], GOOD, ["leave"], id="member-from-elsewhere"),
        pytest.param(
            ANNA,
            GOOD,
            [CREATE, join_rule("invite"), member(ANNA)],
            ["join", "state", "leave"],
            id="invite-state-lies-about-encryption",
        ),
        pytest.param(
            ANNA,
            GOOD,
            [*GOOD, member(EVE, "invite")],
            ["join", "state", "leave"],
            id="invite-state-hides-an-invitee-from-elsewhere",
        ),
    ],
)
async def test_an_invite_is_joined_only_into_a_closed_encrypted_room_of_the_region(
    tmp_path: Path,
    inviter: str,
    offered: list[dict[str, Any]],
    real: list[dict[str, Any]],
    calls: list[str],
) -> None:
    b = matrix_bot(tmp_path)
    client = InvitedClient(real)
    b.session.client = client  # type: ignore[assignment]
    await b.doors.answer_invites(invited(inviter, offered))
    assert client.calls == calls


def known_room(b: MatrixBot, *members: str, invited: tuple[str, ...] = ()) -> None:
    room = MatrixRoom(ROOM, BOT, encrypted=True)
    for user in members:
        room.add_member(user, None, None)
    for user in invited:
        room.add_member(user, None, None, invited=True)
    b.session.client = SimpleNamespace(rooms={ROOM: room})  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("by_bot", "numbers", "invitees", "refused"),
    [
        (True, False, (EVE,), None),  # the bot's own room: its policy decides
        (True, True, (), None),
        (True, True, (EVE,), (Fault.FOREIGN_MEMBER, True)),
        (False, False, (), None),
        (False, False, (EVE,), (Fault.FOREIGN_MEMBER, False)),
        (False, True, (EVE,), (Fault.FOREIGN_MEMBER, False)),
    ],
)
def test_a_message_is_refused_when_the_members_it_would_reach_may_not_read_it(
    tmp_path: Path,
    by_bot: bool,
    numbers: bool,
    invitees: tuple[str, ...],
    refused: tuple[Fault, bool] | None,
) -> None:
    b = matrix_bot(tmp_path)
    known_room(b, BOT, ANNA, invited=invitees)
    check = b.rooms.audience_check(ROOM, numbers=numbers, by_bot=by_bot)
    if refused is None:
        assert check is None or check(ROOM) is None
        return
    assert check is not None
    with pytest.raises(RoomRefused) as caught:
        check(ROOM)
    assert (caught.value.faults, caught.value.fit) == ((refused[0],), refused[1])


MALLORY = "@mallory:region.se"  # on an allowed server, but no admin


def made_by(user: str) -> list[dict[str, Any]]:
    return [{**CREATE, "sender": user}, *GOOD[1:]]


@pytest.mark.parametrize(
    ("real", "joined"),
    [
        pytest.param(GOOD, ROOM, id="fit-made-by-an-admin"),
        pytest.param(made_by(BOT), ROOM, id="fit-made-by-the-bot"),
        pytest.param(made_by(MALLORY), None, id="fit-made-by-a-non-admin"),
        pytest.param([CREATE, join_rule("invite"), member(ANNA)], None, id="unencrypted"),
        pytest.param([*GOOD, member(EVE)], None, id="member-from-elsewhere"),
    ],
)
async def test_the_configured_admin_room_is_kept_only_when_fit_and_made_by_the_bot_or_an_admin(
    tmp_path: Path, real: list[dict[str, Any]], joined: str | None
) -> None:
    """Whoever holds the alias: a room Mallory made under it and invited the bot into is left,
    however fit it is; the admins' alerts then go to their private rooms."""
    b = matrix_bot(tmp_path)
    client = InvitedClient(real)
    b.session.client = client  # type: ignore[assignment]
    assert await b.doors.join_room("#admins:region.se", makers=(ANNA,)) == joined
    assert ("leave" in client.calls) is (joined is None)


class SendingClient:
    """A client that knows one room a user opened and records what would go into it."""

    def __init__(self, *, encrypted: bool) -> None:
        room = MatrixRoom(ROOM, BOT, encrypted=encrypted)
        for user in (BOT, ANNA):
            room.add_member(user, None, None)
        self.rooms = {ROOM: room}
        self.sent: list[str] = []

    async def upload(self, *args: Any, **kwargs: Any) -> Any:
        self.sent.append("upload")
        raise AssertionError("uploaded")

    async def room_send(self, room: str, event_type: str, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(event_type)
        return RoomSendResponse("$sent", room)

    async def room_put_state(self, room: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(kind)
        return RoomPutStateResponse("$state", room)


def sending_bot(tmp_path: Path, *, encrypted: bool) -> tuple[MatrixBot, SendingClient]:
    b = matrix_bot(tmp_path)
    client = SendingClient(encrypted=encrypted)
    b.session.client = client  # type: ignore[assignment]
    b.rooms.creators[ROOM] = ANNA  # a room Anna opened, as sync showed it
    return b, client


async def test_no_image_event_or_state_goes_into_an_unencrypted_room_a_user_opened(
    tmp_path: Path,
) -> None:
    b, client = sending_bot(tmp_path, encrypted=False)
    attempts = [
        b.send_image(ROOM, b"png", name="statistik.png", width=1, height=1, txn="t1"),
        b.send_event(ROOM, "org.matrix.msc3381.poll.start", {}, txn="t2"),
        b.put_state(ROOM, "im.vector.modular.widgets", "w", {}),
        b.name_room(ROOM, name="K-000001", topic=""),
    ]
    for attempt in attempts:
        with pytest.raises(RoomRefused) as caught:
            await attempt
        assert caught.value.faults == (Fault.UNENCRYPTED,)
    assert client.sent == []


async def test_an_event_goes_into_a_fit_room_a_user_opened(tmp_path: Path) -> None:
    b, client = sending_bot(tmp_path, encrypted=True)
    assert await b.send_event(ROOM, "org.matrix.msc3381.poll.start", {}, txn="t") == "$sent"
    assert client.sent == ["org.matrix.msc3381.poll.start"]
