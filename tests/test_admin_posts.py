"""Admins in chat: `!statistik`, the monthly report, the Monday coverage check, unanswered alerts.

In-memory and SQLite consult stores, a manual clock and manual timers (tests/support/bots.py):
the schedule runs when a test fires its timers, never by waiting.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image

from consultbot.adapters.memory import ManualClock, MemoryConsultStore
from consultbot.domain.duty.schedule import Post, due, following, latest
from consultbot.domain.types import ServiceId, UserId
from consultbot.text.report import CHART_SIZE
from tests.support.bots import (
    ACK_TIMEOUT,
    ADMIN_ROOM,
    ASK,
    DM,
    K1A,
    NOW,
    QUESTION,
    REQ,
    TZ,
    Bot,
    Make,
    Messenger,
    Open,
    build,
    crash,
    shift,
)

# The fixtures of the service tests: a bot per store (memory, SQLite), and SQLite files.

ADMIN = UserId("@admin:localhost")  # the config's one admin
ADMIN_DM = "!dm-admin:localhost"


def table_row(text: str, label: str) -> list[str]:
    """The cells of one row of the chat table (its rows of groups are indented)."""
    line = next(line for line in text.splitlines() if line.strip().startswith(label))
    return line.strip()[len(label) :].split()


async def closed_with_advice(bot: Bot) -> None:
    """One consult: asked, acknowledged by level 1, closed with `råd`."""
    _, room = await bot.ask()
    await bot.react(K1A, "✅", room, bot.messenger.pages()[0].event_id)
    await bot.say(K1A, "!avsluta råd", room)
    await bot.flush()


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image.size


# --------------------------------------------------------------------------------------------
# !statistik


async def test_statistik_by_an_admin_posts_the_table_and_the_chart_where_asked(
    make: Make,
) -> None:
    bot = await make()
    await closed_with_advice(bot)
    await bot.say(ADMIN, "!statistik", ADMIN_DM)
    await bot.flush()
    [table] = bot.messenger.sends(ADMIN_DM)
    [image] = bot.messenger.actions("image")
    assert image.room == ADMIN_DM and image.name == "statistik-2026-11.png"
    assert png_size(image.data) == CHART_SIZE
    assert table.content is not None and table.content.notice
    text = table.content.text
    assert "Uppföljning 2026-11-01 – 2026-11-30" in text
    # The plan's goals: this month, the one before, the change.
    assert table_row(text, "Remiss undviken (råd, specialistspår)") == ["1", "0", "+1"]
    assert table_row(text, "Andel obesvarade") == ["0,0", "%", "–", "–"]
    # Then a row per group: count, acknowledged, unanswered, median, referrals avoided, open.
    assert table_row(text, "Antal")[:2] == ["Kvitt.", "Obesv."]
    assert table_row(text, "Totalt")[:3] == ["1", "1", "0"]
    assert table_row(text, "halvakut")[:3] == ["1", "1", "0"]
    assert table_row(text, "Totalt")[-2:] == table_row(text, "halvakut")[-2:] == ["1", "0"]
    assert "<pre><code>" in table.content.html
    assert QUESTION not in text
    assert bot.messenger.log.index(image) > bot.messenger.log.index(table)  # table first


async def test_stats_for_a_named_month_in_english(make: Make) -> None:
    bot = await make()
    await closed_with_advice(bot)
    await bot.say(ADMIN, "!stats 2026-10", ADMIN_DM)
    await bot.flush()
    [table] = bot.messenger.said(ADMIN_DM)
    assert "Follow-up 2026-10-01 – 2026-10-31" in table
    assert "No consults in the period." in table
    [image] = bot.messenger.actions("image")
    assert image.name == "statistik-2026-10.png"


async def test_statistik_by_anyone_else_is_refused_without_numbers(make: Make) -> None:
    bot = await make()
    await closed_with_advice(bot)
    before = len(bot.messenger.log)
    await bot.say(REQ, "!statistik")
    await bot.say(K1A, "!stats 2026-11", DM)
    await bot.flush()
    said = [s.content.text for s in bot.messenger.log[before:] if s.content]
    assert said == ["!statistik är bara för administratörer.", "!stats is for administrators only."]
    assert bot.messenger.actions("image") == []


async def test_a_report_that_fails_to_send_is_retried_without_doubling(make: Make) -> None:
    bot = await make()
    await bot.say(ADMIN, "!statistik", ADMIN_DM)
    bot.messenger.fail_next = 1
    await bot.flush()
    assert len(bot.messenger.sends(ADMIN_DM)) == 1
    assert len(bot.messenger.actions("image")) == 1
    assert await bot.consults.pending() == []


# --------------------------------------------------------------------------------------------
# When the recurring posts are due (domain/schedule.py)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def test_the_monthly_report_is_due_on_the_first_at_seven_local_time() -> None:
    before = latest(Post.MONTHLY_REPORT, local(2026, 12, 1, 6, 59), TZ)
    at = latest(Post.MONTHLY_REPORT, local(2026, 12, 1, 7, 0), TZ)
    assert before.key == "report:2026-10" and at.key == "report:2026-11"
    assert at.at == local(2026, 12, 1, 7, 0)
    assert following(Post.MONTHLY_REPORT, local(2026, 12, 31, 23, 0), TZ).key == "report:2026-12"
    assert following(Post.MONTHLY_REPORT, local(2026, 12, 31, 23, 0), TZ).at == local(2027, 1, 1, 7)
    # Summer time: 07:00 local is 05:00 UTC.
    assert latest(Post.MONTHLY_REPORT, local(2026, 7, 1, 7, 0), TZ).at.hour == 5


def test_the_coverage_check_is_due_on_mondays_at_seven() -> None:
    sunday = local(2026, 11, 29, 23, 0)
    assert latest(Post.COVERAGE, sunday, TZ).key == "coverage:2026-11-23"
    assert following(Post.COVERAGE, sunday, TZ).at == local(2026, 11, 30, 7, 0)
    assert latest(Post.COVERAGE, local(2026, 11, 30, 7, 0), TZ).key == "coverage:2026-11-30"


def test_a_new_installation_posts_nothing_about_the_time_before_it() -> None:
    installed = local(2026, 11, 26, 12, 0)
    assert due(Post.MONTHLY_REPORT, installed, installed, TZ) is None
    assert due(Post.COVERAGE, installed, installed, TZ) is None
    later = local(2026, 12, 2, 9, 0)
    occurrence = due(Post.MONTHLY_REPORT, later, installed, TZ)
    assert occurrence is not None and occurrence.key == "report:2026-11"


# --------------------------------------------------------------------------------------------
# The monthly report


NOV_30 = local(2026, 11, 30, 12, 0)  # the bot runs on the last day of November
DEC_1_0700 = local(2026, 12, 1, 7, 0)


async def monthly_reports(bot: Bot, room: str) -> list[str]:
    return [t for t in bot.messenger.said(room) if "Månadsrapport" in t]


async def test_the_monthly_report_is_posted_on_the_first_at_seven(make: Make) -> None:
    bot = await make()
    bot.service.admin_room = ADMIN_ROOM
    await closed_with_advice(bot)
    bot.clock.current = NOV_30
    await bot.service.admin_posts.start()
    await bot.flush()
    assert bot.messenger.sends(ADMIN_ROOM) == []
    await bot.fire_at(DEC_1_0700 - timedelta(seconds=1))
    await bot.flush()
    assert bot.messenger.sends(ADMIN_ROOM) == []

    await bot.fire_at(DEC_1_0700)
    await bot.flush()
    [report] = await monthly_reports(bot, ADMIN_ROOM)
    assert "Månadsrapport för 2026-11" in report
    assert table_row(report, "Totalt")[:3] == ["1", "1", "0"]
    [image] = bot.messenger.actions("image")
    assert image.room == ADMIN_ROOM and png_size(image.data) == CHART_SIZE
    # Later the same day and the next: nothing again; the next one is due on 1 January.
    await bot.fire_at(DEC_1_0700 + timedelta(days=1))
    assert await bot.service.admin_posts.catch_up() == []
    await bot.flush()
    assert len(await monthly_reports(bot, ADMIN_ROOM)) == 1
    assert bot.timers.due["admin-report"][0] == local(2027, 1, 1, 7, 0)


async def test_without_an_admin_room_each_admin_gets_the_report_privately(make: Make) -> None:
    bot = await make(roster=[])
    bot.clock.current = NOV_30
    await bot.service.admin_posts.start()
    await bot.fire_at(DEC_1_0700)
    await bot.flush()
    [create] = bot.messenger.actions("create")
    assert create.users == (ADMIN,)
    assert len(await monthly_reports(bot, create.room)) == 1
    assert [i.room for i in bot.messenger.actions("image")] == [create.room]


async def test_the_report_the_bot_was_down_for_is_posted_at_start_once(
    tmp_path: Path, open_db: Open
) -> None:
    path = tmp_path / "consultbot.db"
    homeserver = Messenger()
    first = await build(await open_db(path), messenger=homeserver, clock=ManualClock(NOV_30))
    await first.service.admin_posts.start()
    await crash(first)  # down over 07:00 on the 1st

    second = await build(
        await open_db(path),
        data=first.data,
        messenger=homeserver,
        clock=ManualClock(DEC_1_0700 + timedelta(hours=2)),
    )
    second.service.admin_room = ADMIN_ROOM
    await second.service.start()
    await second.service.admin_posts.start()
    [item] = await second.consults.pending()  # queued at start, not yet sent
    await crash(second)  # ... and down again before it went out

    third = await build(
        await open_db(path),
        data=first.data,
        messenger=homeserver,
        clock=ManualClock(DEC_1_0700 + timedelta(hours=3)),
    )
    third.service.admin_room = ADMIN_ROOM
    await third.service.start()
    await third.service.admin_posts.start()
    [again] = await third.consults.pending()  # the same entry, not a second one
    assert again.txn == item.txn
    await third.flush()
    await third.service.admin_posts.start()  # and once more, after it went out
    await third.flush()
    assert len(await monthly_reports(third, ADMIN_ROOM)) == 1
    assert len(homeserver.actions("image")) == 1


async def test_a_report_sent_before_a_crash_but_not_marked_is_not_doubled(
    tmp_path: Path, open_db: Open
) -> None:
    """Sent to the homeserver, crash before `sent` was stored: the retry has the same txn."""
    path = tmp_path / "consultbot.db"
    homeserver = Messenger()
    first = await build(await open_db(path), messenger=homeserver, clock=ManualClock(NOV_30))
    first.service.admin_room = ADMIN_ROOM
    await first.service.admin_posts.start()
    await first.fire_at(DEC_1_0700, send=False)
    [item] = await first.consults.pending()
    await first.service.dispatcher.deliver(item)  # out, but not marked sent
    await crash(first)

    second = await build(
        await open_db(path), data=first.data, messenger=homeserver, clock=first.clock
    )
    second.service.admin_room = ADMIN_ROOM
    await second.service.start()
    await second.service.admin_posts.start()
    await second.flush()
    assert len(await monthly_reports(second, ADMIN_ROOM)) == 1
    assert len(homeserver.actions("image")) == 1


# --------------------------------------------------------------------------------------------
# The Monday coverage check


SUNDAY = local(2026, 11, 29, 12, 0)
MONDAY_0700 = local(2026, 11, 30, 7, 0)
HOLE = (local(2026, 12, 3, 12, 0), local(2026, 12, 3, 14, 0))


async def test_monday_morning_the_admins_get_the_level_one_gaps_of_14_days(make: Make) -> None:
    # Level 1 of kardiologi (always open) staffed for the whole fortnight but two hours;
    # Vårdcentralen Mora (weekdays 08–17) has no roster at all; level 2 does not count.
    far = MONDAY_0700 + timedelta(days=20)
    roster = [
        shift(1, K1A, "Karin Kardio", "070-111 11 11", SUNDAY, HOLE[0]),
        shift(1, K1A, "Karin Kardio", "070-111 11 11", HOLE[1], far),
        shift(2, UserId("@bertil:localhost"), "Bertil", "", HOLE[0], HOLE[1]),
    ]
    bot = await make(roster=roster, clock=ManualClock(SUNDAY))
    bot.service.admin_room = ADMIN_ROOM
    await bot.service.admin_posts.start()
    await bot.fire_at(MONDAY_0700)
    await bot.flush()
    [message] = bot.messenger.said(ADMIN_ROOM)
    lines = message.splitlines()
    assert lines[0].startswith("📅 Nivå 1 de kommande 14 dagarna (2026-11-30 kl. 07:00 –")
    assert (
        "• Kardiologi, Falu lasarett: ingen i nivå 1 2026-12-03 kl. 12:00 – 2026-12-03 kl. 14:00"
        in lines
    )
    mora = [line for line in lines if line.startswith("• Vårdcentralen Mora")]
    assert len(mora) == 10  # the weekdays from Monday 30 November to Friday 11 December
    assert (
        mora[0]
        == "• Vårdcentralen Mora: ingen i nivå 1 2026-11-30 kl. 08:00 – 2026-11-30 kl. 17:00"
    )
    # Once a week: firing again the same day posts nothing.
    await bot.fire_at(MONDAY_0700 + timedelta(hours=5))
    await bot.flush()
    assert len(bot.messenger.said(ADMIN_ROOM)) == 1
    assert bot.timers.due["admin-coverage"][0] == local(2026, 12, 7, 7, 0)


async def test_a_fully_staffed_fortnight_says_so(make: Make) -> None:
    end = MONDAY_0700 + timedelta(days=15)
    staffed = shift(1, K1A, "Karin Kardio", "", SUNDAY, end)
    roster = [staffed, replace(staffed, service=ServiceId("vc-mora"))]
    bot = await make(roster=roster, clock=ManualClock(SUNDAY))
    bot.service.admin_room = ADMIN_ROOM
    await bot.service.admin_posts.start()
    await bot.fire_at(MONDAY_0700)
    await bot.flush()
    [message] = bot.messenger.said(ADMIN_ROOM)
    assert message.splitlines()[-1] == "Inga luckor: nivå 1 är bemannad hela tiden."


# --------------------------------------------------------------------------------------------
# An unanswered consult


async def test_the_unanswered_alert_names_service_time_and_levels_but_no_question(
    bot: Bot,
) -> None:
    bot.service.admin_room = ADMIN_ROOM
    await bot.ask()
    await bot.fire_at(NOW + ACK_TIMEOUT)
    await bot.fire_at(NOW + 2 * ACK_TIMEOUT)
    await bot.flush()
    [alert] = bot.messenger.said(ADMIN_ROOM)
    assert alert == (
        "⚠️ Konsultation K-000001 blev obesvarad: Kardiologi, Falu lasarett (halvakut),"
        " begärd 2026-11-23 kl. 10:00. Sökta nivåer: 1, 2 – ingen kvitterade."
        " Beställare: @vera:localhost."
    )
    assert "förmaksflimmer" not in alert


async def test_nobody_on_duty_alert_says_nobody_was_paged(make: Make) -> None:
    bot = await make(roster=[])
    bot.service.admin_room = ADMIN_ROOM
    await bot.say(REQ, ASK)
    await bot.flush()
    [alert] = bot.messenger.said(ADMIN_ROOM)
    assert "Ingen i tjänst enligt schemat – ingen söktes." in alert
    assert "2026-11-23 kl. 10:00" in alert


# --------------------------------------------------------------------------------------------
# The in-memory store counts as the SQLite store does


async def test_the_memory_store_counts_units_from_the_staff_list() -> None:
    consults = MemoryConsultStore()
    memory = await build(consults)
    consults.staff = memory.data
    await closed_with_advice(memory)
    table = await consults.stats_table(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert list(table.units) == ["vc-mora"]
    assert list(table.status) == [0]  # advice
    assert (
        len((await consults.stats_table(NOW + timedelta(days=1), NOW + timedelta(days=2))).track)
        == 0
    )
