"""The service layer end to end: chat in, outbox, dispatcher, messages out (SPEC §6, §8).

Every scenario runs on each consult store (memory, SQLite, PostgreSQL) with the hand-driven bot
of tests/support/bots.py: the tests decide when the outbox is drained and when timers fire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consultbot.adapters.memory import (
    ManualClock,
)
from consultbot.domain.chat.audience import Fault
from consultbot.domain.chat.commands import MAX_BODY_LENGTH
from consultbot.domain.consult.escalation import Consult, Delivered, State
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId
from consultbot.engine.delivery.lanes import MAX_DELIVERY_ATTEMPTS
from consultbot.engine.stepper import Report
from consultbot.ports import (
    Content,
    IncomingFile,
    IncomingMessage,
)
from tests.support.bots import (
    ACK_TIMEOUT,
    ADMIN_ROOM,
    ASK,
    AUTO_CLOSE_AFTER,
    DM,
    EVENT_IDS,
    K1A,
    K1A_TEL,
    K1B,
    K2,
    K2_TEL,
    NOW,
    QUESTION,
    REMINDER_AFTER,
    REQ,
    REQ_TEL,
    STRANGER,
    SWITCHBOARD_TEL,
    TZ,
    Bot,
    Make,
    Messenger,
    Open,
    after,
    build,
    crash,
    day_roster,
    outbox_payloads,
    restart,
    shift,
    stored_text,
)

# --------------------------------------------------------------------------------------------
# 1. A consult is asked


async def test_konsult_creates_a_room_and_pages_level_one(bot: Bot) -> None:
    await bot.say(REQ, ASK)
    await bot.flush()
    m = bot.messenger

    replies = m.said(DM)
    assert len(replies) == 1
    assert "K-000001" in replies[0] and "är skapad" in replies[0]

    [created] = m.actions("create")
    assert set(created.users) == {K1A, K1B}  # the requester: after the page, below
    room = created.room
    assert await bot.consults.consult_for_room(room) == ConsultId("K-000001")
    assert all(QUESTION not in text for text in m.room_texts)  # name and topic: no patient data

    [page] = m.pages()
    assert page.room == room and page.content is not None
    assert set(page.content.mentions) == {K1A, K1B}
    assert QUESTION in page.content.text and QUESTION in page.content.html
    assert REQ_TEL in page.content.html
    assert 'href="https://matrix.to/#/@karin:localhost"' in page.content.html
    assert {REQ, K1A, K1B} <= set(m.recipients[page.event_id])
    assert K2 not in page.content.mentions
    # The requester can read the page (its key goes to them) and is invited right after it.
    [expected] = m.actions("expect")
    [invite] = m.actions("invite")
    assert expected.users == invite.users == (REQ,) and invite.room == room
    assert m.log.index(expected) < m.log.index(page) < m.log.index(invite)

    events = await bot.consults.events(ConsultId("K-000001"))
    # The page's time starts when it has gone out: its deadline is set then.
    assert [e.kind for e in events] == ["requested", "paged", "room_created", "page_delivered"]
    serialised = json.dumps([(e.kind, e.data) for e in events], ensure_ascii=False)
    assert QUESTION not in serialised
    payloads = json.dumps(await outbox_payloads(bot.consults), ensure_ascii=False)
    assert QUESTION not in payloads
    assert "förmaksflimmer" not in await stored_text(bot.consults)


# --------------------------------------------------------------------------------------------
# 2. Handled once


@dataclass
class SlowRooms(Messenger):
    """Creating a room takes many trips through the event loop (as a homeserver round trip
    does), so that a confirmation sent side by side would overtake it."""

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        for _ in range(20):
            await asyncio.sleep(0)
        return await super().create_room(key=key, name=name, topic=topic, invite=invite)


async def test_the_consult_room_invite_goes_out_before_the_requesters_confirmation(
    make: Make,
) -> None:
    bot = await make(messenger=SlowRooms())
    await bot.say(REQ, ASK)
    await bot.flush()
    log = bot.messenger.log
    create = next(n for n, s in enumerate(log) if s.action == "create")
    confirmation = next(n for n, s in enumerate(log) if s.action == "send" and s.room == DM)
    assert create < confirmation, [s.action for s in log]
    # The consultants are invited with the room (the invite is their page's first signal);
    # the requester after the page.
    assert set(log[create].users) == {K1A, K1B}
    [invite] = bot.messenger.actions("invite")
    assert invite.users == (REQ,) and log.index(bot.messenger.pages()[0]) < log.index(invite)
    assert "är skapad" in bot.messenger.said(DM)[0]


async def test_who_asks_in_english_is_answered_in_english_across_a_restart(bot: Bot) -> None:
    await bot.say(REQ, ASK.replace("!konsult", "!consult", 1))
    await bot.flush()
    [created] = bot.messenger.said(DM)
    assert "is created" in created and "skapad" not in created
    # The consult room is shared with the consultants: the config's language there.
    [page] = bot.messenger.pages()
    assert page.content is not None
    assert "Kvittera" in page.content.text and "Acknowledge" not in page.content.text
    # Later answers to the requester follow the language the consult was asked in, also when
    # rebuilt from the stored log.
    consult = await bot.consults.consult(ConsultId("K-000001"))
    assert consult is not None and consult.language == "en"
    await bot.say(K1A, "!avsluta råd", room=consult.room)
    await bot.flush()
    assert "is closed: advice" in bot.messenger.said(DM)[-1]
    assert "är avslutad: råd" in bot.messenger.said(consult.room)[-1]


async def test_the_same_message_twice_creates_one_consult(bot: Bot) -> None:
    message = await bot.say(REQ, ASK)
    await bot.service.inbox.handle_message(message)
    await bot.flush()
    assert len(bot.messenger.said(DM)) == 1
    assert len(bot.messenger.actions("create")) == 1
    assert len(bot.messenger.pages()) == 1
    assert [c.id for c in await bot.consults.consults_of(REQ)] == ["K-000001"]
    assert await bot.consults.consult(ConsultId("K-000002")) is None


async def test_the_same_reaction_twice_acknowledges_once(bot: Bot) -> None:
    consult, room = await bot.ask()
    reaction = await bot.react(K1A, "✅", room, bot.messenger.pages()[0].event_id)
    await bot.service.inbox.handle_reaction(reaction)
    await bot.flush()
    assert (await bot.kinds(consult)).count("acknowledged") == 1
    acknowledged = [t for t in bot.messenger.said(room) if "har kvitterat" in t]
    assert len(acknowledged) == 1


# --------------------------------------------------------------------------------------------
# 3. The timer escalates; reactions acknowledge


async def test_no_ack_within_the_timeout_pages_level_two_only(bot: Bot) -> None:
    consult, room = await bot.ask()
    assert bot.timers.due[consult][0] == NOW + ACK_TIMEOUT
    assert await bot.fire_at(NOW + ACK_TIMEOUT - timedelta(seconds=1)) == 0
    assert len(bot.messenger.pages()) == 1

    assert await bot.fire_at(NOW + ACK_TIMEOUT + timedelta(seconds=1)) == 1
    await bot.flush()
    [invite] = bot.messenger.escalation_invites()
    assert invite.room == room and invite.users == (K2,)
    _, second = bot.messenger.pages()
    assert second.content is not None and second.room == room
    assert second.content.mentions == (K2,)
    assert "nivå 2" in second.content.text and QUESTION in second.content.text
    assert K2 in bot.messenger.recipients[second.event_id]
    assert any("jag söker nivå 2" in t for t in bot.messenger.said(room))

    # level 2 acknowledges: the notice names them and carries their phone
    await bot.react(K2, "👍", room, second.event_id)
    await bot.flush()
    assert await bot.state(consult) is State.ACKNOWLEDGED
    ack = bot.messenger.sends(room)[-1].content
    assert ack is not None and "Bertil Bakjour" in ack.text and K2_TEL in ack.html
    assert len(bot.messenger.pages()) == 2  # nobody paged twice


async def test_who_is_paged_is_resolved_when_the_level_is_paged(make: Make) -> None:
    handover = NOW + timedelta(seconds=30)
    berit = UserId("@berit:localhost")
    roster = [
        *day_roster(levels=(1,)),
        shift(2, K2, "Bertil Bakjour", "070-222 22 22", NOW - timedelta(hours=8), handover),
        shift(2, berit, "Berit Bakjour", "070-555 55 55", handover, NOW + timedelta(hours=8)),
    ]
    bot = await make(roster=roster)
    consult, _room = await bot.ask()
    await bot.fire_at(NOW + ACK_TIMEOUT)
    await bot.flush()
    assert [i.users for i in bot.messenger.escalation_invites()] == [(berit,)]
    found = await bot.consults.consult(consult)
    assert found is not None and [p.user for p in found.pages[-1].people] == [berit]


async def test_an_empty_level_on_escalation_is_skipped_not_waited_out(make: Make) -> None:
    third = UserId("@tredje:localhost")
    start, end = NOW - timedelta(hours=8), NOW + timedelta(hours=8)
    roster = [*day_roster(levels=(1,)), shift(3, third, "Tea Tredje", "", start, end)]
    bot = await make(roster=roster)
    consult, _room = await bot.ask()
    assert await bot.fire_at(NOW + ACK_TIMEOUT) == 1
    await bot.flush()
    page = bot.messenger.pages()[-1].content
    assert page is not None and page.mentions == (third,) and "nivå 3" in page.text
    assert (await bot.kinds(consult))[-3:] == ["level_skipped", "paged", "page_delivered"]


@pytest.mark.parametrize("key", ["✅", "👍", "👍🏽", "✔️"])
async def test_ack_reactions_acknowledge(bot: Bot, key: str) -> None:
    consult, room = await bot.ask()
    await bot.react(K1A, key, room, bot.messenger.pages()[0].event_id)
    await bot.flush()
    found = await bot.consults.consult(consult)
    assert found is not None
    assert found.state is State.ACKNOWLEDGED and found.acked_by == K1A
    notice = bot.messenger.sends(room)[-1].content
    assert notice is not None and notice.notice
    assert "Karin Kardio" in notice.text and "har kvitterat" in notice.text
    assert K1A_TEL in notice.html
    # acknowledged: the old deadline pages nobody
    await bot.fire_at(NOW + 2 * ACK_TIMEOUT)
    await bot.flush()
    assert len(bot.messenger.pages()) == 1


@pytest.mark.parametrize(("who", "key"), [(STRANGER, "✅"), (K1A, "😀"), (REQ, "👍")])
async def test_other_reactions_do_nothing(bot: Bot, who: UserId, key: str) -> None:
    consult, room = await bot.ask()
    before_log, before_events = len(bot.messenger.log), await bot.kinds(consult)
    await bot.react(who, key, room, bot.messenger.pages()[0].event_id)
    assert await bot.consults.pending() == []
    await bot.flush()
    assert len(bot.messenger.log) == before_log
    assert await bot.kinds(consult) == before_events
    assert await bot.state(consult) is State.PAGING


async def test_a_message_from_a_paged_person_acknowledges(bot: Bot) -> None:
    consult, room = await bot.ask()
    await bot.say(REQ, "Hon står på Eliquis sedan tidigare.", room)
    assert await bot.state(consult) is State.PAGING  # the requester's own words are no ack
    await bot.say(K1B, "Jag ringer dig om fem minuter.", room)
    await bot.flush()
    found = await bot.consults.consult(consult)
    assert found is not None and found.acked_by == K1B


# --------------------------------------------------------------------------------------------
# 4. Acknowledgement and escalation race


async def test_ack_and_escalation_never_both_win(make: Make) -> None:
    winners: set[str] = set()
    for i in range(16):
        bot = await make()
        consult, room = await bot.ask()
        page = bot.messenger.pages()[0].event_id
        bot.clock.current = NOW + ACK_TIMEOUT + timedelta(seconds=5)
        reaction = bot.reaction(K1A, "✅", room, page)
        ack = after(i % 4, bot.consults, bot.service.inbox.handle_reaction(reaction))
        timer = after(2 * (i // 4), bot.consults, bot.service.stepper.on_timer(consult))
        await (asyncio.gather(ack, timer) if i % 2 else asyncio.gather(timer, ack))
        await bot.flush()

        kinds = await bot.kinds(consult)
        assert kinds.count("acknowledged") == 1, kinds
        acked_at = kinds.index("acknowledged")
        assert "paged" not in kinds[acked_at + 1 :], kinds
        levels = [e.data["level"] for e in await bot.consults.events(consult) if e.kind == "paged"]
        if kinds.count("paged") == 1:
            winners.add("ack")
            assert levels == [1]
            assert len(bot.messenger.pages()) == 1
        else:
            winners.add("timer")
            assert levels == [1, 2]
        sent = bot.messenger.sends(room)
        ack_notice = next(
            n for n, s in enumerate(sent) if s.content and "har kvitterat" in s.content.text
        )
        assert all(s.content and s.content.notice for s in sent[ack_notice:])
        assert await bot.state(consult) is State.ACKNOWLEDGED
    assert winners == {"ack", "timer"}


# --------------------------------------------------------------------------------------------
# 5. Restart safety (SQLite)


async def test_crash_before_anything_was_sent_loses_nothing(tmp_path: Path, open_db: Open) -> None:
    path = tmp_path / "consultbot.db"
    first = await build(await open_db(path))
    message = await first.say(REQ, ASK)
    assert first.messenger.log == []
    await crash(first)  # the crash: nothing was sent

    homeserver = Messenger(texts={message.event_id: ASK})
    bot = await restart(open_db, path, first, homeserver)
    consult = ConsultId("K-000001")
    # The page has not gone out: its time has not begun; the timer is the check that it does.
    assert bot.timers.due[consult][0] == NOW + ACK_TIMEOUT
    await bot.service.inbox.handle_message(message)  # the sync replays the old event: ignored
    bot.clock.advance(timedelta(minutes=3))  # the restart came later
    await bot.flush()
    assert bot.timers.due[consult][0] == NOW + timedelta(minutes=3) + ACK_TIMEOUT
    assert len(homeserver.said(DM)) == 1 and "K-000001" in homeserver.said(DM)[0]
    assert len(homeserver.actions("create")) == 1
    [page] = homeserver.pages()
    assert page.content is not None and QUESTION in page.content.text  # read again
    assert set(page.content.mentions) == {K1A, K1B}
    assert await bot.consults.consult(ConsultId("K-000002")) is None
    await bot.flush()
    # One room, one reply, one page (the requester's key expected with it), one invite.
    assert sorted(s.action for s in homeserver.log) == [
        "create",
        "expect",
        "invite",
        "send",
        "send",
    ]


async def test_crash_after_the_page_went_out_does_not_page_twice(
    tmp_path: Path, open_db: Open
) -> None:
    path = tmp_path / "consultbot.db"
    homeserver = Messenger()
    first = await build(await open_db(path), messenger=homeserver)
    await first.say(REQ, ASK)

    reported = first.service.stepper.report

    async def killed(consult: ConsultId, report: Report, **kwargs: Any) -> Consult | None:
        if isinstance(report, Delivered):
            raise asyncio.CancelledError  # the kill: the page is out, its step never recorded
        return await reported(consult, report, **kwargs)

    first.service.stepper.report = killed  # type: ignore[method-assign]
    page_txn = ""
    for item in await first.consults.pending():
        if item.payload.get("type") == "PageLevel":
            page_txn = item.txn
            with pytest.raises(asyncio.CancelledError):
                await first.service.dispatcher.deliver(item)
        else:
            await first.service.dispatcher.deliver(item)
            await first.consults.sent(item.id, now=first.clock.now())
    await crash(first)
    assert len(homeserver.pages()) == 1

    bot = await restart(open_db, path, first, homeserver)
    [again] = await bot.consults.pending()
    assert again.txn == page_txn
    await bot.flush()
    assert len(homeserver.pages()) == 1
    assert len(homeserver.actions("create")) == 1
    assert await bot.consults.pending() == []
    # The repeat's step started the level's time, once.
    assert (await bot.kinds(ConsultId("K-000001"))).count("page_delivered") == 1
    assert bot.timers.due[ConsultId("K-000001")][0] == NOW + ACK_TIMEOUT


async def test_a_deadline_that_passed_while_down_escalates_at_start(
    tmp_path: Path, open_db: Open
) -> None:
    path = tmp_path / "consultbot.db"
    first = await build(await open_db(path))
    message = await first.say(REQ, ASK)
    await first.flush()
    room = first.messenger.pages()[0].room
    await crash(first)

    first.clock.advance(ACK_TIMEOUT + timedelta(minutes=10))  # down past the deadline
    homeserver = Messenger(texts={message.event_id: ASK})
    bot = await restart(open_db, path, first, homeserver)
    consult = ConsultId("K-000001")
    # Fired by the start itself, before any sync: level 2 is paged; its time starts when
    # the page has gone out.
    assert (await bot.kinds(consult)).count("paged") == 2
    assert (await bot.kinds(consult))[-1] == "paged"  # decided; not out yet
    await bot.flush()
    assert (await bot.kinds(consult))[-1] == "page_delivered"
    due, _ = bot.timers.due[consult]
    assert due == bot.clock.now() + ACK_TIMEOUT
    assert await bot.timers.fire_until(bot.clock.now()) == 0
    [page] = homeserver.pages()
    assert page.room == room and page.content is not None
    assert page.content.mentions == (K2,) and QUESTION in page.content.text
    assert [i.users for i in homeserver.escalation_invites()] == [(K2,)]
    assert homeserver.actions("create") == []
    assert (await bot.kinds(consult)).count("paged") == 2


async def test_after_a_restart_the_requester_is_still_answered_where_they_asked(
    tmp_path: Path, open_db: Open
) -> None:
    """The requester's room and message are known only from the consult's log after a
    restart: the confirmation of the close and the page's question depend on them."""
    path = tmp_path / "consultbot.db"
    first = await build(await open_db(path))
    message = await first.say(REQ, ASK)
    await first.flush()
    room = first.messenger.pages()[0].room
    await crash(first)

    homeserver = Messenger(texts={message.event_id: ASK})
    bot = await restart(open_db, path, first, homeserver)
    await bot.fire_at(NOW + ACK_TIMEOUT)  # level 2 is paged by the new process
    await bot.flush()
    [page] = homeserver.pages()
    assert page.room == room and page.content is not None
    assert QUESTION in page.content.text  # read again from the requester's message
    await bot.say(K2, "!avsluta råd", room)
    await bot.flush()
    assert "är avslutad: råd" in homeserver.said(DM)[-1]
    assert "är avslutad: råd" in homeserver.said(room)[-1]


