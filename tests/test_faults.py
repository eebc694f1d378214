"""Faults nobody scripts into the happy path, at the service level (SPEC §6 Matrix behaviour, §8).

Repeats and floods, races with exactly one outcome, bad input that changes nothing. The same
scenarios against a real Synapse and a killed bot process are in tests/integration/test_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from consultbot.config import load_config
from consultbot.domain.consult.escalation import State
from consultbot.domain.errors import ConfigError
from consultbot.domain.types import ConsultId, Dataset, UserId
from consultbot.ports import Content
from consultbot.resources import example_config
from tests.support.bots import (
    ACK_TIMEOUT,
    ADMIN_ROOM,
    ASK,
    DM,
    K1A,
    K1B,
    K2,
    NOW,
    QUESTION,
    REQ,
    Bot,
    Make,
    Messenger,
    after,
    stored_text,
)

# The service tests' fixtures, under their own names: `bot` and `make` (memory and SQLite).

# --------------------------------------------------------------------------------------------
# Repeats: a double tap or a client resending is one consult


async def test_the_same_request_twice_in_a_few_seconds_is_one_consult_paged_once(bot: Bot) -> None:
    await bot.say(REQ, ASK)
    bot.clock.current = NOW + timedelta(seconds=3)
    # A client resending after a hiccup: a new event, the text re-wrapped.
    await bot.say(REQ, "!konsult  kardiologi\n" + QUESTION.upper())
    await bot.flush()
    assert len(bot.messenger.actions("create")) == 1
    assert len(bot.messenger.pages()) == 1
    assert [c.id for c in await bot.consults.consults_of(REQ)] == ["K-000001"]
    said = bot.messenger.said(DM)
    assert len(said) == 2
    [repeat] = [text for text in said if "samma fråga" in text]
    assert "samma fråga som K-000001" in repeat and "same question" not in repeat  # one language


async def test_the_repeat_is_recognised_after_the_memory_is_gone(bot: Bot) -> None:
    first = await bot.say(REQ, ASK)
    await bot.flush()
    # As after a restart: the question is read again from the requester's message in Matrix.
    bot.service.questions._texts.clear()
    bot.messenger.texts[first.event_id] = ASK
    bot.clock.current = NOW + timedelta(seconds=5)
    await bot.say(REQ, ASK)
    await bot.flush()
    assert len(await bot.consults.consults_of(REQ, open_only=False)) == 1
    assert "samma fråga som K-000001" in bot.messenger.said(DM)[-1]
    assert len(bot.messenger.pages()) == 1


async def test_a_different_question_moments_later_is_a_new_consult(bot: Bot) -> None:
    await bot.say(REQ, ASK)
    bot.clock.current = NOW + timedelta(seconds=3)
    await bot.say(REQ, "!konsult kardiologi 55-årig man med bröstsmärta, troponin negativt?")
    await bot.flush()
    assert len(bot.messenger.actions("create")) == 2
    assert len(bot.messenger.pages()) == 2


async def test_the_same_question_after_the_window_is_a_new_consult(bot: Bot) -> None:
    await bot.say(REQ, ASK)
    window = bot.service.inbox.config.bot.repeat_window_seconds
    bot.clock.current = NOW + timedelta(seconds=window + 1)
    await bot.say(REQ, ASK)
    await bot.flush()
    assert len(bot.messenger.actions("create")) == 2


async def test_one_requester_cannot_page_those_on_duty_more_than_the_limit(bot: Bot) -> None:
    limit = bot.service.inbox.config.bot.request_limit
    for n in range(limit + 3):
        bot.clock.current = NOW + timedelta(seconds=10 * n)
        await bot.say(REQ, f"!konsult kardiologi fråga nummer {n} om en patient")
    await bot.flush()
    assert len(bot.messenger.actions("create")) == limit
    assert len(bot.messenger.pages()) == limit
    refusals = [t for t in bot.messenger.said(DM) if "fler tas inte emot" in t]
    assert len(refusals) == 3
    assert f"{limit} konsultationer" in refusals[0] and "023-49 00 00" in refusals[0]
    # The window passes: asking works again.
    seconds = bot.service.inbox.config.bot.request_limit_seconds
    bot.clock.current = NOW + timedelta(seconds=seconds + 60)
    await bot.say(REQ, "!konsult kardiologi en ny fråga om en annan patient")
    await bot.flush()
    assert len(bot.messenger.actions("create")) == limit + 1


# --------------------------------------------------------------------------------------------
# Races: exactly one outcome each


async def test_an_ack_at_the_very_instant_of_the_deadline_has_one_outcome(make: Make) -> None:
    outcomes: set[int] = set()
    for i in range(8):
        bot = await make()
        consult, room = await bot.ask()
        page = bot.messenger.pages()[0].event_id
        bot.clock.current = NOW + ACK_TIMEOUT  # exactly the deadline
        reaction = bot.reaction(K1A, "✅", room, page)
        ack = after(i % 4, bot.consults, bot.service.inbox.handle_reaction(reaction))
        timer = after(i // 4, bot.consults, bot.service.stepper.on_timer(consult))
        await asyncio.gather(ack, timer)
        await bot.flush()
        kinds = await bot.kinds(consult)
        assert kinds.count("acknowledged") == 1, kinds
        assert "paged" not in kinds[kinds.index("acknowledged") + 1 :], kinds
        acks = [t for t in bot.messenger.said(room) if "har kvitterat" in t]
        assert len(acks) == 1
        outcomes.add(kinds.count("paged"))
    assert outcomes <= {1, 2}


async def test_two_paged_people_acknowledging_at_once_give_one_acknowledgement(
    make: Make,
) -> None:
    winners: set[str] = set()
    for i in range(6):
        bot = await make()
        consult, room = await bot.ask()
        page = bot.messenger.pages()[0].event_id
        first = after(
            i % 3,
            bot.consults,
            bot.service.inbox.handle_reaction(bot.reaction(K1A, "✅", room, page)),
        )
        second = after(0, bot.consults, bot.say(K1B, "!kvittera", room))
        await (asyncio.gather(first, second) if i % 2 else asyncio.gather(second, first))
        await bot.flush()
        kinds = await bot.kinds(consult)
        assert kinds.count("acknowledged") == 1, kinds
        found = await bot.consults.consult(consult)
        assert found is not None and found.acked_by in (K1A, K1B)
        winners.add(found.acked_by)
        said = bot.messenger.said(room)
        assert len([t for t in said if "har kvitterat" in t]) == 1
        # The command that came second is told it was already taken; a ✅ second is silent.
        taken = [t for t in said if "redan kvitterad" in t]
        assert len(taken) == (1 if found.acked_by == K1A else 0)
        assert len(bot.messenger.pages()) == 1
    assert winners  # at least one ran; which one wins is the store's order


async def test_pass_on_and_an_ack_together_have_one_outcome(make: Make) -> None:
    for i in range(8):
        bot = await make()
        consult, room = await bot.ask()
        page = bot.messenger.pages()[0].event_id
        reaction = bot.reaction(K1B, "✅", room, page)
        passing = after(i % 4, bot.consults, bot.say(K1A, "!vidare", room))
        ack = after(i // 4, bot.consults, bot.service.inbox.handle_reaction(reaction))
        await asyncio.gather(passing, ack)
        await bot.flush()
        kinds = await bot.kinds(consult)
        assert kinds.count("acknowledged") == 1, kinds
        assert await bot.state(consult) is State.ACKNOWLEDGED
        # No page went out after the acknowledgement: at most the level-2 page that was
        # sent before it, never one decided before it but sent after.
        sent = bot.messenger.sends(room)
        acked = next(
            n for n, s in enumerate(sent) if s.content and "har kvitterat" in s.content.text
        )
        assert all(s.content and s.content.notice for s in sent[acked:])
        assert next(p.content.mentions for p in bot.messenger.pages() if p.content) != (K2,)


async def test_a_deadline_after_an_ack_pages_nobody(bot: Bot) -> None:
    """A reaction taken back (redacted) after it was counted leaves the acknowledgement:
    the adapter delivers no redactions, so only the timer is left to try its luck."""
    consult, room = await bot.ask()
    await bot.react(K1A, "✅", room, bot.messenger.pages()[0].event_id)
    await bot.fire_at(NOW + ACK_TIMEOUT * 3)
    await bot.flush()
    assert len(bot.messenger.pages()) == 1
    assert await bot.state(consult) is State.ACKNOWLEDGED


async def test_a_level_2_page_held_up_gets_its_whole_time_and_a_late_ack_still_counts(
    bot: Bot,
) -> None:
    """The homeserver is down when level 2 is due: its page goes out 15 min late. Level 2 then
    has its whole time; the consult is not declared unanswered under them. A ✅ after the
    consult was unanswered counts, and the requester hears so where they asked."""
    consult, room = await bot.ask()
    await bot.fire_at(NOW + ACK_TIMEOUT, send=False)  # decided; nothing goes out
    out = NOW + ACK_TIMEOUT + timedelta(minutes=15)
    bot.clock.current = out  # the homeserver is back
    await bot.flush()
    assert bot.messenger.pages()[-1].content.mentions == (K2,)  # type: ignore[union-attr]
    assert await bot.fire_at(NOW + 2 * ACK_TIMEOUT) == 0  # level 2's time has not run out
    assert await bot.state(consult) is State.PAGING
    assert await bot.fire_at(out + ACK_TIMEOUT - timedelta(seconds=1)) == 0
    assert await bot.fire_at(out + ACK_TIMEOUT) == 1
    assert await bot.state(consult) is State.UNANSWERED
    assert "Ring växeln" in bot.messenger.said(DM)[-1]

    bot.clock.current = out + ACK_TIMEOUT + timedelta(minutes=2)
    await bot.react(K2, "✅", room)
    await bot.flush()
    found = await bot.consults.consult(consult)
    assert found is not None and found.state is State.ACKNOWLEDGED and found.acked_by == K2
    late = bot.messenger.said(DM)[-1]
    assert (
        "har nu kvitterat konsultation K-000001" in late and "trots att ingen svarade i tid" in late
    )
    assert "har kvitterat efter" in bot.messenger.said(room)[-1]


async def test_a_late_ack_is_told_in_the_language_the_requester_asked_in(bot: Bot) -> None:
    await bot.say(REQ, ASK.replace("!konsult", "!consult", 1))
    await bot.flush()
    [consult] = await bot.consults.consults_of(REQ)
    await bot.fire_at(NOW + ACK_TIMEOUT)
    await bot.fire_at(NOW + 2 * ACK_TIMEOUT)
    assert await bot.state(consult.id) is State.UNANSWERED
    await bot.react(K1A, "✅", consult.room)
    await bot.flush()
    late = bot.messenger.said(DM)[-1]
    assert "has now acknowledged consult K-000001" in late and "kvitterat" not in late


@dataclass
class HungRooms(Messenger):
    """A homeserver that hangs on making consult rooms (direct chats work): no page goes out."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    news: asyncio.Event = field(default_factory=asyncio.Event)  # something was sent

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        event_id = await super().send(
            room, content, txn=txn, recipients=recipients, numbers=numbers
        )
        self.news.set()
        return event_id

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait (at most 5 s) until what was sent makes `condition` true."""
        async with asyncio.timeout(5):
            while not condition():
                self.news.clear()
                if not condition():
                    await self.news.wait()

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        if key.startswith("K-"):
            await self.release.wait()
        return await super().create_room(key=key, name=name, topic=topic, invite=invite)


async def test_a_page_that_cannot_go_out_is_reported_once_and_its_time_starts_when_it_does(
    make: Make,
) -> None:
    messenger = HungRooms()
    bot = await make(messenger=messenger)
    bot.service.admin_room = ADMIN_ROOM
    await bot.say(REQ, ASK)
    sending = asyncio.create_task(bot.flush())  # stuck on the consult room
    consult = ConsultId("K-000001")
    assert bot.timers.due[consult][0] == NOW + ACK_TIMEOUT  # when it is reported if not out

    bot.clock.current = NOW + ACK_TIMEOUT
    assert await bot.timers.fire_until(bot.clock.now()) == 1
    await messenger.until(lambda: any("har inte gått fram" in t for t in messenger.said(DM)))
    await messenger.until(lambda: bool(messenger.said(ADMIN_ROOM)))
    [warning] = messenger.said(DM)  # the confirmation still waits for the consult room
    assert "K-000001" in warning and "ring växeln" in warning
    [alert] = messenger.said(ADMIN_ROOM)
    assert "nivå 1" in alert and "K-000001" in alert and QUESTION not in alert
    assert messenger.pages() == []
    assert consult not in bot.timers.due  # reported once; no escalation while it is not out
    assert await bot.state(consult) is State.PAGING

    out = NOW + ACK_TIMEOUT + timedelta(minutes=7)
    bot.clock.current = out  # the homeserver answers again
    messenger.release.set()
    await sending
    [page] = messenger.pages()
    assert page.content is not None and set(page.content.mentions) == {K1A, K1B}
    assert bot.timers.due[consult][0] == out + ACK_TIMEOUT  # its whole time, from now
    assert len([t for t in messenger.said(DM) if "har inte gått fram" in t]) == 1


async def test_the_warning_is_dropped_when_the_page_went_out_first(make: Make) -> None:
    bot = await make()
    bot.service.admin_room = ADMIN_ROOM
    await bot.say(REQ, ASK)
    await bot.fire_at(NOW + ACK_TIMEOUT, send=False)  # reported: the page was not out
    for item in await bot.consults.pending():  # … and the page goes out before the warning
        page = item.payload.get("type") in ("CreateRoom", "PageLevel")
        if page and not await bot.service.dispatcher.deliver(item):
            await bot.consults.sent(item.id, now=bot.clock.now())
    await bot.flush()
    assert len(bot.messenger.pages()) == 1
    assert not any("har inte gått fram" in t for t in bot.messenger.said(DM))
    assert any("har inte gått ut inom en svarstid" in t for t in bot.messenger.said(ADMIN_ROOM))


# --------------------------------------------------------------------------------------------
# Bad input


async def test_an_oversized_message_is_refused_and_stores_nothing(bot: Bot) -> None:
    await bot.say(REQ, "!konsult kardiologi " + "förmaksflimmer " * 20_000)
    await bot.say(REQ, "x" * 300_000)
    await bot.flush()
    assert bot.messenger.actions("create") == []
    assert await bot.consults.consult(ConsultId("K-000001")) is None
    assert "förmaksflimmer" not in await stored_text(bot.consults)
    assert len(bot.messenger.said(DM)) == 2


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ("!statistik", "administratörer"),
        ("!statistik 2026-11", "administratörer"),
        ("!aktivera", "administratörer"),
        ("!avbryt", "administratörer"),
        ("!återställ schema", "administratörer"),
        ("!återställ katalog", "administratörer"),
        ("!återställ personal", "administratörer"),
        ("!återställ kontakter", "administratörer"),
        ("!stats", "for administrators only"),  # an English alias: answered in English
        ("!activate", "the region's admins"),
        ("!cancel", "the region's admins"),
        ("!rollback roster", "the region's admins"),
    ],
)
async def test_a_non_admin_trying_an_admin_action_changes_nothing(
    bot: Bot, body: str, refusal: str
) -> None:
    before = [await bot.data.versions(kind) for kind in Dataset]
    await bot.say(REQ, body)
    await bot.flush()
    [reply] = bot.messenger.said(DM)
    assert refusal in reply  # a refusal, in one line, in the language of the command
    assert [await bot.data.versions(kind) for kind in Dataset] == before
    assert bot.messenger.actions("create") == []


# --------------------------------------------------------------------------------------------
# The limits are config keys with documented defaults


def test_repeat_and_request_limits_have_documented_defaults_and_are_checked(
    tmp_path: Path,
) -> None:
    example = load_config(example_config(), environ={})
    assert (example.bot.repeat_window_seconds, example.bot.request_limit) == (60, 5)
    assert example.bot.request_limit_seconds == 600
    text = example_config().read_text(encoding="utf-8")
    for key in ("repeat_window_seconds", "request_limit", "request_limit_seconds"):
        assert f"\n{key} = " in text
    minimal = text.split("[tracks.halvakut]")[0]
    path = tmp_path / "config.toml"
    path.write_text(minimal.replace("request_limit = 5", "request_limit = -1"), encoding="utf-8")
    with pytest.raises(ConfigError, match="request_limit"):
        load_config(path, environ={})
    path.write_text(minimal.replace("request_limit = 5", "request_limit = 0"), encoding="utf-8")
    assert load_config(path, environ={}).bot.request_limit == 0
