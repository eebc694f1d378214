"""The outcome poll on the in-memory adapters: posted after an ack; one vote closes the consult."""

from __future__ import annotations

import itertools

from consultbot.domain.consult.polls import POLL_END, POLL_START
from consultbot.domain.types import ConsultId, Outcome, UserId
from consultbot.ports import IncomingVote
from tests.support.bots import DM, K1A, REQ, STRANGER, Bot

VOTE_IDS = itertools.count(1)


async def acknowledged(bot: Bot) -> tuple[ConsultId, str]:
    consult, room = await bot.ask()
    await bot.say(K1A, "!kvittera", room=room)
    await bot.flush()
    return consult, room


def polls(bot: Bot, kind: str = POLL_START) -> list[dict[str, object]]:
    return [s.event for s in bot.messenger.log if s.action == kind]


async def vote(bot: Bot, user: UserId, room: str, poll: str, outcome: Outcome | None) -> None:
    await bot.service.inbox.handle_vote(
        IncomingVote(
            room=room,
            event_id=f"$vote{next(VOTE_IDS)}",
            sender=user,
            poll=poll,
            outcome=outcome,
            at=bot.clock.now(),
        )
    )
    await bot.flush()


async def test_an_acknowledged_consult_gets_one_poll_with_the_outcomes(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    [poll] = [s for s in bot.messenger.log if s.action == POLL_START]
    assert poll.room == room
    start = poll.event[POLL_START]
    assert isinstance(start, dict)
    answers = [(a["id"], a["org.matrix.msc1767.text"]) for a in start["answers"]]
    assert answers[0] == ("advice", "råd – remiss undviken")
    assert [a for a, _ in answers] == ["advice", "referral", "admission", "ed", "visit", "other"]
    assert "K-000001" in start["question"]["org.matrix.msc1767.text"]
    stored = await bot.consults.consult(consult)
    assert stored is not None and stored.poll == poll.event_id
    # The question of a clinical case never goes into the poll.
    assert "förmaksflimmer" not in str(poll.event)


async def test_the_requesters_vote_closes_the_consult_as_avsluta_does_and_ends_the_poll(
    bot: Bot,
) -> None:
    consult, room = await acknowledged(bot)
    stored = await bot.consults.consult(consult)
    assert stored is not None
    await vote(bot, REQ, room, stored.poll, Outcome.ADMISSION)
    closed = await bot.consults.consult(consult)
    assert closed is not None and closed.outcome is Outcome.ADMISSION and closed.closed_by == REQ
    assert "är avslutad: direkt inläggning" in bot.messenger.said(room)[-1]
    assert "är avslutad: direkt inläggning" in bot.messenger.said(DM)[-1]
    [end] = polls(bot, POLL_END)
    assert end["m.relates_to"] == {"rel_type": "m.reference", "event_id": stored.poll}
    # A second vote on the ended poll changes nothing and says nothing.
    said = len(bot.messenger.log)
    await vote(bot, K1A, room, stored.poll, Outcome.ADVICE)
    assert len(bot.messenger.log) == said
    again = await bot.consults.consult(consult)
    assert again is not None and again.outcome is Outcome.ADMISSION


async def test_a_vote_by_someone_not_in_the_consult_closes_nothing(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    stored = await bot.consults.consult(consult)
    assert stored is not None
    await vote(bot, STRANGER, room, stored.poll, Outcome.ADVICE)
    assert await bot.state(consult) == "acknowledged"
    assert "Bara beställaren och den som har sökts" in bot.messenger.said(room)[-1]


async def test_a_taken_back_vote_or_another_poll_closes_nothing(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    stored = await bot.consults.consult(consult)
    assert stored is not None
    said = len(bot.messenger.log)
    await vote(bot, REQ, room, stored.poll, None)
    await vote(bot, REQ, room, "$some-other-poll", Outcome.ADVICE)
    assert await bot.state(consult) == "acknowledged"
    assert len(bot.messenger.log) == said


async def test_closing_by_command_ends_the_poll_and_the_reminder_points_to_it(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    stored = await bot.consults.consult(consult)
    assert stored is not None and stored.deadline is not None
    await bot.fire_at(stored.deadline)
    await bot.flush()
    assert "omröstningen ovan" in bot.messenger.said(room)[-1]
    await bot.say(K1A, "!avsluta råd", room=room)
    await bot.flush()
    [end] = polls(bot, POLL_END)
    assert end["m.relates_to"]["event_id"] == stored.poll  # type: ignore[index]


async def test_a_consult_closed_by_its_ack_gets_no_poll(bot: Bot) -> None:
    _, room = await bot.ask()
    await bot.say(K1A, "!avsluta råd", room=room)  # closing is the strongest acknowledgement
    await bot.flush()
    assert polls(bot) == [] and polls(bot, POLL_END) == []


async def test_no_poll_before_anyone_acknowledged(bot: Bot) -> None:
    await bot.ask()
    assert polls(bot) == []