# --------------------------------------------------------------------------------------------
# 6. Outbox retry


async def test_a_failing_homeserver_is_retried_and_nothing_is_doubled(bot: Bot) -> None:
    bot.messenger.fail_next = 2
    await bot.say(REQ, ASK)
    await bot.flush()
    assert len(bot.messenger.said(DM)) == 1
    assert len(bot.messenger.actions("create")) == 1
    assert len(bot.messenger.pages()) == 1
    assert await bot.consults.pending() == []


async def test_a_longer_outage_drops_no_page(bot: Bot) -> None:
    """SPEC §8: nothing queued is dropped (the Dispatcher says it retries "until done").

    A send that fails more than MAX_DELIVERY_ATTEMPTS times in a row (502s while Synapse
    restarts behind a proxy, a room not yet in sync) must not be marked sent undelivered."""
    await bot.say(REQ, ASK)
    [reply, create, _page, _invite] = await bot.consults.pending()
    for item in (reply, create):
        await bot.service.dispatcher.deliver(item)
        await bot.consults.sent(item.id, now=bot.clock.now())
    bot.messenger.fail_next = MAX_DELIVERY_ATTEMPTS + 1
    await bot.flush()
    assert len(bot.messenger.pages()) == 1, "the page was marked sent but never delivered"


