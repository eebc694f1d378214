"""The embedded Synapse works end to end: registration, login, E2EE messaging, restart."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp
import pytest

from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.devkit.synapse_config import HomeserverError

if TYPE_CHECKING:
    from .conftest import MatrixUserFactory, NewUser

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SYNC_TIMEOUT = 30.0


async def test_encrypted_direct_message_is_delivered_and_decrypted(
    new_user: NewUser, matrix_user: MatrixUserFactory
) -> None:
    alice_id, alice_password = await new_user()
    bob_id, bob_password = await new_user()
    alice = await matrix_user(alice_id, alice_password)
    bob = await matrix_user(bob_id, bob_password)

    room_id = await alice.create_dm(bob_id, wait=False)
    await bob.wait_for(lambda s: s.kind == "invite" and s.room == room_id, SYNC_TIMEOUT)
    await bob.join(room_id)
    # Share the room key only once Alice's client has seen Bob join (see MATRIX-NOTES).
    await alice.wait_until(
        lambda: room_id in alice.client.rooms and bob_id in alice.client.rooms[room_id].users,
        SYNC_TIMEOUT,
    )
    assert alice.client.rooms[room_id].encrypted

    body = f"Hej, kan du titta på en patient? {uuid.uuid4()}"
    await alice.send_text(room_id, body)

    # A message that came before its key is decrypted once the key is in (MatrixUser).
    message = await bob.wait_for(lambda s: s.kind == "message" and s.body == body, SYNC_TIMEOUT)
    assert message.sender == alice_id
    assert message.encrypted
    assert bob.client.rooms[room_id].encrypted


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
