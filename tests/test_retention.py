"""Retention (issue 13): closed consult rooms are left after 30 days, old metadata is purged.

In-memory and SQLite consult stores, a manual clock and manual timers (tests/support/bots.py):
the nightly run happens when a test fires its timers, never by waiting.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from consultbot.config import parse_config
from consultbot.domain.consult.retention import LEAVE_AFTER, START_DELAY, next_run
from consultbot.domain.consult.stats import aggregate
from consultbot.domain.errors import ConfigError
from consultbot.domain.types import ConsultId
from tests.support.bots import ASK, K1A, NOW, REQ, TZ, Bot, Make

DAY = timedelta(days=1)


async def finish_runs(bot: Bot) -> None:
    """Wait for the retention runs started in the background, then send what they queued."""
    running = [t for t in bot.service.tasks.running if t.get_name() == "retention"]
    async with asyncio.timeout(10):
        await asyncio.gather(*running)
    await bot.flush()


async def closed_consult(bot: Bot) -> tuple[ConsultId, str]:
    """Asked now, acknowledged by level 1 and closed with `råd`: the consult and its room."""
    consult, room = await bot.ask(ASK)
    await bot.react(K1A, "✅", room, bot.messenger.pages()[-1].event_id)
    await bot.say(K1A, "!avsluta råd", room)
    await bot.flush()
    return consult, room


def left(bot: Bot) -> list[str]:
    return [s.room for s in bot.messenger.actions("leave")]


async def test_a_room_closed_a_month_ago_is_left_once_and_one_closed_yesterday_kept(
    make: Make,
) -> None:
    bot = await make()  # level 1 on duty from yesterday until three days from now
    _, first_room = await closed_consult(bot)
    bot.clock.current = NOW + 2 * DAY
    _, second_room = await closed_consult(bot)

    bot.clock.current = NOW + 31 * DAY  # the first closed 31 days ago, the second 29
    bot.service.retention.start()
    await finish_runs(bot)
    assert left(bot) == []  # a restart's catch-up goes first: the run is a minute later
    await bot.timers.fire_until(bot.clock.current + START_DELAY)
    await finish_runs(bot)
    assert left(bot) == [first_room]

    # Each night again: the second is left when its 30 days are up, the first never again.
    for night in range(32, 36):
        bot.clock.current = NOW + night * DAY
        await bot.timers.fire_until(bot.clock.current)
        await finish_runs(bot)
    assert left(bot) == [first_room, second_room]


async def test_the_nightly_run_is_at_half_past_three_local_time(bot: Bot) -> None:
    bot.service.retention.start()
    await bot.timers.fire_until(NOW + START_DELAY)
    await finish_runs(bot)
    at, _ = bot.timers.due["retention"]
    assert at == next_run(NOW, TZ)
    assert at.astimezone(TZ).strftime("%Y-%m-%d %H:%M") == "2026-11-24 03:30"


async def test_old_consults_are_purged_after_their_room_is_left_and_statistics_stay(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make()
    done, room = await closed_consult(bot)
    still_open, _ = await bot.ask(ASK)  # asked, never acknowledged nor closed
    day = date(2026, 11, 23)
    before = aggregate(await bot.consults.stats_table(NOW, NOW + DAY), day, day)

    bot.clock.current = NOW + 731 * DAY
    caplog.set_level(logging.INFO, logger="consultbot.engine.retention")
    first = await bot.service.retention.run_once()  # leaves the room; purges nothing yet
    assert first.left == 1 and first.purged.consults == 0
    await bot.flush()
    assert left(bot) == [room]
    second = await bot.service.retention.run_once()
    assert second.purged.consults == 1 and second.purged.events > 0

    assert await bot.consults.consult(done) is None
    assert await bot.consults.consult_for_room(room) is None
    assert [c.id for c in await bot.consults.consults_of(REQ, open_only=False)] == [still_open]
    after = aggregate(await bot.consults.stats_table(NOW, NOW + DAY), day, day)
    assert after == before and after["consults"] == 2
    # The log holds counts only: no person, no room, no consult number.
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "purged 1 consults" in logged
    for trace in (REQ, K1A, room, done, "!dm"):
        assert trace not in logged


async def test_an_open_consult_is_never_left_nor_purged(bot: Bot) -> None:
    consult, room = await bot.ask(ASK)
    await bot.react(K1A, "✅", room, bot.messenger.pages()[-1].event_id)  # acknowledged, open
    bot.clock.current = NOW + 3000 * DAY
    run = await bot.service.retention.run_once()
    assert (run.left, run.purged.consults) == (0, 0)
    assert await bot.consults.consult(consult) is not None


def config_with(retention: object) -> None:
    data = {
        "matrix": {
            "homeserver": "http://127.0.0.1:8008",
            "user_id": "@konsultbot:localhost",
            "password": "secret",
        },
        "bot": {"retention_days": retention},
    }
    parse_config(data, Path("config.toml"), {})


@pytest.mark.parametrize("bad", [0, -5, "730", 1.5, True])
def test_a_bad_retention_days_is_one_clear_message(bad: object) -> None:
    with pytest.raises(ConfigError) as raised:
        config_with(bad)
    message = str(raised.value)
    assert "retention_days" in message and "config.toml" in message
    assert len(message.splitlines()) == 1


def test_retention_days_defaults_to_two_years() -> None:
    data = {
        "matrix": {
            "homeserver": "http://127.0.0.1:8008",
            "user_id": "@b:localhost",
            "password": "x",
        },
        "bot": {},
    }
    config = parse_config(data, Path("config.toml"), {})
    assert config.bot.retention_days == 730
    assert timedelta(days=30) == LEAVE_AFTER


def test_next_run_is_tomorrow_after_the_hour_and_today_before_it() -> None:
    early = datetime(2026, 11, 23, 1, 0, tzinfo=TZ)
    late = datetime(2026, 11, 23, 4, 0, tzinfo=TZ)
    assert next_run(early, TZ) == datetime(2026, 11, 23, 3, 30, tzinfo=TZ)
    assert next_run(late, TZ) == datetime(2026, 11, 24, 3, 30, tzinfo=TZ)
    # Across the change to winter time the hour is still 03:30 local.
    assert next_run(datetime(2026, 10, 24, 12, 0, tzinfo=TZ), TZ).astimezone(TZ).hour == 3


async def test_question_texts_of_closed_consults_leave_memory_at_the_nightly_run(bot: Bot) -> None:
    done, _ = await closed_consult(bot)
    still_open, _ = await bot.ask(ASK)
    held = bot.service.questions._texts  # memory only, never the database
    assert set(held) == {done, still_open}
    await bot.service.retention.run_once()
    assert set(held) == {still_open}
    # Read again from the requester's message if it is ever needed (after a restart too).
    consult = await bot.consults.consult(done)
    assert consult is not None and await bot.service.questions.text(consult) is None
