"""The warm room pool: a consult takes a ready room, each room serves one consult, the pool
refills, survives a restart and replaces stale rooms; no patient data in names or topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from consultbot.adapters.memory import ManualClock, ManualTimers, MemoryDataStore
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.adapters.sql.stores import open_store
from consultbot.domain.types import ConsultId, UserId
from consultbot.engine.delivery import effects, outbox
from consultbot.engine.delivery.pool import RoomPool
from consultbot.engine.service import ConsultService
from consultbot.ports import Content
from tests.support.bots import (
    ASK,
    CATALOGUE,
    DM,
    K1A,
    K1B,
    KARDIO,
    NOW,
    QUESTION,
    REQ,
    STAFF,
    Bot,
    HungPages,
    Messenger,
    day_data,
    day_roster,
    make_config,
)

#: Statements from a request to its invite (`test_a_request_reaches_its_invite_in_few_…`).
ROUND_TRIPS = 34  # 50 before the stepper kept its logs and the store its codes


@dataclass
class PoolMessenger(Messenger):
    """Remembers what each pool room was named and whom it invited."""

    filled: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    invited: dict[str, list[tuple[UserId, ...]]] = field(default_factory=dict)

    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        await super().fill_room(room, invite=invite)
        self.invited.setdefault(room, []).append(tuple(invite))

    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        await super().name_room(room, name=name, topic=topic)
        self.filled.setdefault(room, []).append((name, topic))
        self.room_texts += [name, topic]


async def pooled_bot(
    store: SqliteStore,
    *,
    size: int = 3,
    messenger: PoolMessenger | None = None,
    clock: ManualClock | None = None,
    data: MemoryDataStore | None = None,
) -> tuple[Bot, RoomPool]:
    clock = clock or ManualClock(NOW)
    messenger = messenger or PoolMessenger()
    pool = RoomPool(store=store, messenger=messenger, clock=clock, size=size)
    data = data or await day_data()
    timers = ManualTimers()
    service = ConsultService(
        config=make_config(),
        data=data,
        consults=store,
        messenger=messenger,
        timers=ManualTimers(),
        clock=clock,
        retry_delay=lambda attempts: 0.0,
        pool=pool,
    )
    return Bot(service, store, data, messenger, timers, clock), pool


@pytest.fixture
async def db(database: str) -> AsyncIterator[SqliteStore]:
    """A SQL store of each kind (SQLite, PostgreSQL)."""
    store = await open_store(database)
    yield store
    await store.close()


def messenger_of(bot: Bot) -> PoolMessenger:
    assert isinstance(bot.messenger, PoolMessenger)
    return bot.messenger


async def test_a_consult_takes_a_ready_room_names_it_and_pages_there(db: SqliteStore) -> None:
    bot, pool = await pooled_bot(db)
    assert await pool.fill() == 3
    ready = [p.room for p in await db.pool_rooms()]
    made = len(bot.messenger.actions("create"))

    consult, room = await bot.ask()

    m = messenger_of(bot)
    assert room == ready[0]
    assert len(m.actions("create")) == made  # no room made while the patient waits
    [(name, _)] = m.filled[room]
    assert consult in name
    [invited] = m.invited[room]
    assert set(invited) == {K1A, K1B}
    [requester] = [s for s in m.actions("invite") if s.users == (REQ,)]
    assert requester.room == room  # after the page (test_service.py)
    assert all(QUESTION not in text and "förmaksflimmer" not in text for text in m.room_texts)
    [page] = m.pages()
    assert page.room == room and page.content is not None and QUESTION in page.content.text
    kinds = [e.kind for e in await db.events(consult)]
    assert kinds == ["requested", "paged", "room_created", "page_delivered"]
    assert room not in [p.room for p in await db.pool_rooms()]
    assert len(m.said(DM)) == 1

    await pool.fill()  # the refill after the claim
    assert len(await db.pool_rooms()) == 3


async def test_consults_at_once_never_share_a_room(db: SqliteStore) -> None:
    bot, pool = await pooled_bot(db, size=4)
    await pool.fill()
    # More than the pool holds: the rest get rooms made for them. Six requesters, so that
    # neither the per-requester limit nor the pool's fair share is what is tested here.
    people = [UserId(f"@person{n}:localhost") for n in range(6)]
    for n, person in enumerate(people):
        await bot.say(person, f"!konsult kardiologi fråga {n}")
    await bot.flush()

    consults = [c for person in people for c in await db.consults_of(person)]
    rooms = [c.room for c in consults]
    assert len(consults) == 6 and all(rooms) and len(set(rooms)) == 6
    assert sum(room.startswith("!pool") for room in rooms) == 4
    m = messenger_of(bot)
    assert len(m.pages()) == 6 and len({p.room for p in m.pages()}) == 6


async def test_the_pool_survives_a_restart(database: str) -> None:
    path = database
    store = await open_store(path)
    messenger = PoolMessenger()
    _, pool = await pooled_bot(store, messenger=messenger)
    await pool.fill()
    ready = [p.room for p in await store.pool_rooms()]
    await store.close()

    store = await open_store(path)
    try:
        bot, pool = await pooled_bot(store, messenger=messenger)
        assert await pool.fill() == 0  # nothing to make: the rooms are still there
        _, room = await bot.ask()
        assert room == ready[0]
    finally:
        await store.close()


async def test_a_crash_after_taking_a_room_fills_the_same_room_on_restart(
    database: str,
) -> None:
    path = database
    store = await open_store(path)
    homeserver = PoolMessenger()
    first, pool = await pooled_bot(store, messenger=homeserver)
    await pool.fill()
    message = await first.say(REQ, ASK)
    homeserver.texts[message.event_id] = ASK
    consult = ConsultId("K-000001")
    # The room is taken from the pool and recorded, then the bot dies before naming it.
    taken = await first.service.dispatcher.effects.claim(consult)
    assert taken is not None
    await store.close()

    store = await open_store(path)
    try:
        bot, pool = await pooled_bot(
            store, messenger=homeserver, clock=first.clock, data=first.data
        )
        await bot.service.start()
        await bot.flush()
        found = await store.consult(consult)
        assert found is not None and found.room == taken
        assert [name for name, *_ in homeserver.filled[taken]] == [f"{consult} kardiologi"]
        assert len(homeserver.pages()) == 1 and homeserver.pages()[0].room == taken
        assert taken not in [p.room for p in await store.pool_rooms()]
        assert len(await store.consults_of(REQ)) == 1
    finally:
        await store.close()


async def test_stale_rooms_are_left_and_replaced(db: SqliteStore) -> None:
    clock = ManualClock(NOW)
    messenger = PoolMessenger()
    bot, pool = await pooled_bot(db, clock=clock, messenger=messenger)
    await pool.fill()
    old = {p.room for p in await db.pool_rooms()}

    messenger.policy = "2:localhost,other.example"  # the ACL's servers changed
    assert await pool.fill() == 3
    assert not old & {p.room for p in await db.pool_rooms()}
    assert {s.room for s in messenger.actions("leave")} == old

    pool.max_age = timedelta(minutes=30)
    clock.advance(timedelta(minutes=31))  # too old now
    aged = {p.room for p in await db.pool_rooms()}
    _, room = await bot.ask()
    assert room not in aged  # an old room is never handed out
    await pool.fill()
    assert not aged & {p.room for p in await db.pool_rooms()}


async def test_the_refill_runs_in_the_background_after_a_claim(db: SqliteStore) -> None:
    bot, pool = await pooled_bot(db, size=2)
    pool.quiet_seconds = 0.0
    runner = asyncio.create_task(pool.run())
    try:
        async with asyncio.timeout(5):
            await pool.filled.wait()
            await bot.ask()
            while len(await db.pool_rooms()) < 2:
                pool.filled.clear()
                await pool.filled.wait()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert len(await db.pool_rooms()) == 2


async def test_one_requester_cannot_empty_the_pool(db: SqliteStore) -> None:
    """A burst by one person takes at most half the pool; the rest get rooms made for them,
    and the next person still finds a ready room."""
    bot, pool = await pooled_bot(db, size=4)
    await pool.fill()
    for n in range(4):
        await bot.say(REQ, f"!konsult kardiologi fråga {n}")
    await bot.flush()
    mine = [c.room for c in await db.consults_of(REQ)]
    assert len(mine) == 4 and len(set(mine)) == 4
    assert sum(room.startswith("!pool") for room in mine) == 2
    assert len(await db.pool_rooms()) == pool.reserve == 2  # kept for everyone else

    other = UserId("@vilma:localhost")
    await bot.say(other, "!konsult kardiologi en annan fråga")
    await bot.flush()
    [theirs] = await db.consults_of(other)
    assert theirs.room.startswith("!pool")


async def test_a_second_consult_in_a_rush_still_gets_a_ready_room(db: SqliteStore) -> None:
    """A doctor's second question within the window is no flood: while they hold fewer than
    half the pool, it takes a ready room even when the rush has brought the pool low."""
    bot, pool = await pooled_bot(db, size=6)
    await pool.fill()
    for n, other in enumerate(("@vilma:localhost", "@wilhelm:localhost")):
        await bot.say(UserId(other), f"!konsult kardiologi fråga {n}")
    await bot.say(REQ, "!konsult kardiologi första frågan")
    await bot.say(REQ, "!konsult kardiologi andra frågan")
    await bot.flush()
    mine = [c.room for c in await db.consults_of(REQ)]
    assert len(set(mine)) == 2 and all(room.startswith("!pool") for room in mine)
    assert len(await db.pool_rooms()) == 2  # below the reserve of 3, for the rush's others


@dataclass
class OnePageHangs(HungPages, PoolMessenger):
    """The page of the second question hangs until released: a rush's slow page."""

    hangs: str = "andra frågan"