@dataclass
class RefusesInvites(Messenger):
    """Inviting the requester fails (no answer) `failing` times, then works."""

    failing: int = 0

    async def let_in(self, room: str, user: UserId) -> bool:
        if self.failing:
            self.failing -= 1
            await asyncio.sleep(0.01)  # as a request that gets no answer: not a busy loop
            raise ConnectionError("homeserver unreachable (simulated)")
        return await super().let_in(room, user)


async def test_a_longer_outage_after_the_page_still_lets_the_requester_in(make: Make) -> None:
    """The requester is invited right after the page; when that fails, and their invite's
    entry fails for longer than a notice's retries, they are still let in in the end."""
    messenger = RefusesInvites(failing=MAX_DELIVERY_ATTEMPTS + 2)
    bot = await make(messenger=messenger)
    await bot.say(REQ, ASK)
    await bot.flush()
    assert messenger.failing == 0  # the invite after the page, then the entry's retries
    [invited] = messenger.actions("invite")
    assert invited.users == (REQ,) and await bot.consults.pending() == []
    assert len(messenger.pages()) == 1


async def test_a_requester_who_cannot_be_invited_holds_up_no_page(make: Make) -> None:
    """The requester's invite, never given up, is in a lane of its own: while it fails the
    next level is still paged on time."""
    messenger = RefusesInvites(failing=10**6)
    bot = await make(messenger=messenger)
    await bot.say(REQ, ASK)
    drain = asyncio.create_task(bot.flush())
    try:
        consult = ConsultId("K-000001")
        async with asyncio.timeout(5):
            # The page out and its step recorded: its level's time has started.
            while "page_delivered" not in await bot.kinds(consult):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert await bot.fire_at(NOW + ACK_TIMEOUT + timedelta(seconds=1), send=False) == 1
        async with asyncio.timeout(5):
            while len(messenger.pages()) < 2:  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0.01)
        [second] = messenger.escalation_invites()
        assert second.users == (K2,) and messenger.actions("invite") == [second]
    finally:
        messenger.failing = 0
        await drain
    assert await bot.consults.pending() == []


