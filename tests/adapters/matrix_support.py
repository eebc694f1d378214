"""What the Matrix adapter's unit tests share: a bot and a nio client that reach no homeserver."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from nio import MatrixRoom

from consultbot.adapters.matrix.client import MatrixBot
from consultbot.adapters.matrix.nio_client import Client, client_config
from consultbot.adapters.memory import MemoryConsultStore
from consultbot.config import MatrixConfig

BOT = "@bot:localhost"


def offline_config(store_path: Path, user_id: str = BOT) -> MatrixConfig:
    """Settings for a bot whose homeserver address leads nowhere."""
    return MatrixConfig(
        homeserver="http://127.0.0.1:9",
        user_id=user_id,
        password="pw",
        store_path=store_path,
        pickle_key="k",
    )


def offline_bot(store_path: Path, user_id: str = BOT) -> MatrixBot:
    """A MatrixBot over an in-memory store, not logged in."""
    return MatrixBot(offline_config(store_path, user_id), MemoryConsultStore())


def logged_in_client(store_path: Path, user_id: str = BOT) -> Client:
    """The bot's patched nio client with a device and a crypto store, as after login."""
    config = offline_config(store_path, user_id)
    client = Client(
        config.homeserver, user_id, store_path=str(store_path), config=client_config(config)
    )
    client.restore_login(user_id, "BOTDEVICE", "token")
    return client


def with_room(b: MatrixBot, room_id: str = "!room:localhost") -> None:
    """The bot knows one room, a direct chat a doctor opened (encrypted, both on localhost)."""
    room = MatrixRoom(room_id, b.user_id, encrypted=True)
    for user in ("@doc:localhost", b.user_id):
        room.add_member(user, None, None)
    b.session.client = SimpleNamespace(rooms={room_id: room})  # type: ignore[assignment]
    b.rooms.creators[room_id] = "@doc:localhost"
