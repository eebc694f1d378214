"""Limits on what one person can make the bot do (issue 19, item 6): every command that pages
people counts against one per-user limit and repeat check, a user on a server not allowed gets
one notice per room per hour, and typed text comes back short, escaped and mentioning nobody,
and is not kept once sent. Service level, on the in-memory store, SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from consultbot.domain.types import Track, UserId
from tests.support.bots import DM, NOW, REQ, Bot, Make, stored_text
from tests.support.conference import conference_world

OUTSIDER = UserId("@mallory:evil.example")
OTHER_ROOM = "!team:localhost"
MDK = "!mdk kardiologi,neurologi Hjärtsvikt och tumör, ordning?"


@pytest.fixture
async def bot(make: Make) -> Bot:
    """A bot whose catalogue has conferences (kardiologi, neurologi, onkologi)."""
    return await make(**conference_world())


async def consults(bot: Bot) -> list[str]:
    return [c.id for c in await bot.consults.consults_of(REQ, open_only=False)]


# --------------------------------------------------------------------------------------------
# One limit for every command that pages people and takes a room


async def test_a_conference_counts_against_the_limit_of_consults(bot: Bot) -> None:
    limit = bot.service.inbox.config.bot.request_limit
    for n in range(limit):
        await bot.say(REQ, f"!konsult kardiologi fråga nummer {n}")
    await bot.say(REQ, MDK)
    await bot.flush()
    assert len(await consults(bot)) == limit  # no conference
    [refusal] = [text for text in bot.messenger.said(DM) if "konsultationer" in text]
    assert f"{limit} konsultationer" in refusal and "växeln" in refusal
    assert not [c for c in await bot.consults.consults_of(REQ) if c.track is Track.MDK]


async def test_consults_count_against_the_limit_after_conferences(bot: Bot) -> None:
    limit = bot.service.inbox.config.bot.request_limit
    for n in range(limit):
        await bot.say(REQ, f"!mdk kardiologi,neurologi konferensfråga {n}")
    await bot.say(REQ, "!konsult kardiologi en fråga till")
    await bot.flush()
    found = await bot.consults.consults_of(REQ)
    assert len(found) == limit and all(c.track is Track.MDK for c in found)
    assert any(f"{limit} konsultationer" in text for text in bot.messenger.said(DM))


async def test_the_same_conference_twice_is_one_conference(bot: Bot) -> None:
    await bot.say(REQ, MDK)
    await bot.say(REQ, "!mdk neurologi, kardiologi  hjärtsvikt och TUMÖR, ordning?")
    await bot.flush()
    [conference] = await consults(bot)
    assert any(f"samma fråga som {conference}" in text for text in bot.messenger.said(DM))
    pages = bot.messenger.pages()
    assert len(pages) == 1  # one page, naming every service's level 1, once


async def test_a_conference_of_other_services_is_a_new_one(bot: Bot) -> None:
    await bot.say(REQ, MDK)
    await bot.say(REQ, MDK.replace("neurologi", "onkologi"))
    await bot.flush()
    assert len(await consults(bot)) == 2


async def test_the_limit_window_passes(bot: Bot) -> None:
    limit = bot.service.inbox.config.bot.request_limit
    for n in range(limit):
        await bot.say(REQ, f"!konsult kardiologi fråga nummer {n}")
    bot.clock.current = NOW + timedelta(seconds=bot.service.inbox.config.bot.request_limit_seconds)
    await bot.say(REQ, MDK)
    await bot.flush()
    assert len(await consults(bot)) == limit + 1


# --------------------------------------------------------------------------------------------
# Someone not allowed to use the bot: one notice per room per hour


async def test_a_user_on_a_server_not_allowed_gets_one_notice_per_room_per_hour(bot: Bot) -> None:
    for n in range(20):
        await bot.say(OUTSIDER, f"!konsult kardiologi rad {n}")
    await bot.say(OUTSIDER, "!hjälp", OTHER_ROOM, direct=False)
    await bot.say(OUTSIDER, "!vem", OTHER_ROOM, direct=False)
    await bot.flush()
    assert len(bot.messenger.said(DM)) == 1
    assert len(bot.messenger.said(OTHER_ROOM)) == 1
    assert all("localhost" in text for text in bot.messenger.said(DM))
    assert await consults(bot) == []

    bot.clock.current = NOW + timedelta(minutes=59)
    await bot.say(OUTSIDER, "!konsult kardiologi en gång till")
    await bot.flush()
    assert len(bot.messenger.said(DM)) == 1

    bot.clock.current = NOW + timedelta(hours=1)
    await bot.say(OUTSIDER, "!konsult kardiologi en timme senare")
    await bot.flush()
    assert len(bot.messenger.said(DM)) == 2


async def test_lines_not_answered_are_still_handled_once(bot: Bot) -> None:
    """A line left unanswered is marked handled: a restart does not answer it after all."""
    await bot.say(OUTSIDER, "!konsult kardiologi ett")
    second = await bot.say(OUTSIDER, "!konsult kardiologi två")
    await bot.flush()
    assert await bot.consults.is_handled(second.event_id)


# --------------------------------------------------------------------------------------------
# Typed text echoed back: short, escaped, no mention; and not kept once sent

HOSTILE = (
    '@room <a href="https://matrix.to/#/@admin:localhost">@admin:localhost</a> **fet** ' + "x" * 300
)


@pytest.mark.parametrize(
    ("body", "template_words"),
    [
        (f"!kontakt {HOSTILE}", "kontaktlistan"),
        (f"!konsult {HOSTILE.replace(' ', '_', 3)} en fråga", "tjänsten"),
        (f"!mdk kardiologi,{HOSTILE.replace(' ', '_')} en fråga", "känner inte till"),
        ("!lämna @room:evil<b>fet</b>" + "x" * 100, "finns inte på en server"),
    ],
)
async def test_echoed_text_is_short_escaped_and_mentions_nobody(
    bot: Bot, body: str, template_words: str
) -> None:
    await bot.say(REQ, body)
    await bot.flush()
    [reply] = [s.content for s in bot.messenger.sends(DM) if s.content]
    assert reply is not None and template_words in reply.text
    assert "x" * 41 not in reply.text and "…" in reply.text
    assert "@room" not in reply.text and "@admin" not in reply.text
    assert '<a href="https://matrix.to' not in reply.html
    assert "&lt;" in reply.html and "<b>" not in reply.html  # shown as typed, as text
    assert reply.mentions == () and reply.notice  # a notice notifies nobody


async def test_a_sent_reply_keeps_no_typed_text_in_the_database(bot: Bot) -> None:
    marker = "Zyxwvut"
    await bot.say(REQ, f"!kontakt {marker}")
    await bot.say(REQ, f"!konsult {marker}ologi en fråga")
    assert marker in await stored_text(bot.consults)  # held until sent, to survive a crash
    await bot.flush()
    assert [marker in text for text in bot.messenger.said(DM)] == [True, True]
    assert marker not in await stored_text(bot.consults)
    assert await bot.consults.pending() == []
