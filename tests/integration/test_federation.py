"""The loopback federation the security tests stand on: people from another server."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest

from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def person(server: EmbeddedHomeserver, folder: Path) -> MatrixUser:
    password = secrets.token_urlsafe(12)
    user_id = await server.register_user(f"p-{uuid.uuid4().hex[:10]}", password)
    user = MatrixUser(server.url, user_id, password, folder / user_id.split(":")[0][1:])
    await user.start()
    return user


async def test_someone_on_another_server_can_be_invited_and_sees_the_invite(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver], tmp_path: Path
) -> None:
    region, other = federation
    anna, eve = await person(region, tmp_path), await person(other, tmp_path)
    try:
        assert anna.user_id.endswith(f":{region.server_name}")
        assert eve.user_id.endswith(f":{other.server_name}")
        room = await anna.create_dm(eve.user_id, wait=False)
        invite = await eve.wait_for(lambda s: s.kind == "invite" and s.room == room, 30)
        assert invite.sender == anna.user_id
    finally:
        await anna.close()
        await eve.close()
