"""Repeated pages through the whole service, on every store (issue 24 item 1): a page nobody
acknowledged is sent again as a new message that mentions the people of the level, at
`repeat_share` of the timeout; never after the level acknowledged, never twice, not lost by a
restart; `stats` counts the consults acknowledged after a repeat."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from consultbot.domain.consult.stats import aggregate
from consultbot.domain.types import ConsultId
from tests.support.bots import (
    ACK_TIMEOUT,
    ASK,
    K1A,
    K1B,
    K2,
    NOW,
    REQ,
    Bot,
    Make,
    Messenger,
    Open,
    Sent,
    build,
    crash,
    make_config,
)

CONSULT = ConsultId("K-000001")
HALF = ACK_TIMEOUT / 2
CONFIG = make_config(repeat_share=0.5)


def repeats(messenger: Messenger) -> list[Sent]:
    """The repeated pages sent: notifying messages that are not the page itself."""
    return [
        s
        for s in messenger.pages()
        if s.content is not None and s.content.text.startswith("Påminnelse:")
    ]


async def test_an_unacknowledged_page_is_repeated_once_to_its_level_before_it_escalates(
    make: Make,
) -> None:
    bot = await make(config=CONFIG)
    consult, room = await bot.ask()
    assert await bot.fire_at(NOW + HALF - timedelta(seconds=1)) == 0
    assert repeats(bot.messenger) == []
    await bot.fire_at(NOW + HALF)
    [repeat] = repeats(bot.messenger)
    assert repeat.room == room and repeat.content is not None
    assert set(repeat.content.mentions) == {K1A, K1B} and not repeat.content.notice
    assert "konsultation K-000001" in repeat.content.text and "väntar på kvittens" in (
        repeat.content.text
    )
    assert f'href="https://matrix.to/#/{K1A}"' in repeat.content.html  # the pill
    assert (await bot.kinds(consult)).count("repeated") == 1
    # Once: the next timer is the deadline, which pages level 2 as before.
    await bot.fire_at(NOW + HALF + timedelta(seconds=10))
    assert len(repeats(bot.messenger)) == 1 and (await bot.kinds(consult)).count("paged") == 1
    await bot.fire_at(NOW + ACK_TIMEOUT)
    assert (await bot.kinds(consult)).count("paged") == 2
    # Level 2's own repeat, to level 2 only.
    await bot.fire_at(NOW + ACK_TIMEOUT + HALF)
    assert [set(r.content.mentions) for r in repeats(bot.messenger) if r.content] == [
        {K1A, K1B},
        {K2},
    ]


async def test_no_repeat_after_the_level_acknowledged(make: Make) -> None:
    bot = await make(config=CONFIG)
    consult, room = await bot.ask()
    await bot.say(K1A, "!kvittera", room)
    await bot.flush()
    await bot.fire_at(NOW + ACK_TIMEOUT * 2)
    assert repeats(bot.messenger) == []
    assert "repeated" not in await bot.kinds(consult)


async def test_a_repeat_overtaken_by_an_acknowledgement_is_not_sent(make: Make) -> None:
    bot = await make(config=CONFIG)
    consult, room = await bot.ask()
    await bot.fire_at(NOW + HALF, send=False)  # recorded, still in the outbox
    assert (await bot.kinds(consult)).count("repeated") == 1
    await bot.say(K1A, "!kvittera", room)
    await bot.flush()
    assert repeats(bot.messenger) == []


async def test_no_repeat_when_the_track_turns_it_off(make: Make) -> None:
    bot = await make(config=make_config(repeat_share=0))
    consult, _ = await bot.ask()
    assert bot.timers.due[consult][0] == NOW + ACK_TIMEOUT
    await bot.fire_at(NOW + ACK_TIMEOUT - timedelta(seconds=1))
    assert repeats(bot.messenger) == []


async def test_stats_count_the_consults_acknowledged_after_a_repeat(make: Make) -> None:
    bot = await make(config=CONFIG)
    consult, room = await bot.ask()
    await bot.fire_at(NOW + HALF)
    await bot.say(K1B, "!kvittera", room)
    await bot.flush()
    # A second consult acknowledged before any repeat is not counted.
    await bot.say(REQ, ASK.replace("förmaksflimmer", "fladder"))
    await bot.flush()
    second = next(c for c in await bot.consults.consults_of(REQ) if c.id != consult)
    await bot.say(K1A, "!kvittera", second.room)
    await bot.flush()
    await bot.fire_at(NOW + ACK_TIMEOUT * 3)
    table = await bot.consults.stats_table(NOW - timedelta(days=1), NOW + timedelta(days=1))
    report = aggregate(table, NOW.date(), NOW.date())
    assert report["acknowledged"] == 2
    assert report["acknowledged_after_repeat"] == 1
    assert report["by_track"]["halvakut"]["acknowledged_after_repeat"] == 1
    assert report["by_service"]["kardiologi"]["acknowledged_after_repeat"] == 1


# --------------------------------------------------------------------------------------------
# A restart


async def restarted(open_db: Open, path: Path, old: Bot, messenger: Messenger) -> Bot:
    bot = await build(
        await open_db(path), data=old.data, messenger=messenger, clock=old.clock, config=CONFIG
    )
    await bot.service.start()
    return bot


async def test_a_repeat_due_while_down_is_sent_once_at_start(tmp_path: Path, open_db: Open) -> None:
    path = tmp_path / "consultbot.db"
    homeserver = Messenger()
    first = await build(await open_db(path), messenger=homeserver, config=CONFIG)
    await first.ask()
    await crash(first)
    first.clock.advance(HALF + timedelta(seconds=5))  # down past the repeat, not the deadline

    second = await restarted(open_db, path, first, homeserver)
    assert (await second.kinds(CONSULT)).count("repeated") == 1  # fired by the start itself
    await second.flush()
    assert len(repeats(homeserver)) == 1
    assert second.timers.due[CONSULT][0] == NOW + ACK_TIMEOUT  # next: the deadline
    await crash(second)

    third = await restarted(open_db, path, second, homeserver)
    await third.flush()
    assert len(repeats(homeserver)) == 1
    assert (await third.kinds(CONSULT)).count("repeated") == 1


async def test_a_repeat_sent_but_not_marked_before_a_crash_is_not_doubled(
    tmp_path: Path, open_db: Open
) -> None:
    path = tmp_path / "consultbot.db"
    homeserver = Messenger()
    first = await build(await open_db(path), messenger=homeserver, config=CONFIG)
    await first.ask()
    await first.fire_at(NOW + HALF, send=False)
    [item] = await first.consults.pending()
    assert item.payload["type"] == "RepeatPage"
    await first.service.dispatcher.deliver(item)  # out, but the kill comes before it is marked
    assert len(repeats(homeserver)) == 1
    await crash(first)

    second = await restarted(open_db, path, first, homeserver)
    [again] = await second.consults.pending()
    assert again.txn == item.txn  # the same transaction id: the homeserver takes it once
    await second.flush()
    assert len(repeats(homeserver)) == 1
    assert await second.consults.pending() == []
