"""One contract suite for every ConsultStore backend: in-memory, SQLite and PostgreSQL.

A new backend (PostgreSQL …) joins by adding an opener to `BACKENDS`: an async context manager
that yields a fresh, empty store and releases it afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consultbot.adapters.memory import MemoryConsultStore, MemoryDataStore
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.adapters.sql.stores import open_store
from consultbot.domain.consult.escalation import AckVia, Event, EventKind, State, fold
from consultbot.domain.consult.stats import aggregate
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ConsultId, Outcome, ServiceId, UserId
from consultbot.ports import (
    ConflictError,
    ConsultStore,
    DataStore,
    OutboxKind,
    Outgoing,
    PoolRoomGone,
    Purged,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
REQ = UserId("@vera:localhost")
K1 = UserId("@karin:localhost")
K2 = UserId("@bertil:localhost")
OTHER = UserId("@sven:localhost")
DM = "!dm-vera:localhost"
ROOM = "!consult:localhost"


@asynccontextmanager
async def memory_store(tmp_path: Path) -> AsyncIterator[ConsultStore]:
    yield MemoryConsultStore()


@asynccontextmanager
async def sqlite_store(tmp_path: Path) -> AsyncIterator[ConsultStore]:
    store = await SqliteStore.open(tmp_path / "db" / "consultbot.db")
    try:
        yield store
    finally:
        await store.close()


BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[ConsultStore]]] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
}


@pytest.fixture(params=[*sorted(BACKENDS), "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConsultStore]:
    if request.param == "postgres":  # a fresh database on the session's throwaway server
        backend = await open_store(request.getfixturevalue("pg_store_url")())
        try:
            yield backend
        finally:
            await backend.close()
        return
    async with BACKENDS[request.param](tmp_path) as backend:
        yield backend


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def requested(consult: ConsultId, *, requester: UserId = REQ, minutes: float = 0) -> Event:
    return Event(
        kind=EventKind.REQUESTED,
        at=at(minutes),
        data={
            "consult": consult,
            "requester": requester,
            "service": "kardiologi",
            "track": "halvakut",
            "request_room": DM,
            "request_event": f"$ask-{consult}",
        },
    )


def paged(level: int, user: UserId, minutes: float, deadline: float | None) -> Event:
    return Event(
        kind=EventKind.PAGED,
        at=at(minutes),
        data={
            "level": level,
            "people": [{"user": user, "name": user[1:4].title(), "phone": "070-111 11 11"}],
            "deadline": at(deadline).isoformat() if deadline is not None else None,
        },
    )


def room_created(room: str, minutes: float) -> Event:
    return Event(kind=EventKind.ROOM_CREATED, at=at(minutes), data={"room": room})


def acknowledged(user: UserId, minutes: float) -> Event:
    return Event(
        kind=EventKind.ACKNOWLEDGED,
        at=at(minutes),
        data={"user": user, "via": AckVia.REACTION.value, "remind_at": at(240).isoformat()},
    )


def closed(user: UserId, minutes: float) -> Event:
    return Event(
        kind=EventKind.CLOSED,
        at=at(minutes),
        data={"outcome": Outcome.ADVICE.value, "user": user},
    )


async def new_consult(store: ConsultStore, events: list[Event], *, minutes: float = 0) -> ConsultId:
    """A consult whose log holds `requested` (at `minutes`) and then `events`."""
    consult = await store.allocate_consult(now=at(minutes))
    await store.record(
        consult, 0, [requested(consult, minutes=minutes), *events], [], now=at(minutes)
    )
    return consult


def send(n: int, room: str = DM) -> Outgoing:
    return Outgoing(kind=OutboxKind.SEND, room=room, payload={"text": f"t{n}", "n": n})


# --------------------------------------------------------------------------------------------
# Consult numbers and logs


async def test_consult_numbers_are_new_and_increasing(store: ConsultStore) -> None:
    first = await store.allocate_consult(now=NOW)
    second = await store.allocate_consult(now=NOW)
    assert (first, second) == ("K-000001", "K-000002")
    assert await store.consult(first) is None  # allocated, no log yet
    assert await store.events(first) == []


async def test_a_log_reads_back_as_written(store: ConsultStore) -> None:
    consult = await store.allocate_consult(now=NOW)
    log = [
        requested(consult),
        paged(1, K1, 0, 1),
        room_created(ROOM, 0.5),
        acknowledged(K1, 0.75),
    ]
    await store.record(consult, 0, log[:2], [], now=NOW)
    await store.record(consult, 2, log[2:], [], now=at(1))
    events = await store.events(consult)
    assert events == log
    assert all(isinstance(e.kind, EventKind) for e in events)


async def test_the_consult_is_its_folded_log_with_every_field(store: ConsultStore) -> None:
    consult = await new_consult(
        store, [paged(1, K1, 0, 1), room_created(ROOM, 0.5), acknowledged(K1, 0.75)]
    )
    found = await store.consult(consult)
    assert found is not None
    expected = fold(await store.events(consult))
    for f in fields(expected):
        assert getattr(found, f.name) == getattr(expected, f.name), f.name
    # What the service needs after a restart to answer the requester where they asked.
    assert (found.request_room, found.request_event) == (DM, f"$ask-{consult}")
    assert (found.requester, found.room, found.acked_by) == (REQ, ROOM, K1)


async def test_a_stale_step_is_refused_and_stores_nothing(store: ConsultStore) -> None:
    consult = await new_consult(store, [])
    with pytest.raises(ConflictError):
        await store.record(consult, 0, [paged(1, K1, 1, 2)], [send(1)], handled="$stale", now=at(1))
    assert [e.kind for e in await store.events(consult)] == [EventKind.REQUESTED]
    assert await store.pending() == []
    assert not await store.is_handled("$stale")


async def test_a_log_that_does_not_fold_is_refused_and_stores_nothing(
    store: ConsultStore,
) -> None:
    consult = await store.allocate_consult(now=NOW)
    with pytest.raises(ValueError, match="must start with 'requested'"):
        await store.record(consult, 0, [paged(1, K1, 0, 1)], [send(1)], handled="$bad", now=NOW)
    assert await store.events(consult) == []
    assert await store.pending() == []
    assert not await store.is_handled("$bad")


async def test_events_without_a_consult_are_not_stored_but_the_rest_is(
    store: ConsultStore,
) -> None:
    ids = await store.record(None, 0, [], [send(1), send(2)], handled="$reply", now=NOW)
    assert len(ids) == 2 and ids[0] < ids[1]
    assert await store.is_handled("$reply")
    assert not await store.is_handled("$other")


# --------------------------------------------------------------------------------------------
# Finding consults


async def test_open_consults_are_the_open_ones_and_those_with_a_deadline(
    store: ConsultStore,
) -> None:
    paging = await new_consult(store, [paged(1, K1, 0, 1)])
    done = await new_consult(store, [paged(1, K1, 0, 1), closed(K1, 2)])
    acked = await new_consult(store, [paged(1, K1, 0, 1), acknowledged(K1, 0.5)])
    found = {c.id: c for c in await store.open_consults()}
    assert set(found) == {paging, acked}
    assert found[paging].deadline == at(1)
    assert found[acked].state is State.ACKNOWLEDGED
    assert done not in found


async def test_a_consult_is_found_by_its_room(store: ConsultStore) -> None:
    consult = await new_consult(store, [paged(1, K1, 0, 1), room_created(ROOM, 0.5)])
    await new_consult(store, [paged(1, K1, 0, 1)])
    assert await store.consult_for_room(ROOM) == consult
    assert await store.consult_for_room(DM) is None
    assert await store.consult_for_room("!elsewhere:localhost") is None


async def test_consults_of_a_user_are_those_they_asked_or_were_paged_for(
    store: ConsultStore,
) -> None:
    first = await new_consult(store, [paged(1, K1, 0, 1)])
    second = await new_consult(store, [paged(1, K2, 0, 1)], minutes=1)
    finished = await new_consult(store, [paged(1, K1, 2, 3), closed(REQ, 4)], minutes=2)
    assert [c.id for c in await store.consults_of(REQ)] == [second, first]  # newest first
    assert [c.id for c in await store.consults_of(K1)] == [first]
    assert [c.id for c in await store.consults_of(K1, open_only=False)] == [finished, first]
    assert await store.consults_of(OTHER, open_only=False) == []


async def test_consults_between_is_by_request_time_half_open(store: ConsultStore) -> None:
    early = await new_consult(store, [], minutes=0)
    middle = await new_consult(store, [], minutes=10)
    await new_consult(store, [], minutes=20)
    found = await store.consults_between(at(0), at(20))
    assert sorted(c.id for c in found) == sorted([early, middle])


async def test_a_conference_reads_back_with_its_services_and_meeting(
    store: ConsultStore,
) -> None:
    """A conference (`!mdk`): its services on the first entry, each service's entries tagged.
    Unanswered by every service it still has a deadline (its meeting reminder): it stays among
    the open ones, so that the reminder comes after a restart."""
    consult = await store.allocate_consult(now=NOW)
    first = requested(consult)
    first.data.update(track="mdk", services=["kardiologi", "onkologi"])
    log = [
        first,
        Event(
            kind=EventKind.PAGED, at=NOW, data={**paged(1, K1, 0, 1).data, "service": "kardiologi"}
        ),
        Event(kind=EventKind.LEVEL_SKIPPED, at=NOW, data={"level": 1, "service": "onkologi"}),
        Event(kind=EventKind.SERVICE_UNANSWERED, at=NOW, data={"service": "onkologi"}),
        room_created(ROOM, 0.5),
        Event(
            kind=EventKind.MEETING_SET,
            at=at(0.75),
            data={"user": REQ, "meeting": at(120).isoformat(), "remind_at": at(105).isoformat()},
        ),
        Event(kind=EventKind.SERVICE_UNANSWERED, at=at(1), data={"service": "kardiologi"}),
        Event(kind=EventKind.UNANSWERED, at=at(1), data={}),
    ]
    await store.record(consult, 0, log, [], now=at(1))
    assert await store.events(consult) == log
    found = await store.consult(consult)
    assert found is not None and found == fold(log)
    assert found.services == ("kardiologi", "onkologi") and found.state is State.UNANSWERED
    assert [leg.unanswered for leg in found.legs] == [True, True]
    assert found.deadline == at(105)
    assert [c.id for c in await store.open_consults()] == [consult]
    assert await store.consult_for_room(ROOM) == consult
    assert [c.id for c in await store.consults_of(K1, open_only=False)] == [consult]


# --------------------------------------------------------------------------------------------
# The outbox


async def test_the_outbox_is_oldest_first_until_sent(store: ConsultStore) -> None:
    consult = await new_consult(store, [])
    effect: dict[str, Any] = {"type": "Reply", "template": "created", "params": {}}
    ids = await store.record(
        consult,
        1,
        [paged(1, K1, 0, 1)],
        [Outgoing(kind=OutboxKind.EFFECT, consult=consult, payload=effect), send(1)],
        now=NOW,
    )
    ids += await store.record(None, 0, [], [send(2, ROOM)], now=NOW)
    pending = await store.pending()
    assert [i.id for i in pending] == ids
    assert [i.kind for i in pending] == [OutboxKind.EFFECT, OutboxKind.SEND, OutboxKind.SEND]
    assert all(isinstance(i.kind, OutboxKind) for i in pending)
    assert pending[0].consult == consult and pending[0].payload == effect
    assert (pending[1].consult, pending[1].room, pending[1].payload) == (
        None,
        DM,
        {"text": "t1", "n": 1},
    )
    assert pending[2].room == ROOM

    await store.sent(ids[1], now=at(1))
    assert [i.id for i in await store.pending()] == [ids[0], ids[2]]


async def test_transaction_ids_are_distinct_and_stable(store: ConsultStore) -> None:
    await store.record(None, 0, [], [send(1), send(2)], now=NOW)
    first = [i.txn for i in await store.pending()]
    again = [i.txn for i in await store.pending()]
    assert first == again
    assert len(set(first)) == 2 and all(first)


# --------------------------------------------------------------------------------------------
# Bot state


async def test_meta_values_are_stored_and_replaced(store: ConsultStore) -> None:
    assert await store.get_meta("sync_token") is None
    await store.set_meta("sync_token", "s1")
    await store.set_meta("sync_token", "s2")
    await store.set_meta("admin-1", "!room:localhost")
    assert await store.get_meta("sync_token") == "s2"
    assert await store.get_meta("admin-1") == "!room:localhost"
    await store.set_meta("admin_x", "odd")
    assert await store.meta_under("admin-") == {"admin-1": "!room:localhost"}
    assert await store.meta_under("nothing-") == {}


async def test_stats_table_counts_the_consults_requested_in_the_period(
    store: ConsultStore,
) -> None:
    """What `!statistik` and the monthly report count: the same facts from every backend."""
    await new_consult(
        store,
        [
            paged(1, K1, 0, 1),
            room_created(ROOM, 0),
            acknowledged(K1, 2),
            closed(K1, 5),
        ],
    )
    await new_consult(store, [paged(1, K1, 10, 11)], minutes=10)
    await new_consult(store, [paged(1, K1, 60 * 24, None)], minutes=60 * 24)  # the next day
    await new_consult(store, [], minutes=20)  # nobody paged, not queued: not counted
    table = await store.stats_table(at(0), at(60 * 24))
    report = aggregate(table, date(2026, 11, 23), date(2026, 11, 23))
    assert report["consults"] == 2 and report["acknowledged"] == 1
    assert report["outcomes"]["advice"] == 1 and report["outcomes"]["open"] == 1
    assert report["ack_seconds"] == {"median": 120.0, "p90": 120.0}
    assert list(report["by_requester_unit"]) == ["okänd"]


# -- the warm room pool (issue 12) ----------------------------------------------------------


async def test_a_pool_room_is_taken_once_with_the_step_that_records_it(
    store: ConsultStore,
) -> None:
    await store.add_pool_room("!new:localhost", policy="1:localhost", now=at(1))
    await store.add_pool_room("!old:localhost", policy="1:localhost", now=at(0))
    assert [p.room for p in await store.pool_rooms()] == ["!old:localhost", "!new:localhost"]
    first = await new_consult(store, [paged(1, K1, 0, 1)])
    second = await new_consult(store, [paged(1, K2, 0, 1)])

    await store.record(
        first, 2, [room_created("!old:localhost", 2)], [], pool_room="!old:localhost", now=at(2)
    )
    assert [p.room for p in await store.pool_rooms()] == ["!new:localhost"]
    assert fold(await store.events(first)).room == "!old:localhost"
    # Taken already: nothing of the second step is recorded.
    with pytest.raises(PoolRoomGone):
        await store.record(
            second,
            2,
            [room_created("!old:localhost", 2)],
            [send(1)],
            handled="$taken",
            pool_room="!old:localhost",
            now=at(2),
        )
    assert len(await store.events(second)) == 2
    assert await store.pending() == [] and not await store.is_handled("$taken")
    assert [p.room for p in await store.pool_rooms()] == ["!new:localhost"]


async def test_a_step_behind_a_newer_one_takes_no_pool_room(store: ConsultStore) -> None:
    await store.add_pool_room("!pool:localhost", policy="1:localhost", now=at(0))
    consult = await new_consult(store, [paged(1, K1, 0, 1)])
    with pytest.raises(ConflictError):
        await store.record(
            consult,
            1,
            [room_created("!pool:localhost", 2)],
            [],
            pool_room="!pool:localhost",
            now=at(2),
        )
    assert [p.room for p in await store.pool_rooms()] == ["!pool:localhost"]
    assert len(await store.events(consult)) == 2


async def test_a_pool_room_dropped_is_gone(store: ConsultStore) -> None:
    await store.add_pool_room("!other-policy:localhost", policy="0:localhost", now=at(10))
    await store.add_pool_room("!too-old:localhost", policy="1:localhost", now=at(-120))
    assert await store.drop_pool_room("!too-old:localhost")
    assert not await store.drop_pool_room("!too-old:localhost")
    [left] = await store.pool_rooms()
    assert (left.room, left.policy, left.created_at) == (
        "!other-policy:localhost",
        "0:localhost",
        at(10),
    )


# -- retention: leaving closed consult rooms, purging old metadata (issue 13) -----------------

DAY = 24 * 60  # minutes


def consult_in_room(room: str, minutes: float, *, close: bool = True) -> list[Event]:
    """Paged, a room, acknowledged and (unless `close` is False) closed, from `minutes` on."""
    events = [
        paged(1, K1, minutes, minutes + 1),
        room_created(room, minutes + 0.5),
        acknowledged(K1, minutes + 0.75),
    ]
    return [*events, closed(K1, minutes + 5)] if close else events


async def leave(store: ConsultStore, day: int) -> list[str]:
    """A run on `day` (after NOW): leave the rooms of consults quiet for 30 days."""
    return await store.leave_closed_rooms(at((day - 30) * DAY), now=at(day * DAY))


async def leave_pending(store: ConsultStore) -> list[tuple[ConsultId | None, str]]:
    return [(i.consult, i.room) for i in await store.pending() if i.kind is OutboxKind.LEAVE]


async def send_leaves(store: ConsultStore, now: datetime) -> None:
    """The outbox has left every room it was asked to."""
    for item in await store.pending():
        if item.kind is OutboxKind.LEAVE:
            await store.sent(item.id, now=now)


async def give_staff(store: ConsultStore, units: dict[UserId, str]) -> None:
    """The staff list statistics take requesters' units from."""
    members = [
        StaffMember(user=user, name=user[1:].title(), unit=ServiceId(unit))
        for user, unit in units.items()
    ]
    if isinstance(store, DataStore):
        await store.import_staff(members, source="test", now=NOW)
    else:
        assert isinstance(store, MemoryConsultStore)
        store.staff = MemoryDataStore()
        await store.staff.import_staff(members, source="test", now=NOW)


