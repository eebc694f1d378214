"""The notice the homeserver posts when the bot is gone (issue 24 item 2, SPEC §6 "Never
silent"; engine/dead_man.py): kept in every open consult room, restarted well before it is due,
cancelled when the consult closes, adopted after a restart, never scheduled on a homeserver
without delayed events. The homeserver here is a fake that records the requests (the real one:
tests/integration/test_dead_man_live.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from consultbot.adapters.memory import MemoryConsultStore
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.model import Page
from consultbot.domain.types import ConsultId, ServiceId, Track
from consultbot.engine.dead_man import (
    AFTER_PAGES_SECONDS,
    IN_FLIGHT,
    META,
    RETRY_SECONDS,
    DeadMan,
)
from consultbot.ports.delayed import DelayedNotices, DelayRefused
from tests.support.bots import ASK, K1A, NOW, REQ, Bot, HungPages, Messenger, build
from tests.support.waiting import eventually

DELAY = 60  # the default bot.dead_man_seconds
PERIOD = DELAY / 3


@dataclass
class Homeserver(DelayedNotices):
    """Delayed notices as Synapse keeps them, every request recorded; `refuse` makes the next
    request answer 429 with that retry_after."""

    offered: bool = True
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (room, text)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    refuse: list[float | None] = field(default_factory=list)  # None: a 5xx, no wait named
    made: int = 0

    def _maybe_refuse(self, what: str) -> None:
        if self.refuse:
            self.calls.append(("429", what))
            raise DelayRefused(f"{what}: HTTP 429", self.refuse.pop(0))

    async def delayed_offered(self) -> bool:
        return self.offered

    async def schedule_notice(self, room: str, text: str, *, delay_seconds: int, txn: str) -> str:
        assert self.offered, "a delayed send to a homeserver without delayed events"
        self._maybe_refuse("schedule")
        self.made += 1
        delay_id = f"syd_{self.made}"
        self.pending[delay_id] = (room, text)
        self.calls.append(("schedule", (room, text, delay_seconds)))
        return delay_id

    async def restart_notice(self, delay_id: str) -> bool:
        self._maybe_refuse("restart")
        self.calls.append(("restart", delay_id))
        return delay_id in self.pending

    async def cancel_notice(self, delay_id: str) -> None:
        self._maybe_refuse("cancel")
        self.calls.append(("cancel", delay_id))
        self.pending.pop(delay_id, None)

    async def pending_notices(self) -> dict[str, str]:
        return {k: room for k, (room, _) in self.pending.items()}

    def post(self, delay_id: str) -> None:
        """The delay ran out: the homeserver posted the notice."""
        del self.pending[delay_id]

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


async def turn(dead_man: DeadMan) -> float:
    """One turn of the worker as its loop takes it: the requests due, then again whenever a
    restart sent beside it is answered; the seconds it would then wait."""
    wait = await dead_man.work()
    while await dead_man.landed():
        wait = await dead_man.work()
    return wait


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def started(
    hs: Homeserver,
    store: MemoryConsultStore | None = None,
    bot: Bot | None = None,
    messenger: Messenger | None = None,
) -> tuple[Bot, Monotonic]:
    """A bot on `store` (a restart when `bot` is given: same data and messenger) whose
    notice worker has detected the feature and adopted what the store holds."""
    store = store or MemoryConsultStore()
    if bot is None:
        new = await build(store, notices=hs, messenger=messenger)
    else:
        new = await build(store, data=bot.data, messenger=bot.messenger, notices=hs)
    clock = Monotonic()
    new.service.dead_man.now = clock
    await new.service.start()
    dead_man = new.service.dead_man
    if await dead_man.detect():
        await dead_man.adopt()
    return new, clock


async def test_an_open_consult_room_holds_one_notice_with_the_switchboard(bot: Bot) -> None:
    hs = Homeserver()
    bot, clock = await started(hs)
    _, room = await bot.ask()
    await turn(bot.service.dead_man)
    assert hs.calls == [
        (
            "schedule",
            (room, "Konsultboten svarar inte just nu. Ring växeln 023-49 00 00.", DELAY),
        )
    ]
    [delay_id] = hs.pending
    assert await bot.consults.meta_under(META) == {f"{META}K-000001": delay_id}
    # Nothing more while the consult goes on, until a third of the delay has passed.
    await turn(bot.service.dead_man)
    clock.t += PERIOD - 1
    await turn(bot.service.dead_man)
    assert hs.kinds() == ["schedule"]


async def test_the_notice_is_restarted_every_third_of_the_delay() -> None:
    hs = Homeserver()
    bot, clock = await started(hs)
    await bot.ask()
    dead_man = bot.service.dead_man
    await turn(dead_man)
    [delay_id] = hs.pending
    for _ in range(4):
        wait = await turn(dead_man)
        assert wait == PERIOD
        clock.t += wait
        await turn(dead_man)
    assert hs.calls[1:] == [("restart", delay_id)] * 4
    assert list(hs.pending) == [delay_id]  # never posted, never a second one


async def three_rooms(hs: Homeserver) -> tuple[Bot, Monotonic]:
    """A bot with three open consults, each room's notice scheduled."""
    bot, clock = await started(hs)
    for n in range(3):
        await bot.say(REQ, ASK + f" ({n})")
        await bot.flush()
    await turn(bot.service.dead_man)
    return bot, clock


