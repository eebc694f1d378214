"""The embedded Synapse works end to end: registration, login, E2EE messaging, restart."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp
import pytest
from nio import (
    AsyncClient,
    JoinResponse,
    MatrixRoom,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)
from nio.api import RoomPreset

from consultbot.adapters.synapse import EmbeddedHomeserver, HomeserverError

if TYPE_CHECKING:
    from .conftest import NewUser, NioClientFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SYNC_TIMEOUT = 30.0


async def sync_until(client: AsyncClient, done: Callable[[], bool]) -> None:
    """Sync (long-polling) and do the crypto chores until ``done()`` holds."""
    async with asyncio.timeout(SYNC_TIMEOUT):
        while not done():
            response = await client.sync(timeout=1000)
            assert isinstance(response, SyncResponse), response
            # The chores sync_forever would do: without them no keys move.
            await client.send_to_device_messages()
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())


async def test_encrypted_direct_message_is_delivered_and_decrypted(
    new_user: NewUser, nio_client: NioClientFactory
) -> None:
    alice_id, alice_password = await new_user()
    bob_id, bob_password = await new_user()
    alice = await nio_client(alice_id, alice_password)
    bob = await nio_client(bob_id, bob_password)

    received: list[RoomMessageText] = []
    undecrypted: list[MegolmEvent] = []

    async def on_message(room: MatrixRoom, event: RoomMessageText | MegolmEvent) -> None:
        if isinstance(event, MegolmEvent):
            undecrypted.append(event)
        else:
            received.append(event)

    bob.add_event_callback(on_message, (RoomMessageText, MegolmEvent))

    created = await alice.room_create(
        is_direct=True,
        preset=RoomPreset.trusted_private_chat,
        invite=[bob_id],
        initial_state=[
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ],
    )
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id

    await sync_until(bob, lambda: room_id in bob.invited_rooms)
    joined = await bob.join(room_id)
    assert isinstance(joined, JoinResponse), joined
    await sync_until(bob, lambda: room_id in bob.rooms)
    # Share the room key only once Alice's client has seen Bob join (see MATRIX-NOTES).
    await sync_until(alice, lambda: room_id in alice.rooms and bob_id in alice.rooms[room_id].users)
    assert alice.rooms[room_id].encrypted

    body = f"Hej, kan du titta på en patient? {uuid.uuid4()}"
    sent = await alice.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": body},
        ignore_unverified_devices=True,
    )
    assert isinstance(sent, RoomSendResponse), sent

    def delivered() -> bool:
        # A megolm event that came before its key can be decrypted once the key is in.
        for event in list(undecrypted):
            decrypted = bob.decrypt_event(event)
            if isinstance(decrypted, RoomMessageText):
                undecrypted.remove(event)
                received.append(decrypted)
        return any(event.body == body for event in received)

    await sync_until(bob, delivered)
    message = next(event for event in received if event.body == body)
    assert message.sender == alice_id
    assert message.decrypted
    assert bob.rooms[room_id].encrypted


async def test_register_user_is_idempotent(homeserver: EmbeddedHomeserver) -> None:
    localpart = f"again-{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(16)

    first = await homeserver.register_user(localpart, password, displayname="Första")
    second = await homeserver.register_user(localpart, "another password")

    assert first == second == f"@{localpart}:{homeserver.server_name}"
    assert await homeserver.login(localpart, password)  # the first password still holds
    with pytest.raises(HomeserverError, match="M_FORBIDDEN"):
        await homeserver.login(localpart, "another password")


async def test_exempt_from_rate_limits(homeserver: EmbeddedHomeserver, new_user: NewUser) -> None:
    admin_password = secrets.token_urlsafe(16)
    admin_id = await homeserver.register_user(
        f"admin-{uuid.uuid4().hex[:12]}", admin_password, admin=True
    )
    token = await homeserver.login(admin_id, admin_password)
    bot_id, _ = await new_user()

    await homeserver.exempt_from_rate_limits(bot_id, token)

    url = f"{homeserver.url}/_synapse/admin/v1/users/{quote(bot_id, safe='')}/override_ratelimit"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        assert response.status == 200
        assert await response.json() == {"messages_per_second": 0, "burst_count": 0}


async def test_exempt_from_rate_limits_needs_an_admin(
    homeserver: EmbeddedHomeserver, new_user: NewUser
) -> None:
    user_id, password = await new_user()
    token = await homeserver.login(user_id, password)

    with pytest.raises(HomeserverError, match="HTTP 403"):
        await homeserver.exempt_from_rate_limits(user_id, token)


async def test_port_in_use_is_reported(
    homeserver: EmbeddedHomeserver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = int(homeserver.url.rsplit(":", 1)[1])
    other = EmbeddedHomeserver(data_dir=tmp_path_factory.mktemp("other"), port=port)

    with pytest.raises(HomeserverError, match=f"port {port} .* already in use"):
        await other.start()
    await other.stop()


async def test_restart_keeps_users(homeserver: EmbeddedHomeserver, new_user: NewUser) -> None:
    user_id, password = await new_user()

    await homeserver.restart()

    assert homeserver.running
    assert await homeserver.login(user_id, password)