@dataclass
class RefusesAcks(Messenger):
    """A homeserver that keeps refusing one message (the acknowledgement notice)."""

    refused: int = 0

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        if "har kvitterat" in content.text:
            self.refused += 1
            raise ConnectionError("refused (simulated)")
        return await super().send(room, content, txn=txn, recipients=recipients, numbers=numbers)


async def test_a_notice_that_keeps_failing_is_given_up_and_its_consult_goes_on(
    make: Make,
) -> None:
    bot = await make(messenger=RefusesAcks())
    consult, room = await bot.ask()
    await bot.react(K1A, "✅", room, bot.messenger.pages()[0].event_id)
    await bot.say(K1A, "!avsluta råd", room)
    await bot.flush()
    assert isinstance(bot.messenger, RefusesAcks)
    assert bot.messenger.refused == MAX_DELIVERY_ATTEMPTS
    assert "är avslutad: råd" in bot.messenger.said(room)[-1]  # the next notice went out
    assert "är avslutad: råd" in bot.messenger.said(DM)[-1]
    assert await bot.consults.pending() == []
    assert await bot.state(consult) is State.CLOSED


# --------------------------------------------------------------------------------------------
# 7. Passing on


async def test_pass_on_by_the_paged_person_pages_level_two_now(bot: Bot) -> None:
    consult, room = await bot.ask()
    await bot.say(K1A, "!vidare", room)
    await bot.flush()
    pages = bot.messenger.pages()
    assert len(pages) == 2 and pages[1].content is not None
    assert pages[1].content.mentions == (K2,)
    assert [i.users for i in bot.messenger.escalation_invites()] == [(K2,)]
    assert bot.timers.due[consult][0] == NOW + ACK_TIMEOUT  # a new deadline for level 2
    assert "passed_on" in await bot.kinds(consult)