async def test_restarts_of_many_rooms_are_spread_over_the_period() -> None:
    hs = Homeserver()
    bot, clock = await three_rooms(hs)
    dead_man = bot.service.dead_man
    assert hs.kinds() == ["schedule"] * 3
    clock.t += PERIOD
    restarts: list[tuple[float, str]] = []
    while len(restarts) < 9:
        done = len(hs.calls)
        wait = await turn(dead_man)
        restarts += [(clock.t, str(arg)) for _, arg in hs.calls[done:]]
        clock.t += wait
    times = [t for t, _ in restarts]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= PERIOD / 3 - 1e-9 for gap in gaps), gaps  # one room at a time
    for delay_id in ("syd_1", "syd_2", "syd_3"):  # and each room well within the delay
        mine = [t for t, d in restarts if d == delay_id]
        assert len(mine) == 3
        assert all(b - a <= PERIOD + 1e-9 for a, b in itertools.pairwise(mine))
    assert sorted(hs.pending) == ["syd_1", "syd_2", "syd_3"]


@dataclass
class SlowHomeserver(Homeserver):
    """Restarts answered only when the test says so (a homeserver busy with a rush)."""

    asked: list[str] = field(default_factory=list)
    answers: dict[str, asyncio.Event] = field(default_factory=dict)
    quick: bool = False  # answers at once from now on
    slow_schedules: bool = False  # new notices too wait for `schedules_answered`
    scheduling: list[str] = field(default_factory=list)
    schedules_answered: asyncio.Event = field(default_factory=asyncio.Event)

    async def restart_notice(self, delay_id: str) -> bool:
        self.asked.append(delay_id)
        self.answers[delay_id] = answer = asyncio.Event()
        if not self.quick:
            await answer.wait()
        return await super().restart_notice(delay_id)

    async def schedule_notice(self, room: str, text: str, *, delay_seconds: int, txn: str) -> str:
        if self.slow_schedules:
            self.scheduling.append(room)
            await self.schedules_answered.wait()
        return await super().schedule_notice(room, text, delay_seconds=delay_seconds, txn=txn)

    def answer_all(self) -> None:
        self.quick = True
        for answer in self.answers.values():
            answer.set()


