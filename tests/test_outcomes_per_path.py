"""Outcomes per contact path through the whole bot (in-memory adapters; issue 23, item 2): the
poll offers the consult's path's outcomes, `!avsluta` and a vote close with one of them and
refuse another path's, and the texts name the path's own."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any

from consultbot.adapters.memory import MemoryConsultStore
from consultbot.domain.consult.polls import POLL_START
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId
from consultbot.ports import IncomingVote
from tests.support.bots import CATALOGUE, DM, K1A, NOW, REQ, Bot, build, day_roster, make_config
from tests.support.conference import A1, B1, D2, conference_world

VC_DOC = UserId("@vcdoc:localhost")
VC_MORA = ServiceId("vc-mora")
VC_ASK = "!vc vc-mora 84-årig man, fallit hemma, ont i höften men kan gå"
VOTES = itertools.count(1)
FOURTH = ["home", "primary_care", "home_visit", "ed", "admission", "other"]
SPECIALIST = ["advice", "referral", "admission", "ed", "visit", "other"]


def vc_shift() -> Shift:
    return Shift(
        service=VC_MORA,
        level=1,
        start=NOW - timedelta(days=1),
        end=NOW + timedelta(days=3),
        user=VC_DOC,
        name="Vida Vårdcentral",
        phone="0250-49 30 20",
    )


async def bot_with_vc(**options: Any) -> Bot:
    return await build(MemoryConsultStore(), roster=[*day_roster(), vc_shift()], **options)


async def acknowledged(bot: Bot, body: str, acker: UserId) -> tuple[ConsultId, str]:
    consult, room = await bot.ask(body)
    await bot.say(acker, "!kvittera", room=room)
    await bot.flush()
    return consult, room


def poll_answers(bot: Bot, room: str) -> list[tuple[str, str]]:
    [poll] = [s for s in bot.messenger.log if s.action == POLL_START and s.room == room]
    start = poll.event[POLL_START]
    assert isinstance(start, dict)
    return [(a["id"], a["org.matrix.msc1767.text"]) for a in start["answers"]]


async def vote(bot: Bot, user: UserId, room: str, outcome: Outcome) -> None:
    consult_id = await bot.consults.consult_for_room(room)
    assert consult_id is not None
    consult = await bot.consults.consult(consult_id)
    assert consult is not None
    await bot.service.inbox.handle_vote(
        IncomingVote(
            room=room,
            event_id=f"$vote-path{next(VOTES)}",
            sender=user,
            poll=consult.poll,
            outcome=outcome,
            at=bot.clock.now(),
        )
    )
    await bot.flush()


async def test_the_fourth_paths_poll_offers_its_outcomes_in_swedish() -> None:
    bot = await bot_with_vc()
    consult, room = await acknowledged(bot, VC_ASK, VC_DOC)
    stored = await bot.consults.consult(consult)
    assert stored is not None and stored.track is Track.PRIMARVARD
    assert poll_answers(bot, room) == [
        ("home", "kvar hemma / slutbehandlad på plats"),
        ("primary_care", "till vårdcentralen"),
        ("home_visit", "läkarbesök i hemmet"),
        ("ed", "akuten"),
        ("admission", "direkt inläggning"),
        ("other", "annat"),
    ]


async def test_a_specialist_consults_poll_keeps_its_six() -> None:
    bot = await bot_with_vc()
    _, room = await acknowledged(bot, "!konsult kardiologi fråga om förmaksflimmer", K1A)
    assert [a for a, _ in poll_answers(bot, room)] == SPECIALIST


async def test_avsluta_hemma_closes_a_primarvard_consult_as_home() -> None:
    bot = await bot_with_vc()
    consult, room = await acknowledged(bot, VC_ASK, VC_DOC)
    await bot.say(VC_DOC, "!avsluta hemma", room=room)
    await bot.flush()
    stored = await bot.consults.consult(consult)
    assert stored is not None and stored.outcome is Outcome.HOME
    assert "är avslutad: kvar hemma / slutbehandlad på plats" in bot.messenger.said(room)[-1]
    assert "är avslutad: kvar hemma" in bot.messenger.said(DM)[-1]


async def test_avsluta_hemma_is_refused_on_a_specialist_consult_with_its_outcomes() -> None:
    bot = await bot_with_vc()
    consult, room = await acknowledged(bot, "!konsult kardiologi fråga om förmaksflimmer", K1A)
    await bot.say(K1A, "!avsluta hemma", room=room)
    await bot.flush()
    assert await bot.state(consult) == "acknowledged"
    assert bot.messenger.said(room)[-1] == (
        "Det utfallet finns inte för det halvakuta spåret."
        " Skriv !avsluta råd | remiss | inläggning | akuten | besök | annat."
    )
    # … and a specialist outcome on the fourth path likewise.
    vc_consult, vc_room = await acknowledged(bot, VC_ASK, VC_DOC)
    await bot.say(VC_DOC, "!avsluta remiss", room=vc_room)
    await bot.flush()
    assert await bot.state(vc_consult) == "acknowledged"
    assert bot.messenger.said(vc_room)[-1] == (
        "Det utfallet finns inte för tillgänglig primärvård."
        " Skriv !avsluta hemma | vårdcentral | hembesök | akuten | inläggning | annat."
    )


async def test_an_english_close_is_answered_in_english_where_the_config_is() -> None:
    config = make_config()
    english = await build(
        MemoryConsultStore(),
        roster=[*day_roster(), vc_shift()],
        config=replace(config, bot=replace(config.bot, language="en")),
    )
    consult, room = await acknowledged(english, "!consult kardiologi question", K1A)
    await english.say(K1A, "!close home_visit", room=room)
    await english.flush()
    assert await english.state(consult) == "acknowledged"
    assert english.messenger.said(room)[-1] == (
        "That outcome does not apply to this consult (semi-urgent)."
        " Write !close advice | referral | admission | ed | visit | other."
    )


async def test_a_vote_closes_by_the_paths_outcomes_only() -> None:
    bot = await bot_with_vc()
    consult, room = await acknowledged(bot, VC_ASK, VC_DOC)
    await vote(bot, REQ, room, Outcome.VISIT)  # a specialist outcome: not this poll's
    assert await bot.state(consult) == "acknowledged"
    await vote(bot, REQ, room, Outcome.PRIMARY_CARE)
    stored = await bot.consults.consult(consult)
    assert stored is not None and stored.outcome is Outcome.PRIMARY_CARE
    assert stored.closed_by == REQ


async def test_a_catalogue_set_is_what_the_poll_and_avsluta_offer() -> None:
    sets = tuple(
        (t, (Outcome.HOME, Outcome.ED) if t is Track.PRIMARVARD else os)
        for t, os in CATALOGUE.outcome_sets
    )
    bot = await bot_with_vc(catalogue=replace(CATALOGUE, outcome_sets=sets))
    consult, room = await acknowledged(bot, VC_ASK, VC_DOC)
    assert [a for a, _ in poll_answers(bot, room)] == ["home", "ed"]
    await bot.say(VC_DOC, "!avsluta vårdcentral", room=room)
    await bot.flush()
    assert bot.messenger.said(room)[-1].endswith("Skriv !avsluta hemma | akuten.")
    await bot.say(VC_DOC, "!avsluta blabla", room=room)
    await bot.flush()
    assert bot.messenger.said(room)[-1] == "Utfall: hemma | akuten."
    await bot.say(VC_DOC, "!avsluta akuten", room=room)
    await bot.flush()
    stored = await bot.consults.consult(consult)
    assert stored is not None and stored.outcome is Outcome.ED


async def test_the_reminder_names_the_paths_outcomes() -> None:
    bot = await bot_with_vc()
    consult, room = await acknowledged(bot, VC_ASK, VC_DOC)
    stored = await bot.consults.consult(consult)
    assert stored is not None and stored.deadline is not None
    await bot.fire_at(stored.deadline)
    await bot.flush()
    assert (
        "!avsluta hemma | vårdcentral | hembesök | akuten | inläggning | annat"
        in (bot.messenger.said(room)[-1])
    )


async def test_help_and_a_bad_outcome_outside_a_consult_room_list_every_path() -> None:
    bot = await bot_with_vc()
    await bot.say(REQ, "!hjälp")
    await bot.flush()
    line = (
        "Utfall: !konsult, !akut, !mdk: råd | remiss | inläggning | akuten | besök | annat"
        " · !vc: hemma | vårdcentral | hembesök | akuten | inläggning | annat"
    )
    assert line in bot.messenger.said(DM)[-1].splitlines()
    await bot.say(REQ, "!avsluta")
    await bot.flush()
    assert bot.messenger.said(DM)[-1] == line + "."


async def test_a_conference_offers_the_mdk_set() -> None:
    """A catalogue whose mdk set differs from the other specialist paths': the conference's
    poll and votes follow the mdk set."""
    world = conference_world()
    catalogue = world["catalogue"]
    mdk = (Outcome.ADVICE, Outcome.VISIT, Outcome.OTHER)
    sets = tuple((t, mdk if t is Track.MDK else os) for t, os in catalogue.outcome_sets)
    world["catalogue"] = replace(catalogue, outcome_sets=sets)
    bot = await build(MemoryConsultStore(), **world)
    await bot.say(REQ, "!mdk kardiologi, neurologi,onkologi hjärtsvikt och tumör, ordning?")
    await bot.flush()
    consult = (await bot.consults.consults_of(REQ))[0]
    for user in (A1, B1, D2):
        await bot.react(user, "✅", consult.room)
    await bot.flush()
    assert [a for a, _ in poll_answers(bot, consult.room)] == ["advice", "visit", "other"]
    await vote(bot, REQ, consult.room, Outcome.REFERRAL)  # the consult paths' only
    assert await bot.state(consult.id) == "acknowledged"
    await vote(bot, REQ, consult.room, Outcome.VISIT)
    closed = await bot.consults.consult(consult.id)
    assert closed is not None and closed.outcome is Outcome.VISIT
