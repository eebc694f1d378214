"""Calendar feeds by chat (`!kalender`, `!feed`), through the real inbox and outbox: the secret
address only in a direct chat with an admin, list and revoke also in the admin room, anyone
else refused and logged, bad usage one line and nothing changed."""

from __future__ import annotations

import re

import pytest

from consultbot.domain.duty.feeds import FeedKind, token_hash
from consultbot.domain.types import UserId
from tests.support.bots import ADMIN_ROOM, REQ, Bot, Make

ADMIN = UserId("@admin:localhost")
ADMIN_DM = "!dm-admin:localhost"
TEAM_ROOM = "!team:localhost"
USAGE = (
    "Skriv !kalender skapa TJÄNST eller @person:server, !kalender lista eller"
    " !kalender återkalla NUMMER."
)
ADDRESS = re.compile(r"/feed/([A-Za-z0-9_-]{43})\.ics")


@pytest.fixture
async def bot(make: Make) -> Bot:
    made = await make()
    made.service.admin_room = ADMIN_ROOM
    return made


async def said(bot: Bot, body: str, room: str = ADMIN_DM, sender: UserId = ADMIN) -> str:
    await bot.say(sender, body, room=room, direct=room == ADMIN_DM)
    await bot.flush()
    return bot.messenger.said(room)[-1]


async def test_an_admin_creates_a_feed_in_a_direct_chat_and_gets_its_address_once(
    bot: Bot,
) -> None:
    answer = await said(bot, "!kalender skapa hjärta")  # an alias of kardiologi
    assert answer.startswith("Kalender 1 (tjänst kardiologi) är skapad.")
    found = ADDRESS.search(answer)
    assert found is not None
    [feed] = await bot.data.feeds()
    assert (feed.kind, feed.target, feed.created_by) == (FeedKind.SERVICE, "kardiologi", ADMIN)
    assert feed.token_hash == token_hash(found[1])
    listed = await said(bot, "!kalender lista", room=ADMIN_ROOM)
    assert listed == "Kalendrar som gäller:\n1: tjänst kardiologi"
    assert found[1] not in listed
    actions = [(a.actor, a.action, a.detail) for a in await bot.data.admin_actions()]
    assert actions == [(ADMIN, "feed_create", "feed 1: service kardiologi")]


async def test_create_in_the_admin_room_makes_nothing_and_says_why(bot: Bot) -> None:
    answer = await said(bot, "!kalender skapa kardiologi", room=ADMIN_ROOM)
    assert answer.startswith("Kalenderns adress är hemlig")
    assert await bot.data.feeds() == []
    assert "/feed/" not in "".join(bot.messenger.said(ADMIN_ROOM))


async def test_revoke_in_the_admin_room_and_english_for_feed(bot: Bot) -> None:
    created = await said(bot, "!feed create @anna:localhost")
    assert created.startswith("Calendar 1 (person @anna:localhost) is created.")
    revoked = await said(bot, "!kalender återkalla 1", room=ADMIN_ROOM)
    assert (
        revoked == "Kalender 1 (person @anna:localhost) är återkallad: adressen svarar inte längre."
    )
    assert await bot.data.feeds() == []
    again = await said(bot, "!feed revoke 1")
    assert again == "There is no calendar 1 (or it is revoked already). Nothing was changed."
    assert await said(bot, "!feed list") == (
        "There are no calendars. Create one with !feed create SERVICE or @person:server in a"
        " direct message to me."
    )


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ("!kalender skapa okänd", "Jag känner inte till tjänsten okänd. Inget ändrades."),
        (
            "!kalender skapa",
            USAGE,
        ),
        (
            "!kalender återkalla alla",
            USAGE,
        ),
        ("!kalender skapa @Anna", "@Anna är inget Matrix-id som @namn:server. Inget ändrades."),
    ],
)
async def test_bad_usage_is_one_line_and_changes_nothing(bot: Bot, body: str, answer: str) -> None:
    assert await said(bot, body) == answer
    assert await bot.data.feeds() == []
    assert await bot.data.admin_actions() == []


async def test_anyone_else_is_refused_and_logged_and_an_admin_elsewhere_is_told_where(
    bot: Bot,
) -> None:
    refused = await said(bot, "!kalender skapa kardiologi", room="!dm-req:localhost", sender=REQ)
    assert refused == "Det får bara regionens administratörer göra."
    assert await bot.data.feeds() == []
    [action] = await bot.data.admin_actions()
    assert (action.actor, action.action, action.allowed) == (REQ, "feed_create", False)
    await bot.say(ADMIN, "!kalender lista", room=TEAM_ROOM, direct=False)
    await bot.flush()
    assert bot.messenger.said(TEAM_ROOM)[-1] == (
        "Kalendrar hanteras i adminrummet eller i ett direktmeddelande till mig."
    )
