"""Conferences (`!mdk`, `!möte`) through the service: chat in, outbox, messages out (SPEC §6).

The hand-driven bot of tests/support/bots.py on every consult store, in the conference world
of tests/support/conference.py: timers fire at a manual clock's time, the test drains the outbox.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from consultbot.adapters.memory import MemoryConsultStore
from consultbot.domain.consult.escalation import State
from consultbot.domain.consult.polls import POLL_END, POLL_START
from consultbot.domain.duty.hours import Hours
from consultbot.domain.types import Outcome, Track
from consultbot.engine.delivery.content import WIDGET_ID, WIDGET_TYPE
from consultbot.ports import IncomingVote
from tests.support.bots import DM, NOW, REQ, Bot, Make, build, stored_text
from tests.support.conference import (
    A1,
    B1,
    B2,
    D2,
    KARD,
    NEURO,
    ONK,
    TIMEOUT,
    URL,
    conference_world,
    shifts,
)

QUESTION = "Patient med hjärtsvikt och nydiagnostiserad tumör, behandlingsordning?"


@pytest.fixture
async def bot(make: Make) -> Bot:
    return await make(**conference_world())


async def convene(bot: Bot, body: str = f"!mdk kardiologi, neurologi,onkologi {QUESTION}") -> Any:
    await bot.say(REQ, body)
    await bot.flush()
    consult = (await bot.consults.consults_of(REQ))[0]
    return consult


async def test_one_room_one_page_for_every_service(bot: Bot) -> None:
    consult = await convene(bot)
    assert consult.track is Track.MDK and consult.services == (KARD, NEURO, ONK)
    created = bot.messenger.actions("create")
    assert len(created) == 1 and set(created[0].users) == {A1, B1, D2}
    pages = bot.messenger.pages()
    assert len(pages) == 1 and pages[0].content is not None
    # The requester can read the page (its key goes to them) and is invited after it.
    log = bot.messenger.log
    expect = next(n for n, s in enumerate(log) if s.action == "expect")
    invite = next(n for n, s in enumerate(log) if s.action == "invite" and REQ in s.users)
    assert log[expect].users == (REQ,) and expect < log.index(pages[0]) < invite
    page = pages[0].content
    assert set(page.mentions) == {A1, B1, D2}
    assert QUESTION in page.text
    assert "Kardiologi: Anna Alm" in page.text and "Onkologi: Dan Dahl (nivå 2)" in page.text
    assert "https://matrix.to/#/@anna:localhost" in page.html
    reply = bot.messenger.said(DM)[-1]
    assert consult.id in reply and "Kardiologi, Neurologi, Onkologi" in reply
    # The meeting link: a message and a widget; the link has the consult number.
    link = URL.replace("{consult}", consult.id)
    assert any(link in text for text in bot.messenger.said(consult.room))
    widget = bot.messenger.state[(consult.room, WIDGET_TYPE, WIDGET_ID)]
    assert widget["url"] == link and widget["type"] == "m.custom"
    assert QUESTION not in await stored_text(bot.consults)


async def test_each_service_acknowledges_and_escalates_on_its_own(bot: Bot) -> None:
    consult = await convene(bot)
    room = consult.room
    await bot.react(A1, "✅", room)  # kardiologi
    await bot.say(D2, "Jag tittar på det.", room)  # onkologi, by its first message
    await bot.flush()
    status = bot.messenger.said(room)[-1]
    assert "Onkologi: Dan Dahl har kvitterat" in status
    assert "Kardiologi: ✅ Anna Alm" in status and "Neurologi: väntar (nivå 1)" in status
    # Neurologi's timeout: only neurologi's level 2 is paged.
    await bot.fire_at(NOW + TIMEOUT + timedelta(seconds=1))
    await bot.flush()
    pages = bot.messenger.pages()
    assert len(pages) == 2 and pages[1].content is not None
    assert pages[1].content.mentions == (B2,)
    assert "du söks för Neurologi på nivå 2" in pages[1].content.text
    assert [s.users for s in bot.messenger.escalation_invites()] == [(B2,)]
    assert await bot.state(consult.id) is State.PAGING
    await bot.say(B2, "!kvittera", room)
    await bot.flush()
    assert await bot.state(consult.id) is State.ACKNOWLEDGED
    assert "Neurologi: ✅ Britt Bak" in bot.messenger.said(room)[-1]
    # Closing works as for a consult.
    await bot.say(REQ, "!avsluta råd", room)
    await bot.flush()
    assert await bot.state(consult.id) is State.CLOSED


async def test_a_vote_in_the_conference_s_poll_closes_it_and_ends_the_poll(bot: Bot) -> None:
    consult = await convene(bot)
    room = consult.room
    for user in (A1, B1, D2):
        await bot.react(user, "✅", room)
    await bot.flush()
    [poll] = [s for s in bot.messenger.log if s.action == POLL_START]
    assert poll.room == room
    stored = await bot.consults.consult(consult.id)
    assert stored is not None and stored.poll == poll.event_id
    vote = IncomingVote(
        room=room,
        event_id="$vote",
        sender=REQ,
        poll=poll.event_id,
        outcome=Outcome.ADMISSION,
        at=bot.clock.now(),
    )
    await bot.service.inbox.handle_vote(vote)
    await bot.flush()
    closed = await bot.consults.consult(consult.id)
    assert closed is not None and closed.state is State.CLOSED
    assert closed.outcome is Outcome.ADMISSION and closed.closed_by == REQ
    [end] = [s.event for s in bot.messenger.log if s.action == POLL_END]
    assert end["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll.event_id}


async def test_a_service_with_nobody_gets_its_switchboard(bot: Bot) -> None:
    await bot.data.import_roster(
        [s for s in shifts() if s.service != ONK],
        {ONK: (NOW - timedelta(days=1), NOW + timedelta(days=3))},
        source="test",
        now=NOW,
    )
    consult = await convene(bot)
    said = " ".join(bot.messenger.said(consult.room))
    assert "Ingen har jour i Onkologi just nu. Ring växeln: 023-49 00 02" in said


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("!mdk kardiologi,tandvård FRÅGA", "Jag känner inte till tandvård"),
        ("!mdk kardiologi,ortopedi FRÅGA", "Ortopedi tar inte emot multidisciplinära"),
        ("!mdk kardiologi FRÅGA", "minst två olika tjänster"),
        ("!mdk kardiologi,Kardiologi,kardiologi FRÅGA", "minst två olika tjänster"),
        ("!mdk", "minst två olika tjänster"),
        ("!mdk kardiologi,neurologi", "Skriv frågan efter tjänsterna"),
    ],
)
async def test_a_conference_that_cannot_be_convened_lists_what_would_work(
    bot: Bot, body: str, expected: str
) -> None:
    await bot.say(REQ, body)
    await bot.flush()
    answer = bot.messenger.said(DM)[-1]
    assert expected in answer
    assert "kardiologi, neurologi, onkologi" in answer and "ortopedi," not in answer
    assert await bot.consults.consults_of(REQ) == []
    assert bot.messenger.actions("create") == []


async def test_english_alias_is_answered_in_english(bot: Bot) -> None:
    await bot.say(REQ, "!mdt kardiologi,tandvård QUESTION")
    await bot.flush()
    assert "I do not know tandvård" in bot.messenger.said(DM)[-1]


async def test_a_meeting_is_confirmed_and_reminded_once_also_after_a_restart(bot: Bot) -> None:
    consult = await convene(bot)
    room = consult.room
    await bot.say(B1, "!möte 2026-11-23 12:00", room)  # 11:00 UTC
    await bot.flush()
    link = URL.replace("{consult}", consult.id)
    confirmation = bot.messenger.said(room)[-1]
    assert "2026-11-23 kl. 12:00" in confirmation and link in confirmation
    assert "15 minuter före" in confirmation
    remind_at = NOW.replace(hour=10, minute=45)
    assert await bot.fire_at(remind_at - timedelta(minutes=1)) >= 0
    await bot.flush()
    assert not any("Påminnelse" in t for t in bot.messenger.said(room))
    await bot.fire_at(remind_at)
    await bot.flush()
    reminders = [
        s for s in bot.messenger.sends(room) if s.content and "Påminnelse" in s.content.text
    ]
    assert len(reminders) == 1
    content = reminders[0].content
    assert content is not None and link in content.text and not content.notice
    assert set(content.mentions) >= {A1, B1, D2, REQ}
    # A restart rebuilds the timers from the database: nothing is reminded twice.
    again = await build(bot.consults, data=bot.data, **conference_world())
    again.clock.current = remind_at + timedelta(minutes=1)
    await again.service.start()
    await again.timers.fire_until(remind_at + timedelta(minutes=2))
    await again.flush()
    assert not any("Påminnelse" in t for t in again.messenger.said(room))


async def test_meeting_outside_a_conference_room_is_explained(bot: Bot) -> None:
    await bot.say(REQ, "!möte 2026-11-23 12:00")
    await bot.flush()
    assert "!möte fungerar i ett konferensrum" in bot.messenger.said(DM)[-1]
    await bot.say(REQ, "!möte i morgon")
    await bot.flush()
    assert "ÅÅÅÅ-MM-DD TT:MM" in bot.messenger.said(DM)[-1]


async def test_outside_the_conference_hours_the_switchboards_are_given(tmp_path: Any) -> None:
    bot = await build(MemoryConsultStore(), **conference_world())
    config = bot.service.inbox.config
    tracks = dict(config.tracks)
    tracks[Track.MDK] = replace(tracks[Track.MDK], hours=Hours.parse("daily 03:00-04:00"))
    bot.service.inbox.config = replace(config, tracks=tracks)
    await bot.say(REQ, f"!mdk kardiologi,neurologi {QUESTION}")
    await bot.flush()
    answer = bot.messenger.said(DM)[-1]
    assert "öppna alla dagar 03:00–04:00" in answer and "Neurologi: 023-49 00 01" in answer
    assert await bot.consults.consults_of(REQ) == []


async def test_a_service_page_overtaken_by_that_service_s_ack_is_not_sent(bot: Bot) -> None:
    consult = await convene(bot)
    await bot.fire_at(
        NOW + TIMEOUT + timedelta(seconds=1), send=False
    )  # neurologi's level 2 is queued
    await bot.react(B1, "👍", consult.room)  # … and neurologi acknowledges before it is sent
    await bot.flush()
    assert len(bot.messenger.pages()) == 1  # only the first page
    assert bot.messenger.escalation_invites() == []
    said = " ".join(bot.messenger.said(consult.room))
    assert "Neurologi: Bo Berg har kvitterat" in said and "söker nivå 2" not in said
