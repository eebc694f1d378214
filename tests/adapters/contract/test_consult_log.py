"""The consult log port (ports/consult_log.py `ConsultLog`) on every backend: numbers, logs
appended with compare-and-set, handled events, finding consults."""

from __future__ import annotations

from dataclasses import fields

import pytest

from consultbot.domain.consult.escalation import State, fold
from consultbot.domain.consult.events import Event, EventKind
from consultbot.ports import ConflictError, ConsultStore
from tests.adapters.contract.consult_events import (
    DM,
    K1,
    K2,
    NOW,
    OTHER,
    REQ,
    ROOM,
    acknowledged,
    at,
    closed,
    new_consult,
    paged,
    requested,
    room_created,
    send,
)


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


async def test_asked_by_is_one_requesters_consults_since_a_time(store: ConsultStore) -> None:
    """The request limit, repeats and the pool's share read one requester's recent consults."""
    await new_consult(store, [], minutes=0)
    later = await new_consult(store, [], minutes=10)
    await new_consult(store, [], minutes=12, requester=OTHER)
    latest = await new_consult(store, [], minutes=20)
    found = await store.asked_by(REQ, at(10))
    assert sorted(c.id for c in found) == sorted([later, latest])
    assert all(c.requester == REQ for c in found)
