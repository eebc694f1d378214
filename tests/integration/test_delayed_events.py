"""MSC4140 delayed events on the development homeserver, as the bot's "Konsultboten svarar
inte" notice will use them: offered and advertised; a plain m.notice is posted by the
homeserver when its delay runs out, a restart postpones it, a cancel prevents it, and another
device of the same user (a standby) can manage it. tools/delayed_events_probe.py measures more
(encrypted delayed events, logout, Synapse restarts, limits); docs/delayed-events-findings.md.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import pytest

from consultbot.devkit.synapse import EmbeddedHomeserver

if TYPE_CHECKING:
    from .conftest import MatrixUserFactory, NewUser

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

UNSTABLE = "/_matrix/client/unstable/org.matrix.msc4140"
DELAY_MS = 3000


async def call(
    homeserver: EmbeddedHomeserver,
    method: str,
    path: str,
    token: str | None,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.request(
            method, homeserver.url + path, json=body, params=params, headers=headers
        ) as response,
    ):
        data = await response.json(content_type=None)
        return response.status, data if isinstance(data, dict) else {}


async def schedule(homeserver: EmbeddedHomeserver, token: str, room: str, body: str) -> str:
    path = f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}"
    status, answer = await call(
        homeserver,
        "PUT",
        path,
        token,
        {"msgtype": "m.notice", "body": body},
        params={"org.matrix.msc4140.delay": str(DELAY_MS)},
    )
    assert status == 200, answer
    return str(answer["delay_id"])


async def manage(homeserver: EmbeddedHomeserver, token: str, delay_id: str, action: str) -> int:
    path = f"{UNSTABLE}/delayed_events/{quote(delay_id)}"
    status, _ = await call(homeserver, "POST", path, token, {"action": action})
    return status


async def test_the_dev_homeserver_advertises_delayed_events(
    homeserver: EmbeddedHomeserver,
) -> None:
    status, versions = await call(homeserver, "GET", "/_matrix/client/versions", None)
    assert status == 200
    assert versions["unstable_features"].get("org.matrix.msc4140") is True


async def test_a_delayed_notice_is_posted_unless_restarted_or_cancelled(
    homeserver: EmbeddedHomeserver, new_user: NewUser, matrix_user: MatrixUserFactory
) -> None:
    bot_id, bot_password = await new_user()
    member_id, member_password = await new_user()
    bot = await matrix_user(bot_id, bot_password)
    member = await matrix_user(member_id, member_password)
    room = await bot.create_dm(member_id, wait=False)
    await member.wait_for(lambda s: s.kind == "invite" and s.room == room, 30)
    await member.join(room)
    token = bot.client.access_token
    standby = await homeserver.login(bot_id, bot_password)  # another device, same user

    tag = uuid.uuid4().hex[:6]
    plain = await schedule(homeserver, token, room, f"plain {tag}")
    restarted = await schedule(homeserver, token, room, f"restarted {tag}")
    cancelled = await schedule(homeserver, token, room, f"cancelled {tag}")
    by_standby = await schedule(homeserver, token, room, f"standby-cancelled {tag}")
    scheduled = time.monotonic()

    status, listing = await call(homeserver, "GET", f"{UNSTABLE}/delayed_events", standby)
    assert status == 200
    listed = {event["delay_id"] for event in listing["delayed_events"]}
    assert {plain, restarted, cancelled, by_standby} <= listed

    assert await manage(homeserver, token, cancelled, "cancel") == 200
    assert await manage(homeserver, standby, by_standby, "cancel") == 200
    await asyncio.sleep(DELAY_MS / 2000)
    assert await manage(homeserver, standby, restarted, "restart") == 200
    restarted_at = time.monotonic()

    def seen(body: str) -> Any:
        return lambda s: s.kind == "message" and s.room == room and s.body == body

    posted = await member.wait_for(seen(f"plain {tag}"), 30)
    assert posted.sender == bot_id and posted.msgtype == "m.notice" and not posted.encrypted
    assert time.monotonic() - scheduled >= DELAY_MS / 1000 - 0.5
    await member.wait_for(seen(f"restarted {tag}"), 30)
    assert time.monotonic() - restarted_at >= DELAY_MS / 1000 - 0.5
    await asyncio.sleep(1)
    assert not any(s.room == room and tag in s.body and "cancelled" in s.body for s in member.seen)
    # Sent or cancelled, none is left; a restart of a sent one is refused.
    assert await manage(homeserver, token, plain, "restart") == 404
    status, listing = await call(homeserver, "GET", f"{UNSTABLE}/delayed_events", token)
    assert not {plain, restarted, cancelled, by_standby} & {
        event["delay_id"] for event in listing["delayed_events"]
    }