async def test_the_room_of_a_consult_quiet_for_the_cutoff_is_left_once(
    store: ConsultStore,
) -> None:
    old = await new_consult(store, consult_in_room("!old:localhost", 0))
    recent = await new_consult(
        store, consult_in_room("!recent:localhost", 20 * DAY), minutes=20 * DAY
    )
    still_open = await new_consult(store, consult_in_room("!open:localhost", 0, close=False))
    await new_consult(store, [paged(1, K1, 0, None), closed(K1, 5)])  # never had a room

    assert await leave(store, 31) == ["!old:localhost"]
    assert await leave_pending(store) == [(old, "!old:localhost")]
    # Once: neither a second run nor the entry having been sent queues it again.
    assert await leave(store, 31) == []
    await send_leaves(store, at(31 * DAY))
    assert await leave(store, 32) == []
    assert await leave(store, 51) == ["!recent:localhost"]
    assert await leave_pending(store) == [(recent, "!recent:localhost")]
    # An open consult's room is never left, however old.
    assert await leave(store, 999) == []
    assert still_open in {c.id for c in await store.open_consults()}


async def test_the_purge_forgets_old_closed_consults_and_keeps_their_statistics(
    store: ConsultStore,
) -> None:
    await give_staff(store, {REQ: "vc-mora"})
    reply = Outgoing(kind=OutboxKind.SEND, room=DM, payload={"text": "t"})
    old = await store.allocate_consult(now=at(0))
    await store.record(
        old,
        0,
        [requested(old), *consult_in_room(ROOM, 0)],
        [reply, Outgoing(kind=OutboxKind.SEND, room=ROOM, consult=old, payload={"text": "p"})],
        handled="$old-ask",
        now=at(0),
    )
    roomless = await new_consult(store, [paged(1, K2, 10, None), closed(K2, 15)], minutes=10)
    still_open = await new_consult(store, consult_in_room("!open:localhost", 20, close=False))
    await store.record(None, 0, [], [], handled="report:2026-11", now=at(0))
    for item in await store.pending():
        await store.sent(item.id, now=at(1))
    day = date(2026, 11, 23)
    before = aggregate(await store.stats_table(at(0), at(DAY)), day, day)
    assert before["consults"] == 3 and list(before["by_requester_unit"]) == ["vc-mora"]

    # Quiet long enough, but the room is not left yet: that consult waits.
    first = await store.purge_consults(at(731 * DAY), now=at(731 * DAY))
    # The roomless consult (3 events), the sent reply of no consult, the handled Matrix event.
    assert first == Purged(consults=1, events=3, outbox=1, handled=1)
    assert await store.events(roomless) == []
    assert await store.events(old) != []
    await store.leave_closed_rooms(at(731 * DAY), now=at(731 * DAY))
    await send_leaves(store, at(731 * DAY))
    second = await store.purge_consults(at(731 * DAY), now=at(731 * DAY))
    assert second == Purged(consults=1, events=5, outbox=2, handled=0)  # its message and leave

    for gone in (old, roomless):
        assert await store.events(gone) == [] and await store.consult(gone) is None
    assert await store.consult_for_room(ROOM) is None
    assert [c.id for c in await store.consults_of(REQ, open_only=False)] == [still_open]
    assert await store.consults_of(K2, open_only=False) == []
    assert all(i.consult != old for i in await store.pending())
    assert not await store.is_handled("$old-ask")
    assert await store.is_handled("report:2026-11")  # an admin post's key is not a Matrix event
    # The open consult is untouched, and the statistics of the period are what they were.
    assert len(await store.events(still_open)) == 4
    after = aggregate(await store.stats_table(at(0), at(DAY)), day, day)
    assert after == before
    # Nothing left to purge: a second run changes nothing.
    assert await store.purge_consults(at(731 * DAY), now=at(731 * DAY)) == Purged()
    assert aggregate(await store.stats_table(at(0), at(DAY)), day, day) == before


async def test_a_purge_never_reuses_an_outbox_id_or_transaction_id(store: ConsultStore) -> None:
    ids = await store.record(None, 0, [], [send(1), send(2)], now=NOW)
    txns = {i.txn for i in await store.pending()}
    for n in ids:
        await store.sent(n, now=NOW)
    await store.purge_consults(at(DAY), now=at(DAY))
    [new] = await store.record(None, 0, [], [send(3)], now=at(DAY))
    assert new > max(ids)
    [item] = await store.pending()
    assert item.txn not in txns
