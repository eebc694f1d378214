"""Calendar feeds by chat on a real Synapse: the secret address only where the admin is alone
with the bot; a hostile user can neither make nor revoke a feed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.duty.feeds import token_hash

from .harness import world

pytestmark = [pytest.mark.integration]

ADDRESS = re.compile(r"/feed/([A-Za-z0-9_-]{43})\.ics")


async def test_the_address_only_in_a_direct_chat_and_never_for_a_non_admin(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "l1", "admin", "other") as w:
        admin, other = w.people["admin"], w.people["other"]
        config = w.config(ack_timeout=600, admins=[admin.user_id])
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config) as bot:

            def from_bot(room: str, text: str):  # type: ignore[no-untyped-def]
                return lambda s: s.room == room and s.sender == w.bot_id and text in s.body

            a, o = admin.c, other.c
            dm = await a.create_dm(w.bot_id)
            await a.send_text(dm, "!kalender skapa kardiologi")
            made = await a.wait_for(from_bot(dm, "/feed/"), 30)
            found = ADDRESS.search(made.body)
            assert found is not None
            [feed] = await bot.store.feeds()
            assert feed.token_hash == token_hash(found[1])

            # A hostile user in their own direct chat: refused, logged, nothing changes.
            own = await o.create_dm(w.bot_id)
            await o.send_text(own, "!kalender återkalla 1")
            await o.wait_for(from_bot(own, "administratörer"), 30)
            await o.send_text(own, "!kalender skapa kardiologi")
            refused = from_bot(own, "administratörer")
            await o.wait_until(lambda: sum(1 for s in o.seen if refused(s)) >= 2)
            assert await bot.store.feeds() == [feed]

            # The admin's chat with someone else in it: no address is given there.
            await a.client.room_invite(dm, other.user_id)
            await o.join(dm)
            await a.send_text(dm, "!kalender skapa kardiologi")
            await a.wait_for(from_bot(dm, "adminrummet eller i ett direktmeddelande"), 30)
            assert await bot.store.feeds() == [feed]
            assert not any(ADDRESS.search(s.body) for s in o.seen if s.room == dm)
            actions = [(x.actor, x.action, x.allowed) for x in await bot.store.admin_actions()]
            assert actions == [
                (admin.user_id, "feed_create", True),
                (other.user_id, "feed_revoke", False),
                (other.user_id, "feed_create", False),
            ]
