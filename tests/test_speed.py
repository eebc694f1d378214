"""Speed mechanisms that keep their guarantees: the next level's page never waits for the
escalation notice, and the notice still goes out; the page goes before the bookkeeping, which
still goes out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from consultbot.domain.consult.effects import EffectKind
from consultbot.domain.types import UserId
from consultbot.engine.delivery import lanes, outbox
from consultbot.ports import Content, OutboxItem
from tests.support.bots import ACK_TIMEOUT, ASK, DM, K2, NOW, REQ, HungPages, Make, Messenger


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
    [invite] = messenger.escalation_invites()
    assert invite.room == room and invite.users == (K2,)
    assert not any("söker nivå 2" in text for text in messenger.said(room))

    messenger.release.set()
    await drain
    assert any("söker nivå 2" in text for text in messenger.said(room))
    assert len(messenger.pages()) == 2


async def test_the_requesters_reply_waits_for_the_page(make: Make) -> None:
    """In a rush the homeserver gets the page first: the confirmation in the requester's
    chat follows it, not the other way round."""
    messenger = HungPages()
    bot = await make(messenger=messenger)
    await bot.say(REQ, ASK)
    drain = asyncio.create_task(bot.flush())
    async with asyncio.timeout(5):
        await messenger.paging.wait()
    await asyncio.sleep(0.3)  # time enough for a reply that did not wait to go out
    assert messenger.said(DM) == []
    assert messenger.actions("invite") == []  # nor the requester's invite into the room

    messenger.release.set()
    await drain
    [page] = messenger.pages()
    [reply] = messenger.sends(DM)
    [invite] = messenger.actions("invite")
    assert invite.users == (REQ,)
    assert messenger.log.index(page) < messenger.log.index(reply)
    assert messenger.log.index(page) < messenger.log.index(invite)


async def test_a_page_that_does_not_go_out_holds_the_reply_back_only_briefly(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page the homeserver will not take does not keep the requester waiting for their
    confirmation: it goes out after `CONFIRMATION_SECONDS` (any other reply after
    `PAGES_FIRST_SECONDS`)."""
    monkeypatch.setattr(outbox, "CONFIRMATION_SECONDS", 0.2)
    messenger = HungPages()
    bot = await make(messenger=messenger)
    await bot.say(REQ, ASK)
    drain = asyncio.create_task(bot.flush())
    try:
        async with asyncio.timeout(5):
            while not messenger.said(DM):  # noqa: ASYNC110 (the reply has no event to wait on)
                await asyncio.sleep(0.05)
        assert messenger.pages() == []  # the page still hangs
    finally:
        messenger.release.set()
        await drain


async def test_in_a_rush_each_outbox_entry_is_decoded_once_not_once_per_waiting_lane(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a rush hundreds of lanes wait (replies for the pages, invites for their page) and
    each looks at the outbox again after every send. What an entry is (its kind, its lane) is
    worked out once: the bot's loop is not spent on it again and again while the rush's
    requests and pages wait behind it (a quadratic cost in a burst of 50, BENCHMARKS.md)."""
    decoded: Counter[int] = Counter()
    decode = lanes.effect_kind

    def counted(item: OutboxItem) -> EffectKind | None:
        decoded[item.id] += 1
        return decode(item)

    monkeypatch.setattr(lanes, "effect_kind", counted)
    messenger = HungPages()
    bot = await make(messenger=messenger)
    requesters = [UserId(f"@doktor{n}:localhost") for n in range(20)]
    for requester in requesters:
        await bot.say(requester, ASK, room=f"!dm-{requester[1:]}", direct=True)
    drain = asyncio.create_task(bot.flush())
    async with asyncio.timeout(5):
        await messenger.paging.wait()
    messenger.release.set()
    await drain

    assert len(messenger.pages()) == len(requesters)
    assert len(messenger.actions("invite")) == len(requesters)  # the requesters let in
    assert len(decoded) >= 4 * len(requesters)  # room, page, invite, reply of each consult
    assert max(decoded.values()) == 1, decoded.most_common(3)