async def two_asked_in_a_rush(db: SqliteStore, messenger: OnePageHangs) -> asyncio.Task[None]:
    """Two consults asked at once from a filled pool, the second one's page hanging; the
    outbox being drained."""
    bot, pool = await pooled_bot(db, size=4, messenger=messenger)
    await pool.fill()
    await bot.say(REQ, "!konsult kardiologi första frågan")
    await bot.say(UserId("@vilma:localhost"), "!konsult kardiologi andra frågan")
    return asyncio.create_task(bot.flush())


async def test_a_rooms_name_waits_while_another_consults_page_is_on_its_way(
    db: SqliteStore,
) -> None:
    """Naming a room is bookkeeping: while a rush's pages are on their way it waits, and
    follows them."""
    messenger = OnePageHangs()
    drain = await two_asked_in_a_rush(db, messenger)
    async with asyncio.timeout(5):
        await messenger.paging.wait()
        while not messenger.pages():  # noqa: ASYNC110 (the first page has no event of its own)
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # time enough for a name that did not wait
    assert messenger.filled == {}

    messenger.release.set()
    await drain
    assert len(messenger.pages()) == 2 and len(messenger.filled) == 2


async def test_a_rooms_name_waits_for_a_page_that_does_not_go_out_only_so_long(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page the homeserver will not take holds the other rooms' names back for at most
    `NAMES_AFTER_PAGES_SECONDS`: a room is named all the same."""
    monkeypatch.setattr(outbox, "NAMES_AFTER_PAGES_SECONDS", 0.2)
    messenger = OnePageHangs()
    drain = await two_asked_in_a_rush(db, messenger)
    try:
        async with asyncio.timeout(5):
            while not messenger.filled:  # noqa: ASYNC110 (naming has no event of its own)
                await asyncio.sleep(0.02)
        assert len(messenger.pages()) == 1  # the other page still hangs
    finally:
        messenger.release.set()
        await drain
    assert len(messenger.pages()) == 2 and len(messenger.filled) == 2


@dataclass
class Stamped(PoolMessenger):
    """Stamps (the loop's time) each page, each reply in a requester's chat and each room
    name as it goes out."""

    stamps: list[tuple[str, str, float]] = field(default_factory=list)  # what, room, when
    requesters: dict[str, UserId] = field(default_factory=dict)  # by the room they were paged in

    def _stamp(self, what: str, room: str) -> None:
        self.stamps.append((what, room, asyncio.get_running_loop().time()))

    def times(self, what: str) -> list[float]:
        return [when for kind, _, when in self.stamps if kind == what]

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        sent = await super().send(room, content, txn=txn, recipients=recipients, numbers=numbers)
        if room.startswith("!dm-"):
            self._stamp("reply", room)
        elif not content.notice:
            self._stamp("page", room)
            self.requesters[room] = recipients[-1]  # the paged, then the requester
        return sent

    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        await super().name_room(room, name=name, topic=topic)
        self._stamp("name", room)


async def asked_at_once(
    db: SqliteStore, asks: int, *, before: int = 0
) -> tuple[Bot, Stamped, asyncio.Task[None]]:
    """`asks` consults asked at once by as many requesters (@doktor0 …), each in a chat of
    their own (!dm-0 …), from a filled pool, after `before` asked and sent one by one (by
    @doktor100 …); the bot, its messenger and the outbox being drained."""
    messenger = Stamped()
    bot, pool = await pooled_bot(db, size=asks + before + 1, messenger=messenger)
    await pool.fill()

    async def ask(n: int) -> None:
        requester = UserId(f"@doktor{n}:localhost")
        await bot.say(requester, f"!konsult kardiologi fråga {n}", room=f"!dm-{n}", direct=True)

    for n in range(100, 100 + before):
        await ask(n)
        await bot.flush()
    for n in range(asks):
        await ask(n)
    return bot, messenger, asyncio.create_task(bot.flush())


async def test_in_a_rush_confirmations_and_names_wait_until_the_pages_have_been_out_a_while(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a rush the consultants join and their clients fetch the pages once they are out:
    the requesters' confirmations and the rooms' names wait until the rush's pages have been
    out `READING_SECONDS`, so that the homeserver serves the consultants first."""
    monkeypatch.setattr(outbox, "READING_SECONDS", 0.6)
    _, messenger, drain = await asked_at_once(db, outbox.RUSH_PAGES)
    await drain
    pages, replies, names = (messenger.times(k) for k in ("page", "reply", "name"))
    assert len(pages) == len(replies) == len(names) == outbox.RUSH_PAGES
    rush = sorted(pages)[-outbox.RUSH_PAGES]  # the earliest page of the last RUSH_PAGES
    assert min(replies + names) >= rush + outbox.READING_SECONDS


async def test_fewer_pages_than_a_rush_are_confirmed_and_named_right_after_them(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer consults at once than a rush (one at a time, or two) are confirmed and their
    rooms named as soon as their pages are out, not `READING_SECONDS` later."""
    monkeypatch.setattr(outbox, "READING_SECONDS", 5.0)
    _, messenger, drain = await asked_at_once(db, outbox.RUSH_PAGES - 1)
    await drain
    pages, replies, names = (messenger.times(k) for k in ("page", "reply", "name"))
    assert len(pages) == len(replies) == len(names) == outbox.RUSH_PAGES - 1
    assert max(replies + names) - max(pages) < outbox.READING_SECONDS / 2


async def test_while_a_rushs_pages_are_read_a_reply_that_confirms_no_page_goes_at_once(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a first page's confirmation waits while a rush's pages are read: any other reply
    to a requester (here: their consult closed) goes at once."""
    monkeypatch.setattr(outbox, "READING_SECONDS", 2.0)
    bot, messenger, drain = await asked_at_once(db, outbox.RUSH_PAGES, before=1)
    [(room, requester)] = messenger.requesters.items()  # the consult asked before the rush
    async with asyncio.timeout(5):
        while len(messenger.times("page")) < 1 + outbox.RUSH_PAGES:  # noqa: ASYNC110 (no event)
            await asyncio.sleep(0.02)
    rush = sorted(messenger.times("page"))[-outbox.RUSH_PAGES]
    await bot.say(requester, "!avsluta råd", room)
    await drain
    earlier, closed, confirmation, *_ = sorted(messenger.times("reply"))
    assert len(messenger.times("reply")) == 1 + outbox.RUSH_PAGES + 1
    assert earlier < rush  # the confirmation of the consult asked before the rush
    assert closed < rush + outbox.READING_SECONDS  # its closing's reply, not held
    assert confirmation >= rush + outbox.READING_SECONDS  # the rush's confirmations, held


@dataclass
class OneFillHangs(PoolMessenger):
    """The first room filled (invites into a pool room) hangs until released: a rush's
    invites still on their way."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        if not self.hanging.is_set():
            self.hanging.set()
            await self.release.wait()
        await super().fill_room(room, invite=invite)


async def two_asked_one_fill_hanging(
    db: SqliteStore,
) -> tuple[Bot, OneFillHangs, asyncio.Task[None]]:
    """Two consults asked at once from a filled pool, the first room's invites hanging: the
    bot, its messenger and the outbox being drained."""
    messenger = OneFillHangs()
    bot, pool = await pooled_bot(db, size=4, messenger=messenger)
    await pool.fill()
    await bot.say(REQ, "!konsult kardiologi första frågan")
    await bot.say(UserId("@vilma:localhost"), "!konsult kardiologi andra frågan")
    drain = asyncio.create_task(bot.flush())
    async with asyncio.timeout(5):
        await messenger.hanging.wait()
        while len(messenger.invited) < 1:  # noqa: ASYNC110 (the other fill has no event)
            await asyncio.sleep(0.02)
    return bot, messenger, drain


async def test_a_first_page_waits_while_another_consults_invites_are_on_their_way(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a rush the invites go first: they are each consultant's first signal, and a page's
    room key and message before them would stand in the homeserver's queue in front of the
    other consultants' invites and joins (BENCHMARKS.md). The page follows them."""
    monkeypatch.setattr(effects, "PAGES_AFTER_INVITES_SECONDS", 10.0)
    waiting = asyncio.Event()
    after_invites = effects.Effects._after_invites

    async def noted(self: effects.Effects, txn: str) -> None:
        waiting.set()
        await after_invites(self, txn)

    monkeypatch.setattr(effects.Effects, "_after_invites", noted)
    _, messenger, drain = await two_asked_one_fill_hanging(db)
    async with asyncio.timeout(5):
        await waiting.wait()  # the other consult's page is ready to go
    await asyncio.sleep(0.2)  # time enough for a page that did not wait
    assert messenger.pages() == []

    messenger.release.set()
    await drain
    assert len(messenger.pages()) == 2 and len(messenger.invited) == 2


async def test_a_first_page_waits_for_invites_that_do_not_go_out_only_so_long(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invites the homeserver does not take hold another consult's page back for at most
    `PAGES_AFTER_INVITES_SECONDS`: that page goes out all the same."""
    monkeypatch.setattr(effects, "PAGES_AFTER_INVITES_SECONDS", 0.2)
    _, messenger, drain = await two_asked_one_fill_hanging(db)
    try:
        async with asyncio.timeout(5):
            while not messenger.pages():  # noqa: ASYNC110 (the page has no event of its own)
                await asyncio.sleep(0.02)
        assert len(messenger.invited) == 1  # the other room's invites still hang
    finally:
        messenger.release.set()
        await drain
    assert len(messenger.pages()) == 2


async def test_a_first_page_tried_again_does_not_wait_for_invites_again(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first page waits for other consults' invites once: tried again after a failure (in a
    rush, a homeserver's 429 or 5xx) it goes at once, however many fills have begun since."""
    monkeypatch.setattr(effects, "PAGES_AFTER_INVITES_SECONDS", 0.3)
    bot, _ = await pooled_bot(db)
    pages = bot.service.dispatcher.effects
    loop = asyncio.get_running_loop()
    pages.filling["!a:localhost"] = loop.time()  # another consult's invites on their way
    started = loop.time()
    await pages._after_invites("page-1")
    assert loop.time() - started >= effects.PAGES_AFTER_INVITES_SECONDS
    pages.filling["!b:localhost"] = loop.time()  # more invites, begun since
    started = loop.time()
    await pages._after_invites("page-1")  # the same page, tried again
    assert loop.time() - started < effects.PAGES_AFTER_INVITES_SECONDS / 2
    started = loop.time()
    await pages._after_invites("page-2")  # another page still waits for them
    assert loop.time() - started >= effects.PAGES_AFTER_INVITES_SECONDS / 2


@dataclass
class CreateHangs(PoolMessenger):
    """Making a room from scratch hangs until released (seconds, in a rush)."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    creating: asyncio.Event = field(default_factory=asyncio.Event)

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        self.creating.set()
        await self.release.wait()
        return await super().create_room(key=key, name=name, topic=topic, invite=invite)


async def test_a_room_made_from_scratch_holds_up_no_other_consults_page(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a pool room's invites (fast) go before the pages: a consult whose room must be
    made from scratch (the pool empty) does not keep another consult's page waiting."""
    monkeypatch.setattr(effects, "PAGES_AFTER_INVITES_SECONDS", 10.0)
    messenger = CreateHangs()
    bot, pool = await pooled_bot(db, size=1, messenger=messenger)
    await pool.fill()
    await bot.say(REQ, "!konsult kardiologi första frågan")
    await bot.say(UserId("@vilma:localhost"), "!konsult kardiologi andra frågan")
    drain = asyncio.create_task(bot.flush())
    try:
        async with asyncio.timeout(5):
            await messenger.creating.wait()
            while not messenger.pages():  # noqa: ASYNC110 (the page has no event of its own)
                await asyncio.sleep(0.02)
    finally:
        messenger.release.set()
        await drain
    assert len(messenger.pages()) == 2


async def test_invites_that_hang_hold_up_a_later_page_only_while_they_are_young(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fill the homeserver does not answer (a hiccup, not a rush) delays other consults'
    pages only in its first `PAGES_AFTER_INVITES_SECONDS`: a page ready after that goes out
    at once, however long the fill goes on hanging."""
    monkeypatch.setattr(effects, "PAGES_AFTER_INVITES_SECONDS", 30.0)
    bot, messenger, drain = await two_asked_one_fill_hanging(db)
    fills = bot.service.dispatcher.effects.filling
    try:
        [room] = fills
        fills[room] -= 60.0  # as if it had hung for a minute
        await bot.say(UserId("@ville:localhost"), "!konsult kardiologi tredje frågan")
        async with asyncio.timeout(5):
            while not any("tredje" in p.content.text for p in messenger.pages()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert room in fills  # still hanging
    finally:
        messenger.release.set()
        await drain


@dataclass
class JoinsWhenTold(PoolMessenger):
    """Nobody joins a consult room until the test says so (`join`), as the Matrix adapter
    sees it through its sync."""

    joins: dict[str, asyncio.Event] = field(default_factory=dict)

    def join(self, room: str) -> None:
        self.joins.setdefault(room, asyncio.Event()).set()

    async def joined_by_someone(self, room: str, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.joins.setdefault(room, asyncio.Event()).wait()


async def first_page_out_name_waiting(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch, messenger: JoinsWhenTold
) -> tuple[Bot, asyncio.Task[None]]:
    """A consult asked from a filled pool and its page out, the outbox being drained, its
    room's name waiting for a join (nobody joins unless told, for up to 30 s)."""
    monkeypatch.setattr(effects, "NAME_AFTER_JOIN_SECONDS", 30.0)
    bot, pool = await pooled_bot(db, size=3, messenger=messenger)
    await pool.fill()
    await bot.say(REQ, "!konsult kardiologi första frågan")
    drain = asyncio.create_task(bot.flush())
    async with asyncio.timeout(5):
        while not messenger.pages():  # noqa: ASYNC110 (the page has no event of its own)
            await asyncio.sleep(0.02)
    return bot, drain


async def test_a_rooms_name_waits_for_the_first_join_and_only_so_long(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the page, the room's name and topic wait until someone joins (the homeserver takes
    one room's events one at a time: a consultant who opens the invite at once does not join
    behind them), and a room nobody joins is named after `NAME_AFTER_JOIN_SECONDS`."""
    messenger = JoinsWhenTold()
    bot, drain = await first_page_out_name_waiting(db, monkeypatch, messenger)
    try:
        await asyncio.sleep(0.3)  # time enough for a name that did not wait
        assert messenger.filled == {}
    finally:
        [consult] = await db.consults_of(REQ)
        messenger.join(consult.room)
        await drain
    assert [name for name, _ in messenger.filled[consult.room]] == [f"{consult.id} kardiologi"]

    monkeypatch.setattr(effects, "NAME_AFTER_JOIN_SECONDS", 0.2)
    await bot.say(UserId("@vilma:localhost"), "!konsult kardiologi andra frågan")
    await bot.flush()  # nobody joins: named all the same
    [other] = await db.consults_of(UserId("@vilma:localhost"))
    assert [name for name, _ in messenger.filled[other.room]] == [f"{other.id} kardiologi"]


async def test_a_page_does_not_wait_for_another_rooms_name_waiting_for_a_join(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room's name waiting for the first join holds up no other consult: the next page goes
    out at once."""
    messenger = JoinsWhenTold()
    bot, drain = await first_page_out_name_waiting(db, monkeypatch, messenger)
    try:
        async with asyncio.timeout(5):
            await bot.say(UserId("@vilma:localhost"), "!konsult kardiologi andra frågan")
            while len(messenger.pages()) < 2:  # noqa: ASYNC110 (as above)
                await asyncio.sleep(0.02)
        assert messenger.filled == {}  # both names still wait for a join
    finally:
        asked = [*await db.consults_of(REQ), *await db.consults_of(UserId("@vilma:localhost"))]
        for consult in asked:
            messenger.join(consult.room)
        await drain
    assert len(messenger.filled) == 2


async def test_a_name_waiting_for_a_join_keeps_neither_the_pool_busy_nor_a_restart_unnamed(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a room's name only waits for someone to join, nothing is on its way to Matrix:
    the pool may refill. A bot stopped meanwhile names the room at its next start."""
    messenger = JoinsWhenTold()
    bot, drain = await first_page_out_name_waiting(db, monkeypatch, messenger)
    dispatcher = bot.service.dispatcher
    try:
        async with asyncio.timeout(5):
            # The page's lane worker ends soon after; then nothing is on its way.
            while not dispatcher.effects.awaiting_join or dispatcher.busy():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert messenger.filled == {}
    finally:
        drain.cancel()
        await bot.service.tasks.stop()  # the bot stops: the waiting name is dropped
    assert messenger.filled == {}

    again, _ = await pooled_bot(db, size=3, messenger=messenger, clock=bot.clock, data=bot.data)
    [consult] = await db.consults_of(REQ)
    messenger.join(consult.room)
    await again.service.start()
    await again.flush()
    assert [name for name, _ in messenger.filled[consult.room]] == [f"{consult.id} kardiologi"]


async def test_a_request_reaches_its_invite_in_few_database_round_trips(tmp_path: Path) -> None:
    """Each statement is a round trip to aiosqlite's thread, and on a busy machine each waits
    for a thread switch: a burst's invites go out one request's round trips after another
    (docs/page-speed-profile.md). From a `!konsult` to its consultant's invite, with the data
    sets in the same SQLite file as the bot keeps them: at most `ROUND_TRIPS` statements."""
    store = await open_store(tmp_path / "consultbot.db")
    try:
        await store.import_catalogue(CATALOGUE, source="test", now=NOW)
        await store.import_staff(STAFF, source="test", now=NOW)
        shifts = day_roster()
        period = (min(s.start for s in shifts), max(s.end for s in shifts))
        await store.import_roster(shifts, {KARDIO: period}, source="test", now=NOW)
        bot, pool = await pooled_bot(store, data=store)  # type: ignore[arg-type]
        await pool.fill()
        await bot.ask()  # the first request of a run reads what later ones find known
        await pool.fill()
        statements: list[str] = []
        at_invite: list[int] = []
        fill = bot.messenger.fill_room

        async def counted(room: str, *, invite: Sequence[UserId]) -> None:
            at_invite.append(len(statements))
            await fill(room, invite=invite)

        bot.messenger.fill_room = counted  # type: ignore[method-assign]
        await store._db.raw.set_trace_callback(statements.append)
        await bot.say(REQ, f"{ASK} (en till)")
        await bot.flush()
        await store._db.raw.set_trace_callback(None)
        assert at_invite and at_invite[0] <= ROUND_TRIPS, "\n".join(statements[: at_invite[0]])
    finally:
        await store.close()
