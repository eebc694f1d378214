"""The Matrix adapter under faults, without a homeserver: 429 waits, retry pacing, bad events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import MatrixRoom, MegolmEvent, RoomMessageText, UnknownBadEvent
from nio.crypto.sessions import InboundGroupSession, OutboundGroupSession

from consultbot.adapters.matrix import nio_client
from consultbot.adapters.matrix.nio_client import retry_after_ms
from consultbot.ports import IncomingMessage, IncomingReaction
from tests.adapters.matrix_support import (
    logged_in_client,
    offline_bot,
    offline_config,
    with_room,
)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_ms("3") == 3000
    assert retry_after_ms(" 0.5 ") == 500
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 28_000 <= (retry_after_ms(format_datetime(later, usegmt=True)) or 0) <= 30_000
    assert retry_after_ms(None) is None and retry_after_ms("soon") is None
    assert retry_after_ms("-5") == 0
    assert retry_after_ms("999999") == int(nio_client.MAX_RETRY_AFTER_SECONDS * 1000)


async def test_a_429_with_only_a_retry_after_header_is_waited_out_as_told() -> None:
    client = nio_client.Client("http://127.0.0.1:9", "@bot:localhost")

    class Answer(SimpleNamespace):
        async def json(self, **_: Any) -> dict[str, Any]:
            return {"errcode": "M_LIMIT_EXCEEDED", "error": "slow down"}

        async def text(self) -> str:
            return ""

    from nio import RoomSendResponse

    answer = Answer(
        status=429,
        headers={"Retry-After": "2"},
        content_type="application/json",
        content_disposition=None,
    )
    response = await client.create_matrix_response(RoomSendResponse, answer, data=("!r",))
    assert response.retry_after_ms == 2000
    await client.close()


def test_nio_retries_connection_errors_at_most_a_second_apart() -> None:
    """The growing backoff of matrix-nio, capped: an outage is caught up within a second."""
    client_config = nio_client.client_config(offline_config(Path("unused")))
    assert client_config.max_timeout_retry_wait_time <= 1.0
    assert client_config.max_timeouts is None  # never given up: a page must go out


@pytest.mark.parametrize(
    "content",
    [
        {"msgtype": "m.text"},  # no body
        {"msgtype": "m.text", "body": 42},
        {"msgtype": "m.text", "body": None},
        {"msgtype": 7, "body": "!hjälp"},
        {},
        "not a dict",
    ],
)
async def test_events_with_missing_or_wrong_typed_fields_are_skipped(
    tmp_path: Path, content: Any
) -> None:
    handled: list[str] = []

    class Handler:
        async def handle_message(self, message: IncomingMessage) -> None:
            assert isinstance(message.body, str)
            handled.append(message.event_id)

        async def handle_reaction(self, reaction: IncomingReaction) -> None:
            handled.append(reaction.event_id)

        def allowed(self, user: str) -> bool:
            return True

    bot = offline_bot(tmp_path / "store")
    with_room(bot)
    bot.session.handler = Handler()
    source = {
        "type": "m.room.message",
        "event_id": "$odd",
        "sender": "@doc:localhost",
        "origin_server_ts": 1,
        "content": content,
    }
    event = RoomMessageText.from_dict(source)
    await bot.sync.handle_event("!room:localhost", event)  # never raises
    good = RoomMessageText.from_dict(
        {**source, "event_id": "$good", "content": {"msgtype": "m.text", "body": "!hjälp"}}
    )
    await bot.sync.handle_event("!room:localhost", good)
    assert "$good" in handled
    assert isinstance(event, UnknownBadEvent) or set(handled) <= {"$odd", "$good"}


async def test_a_message_whose_key_came_late_and_whose_handling_fails_leaves_the_others_handled(
    tmp_path: Path,
) -> None:
    """Messages decrypted after their key arrives go through the same guard as the rest: one
    that fails is logged, and the sync loop goes on to the next (it used to end the loop)."""
    client = logged_in_client(tmp_path)
    b = offline_bot(tmp_path)
    b.session.client = client
    handled: list[str] = []

    class Handler:
        async def handle_message(self, message: IncomingMessage) -> None:
            if message.event_id == "$late1":
                raise RuntimeError("the store is gone for a moment")
            handled.append(message.event_id)

        async def handle_reaction(self, reaction: IncomingReaction) -> None:
            raise AssertionError

        def allowed(self, user: str) -> bool:
            return True

    b.session.handler = Handler()
    room = "!room:localhost"
    client.rooms[room] = MatrixRoom(room, b.user_id, encrypted=True)
    for user in ("@doc:localhost", b.user_id):
        client.rooms[room].add_member(user, None, None)
    b.rooms.creators[room] = "@doc:localhost"
    outbound = OutboundGroupSession()
    outbound.shared = True
    key = outbound.session_key  # shared before the first message, as a sender does

    def encrypted(n: int) -> MegolmEvent:
        plaintext = {"type": "m.room.message", "room_id": room}
        plaintext["content"] = {"msgtype": "m.text", "body": "!hjälp"}  # type: ignore[assignment]
        return MegolmEvent.from_dict(
            {
                "type": "m.room.encrypted",
                "event_id": f"$late{n}",
                "sender": "@doc:localhost",
                "origin_server_ts": 2,
                "room_id": room,
                "content": {
                    "algorithm": "m.megolm.v1.aes-sha2",
                    "sender_key": "doc-curve25519",
                    "device_id": "DOCDEVICE",
                    "session_id": outbound.id,
                    "ciphertext": outbound.encrypt(json.dumps(plaintext)),
                },
            }
        )

    for n in (1, 2):
        await b.sync.handle_event(room, encrypted(n))  # no key yet: kept
    assert handled == []
    client.olm.inbound_group_store.add(  # type: ignore[union-attr]
        InboundGroupSession(key, "doc-ed25519", "doc-curve25519", room)
    )
    await b.sync.retry_undecrypted()  # does not raise
    assert handled == ["$late2"]


def test_a_requester_expected_after_the_page_gets_the_pages_room_key(tmp_path: Path) -> None:
    """`expect` (the requester, invited right after the first page): nio counts them as
    invited at once, and the room's outbound key is dropped, so the page goes out under a new
    key shared with their devices too (a key shared after the page could not open it)."""
    client = logged_in_client(tmp_path)
    b = offline_bot(tmp_path)
    b.session.client = client
    room = "!consult:localhost"
    client.rooms[room] = MatrixRoom(room, client.user_id, encrypted=True)
    for user in (client.user_id, "@kard:localhost"):
        client.rooms[room].add_member(user, None, None)
    assert client.olm is not None
    shared = OutboundGroupSession()
    shared.shared = True  # a key the consultants' devices have (one never shared is kept:
    client.olm.outbound_group_sessions[room] = shared  # nio shares it with all at the send)
    b.provisioner.expect(room, ["@doc:localhost"])
    known = client.rooms[room]
    assert "@doc:localhost" in known.users and known.users["@doc:localhost"].invited
    assert room not in client.olm.outbound_group_sessions
    assert "@doc:localhost" in client.olm.users_for_key_query or (
        "@doc:localhost" in client.olm.device_store.users
    )
    b.provisioner.expect(room, ["@doc:localhost"])  # again (a retried page): no change
    assert len(known.users) == 3
