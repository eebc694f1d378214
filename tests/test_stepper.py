"""The stepper, the one writer of the consult log (engine/stepper.py): every input stepped and
recorded once, also when another writer (a second instance) comes first; pool rooms taken
once; what the outbox reports seen by metrics and timers like any step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from consultbot.adapters.memory import (
    ManualClock,
    ManualTimers,
    MemoryConsultStore,
    MemoryDataStore,
    MemoryMessenger,
)
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.events import AckVia, Event
from consultbot.domain.types import ConsultId, Outcome, Track, UserId
from consultbot.engine.delivery.pool import RoomPool
from consultbot.engine.stepper import Stepper
from tests.support.bots import (
    ACK_TIMEOUT,
    DM,
    K1A,
    KARDIO,
    NOW,
    REQ,
    STRANGER,
    day_data,
    make_config,
)


@dataclass
class Interleaved(MemoryConsultStore):
    """A store shared with another writer, whose step lands just before the next record."""

    meanwhile: Callable[[], Awaitable[object]] | None = None

    async def record(self, *args: Any, **kwargs: Any) -> list[int]:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return await super().record(*args, **kwargs)


@dataclass
class Setup:
    store: Interleaved
    data: MemoryDataStore
    clock: ManualClock
    timers: ManualTimers
    seen: list[Sequence[Event]]

    def stepper(self) -> Stepper:
        """A stepper over the shared store (each call: another instance)."""
        return Stepper(
            config=make_config(),
            datasets=self.data,
            consult_log=self.store,
            timers=self.timers,
            clock=self.clock,
            on_outbox=lambda: None,
            observers=(lambda before, events, after: self.seen.append(events),),
        )

    async def ask(self, stepper: Stepper, requester: UserId = REQ) -> ConsultId:
        consult = await self.store.allocate_consult(now=self.clock.now())
        request = esc.Request(
            consult_id=consult,
            requester=requester,
            service=KARDIO,
            track=Track.HALVAKUT,
            request_room=DM,
            request_event=f"$ask-{consult}",
            duty=await self.data.on_duty(KARDIO, self.clock.now()),
            open_now=True,
        )
        await stepper.step(consult, request, handled=request.request_event)
        return consult

    async def kinds(self, consult: ConsultId) -> list[str]:
        return [e.kind for e in await self.store.events(consult)]


async def setup() -> Setup:
    return Setup(Interleaved(), await day_data(), ManualClock(NOW), ManualTimers(), [])


async def test_an_acknowledgement_stored_first_by_another_instance_stops_the_escalation() -> None:
    s = await setup()
    stepper = s.stepper()
    consult = await s.ask(stepper)
    await stepper.report(consult, esc.Delivered(level=1))
    s.clock.advance(ACK_TIMEOUT)
    other = s.stepper()
    s.store.meanwhile = lambda: other.step(consult, esc.AckBy(user=K1A, via=AckVia.REACTION))

    await stepper.on_timer(consult)  # its first record is refused: read again, stepped again

    kinds = await s.kinds(consult)
    assert kinds.count("acknowledged") == 1 and kinds.count("paged") == 1  # no level 2
    pages = [i for i in await s.store.pending() if i.payload["type"] == "PageLevel"]
    assert [p.payload["level"] for p in pages] == [1]


async def test_a_page_out_is_recorded_once_with_its_outbox_entry_and_moves_the_timer() -> None:
    s = await setup()
    stepper = s.stepper()
    consult = await s.ask(stepper)
    [page] = [i for i in await s.store.pending() if i.payload["type"] == "PageLevel"]
    s.clock.advance(ACK_TIMEOUT / 2)  # held up on its way

    await stepper.report(consult, esc.Delivered(level=1), done=page.id)
    await stepper.report(consult, esc.Delivered(level=1), done=page.id)  # reported again

    assert (await s.kinds(consult)).count("page_delivered") == 1
    assert page.id not in {i.id for i in await s.store.pending()}
    assert s.timers.due[consult][0] == s.clock.now() + ACK_TIMEOUT  # its whole time from now
    assert ["page_delivered"] in [[e.kind for e in events] for events in s.seen]  # metrics


async def test_a_pool_room_another_instance_took_meanwhile_is_passed_over() -> None:
    s = await setup()
    stepper = s.stepper()
    first = await s.ask(stepper)
    second = await s.ask(stepper, requester=STRANGER)
    messenger = MemoryMessenger()
    pool = RoomPool(store=s.store, messenger=messenger, clock=s.clock, size=2)
    assert await pool.fill() == 2
    oldest, newest = [p.room for p in await s.store.pool_rooms()]
    other = s.stepper()
    raced: list[str] = []

    async def take(room: str) -> str:
        if not raced:  # the other instance takes the room the pool listed first
            raced.append(await other.take_pool_room(second, room))
        return await stepper.take_pool_room(first, room)

    assert await pool.claim(first, take) == newest
    assert raced == [oldest]
    assert await s.store.consult_for_room(oldest) == second
    assert await s.store.consult_for_room(newest) == first
    assert await s.store.pool_rooms() == []
    assert (await s.kinds(first)).count("room_created") == 1


async def test_a_consult_with_a_room_keeps_it_and_leaves_the_pool_room() -> None:
    s = await setup()
    stepper = s.stepper()
    consult = await s.ask(stepper)
    await stepper.report(consult, esc.RoomReady(room="!made:localhost"))
    await s.store.add_pool_room("!pool:localhost", policy="1", now=NOW)

    assert await stepper.take_pool_room(consult, "!pool:localhost") == "!made:localhost"
    assert [p.room for p in await s.store.pool_rooms()] == ["!pool:localhost"]
    assert (await s.kinds(consult)).count("room_created") == 1


@dataclass
class CountedReads(Interleaved):
    """Counts the reads of a consult's log."""

    reads: int = 0

    async def events(self, consult: ConsultId) -> list[Event]:
        self.reads += 1
        return await super().events(consult)


