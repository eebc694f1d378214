"""The Matrix adapter's own promises, without a homeserver."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import RoomMessageText

from consultbot.adapters import matrix
from consultbot.adapters.matrix import EncryptionUnavailable, MatrixBot
from consultbot.adapters.memory import MemoryConsultStore
from consultbot.config import MatrixConfig
from consultbot.ports import IncomingMessage, IncomingReaction


def bot(tmp_path: Path) -> MatrixBot:
    config = MatrixConfig(
        homeserver="http://127.0.0.1:9",
        user_id="@bot:localhost",
        password="pw",
        store_path=tmp_path / "store",
        pickle_key="k",
    )
    return MatrixBot(config, MemoryConsultStore())


def text_event(event_id: str, body: str) -> Any:
    return RoomMessageText.from_dict(
        {
            "type": "m.room.message",
            "event_id": event_id,
            "sender": "@doc:localhost",
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": body},
        }
    )


async def test_refuses_to_start_without_encryption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matrix, "encryption_available", lambda: False)
    with pytest.raises(EncryptionUnavailable, match="matrix-nio\\[e2e\\]"):
        await bot(tmp_path).login()


async def test_a_failing_handler_does_not_stop_the_next_event(tmp_path: Path) -> None:
    handled: list[str] = []

    class Flaky:
        async def handle_message(self, message: IncomingMessage) -> None:
            if message.event_id == "$bad":
                raise RuntimeError("a bug in one handler")
            handled.append(message.event_id)

        async def handle_reaction(self, reaction: IncomingReaction) -> None:
            raise AssertionError("no reactions here")

        def allowed(self, user: str) -> bool:
            return True

        async def refuse_invite(self, room: str, inviter: str) -> None:
            raise AssertionError("no invites here")

    b = bot(tmp_path)
    b.client = SimpleNamespace(rooms={})  # type: ignore[assignment]
    b.handler = Flaky()
    for event in (text_event("$bad", "!hjälp"), text_event("$good", "!hjälp")):
        await b._event("!room:localhost", event)
    assert handled == ["$good"]


async def test_the_bots_own_messages_are_not_handled(tmp_path: Path) -> None:
    b = bot(tmp_path)
    b.client = SimpleNamespace(rooms={})  # type: ignore[assignment]

    seen: list[str] = []

    class Recorder:
        async def handle_message(self, message: IncomingMessage) -> None:
            seen.append(message.event_id)

    b.handler = Recorder()  # type: ignore[assignment]
    own = text_event("$own", "!hjälp")
    own.sender = "@bot:localhost"
    await b._event("!room:localhost", own)
    await b._event("!room:localhost", text_event("$theirs", "!hjälp"))
    assert seen == ["$theirs"]


def test_reply_fallback_is_stripped_before_commands_are_read() -> None:
    from consultbot.adapters.matrix import strip_reply_fallback

    reply = {"content": {"m.relates_to": {"m.in_reply_to": {"event_id": "$page"}}}}
    body = "> <@konsultbot:localhost> Karin: konsultation K-000001\n> fråga\n\n!kvittera"
    assert strip_reply_fallback(body, reply) == "!kvittera"
    assert strip_reply_fallback("!kvittera", reply) == "!kvittera"
    # Not a reply: a quote stays part of the text.
    assert strip_reply_fallback("> citat\n\n!hjälp", {"content": {}}) == "> citat\n\n!hjälp"


def test_mentions_are_read_from_m_mentions() -> None:
    from consultbot.adapters.matrix import mentioned

    source = {"content": {"body": "!lämna Cilla", "m.mentions": {"user_ids": ["@c:localhost"]}}}
    assert mentioned(source) == ("@c:localhost",)
    assert mentioned({"content": {"body": "!lämna"}}) == ()
    assert mentioned({"content": {"m.mentions": {"user_ids": "bad"}}}) == ()


def test_a_message_is_not_encrypted_under_a_key_a_members_device_has_not_got(
    tmp_path: Path,
) -> None:
    """The check behind the SIGKILL suite's unreadable page: a device in the room that the
    room's shared key has not reached is reported (so the key is shared with it first), unless
    it has no Olm session and its one-time key was already asked for (nothing more to try)."""
    from nio import MatrixRoom
    from nio.crypto import OlmDevice

    config = MatrixConfig(
        homeserver="http://127.0.0.1:9",
        user_id="@bot:localhost",
        password="pw",
        store_path=tmp_path,
        pickle_key="k",
    )
    client = matrix._Client(
        config.homeserver,
        config.user_id,
        store_path=str(tmp_path),
        config=matrix.client_config(config),
    )
    client.restore_login("@bot:localhost", "BOTDEVICE", "token")
    room = MatrixRoom("!r:localhost", "@bot:localhost")
    room.encrypted = True
    room.members_synced = True
    client.rooms[room.room_id] = room
    for user in ("@bot:localhost", "@l1:localhost", "@l2:localhost"):
        room.add_member(user, None, None)
    for user, device in (("@l1:localhost", "L1"), ("@l2:localhost", "L2")):
        client.olm.device_store.add(
            OlmDevice(user, device, {"ed25519": f"ed-{device}", "curve25519": f"cu-{device}"})
        )
    assert client.unshared_devices(room.room_id) == []  # no key yet: nio shares one first
    client.olm.create_outbound_group_session(room.room_id)
    session = client.olm.outbound_group_sessions[room.room_id]
    session.users_shared_with.add(("@l1:localhost", "L1"))
    session.shared = True
    # l2 came in while the key was being shared: reported, not sent under it.
    assert client.unshared_devices(room.room_id) == [("@l2:localhost", "L2")]
    with pytest.raises(matrix.RoomKeyNotShared):
        client.encrypt(room.room_id, "m.room.message", {"body": "x"})
    # After the re-shares room_send allows, the message goes out all the same (and says so).
    lenient = matrix._STRICT_ROOM_KEYS.set(False)
    try:
        assert client.encrypt(room.room_id, "m.room.message", {"body": "x"})[0] == (
            "m.room.encrypted"
        )
    finally:
        matrix._STRICT_ROOM_KEYS.reset(lenient)
    # l2's device has no Olm session and its one-time key was asked for: nothing to wait for.
    client.claimed.add(("@l2:localhost", "L2"))
    assert client.unshared_devices(room.room_id) == []
    session.users_shared_with.add(("@l2:localhost", "L2"))
    assert client.encrypt(room.room_id, "m.room.message", {"body": "x"})[0] == "m.room.encrypted"