async def test_pass_on_by_the_requester_is_refused(bot: Bot) -> None:
    consult, room = await bot.ask()
    await bot.say(REQ, "!vidare", room)
    await bot.flush()
    assert "Bara den som söks just nu kan skicka vidare" in bot.messenger.said(room)[-1]
    assert len(bot.messenger.pages()) == 1
    assert "passed_on" not in await bot.kinds(consult)


# --------------------------------------------------------------------------------------------
# 8. Empty levels


async def test_an_empty_level_one_pages_level_two_at_once(make: Make) -> None:
    bot = await make(roster=day_roster(levels=(2,)))
    consult, _room = await bot.ask()
    [created] = bot.messenger.actions("create")
    assert set(created.users) == {K2}
    [page] = bot.messenger.pages()
    assert page.content is not None and page.content.mentions == (K2,)
    assert QUESTION in page.content.text
    assert await bot.kinds(consult) == [
        "requested",
        "level_skipped",
        "paged",
        "room_created",
        "page_delivered",
    ]


async def test_nobody_on_duty_sends_the_switchboard_and_alerts_admins(make: Make) -> None:
    bot = await make(roster=[])
    bot.service.admin_room = ADMIN_ROOM
    await bot.say(REQ, ASK)
    await bot.flush()
    [reply] = bot.messenger.sends(DM)
    assert reply.content is not None
    assert "Ring växeln" in reply.content.text and SWITCHBOARD_TEL in reply.content.html
    [alert] = bot.messenger.sends(ADMIN_ROOM)
    assert alert.content is not None and "K-000001" in alert.content.text
    assert bot.messenger.actions("create") == [] and bot.messenger.pages() == []
    assert await bot.state(ConsultId("K-000001")) is State.UNANSWERED
    assert "förmaksflimmer" not in await stored_text(bot.consults)


async def test_the_last_level_timing_out_leaves_the_switchboard(bot: Bot) -> None:
    bot.service.admin_room = ADMIN_ROOM
    consult, _room = await bot.ask()
    await bot.fire_at(NOW + ACK_TIMEOUT)
    await bot.fire_at(NOW + 2 * ACK_TIMEOUT)
    await bot.flush()
    assert await bot.state(consult) is State.UNANSWERED
    unanswered = bot.messenger.sends(DM)[-1].content
    assert unanswered is not None and SWITCHBOARD_TEL in unanswered.html
    assert len(bot.messenger.sends(ADMIN_ROOM)) == 1
    assert len(bot.messenger.pages()) == 2
    assert consult not in bot.timers.due


# --------------------------------------------------------------------------------------------
# 9. Outside hours

EVENING = datetime(2026, 11, 23, 20, 0, tzinfo=TZ)
OPENING = datetime(2026, 11, 24, 8, 0, tzinfo=TZ)
NIGHT = UserId("@natt:localhost")
DAY = UserId("@dag:localhost")


def day_and_night() -> list[Shift]:
    return [
        shift(1, NIGHT, "Nina Natt", "070-333 33 33", EVENING - timedelta(hours=3), OPENING),
        shift(1, DAY, "Dag Dagsson", "070-444 44 44", OPENING, OPENING + timedelta(hours=9)),
    ]


async def outside_hours(make: Make) -> tuple[Bot, ConsultId]:
    bot = await make(hours="daily 08:00-09:00", roster=day_and_night(), clock=ManualClock(EVENING))
    await bot.say(REQ, ASK)
    await bot.flush()
    [reply] = bot.messenger.sends(DM)
    assert reply.content is not None
    assert "stängt nu" in reply.content.text and SWITCHBOARD_TEL in reply.content.html
    assert "2026-11-24 kl. 08:00" in reply.content.text and "!kö" in reply.content.text
    assert bot.messenger.actions("create") == [] and bot.messenger.pages() == []
    return bot, ConsultId("K-000001")


async def test_outside_hours_a_queued_consult_pages_at_the_opening(make: Make) -> None:
    bot, consult = await outside_hours(make)
    await bot.say(REQ, "!kö")
    await bot.flush()
    queued = bot.messenger.said(DM)[-1]
    assert "är köad" in queued and "kl. 08:00" in queued
    assert bot.timers.due[consult][0] == OPENING

    assert await bot.fire_at(OPENING - timedelta(minutes=1)) == 0
    assert await bot.fire_at(OPENING) == 1
    await bot.flush()
    assert "Nu öppnar" in bot.messenger.said(DM)[-1]
    [created] = bot.messenger.actions("create")
    assert set(created.users) == {DAY}  # on duty at the opening, not when asked
    [page] = bot.messenger.pages()
    assert page.content is not None and page.content.mentions == (DAY,)
    assert QUESTION in page.content.text


