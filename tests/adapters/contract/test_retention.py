"""The retention port (`Retention`, issue 13) on every backend: leaving closed consult rooms,
purging old metadata."""

from __future__ import annotations

from datetime import date

import pytest

from consultbot.adapters.memory import MemoryConsultStore, MemoryDataStore
from consultbot.domain.consult.stats import aggregate
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ConsultId, ServiceId, UserId
from consultbot.ports import ConflictError, ConsultStore, DataStore, OutboxKind, Outgoing, Purged
from tests.adapters.contract.consult_events import (
    DAY,
    DM,
    K1,
    K2,
    NOW,
    REQ,
    ROOM,
    at,
    closed,
    consult_in_room,
    new_consult,
    paged,
    requested,
    send,
    send_leaves,
)


async def leave(store: ConsultStore, day: int) -> list[str]:
    """A run on `day` (after NOW): leave the rooms of consults quiet for 30 days."""
    return await store.leave_closed_rooms(at((day - 30) * DAY), now=at(day * DAY))


async def leave_pending(store: ConsultStore) -> list[tuple[ConsultId | None, str]]:
    return [(i.consult, i.room) for i in await store.pending() if i.kind is OutboxKind.LEAVE]


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
    first = requested(old, unit="vc-mora", kind="primary_care")
    await store.record(
        old,
        0,
        [first, *consult_in_room(ROOM, 0)],
        [reply, Outgoing(kind=OutboxKind.SEND, room=ROOM, consult=old, payload={"text": "p"})],
        handled="$old-ask",
        now=at(0),
    )
    roomless = await new_consult(
        store,
        [paged(1, K2, 10, None), closed(K2, 15)],
        minutes=10,
        unit="ambulans-dalarna",
        kind="ambulance",
    )
    frozen = {"unit": "vc-mora", "kind": "primary_care"}
    still_open = await new_consult(
        store, consult_in_room("!open:localhost", 20, close=False), **frozen
    )
    await store.record(None, 0, [], [], handled="report:2026-11", now=at(0))
    for item in await store.pending():
        await store.sent(item.id, now=at(1))
    day = date(2026, 11, 23)
    before = aggregate(await store.stats_table(at(0), at(DAY)), day, day)
    assert before["consults"] == 3
    assert {k: v["consults"] for k, v in before["by_requester_unit"].items()} == {
        "ambulans-dalarna": 1,
        "vc-mora": 2,
    }
    assert {k: v["consults"] for k, v in before["by_requester_kind"].items()} == {
        "primary_care": 2,
        "ambulance": 1,
    }
    await give_staff(store, {REQ: "vc-falun-norr"})  # the requester moved since: no matter

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


async def test_a_step_taken_on_a_log_read_before_the_purge_is_refused(store: ConsultStore) -> None:
    """A consult's log read (or kept by the stepper) before the purge: a step taken from it
    is refused as a conflict, not appended to a consult whose beginning is gone."""
    events = consult_in_room(ROOM, 0)
    old = await new_consult(store, events)
    log = await store.events(old)
    await store.leave_closed_rooms(at(731 * DAY), now=at(731 * DAY))
    await send_leaves(store, at(731 * DAY))
    assert (await store.purge_consults(at(731 * DAY), now=at(731 * DAY))).consults == 1

    late = Outgoing(kind=OutboxKind.SEND, room=ROOM, consult=old, payload={"text": "late"})
    with pytest.raises(ConflictError):
        await store.record(
            old, len(log), [closed(K1, 800 * DAY)], [late], now=at(800 * DAY), before=log
        )
    assert await store.events(old) == [] and await store.consult(old) is None
    assert all(i.consult != old for i in await store.pending())


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
