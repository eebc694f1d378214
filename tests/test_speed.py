"""Speed mechanisms that keep their guarantees: the next level's page never waits for the
escalation notice, and the notice still goes out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from consultbot.domain.types import UserId
from consultbot.ports import Content
from tests.support.bots import ACK_TIMEOUT, K2, NOW, Make, Messenger


@dataclass
class SlowNotices(Messenger):
    """The escalation notice hangs until released (a slow homeserver for that one send)."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    second_page: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        if "söker nivå 2" in content.text:
            await self.release.wait()
        event_id = await super().send(
            room, content, txn=txn, recipients=recipients, numbers=numbers
        )
        if len(self.pages()) >= 2:
            self.second_page.set()
        return event_id


async def test_the_next_level_is_paged_while_the_escalation_notice_is_still_on_its_way(
    make: Make,
) -> None:
    messenger = SlowNotices()
    bot = await make(messenger=messenger)
    _, room = await bot.ask()
    await bot.fire_at(NOW + ACK_TIMEOUT + timedelta(seconds=1), send=False)

    drain = asyncio.create_task(bot.flush())
    async with asyncio.timeout(5):
        await messenger.second_page.wait()
    [invite] = messenger.actions("invite")
    assert invite.room == room and invite.users == (K2,)
    assert not any("söker nivå 2" in text for text in messenger.said(room))

    messenger.release.set()
    await drain
    assert any("söker nivå 2" in text for text in messenger.said(room))
    assert len(messenger.pages()) == 2