async def test_a_consult_this_instance_stepped_is_stepped_again_without_reading_its_log() -> None:
    """In a rush every round trip to the database is felt: the stepper steps from the log as
    it last recorded it (the store's compare-and-set on the log's length checks it)."""
    store = CountedReads()
    s = Setup(store, await day_data(), ManualClock(NOW), ManualTimers(), [])
    stepper = s.stepper()
    consult = await s.ask(stepper)
    await store.add_pool_room("!pool:localhost", policy="1", now=NOW)
    assert await stepper.take_pool_room(consult, "!pool:localhost") == "!pool:localhost"
    await stepper.report(consult, esc.Delivered(level=1))
    after = await stepper.step(consult, esc.AckBy(user=K1A, via=AckVia.REACTION))

    assert store.reads == 0
    assert after is not None and after.state is esc.State.ACKNOWLEDGED
    kinds = ["requested", "paged", "room_created", "page_delivered", "acknowledged"]
    assert await s.kinds(consult) == kinds


async def test_a_step_another_instance_recorded_since_is_not_stepped_over() -> None:
    """A takeover and back: the other instance closed the consult meanwhile. This instance's
    next step starts from the store, not from the log it last recorded: a step that would
    append is refused (the log is longer) and one that would change nothing is read again."""
    s = await setup()
    stepper, other = s.stepper(), s.stepper()
    first, second = await s.ask(stepper), await s.ask(stepper, requester=STRANGER)
    for consult in (first, second):
        await stepper.report(consult, esc.Delivered(level=1))
        await stepper.step(consult, esc.AckBy(user=K1A, via=AckVia.REACTION))
        await other.step(consult, esc.CloseBy(user=K1A, outcome=Outcome.ADVICE))
    closes = len(s.seen)

    # Closed, as this instance last knew it acknowledged: that would append; it is refused
    # (the log is longer) and the close is taken from the store: closed already.
    again = await stepper.step(first, esc.CloseBy(user=K1A, outcome=Outcome.OTHER))
    assert again is not None and not again.is_open
    assert (await s.kinds(first)).count("closed") == 1 and len(s.seen) == closes
    # Acknowledged again: on the log as last known that changes nothing, so nothing is
    # recorded from it; as the store has it the consult is closed.
    ack = await stepper.step(second, esc.AckBy(user=K1A, via=AckVia.COMMAND))
    assert ack is not None and not ack.is_open and len(s.seen) == closes
