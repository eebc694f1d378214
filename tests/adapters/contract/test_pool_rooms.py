"""The warm room pool port (`PoolRooms`, issue 12) on every backend: a pool room is taken by
the step that records it as a consult's room (`ConsultLog.record(..., pool_room=…)`), once."""

from __future__ import annotations

import pytest

from consultbot.domain.consult.escalation import fold
from consultbot.ports import ConflictError, ConsultStore, PoolRoomGone
from tests.adapters.contract.consult_events import (
    K1,
    K2,
    at,
    new_consult,
    paged,
    room_created,
    send,
)


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