async def test_outside_hours_an_offer_not_taken_lapses(make: Make) -> None:
    bot, consult = await outside_hours(make)
    await bot.fire_at(OPENING)
    await bot.flush()
    assert "köades inte och är struken" in bot.messenger.said(DM)[-1]
    assert await bot.state(consult) is State.WITHDRAWN
    assert bot.messenger.actions("create") == [] and bot.messenger.pages() == []
    await bot.say(REQ, "!kö")
    await bot.flush()
    assert "ingen konsultation att köa" in bot.messenger.said(DM)[-1]


# --------------------------------------------------------------------------------------------
# 10. Closing


async def acknowledged(bot: Bot) -> tuple[ConsultId, str]:
    consult, room = await bot.ask()
    await bot.react(K1A, "✅", room, bot.messenger.pages()[0].event_id)
    await bot.flush()
    return consult, room


async def test_close_by_the_acknowledger(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    await bot.say(K1A, "!avsluta råd", room)
    await bot.flush()
    assert "är avslutad: råd – remiss undviken" in bot.messenger.said(room)[-1]
    assert "är avslutad: råd" in bot.messenger.said(DM)[-1]
    found = await bot.consults.consult(consult)
    assert found is not None and found.state is State.CLOSED
    assert found.outcome is Outcome.ADVICE and found.closed_by == K1A
    assert consult not in bot.timers.due
    assert await bot.consults.consults_of(REQ) == []


async def test_kvittera_on_a_closed_consult_says_so_and_changes_nothing(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    await bot.say(K1A, "!avsluta råd", room)
    await bot.flush()
    kinds = await bot.kinds(consult)
    sent = len(bot.messenger.log)
    await bot.say(K1A, "!kvittera", room)
    await bot.flush()
    assert bot.messenger.said(room)[-1].startswith("Konsultationen är inte öppen för det längre.")
    assert len(bot.messenger.log) == sent + 1  # that notice only: nobody is paged
    assert await bot.kinds(consult) == kinds
    found = await bot.consults.consult(consult)
    assert found is not None and found.state is State.CLOSED and found.outcome is Outcome.ADVICE


async def test_close_with_an_unknown_outcome_or_by_a_stranger(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    await bot.say(K1A, "!avsluta okänt", room)
    await bot.flush()
    assert "Utfall: råd | remiss" in bot.messenger.said(room)[-1]
    await bot.say(STRANGER, "!avsluta remiss", room)
    await bot.flush()
    assert "Bara beställaren och den som har sökts" in bot.messenger.said(room)[-1]
    assert await bot.state(consult) is State.ACKNOWLEDGED


async def test_an_open_acknowledged_consult_is_reminded_then_auto_closed(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    assert await bot.fire_at(NOW + REMINDER_AFTER - timedelta(seconds=1)) == 0
    assert await bot.fire_at(NOW + REMINDER_AFTER) == 1
    await bot.flush()
    assert "Påminnelse" in bot.messenger.said(room)[-1]
    assert await bot.state(consult) is State.ACKNOWLEDGED
    assert await bot.fire_at(NOW + AUTO_CLOSE_AFTER - timedelta(seconds=1)) == 0
    assert await bot.fire_at(NOW + AUTO_CLOSE_AFTER) == 1
    await bot.flush()
    assert "stängdes utan utfall" in bot.messenger.said(room)[-1]
    found = await bot.consults.consult(consult)
    assert found is not None and found.outcome is Outcome.UNKNOWN
    assert len(bot.messenger.pages()) == 1


# --------------------------------------------------------------------------------------------
# 11. Personal identity numbers


@pytest.mark.parametrize(
    "body", ["pat 19121212-1212 har ont", "!konsult kardiologi 121212-1212 har ont i bröstet"]
)
async def test_a_personal_number_is_redacted_and_no_consult_made(bot: Bot, body: str) -> None:
    message = await bot.say(REQ, body)
    await bot.flush()
    [redact] = bot.messenger.actions("redact")
    assert redact.room == DM and redact.event_id == message.event_id
    [notice] = bot.messenger.sends(DM)
    assert notice.content is not None and "personnummer" in notice.content.text
    assert bot.messenger.actions("create") == [] and bot.messenger.pages() == []
    assert await bot.consults.consult(ConsultId("K-000001")) is None
    assert "1212-1212" not in json.dumps(await outbox_payloads(bot.consults))
    assert "1212-1212" not in await stored_text(bot.consults)


def heard(body: str = "", *, sender: UserId = REQ, **kwargs: Any) -> IncomingMessage:
    """A message as the Matrix adapter delivers it (other text, read-only kinds)."""
    return IncomingMessage(
        room=DM,
        event_id=f"$ev{next(EVENT_IDS)}",
        sender=sender,
        body=body,
        at=NOW,
        direct=True,
        **kwargs,
    )


@pytest.mark.parametrize(
    "message",
    [
        heard(other_text=("pat 19121212-1212",), read_only=True),  # m.notice, m.emote
        heard(other_text=("* pat", "pat 19121212\u20111212"), read_only=True),  # an edit
        heard("Jag ringer", other_text=("> <@d:localhost> pat 121212-1212\n\nJag ringer",)),
        heard("pat (se nedan)", other_text=("pat １９１２１２１２－１２１２",)),  # formatted_body
        heard("!konsult kardiologi pat 121212-1212 har ont", sender=UserId("@x:evil.example")),
    ],
    ids=["notice or emote", "edit", "quoted in a reply", "formatted body", "disallowed sender"],
)
async def test_a_personal_number_anywhere_in_a_message_is_redacted(
    bot: Bot, message: IncomingMessage
) -> None:
    await bot.service.inbox.handle_message(message)
    await bot.flush()
    [redact] = bot.messenger.actions("redact")
    assert redact.room == DM and redact.event_id == message.event_id
    [notice] = bot.messenger.sends(DM)
    assert notice.content is not None and "personnummer" in notice.content.text
    assert bot.messenger.actions("create") == [] and bot.messenger.pages() == []
    assert await bot.consults.consult(ConsultId("K-000001")) is None


async def test_in_a_room_unfit_for_answers_the_number_is_redacted_without_a_word(
    bot: Bot,
) -> None:
    message = heard("pat 19121212-1212", unfit=(Fault.UNENCRYPTED,))
    await bot.service.inbox.handle_message(message)
    await bot.flush()
    [redact] = bot.messenger.actions("redact")
    assert redact.event_id == message.event_id
    assert bot.messenger.sends() == []


@pytest.mark.parametrize(
    "key", ["19121212-1212", "121212 \u2013 1212", "✅ 121212-1212"], ids=["plain", "spaced", "ack"]
)
async def test_a_reaction_whose_key_is_a_personal_number_is_redacted(bot: Bot, key: str) -> None:
    # A reaction's key is free text every member sees; in a consult room it acknowledges nothing.
    consult, room = await bot.ask()
    before = await bot.state(consult)
    reaction = bot.reaction(K1A, key, room)
    await bot.service.inbox.handle_reaction(reaction)
    await bot.flush()
    [redact] = bot.messenger.actions("redact")
    assert redact.room == room and redact.event_id == reaction.event_id
    assert "personnummer" in bot.messenger.said(room)[-1]
    assert await bot.state(consult) is before


async def test_a_reaction_with_a_personal_number_in_an_unfit_room_is_redacted_without_a_word(
    bot: Bot,
) -> None:
    reaction = replace(bot.reaction(REQ, "19121212-1212", DM), unfit=(Fault.UNENCRYPTED,))
    await bot.service.inbox.handle_reaction(reaction)
    await bot.flush()
    [redact] = bot.messenger.actions("redact")
    assert redact.event_id == reaction.event_id
    assert bot.messenger.sends() == []


async def test_a_notice_emote_or_edit_is_never_a_command(bot: Bot) -> None:
    # An edit of a command is not a new command, nor is it answered with the hint.
    await bot.service.inbox.handle_message(heard(other_text=(f"* {ASK}", ASK), read_only=True))
    await bot.flush()
    assert bot.messenger.log == []
    assert await bot.consults.consult(ConsultId("K-000001")) is None


async def test_a_file_named_with_a_personal_number_is_redacted(bot: Bot) -> None:
    upload = IncomingFile(
        room=DM,
        event_id=f"$ev{next(EVENT_IDS)}",
        sender=REQ,
        name="remiss.pdf",
        mimetype="application/pdf",
        size=10,
        ref={},
        at=NOW,
        direct=True,
        other_text=("remiss.pdf", "remiss 19121212-1212.pdf"),
    )
    await bot.service.inbox.handle_file(upload)
    await bot.flush()
    [redact] = bot.messenger.actions("redact")
    assert redact.event_id == upload.event_id


@pytest.mark.parametrize(
    "body",
    [
        "!avsluta " + "." * 9000,
        "!konsult kardiologi " + "a" * 9000,
        "!mdk " + "a," * 4500 + " fråga",
        "!hjälp " + "!" * 9000,
        "!okänt " + "x" * 9000,
        "!consult kardiologi " + "a" * 9000,
    ],
    ids=["avsluta", "konsult", "mdk", "hjälp", "unknown", "english"],
)
async def test_an_over_long_command_gets_one_short_answer(bot: Bot, body: str) -> None:
    await bot.say(REQ, body)
    await bot.flush()
    [answer] = bot.messenger.sends(DM)
    assert answer.content is not None
    limit = str(MAX_BODY_LENGTH)
    assert limit in answer.content.text and len(answer.content.text) < 100
    assert ("too long" in answer.content.text) == body.startswith("!consult")
    assert bot.messenger.actions("create") == []


# --------------------------------------------------------------------------------------------
# 12. Disallowed servers


async def test_a_disallowed_server_is_refused(bot: Bot) -> None:
    await bot.say(UserId("@x:evil.example"), ASK)
    await bot.flush()
    [refusal] = bot.messenger.log
    assert refusal.action == "send" and refusal.room == DM and refusal.content is not None
    assert "localhost" in refusal.content.text and refusal.content.notice
    assert await bot.consults.consult(ConsultId("K-000001")) is None
    assert "förmaksflimmer" not in await stored_text(bot.consults)


# --------------------------------------------------------------------------------------------
# 13. Other commands


async def test_vem_lists_the_people_per_level(bot: Bot) -> None:
    await bot.say(REQ, "!vem kardiologi")
    await bot.flush()
    [reply] = bot.messenger.sends(DM)
    assert reply.content is not None
    text = reply.content.text
    level1 = next(line for line in text.splitlines() if line.startswith("Nivå 1"))
    level2 = next(line for line in text.splitlines() if line.startswith("Nivå 2"))
    assert "Karin Kardio" in level1 and "Kalle Kardio" in level1 and "Bertil" not in level1
    assert "Bertil Bakjour" in level2
    assert K1A_TEL in reply.content.html


async def test_status_lists_the_users_open_consults(bot: Bot) -> None:
    await bot.say(REQ, "!status")
    await bot.flush()
    assert "inga öppna konsultationer" in bot.messenger.said(DM)[-1]
    await bot.ask()
    await bot.say(REQ, "!status")
    await bot.flush()
    status = bot.messenger.said(DM)[-1]
    assert "K-000001" in status and "Kardiologi, Falu lasarett" in status and "söker" in status
    await bot.say(K1A, "!status", "!dm-karin:localhost")
    await bot.flush()
    assert "K-000001" in bot.messenger.said("!dm-karin:localhost")[-1]


@pytest.mark.parametrize(
    ("body", "english", "swedish"),
    [
        ("!who kardiologi", "on duty now", "i tjänst nu"),
        ("!vem kardiologi", "i tjänst nu", "on duty now"),
        ("!status", "You have no open consults", "Du har inga"),
        ("!contact xyzzy", "Nothing in the directory", "Inget i kontaktlistan"),
        ("!consult okänd fråga", "I do not know the service", "Jag känner inte"),
        ("!ack", "Use that command in the consult room", "används i konsultrummet"),
    ],
)
async def test_an_answer_is_in_one_language_english_for_english_aliases(
    bot: Bot, body: str, english: str, swedish: str
) -> None:
    await bot.say(REQ, body)
    await bot.flush()
    [reply] = bot.messenger.said(DM)
    if body == "!status":  # a shared spelling: the config's language
        english, swedish = swedish, english
    assert english in reply and swedish not in reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("!hjälp", "!konsult TJÄNST FRÅGA"),
        ("!help", "!consult SERVICE QUESTION"),
        ("!frobnicate", "Okänt kommando"),
        ("!kvittera", "används i konsultrummet"),
        ("!avsluta råd", "används i konsultrummet"),
        ("!konsult okänd-tjänst fråga", "Jag känner inte till tjänsten"),
        ("hej", "!hjälp"),
    ],
)
async def test_direct_message_commands(bot: Bot, body: str, expected: str) -> None:
    await bot.say(REQ, body)
    await bot.flush()
    [reply] = bot.messenger.said(DM)
    assert expected in reply
    assert await bot.consults.consult(ConsultId("K-000001")) is None


# --------------------------------------------------------------------------------------------
# 14. !ring


async def test_ring_by_the_requester_gives_the_acknowledgers_number(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    await bot.say(REQ, "!ring", room)
    await bot.flush()
    notice = bot.messenger.sends(room)[-1].content
    assert notice is not None and notice.notice and K1A_TEL in notice.html
    assert "phone_contact" in await bot.kinds(consult)


async def test_ring_by_the_consultant_gives_the_requesters_number(bot: Bot) -> None:
    consult, room = await acknowledged(bot)
    await bot.say(K1A, "!ring", room)
    await bot.flush()
    notice = bot.messenger.sends(room)[-1].content
    assert notice is not None and "Ring beställaren" in notice.text and REQ_TEL in notice.html
    found = await bot.consults.consult(consult)
    assert found is not None and found.phone_contacts == 1


async def test_an_ack_before_the_escalation_went_out_stops_the_page(bot: Bot) -> None:
    """The timer decided on level 2, but level 1 acknowledged before the page was sent."""
    consult, room = await bot.ask()
    assert await bot.fire_at(NOW + ACK_TIMEOUT + timedelta(seconds=1), send=False) == 1
    await bot.react(K1A, "✅", room)  # before the dispatcher sent the escalation
    await bot.flush()
    assert await bot.state(consult) is State.ACKNOWLEDGED
    assert len(bot.messenger.pages()) == 1  # only the level-1 page ever went out
    assert bot.messenger.escalation_invites() == []
    assert not any("jag söker nivå 2" in t for t in bot.messenger.said(room))


async def test_akut_uses_the_acute_tracks_shorter_timeout(bot: Bot) -> None:
    await bot.say(REQ, f"!akut kardiologi {QUESTION}")
    await bot.flush()
    consult = (await bot.consults.consults_of(REQ))[0]
    assert consult.track is Track.AKUT
    # config default for akut: 180 s per level, and always open
    assert bot.timers.due[consult.id][0] == NOW + timedelta(seconds=180)
    assert len(bot.messenger.pages()) == 1


async def test_vc_finds_the_primary_care_centre_by_municipality(make: Make) -> None:
    vc = ServiceId("vc-mora")
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=8)
    doctor = Shift(
        service=vc, level=1, start=start, end=end, user=K1A, name="Karin", phone="0250-1"
    )
    bot = await make(roster=[])
    await bot.data.import_roster([doctor], {vc: (start, end)}, source="vc", now=NOW)
    bot.clock.current = NOW  # a Monday morning
    await bot.say(REQ, "!vc mora Patienten har feber, kan ni ta emot idag?")
    await bot.flush()
    [consult] = await bot.consults.consults_of(REQ)
    assert consult.service == vc and consult.track is Track.PRIMARVARD
    [page] = bot.messenger.pages()
    assert page.content is not None and page.content.mentions == (K1A,)


async def test_without_an_admin_room_each_admin_gets_a_room_of_their_own(make: Make) -> None:
    bot = await make(roster=[])  # the config names @admin:localhost as the only admin
    for n in range(2):
        await bot.say(REQ, f"{ASK} ({n})")  # two questions (the same one twice is one consult)
        await bot.flush()
    [create] = bot.messenger.actions("create")  # one room for the admin, reused
    assert create.users == (UserId("@admin:localhost"),)
    alerts = bot.messenger.sends(create.room)
    assert [a.content is not None and "obesvarad" in a.content.text for a in alerts] == [True, True]
    assert {"K-000001", "K-000002"} <= {
        w for a in alerts if a.content for w in a.content.text.split()
    }