async def five_slow_rooms(
    store: MemoryConsultStore | None = None,
) -> tuple[Bot, Monotonic, SlowHomeserver]:
    """A bot with `IN_FLIGHT + 1` open consults (a requester may have 5 open), each room's
    notice scheduled, on a homeserver that answers restarts only when told to."""
    hs = SlowHomeserver()
    bot, clock = await started(hs, store)
    for n in range(IN_FLIGHT + 1):
        await bot.say(REQ, ASK + f" ({n})")
        await bot.flush()
    await turn(bot.service.dead_man)
    assert hs.kinds() == ["schedule"] * (IN_FLIGHT + 1)
    return bot, clock, hs


async def asked(hs: SlowHomeserver, count: int) -> None:
    """Wait until `count` restarts have reached the homeserver."""

    async def reached() -> bool:
        return len(hs.asked) >= count

    await eventually(reached, within=2, what=f"{count} restarts asked")


async def test_restarts_do_not_wait_for_a_slow_homeserver_but_go_at_most_4_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A homeserver that answers slowly under a rush still gets every room's restart in time
    (one at a time it kept up with 15 restarts a second, and 40 were due), but never more than
    `IN_FLIGHT` at once; a restart that goes out a period late says so in the log."""
    bot, clock, hs = await five_slow_rooms()
    dead_man = bot.service.dead_man
    spread = PERIOD / (IN_FLIGHT + 1)

    clock.t += PERIOD
    async with asyncio.timeout(2):  # none waited for (awaited, the first would hang here)
        await dead_man.work()
        await asyncio.sleep(0)
        assert await dead_man.work() > 0  # one on its way, the next not due: no spinning
        for n in range(2, IN_FLIGHT + 1):
            clock.t += spread
            await dead_man.work()
            await asked(hs, n)
    assert len(hs.asked) == IN_FLIGHT
    clock.t += PERIOD  # the homeserver still silent: late, and still no fifth at once
    wait = await dead_man.work()
    await asyncio.sleep(0)
    assert len(hs.asked) == IN_FLIGHT
    assert wait > 0  # waits for an answer rather than spinning

    hs.answers[hs.asked[0]].set()
    await eventually(restarts_answered(hs, 1), within=2, what="the first restart answered")
    await dead_man.work()
    await asked(hs, IN_FLIGHT + 1)  # a place free: the next goes
    # Logged once: the fifth went out 32 s late; the fourth, 12 s late, was under a period.
    assert caplog.messages == [
        "the notices' restarts run 32 s late (5 open consult rooms); from 40 s late the"
        " homeserver posts them although the bot runs"
    ]
    hs.answer_all()
    async with asyncio.timeout(2):
        await dead_man.landed()
    assert sorted(hs.asked) == sorted(hs.pending)  # each room's notice restarted once
    assert hs.kinds() == ["schedule"] * (IN_FLIGHT + 1) + ["restart"] * (IN_FLIGHT + 1)


def restarts_answered(hs: Homeserver, count: int) -> Callable[[], Awaitable[bool]]:
    """A condition: `count` restarts answered."""

    async def restarted() -> bool:
        return hs.kinds().count("restart") >= count

    return restarted


async def test_a_consult_closed_while_its_restart_is_on_its_way_has_its_notice_cancelled() -> None:
    bot, clock, hs = await five_slow_rooms()
    dead_man = bot.service.dead_man
    clock.t += PERIOD
    await dead_man.work()
    await asked(hs, 1)
    [delay_id] = hs.asked  # one consult's restart is on its way …
    room = hs.pending.pop(delay_id)[0]  # … and its notice was posted meanwhile (404)
    [first] = [c for c in await bot.consults.consults_of(REQ) if c.room == room]
    await bot.react(K1A, "✅", room)
    await bot.say(K1A, "!avsluta råd", room)
    assert await bot.state(first.id) == "closed"
    await dead_man.work()
    assert "cancel" not in hs.kinds()  # not before the restart is answered

    hs.answers[delay_id].set()
    await eventually(restarts_answered(hs, 1), within=2, what="the restart answered")
    await dead_man.work()
    assert hs.kinds()[-1] == "cancel"  # cancelled; nothing scheduled again in a closed room
    assert hs.kinds().count("schedule") == IN_FLIGHT + 1
    assert await bot.consults.meta_under(META + first.id) == {}
    hs.answer_all()
    async with asyncio.timeout(2):
        await dead_man.landed()


async def test_a_rush_of_new_consults_leaves_a_place_for_the_restarts() -> None:
    """New notices go at most 3 at once on a slow homeserver: the fourth place stays for
    the restarts of the rooms already open, whose notices would otherwise be posted."""
    hs = SlowHomeserver(quick=True)
    bot, clock = await started(hs)
    await bot.ask()
    dead_man = bot.service.dead_man
    await turn(dead_man)
    hs.slow_schedules = True
    for n in range(IN_FLIGHT):  # the rush: four new consults
        await bot.say(REQ, ASK + f" ({n})")
        await bot.flush()
    async with asyncio.timeout(2):
        assert await dead_man.work() > 0  # no spinning while the homeserver is silent
    await asyncio.sleep(0)
    assert len(hs.scheduling) == IN_FLIGHT - 1
    clock.t += PERIOD  # the first room's restart falls due
    await dead_man.work()
    await eventually(restarts_answered(hs, 1), within=2, what="the first room's restart")
    assert len(hs.scheduling) == IN_FLIGHT - 1  # the fourth new notice still waits
    hs.schedules_answered.set()
    await turn(dead_man)
    assert hs.kinds().count("schedule") == IN_FLIGHT + 1


async def test_a_notice_whose_scheduling_failed_is_tried_again_as_a_new_one() -> None:
    """A 502 on the first schedule: tried again after `RETRY_SECONDS`, in a new notice's
    place (never ahead of the restarts as if it were adopted), and no spinning meanwhile."""
    hs = SlowHomeserver(quick=True)
    bot, clock = await started(hs)
    hs.refuse = [None]
    await bot.ask()
    dead_man = bot.service.dead_man
    await turn(dead_man)
    assert hs.kinds() == ["429"] and hs.pending == {}
    hs.slow_schedules = True
    for n in range(IN_FLIGHT - 1):  # three new consults, their schedules unanswered
        await bot.say(REQ, ASK + f" ({n})")
        await bot.flush()
    await dead_man.work()
    await asyncio.sleep(0)
    assert len(hs.scheduling) == IN_FLIGHT - 1
    clock.t += RETRY_SECONDS  # the failed one is due again, but three new ones are out
    async with asyncio.timeout(2):
        assert await dead_man.work() > 0
    await asyncio.sleep(0)
    assert len(hs.scheduling) == IN_FLIGHT - 1
    hs.schedules_answered.set()
    await turn(dead_man)
    assert len(hs.scheduling) == IN_FLIGHT and len(hs.pending) == IN_FLIGHT


async def test_after_a_restart_the_stored_notices_are_adopted_at_most_4_at_once() -> None:
    """790 rooms adopted one at a time at 50 ms each would take longer than a notice waits."""
    slow = SlowHomeserver()
    store = MemoryConsultStore()
    bot, _, hs = await five_slow_rooms(store)
    slow.pending = dict(hs.pending)
    slow.made = hs.made
    again, _ = await started(slow, store, bot)
    dead_man = again.service.dead_man
    async with asyncio.timeout(2):
        assert await dead_man.work() > 0  # waits for an answer rather than spinning
        await asked(slow, IN_FLIGHT)
    await asyncio.sleep(0)
    assert len(slow.asked) == IN_FLIGHT
    for delay_id in slow.asked[:3]:
        slow.answers[delay_id].set()
    await eventually(restarts_answered(slow, 3), within=2, what="three adopted")
    assert await dead_man.work() > 0  # the fifth sent: two on their way, no spinning
    await asked(slow, IN_FLIGHT + 1)
    slow.answer_all()
    await turn(dead_man)
    assert sorted(slow.asked) == sorted(hs.pending)  # every stored notice adopted, once
    assert slow.kinds() == ["restart"] * (IN_FLIGHT + 1)


async def paging(bot: Bot, messenger: HungPages, question: str = ASK) -> asyncio.Task[None]:
    """The requester asks; the outbox sends until the page hangs (its room made, its
    consultants invited): the drain, still running."""
    await bot.say(REQ, question)
    drain = asyncio.create_task(bot.flush())
    async with asyncio.timeout(5):
        await messenger.paging.wait()
    return drain


async def test_a_new_rooms_notice_waits_until_its_page_is_out() -> None:
    """Pages first: the homeserver serves the invite, the room key and the page before the
    notice (until the page the room holds nobody but the people paged)."""
    hs, messenger = Homeserver(), HungPages()
    bot, _ = await started(hs, messenger=messenger)
    drain = await paging(bot, messenger)
    dead_man = bot.service.dead_man

    wait = await turn(dead_man)
    assert hs.calls == []
    assert 0 < wait <= AFTER_PAGES_SECONDS

    messenger.release.set()
    await drain
    assert await turn(dead_man) > 0
    assert hs.kinds() == ["schedule"]


async def test_a_page_that_does_not_go_out_holds_up_the_notice_only_so_long() -> None:
    """A page the homeserver does not take: then the notice matters most."""
    hs, messenger = Homeserver(), HungPages()
    bot, clock = await started(hs, messenger=messenger)
    drain = await paging(bot, messenger)
    dead_man = bot.service.dead_man
    await turn(dead_man)
    clock.t += AFTER_PAGES_SECONDS - 0.1
    await turn(dead_man)
    assert hs.calls == []

    clock.t += 0.1
    await turn(dead_man)
    assert hs.kinds() == ["schedule"]  # the page still hangs
    messenger.release.set()
    await drain


async def test_in_a_long_rush_each_notice_waits_no_longer_than_after_pages_seconds() -> None:
    """Pages that keep coming hold each new notice up for at most `AFTER_PAGES_SECONDS`."""
    hs, messenger = Homeserver(), HungPages()  # every page hangs
    bot, clock = await started(hs, messenger=messenger)
    drain = await paging(bot, messenger)
    dead_man = bot.service.dead_man
    await turn(dead_man)
    clock.t += AFTER_PAGES_SECONDS - 1
    await bot.say(REQ, ASK + " (2)")  # a page younger than the hold, not out either
    second = (await bot.consults.consults_of(REQ))[0]

    async def has_room() -> bool:
        consult = await bot.consults.consult(second.id)
        return consult is not None and bool(consult.room)

    await eventually(has_room, within=5, what="the second consult's room made")
    await turn(dead_man)
    assert hs.calls == []
    clock.t += 1
    await turn(dead_man)
    assert hs.kinds() == ["schedule"]  # the first, though the second's page is young
    clock.t += AFTER_PAGES_SECONDS - 1
    assert await turn(dead_man) > 0
    assert hs.kinds() == ["schedule", "schedule"]
    messenger.release.set()
    await drain


def stuck_page(n: int) -> esc.Consult:
    """A consult whose page the homeserver never takes (no room yet: it wants no notice)."""
    return esc.Consult(
        id=ConsultId(f"K-9{n:05d}"),
        requester=REQ,
        service=ServiceId("kardiologi"),
        track=Track.HALVAKUT,
        request_room="!dm:x",
        request_event=f"$stuck{n}",
        requested_at=NOW,
        pages=(Page(level=1, people=(), at=NOW, sent=False),),
    )


async def test_pages_that_keep_coming_never_let_a_notice_be_posted() -> None:
    """A page decided every 5.5 s, none ever out: every notice is still restarted with a
    third of the delay to spare (each restart waits at most `AFTER_PAGES_SECONDS` past its
    due time; counted from the hold's first request instead, a restart let through now and
    then left the others a notice posted while the bot ran)."""
    hs = Homeserver()
    bot, clock = await three_rooms(hs)
    dead_man = bot.service.dead_man
    start = clock.t
    last = dict.fromkeys(hs.pending, start)
    longest = 0.0
    next_page, n = start, 0
    while clock.t < start + 10 * DELAY:
        if clock.t >= next_page:
            dead_man.step(None, [], stuck_page(n))
            n, next_page = n + 1, next_page + 5.5
        done = len(hs.calls)
        wait = await turn(dead_man)
        for kind, delay_id in hs.calls[done:]:
            assert kind == "restart"
            longest = max(longest, clock.t - last[delay_id])
            last[delay_id] = clock.t
        clock.t += max(0.01, min(wait, next_page - clock.t))
    assert longest < DELAY - PERIOD, longest  # a third of the delay still to spare
    assert sorted(hs.pending) == sorted(last)  # never posted


async def test_restarts_wait_for_another_consults_page_and_a_cancel_does_not() -> None:
    hs, messenger = Homeserver(), HungPages(hangs="(2)")
    bot, clock = await started(hs, messenger=messenger)
    first, room = await bot.ask()
    dead_man = bot.service.dead_man
    await turn(dead_man)
    clock.t += PERIOD  # the first notice's restart is due
    drain = await paging(bot, messenger, ASK + " (2)")

    await turn(dead_man)
    assert hs.kinds() == ["schedule"]  # neither the restart nor the second notice yet

    await bot.react(K1A, "✅", room)
    await bot.say(K1A, "!avsluta råd", room)
    assert await bot.state(first) == "closed"
    await turn(dead_man)
    assert hs.kinds() == ["schedule", "cancel"]  # at once, though the page still hangs

    messenger.release.set()
    await drain
    await turn(dead_man)
    assert hs.kinds() == ["schedule", "cancel", "schedule"]


async def test_closing_the_consult_cancels_its_notice() -> None:
    hs = Homeserver()
    bot, clock = await started(hs)
    consult, room = await bot.ask()
    dead_man = bot.service.dead_man
    await turn(dead_man)
    await bot.react(K1A, "✅", room)
    await bot.say(K1A, "!avsluta råd", room)
    await bot.flush()
    assert await bot.state(consult) == "closed"
    await turn(dead_man)
    assert hs.kinds() == ["schedule", "cancel"]
    assert hs.pending == {}
    assert await bot.consults.meta_under(META) == {}
    clock.t += DELAY * 10
    await turn(dead_man)
    assert hs.kinds() == ["schedule", "cancel"]


async def test_an_english_consult_gets_the_notice_in_english() -> None:
    hs = Homeserver()
    bot, _ = await started(hs)
    await bot.say(REQ, ASK.replace("!konsult", "!consult", 1))
    await bot.flush()
    await turn(bot.service.dead_man)
    [(_, text)] = hs.pending.values()
    assert (
        text == "The consult bot is not answering right now. Call the switchboard on 023-49 00 00."
    )


async def test_a_restart_adopts_the_notice_and_replaces_one_already_posted() -> None:
    hs = Homeserver()
    store = MemoryConsultStore()
    bot, _ = await started(hs, store)
    first, first_room = await bot.ask()
    await bot.say(REQ, ASK + " (2)")
    await bot.flush()
    await turn(bot.service.dead_man)
    assert sorted(hs.pending) == ["syd_1", "syd_2"]
    second = await bot.consults.consult(ConsultId("K-000002"))
    assert second is not None
    hs.post("syd_2")  # the bot was away longer than the delay for this one
    hs.calls.clear()

    again, _ = await started(hs, store, bot)
    await turn(again.service.dead_man)
    restarted = sorted(c for c in hs.calls if c[0] == "restart")
    assert restarted == [("restart", "syd_1"), ("restart", "syd_2")]
    assert sorted(hs.kinds()) == ["restart", "restart", "schedule"]
    assert sorted(hs.pending) == ["syd_1", "syd_3"]
    stored = await store.meta_under(META)
    assert stored == {f"{META}{first}": "syd_1", f"{META}K-000002": "syd_3"}
    # Where the notice was posted, the room hears that the bot answers again; not elsewhere.
    await again.flush()
    assert again.messenger.said(second.room)[-1] == "Konsultboten svarar igen."
    assert "Konsultboten svarar igen." not in again.messenger.said(first_room)


async def test_a_restart_cancels_notices_of_consults_closed_meanwhile_and_strays() -> None:
    hs = Homeserver()
    store = MemoryConsultStore()
    bot, _ = await started(hs, store)
    _, room = await bot.ask()
    await turn(bot.service.dead_man)
    # Closed by a bot that kept no notices (a crash between close and cancel, say) …
    await store.set_meta(f"{META}K-000077", "syd_old")
    hs.pending["syd_stray"] = (room, "x")  # … and one scheduled but never stored
    bot.service.dead_man.seconds = 0
    await bot.react(K1A, "✅", room)
    await bot.say(K1A, "!avsluta råd", room)
    await bot.flush()
    hs.calls.clear()

    again, _ = await started(hs, store, bot)
    await turn(again.service.dead_man)
    assert sorted(hs.calls) == sorted(
        [("cancel", "syd_stray"), ("cancel", "syd_1"), ("cancel", "syd_old")]
    )
    assert hs.pending == {}
    assert await store.meta_under(META) == {}


async def test_a_429_pauses_every_request_for_the_time_asked() -> None:
    """The limit is the bot user's: after a 429 no request starts until the wait is over
    (those already on their way are answered as they are)."""
    hs = Homeserver()
    bot, clock = await started(hs)
    await bot.ask()
    hs.refuse = [0.8]
    dead_man = bot.service.dead_man
    wait = await turn(dead_man)
    assert hs.kinds() == ["429"] and wait == pytest.approx(0.8)
    await bot.say(REQ, ASK + " (2)")
    await bot.flush()
    clock.t += 0.5
    await turn(dead_man)
    assert hs.kinds() == ["429"]  # still paused: nothing sent, not the new room's either
    clock.t += 0.3
    await turn(dead_man)
    assert hs.kinds() == ["429", "schedule", "schedule"]


async def test_two_429s_at_once_pause_for_the_longer_wait() -> None:
    hs = Homeserver()
    bot, clock = await started(hs)
    await bot.ask()
    await bot.say(REQ, ASK + " (2)")
    await bot.flush()
    hs.refuse = [3.0, 0.5]  # both new notices on their way at once, both refused
    dead_man = bot.service.dead_man
    wait = await turn(dead_man)
    assert hs.kinds() == ["429", "429"] and wait == pytest.approx(3.0)
    clock.t += 1
    await turn(dead_man)
    assert hs.kinds() == ["429", "429"]  # the shorter wait did not end the pause
    clock.t += 2
    await turn(dead_man)
    assert hs.kinds() == ["429", "429", "schedule", "schedule"]


async def test_a_homeserver_without_delayed_events_gets_no_delayed_send() -> None:
    hs = Homeserver(offered=False)
    bot, _ = await started(hs)
    await bot.ask()
    await bot.service.dead_man.run()  # ends at once
    assert bot.service.dead_man.offered is False
    assert hs.calls == [] and hs.pending == {}


async def test_dead_man_seconds_0_keeps_no_notice() -> None:
    hs = Homeserver()
    store = MemoryConsultStore()
    bot = await build(store, notices=hs)
    bot.service.dead_man.seconds = 0
    await bot.service.start()
    await bot.ask()
    await bot.service.dead_man.run()
    assert hs.calls == []
    assert bot.service.dead_man.kept == frozenset()
    assert ConsultId("K-000001") not in bot.service.dead_man.kept
