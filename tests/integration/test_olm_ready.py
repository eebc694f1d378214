"""Olm sessions with the on-duty consultants' devices before their first page, on a real Synapse
(adapters/matrix/olm_ready.py, issue 24 item 4).

A consultant the bot shares no room with gets an Olm session with each device ahead of any
page (their device sets up its side at once), so their first page claims no one-time key. The
homeserver tells the bot nothing of the devices of someone it shares no room with: a phone the
consultant logs in afterwards must still get the page's room key, because the page's room
makes the bot ask for their devices afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import UserId

from .harness import world
from .test_room_keys import started, stopped, text

pytestmark = [pytest.mark.integration]


async def test_a_first_page_after_preparing_claims_only_for_a_phone_logged_in_since(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "l1") as w:
        l1 = w.people["l1"]
        consultant = UserId(l1.user_id)
        bot, running = await started(w.config().matrix)
        phone: MatrixUser | None = None
        try:
            nio = bot.session.nio
            bot_key = nio.olm.account.identity_keys["curve25519"]
            assert await bot.prepare([consultant]) == 1  # their one device
            # Their device set up its side of the session (the bot's m.dummy arrived).
            await l1.c.wait_until(lambda: l1.c.client.olm.session_store.get(bot_key) is not None)
            assert consultant not in nio.olm.tracked_users  # no room shared: no device updates
            assert await bot.prepare([consultant]) == 0  # ready already

            phone = MatrixUser(homeserver.url, l1.user_id, l1.password, tmp_path / "phone")
            await phone.start()
            claims: list[dict[str, list[str]]] = []
            claim = nio.keys_claim

            async def counted(users: dict[str, list[str]]) -> Any:
                claims.append(users)
                return await claim(users)

            nio.keys_claim = counted  # type: ignore[method-assign]
            room = await bot.create_pool_room()
            await bot.fill_room(room, invite=[consultant])
            # As in a consult: the page goes out before they join (a join would tell the bot
            # of their devices anew; the page must not depend on it).
            page = await bot.send(
                room, text("sida", notice=False), txn="p1", recipients=(consultant,)
            )
            await l1.c.join(room)
            for device in (l1.c, phone):
                await device.wait_for(lambda s: s.event_id == page and s.kind == "message", 30)
            claimed = [d for users in claims for d in users.get(l1.user_id, [])]
            assert claimed == [phone.client.device_id]
        finally:
            if phone is not None:
                await phone.close()
            await stopped(bot, running)
