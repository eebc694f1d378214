"""The warm room pool port (`PoolRooms`, issue 12) on every backend."""

from __future__ import annotations

import pytest

from consultbot.domain.consult.escalation import fold
from consultbot.ports import ConflictError, ConsultStore
from tests.adapters.contract.consult_events import (
    K1,
    K2,
    at,
    new_consult,
    paged,
)


async def test_a_pool_room_is_claimed_once_with_the_consults_room_in_one_step(
    store: ConsultStore,
) -> None:
    await store.add_pool_room("!old:localhost", policy="1:localhost", now=at(0))
    await store.add_pool_room("!new:localhost", policy="1:localhost", now=at(1))
    first = await new_consult(store, [paged(1, K1, 0, 1)])
    second = await new_consult(store, [paged(1, K2, 0, 1)])

    taken = await store.claim_pool_room(
        first, 2, policy="1:localhost", made_after=at(-60), now=at(2)
    )
    assert taken == "!old:localhost"  # the oldest first
    again = await store.claim_pool_room(
        second, 2, policy="1:localhost", made_after=at(-60), now=at(2)
    )
    assert again == "!new:localhost"
    assert [p.room for p in await store.pool_rooms()] == []
    assert fold(await store.events(first)).room == "!old:localhost"
    assert await store.consult_for_room("!new:localhost") == second
    third = await new_consult(store, [])
    assert (
        await store.claim_pool_room(third, 1, policy="1:localhost", made_after=at(-60), now=at(2))
        is None
    )
    assert fold(await store.events(third)).room == ""


async def test_a_claim_behind_a_newer_step_takes_no_room(store: ConsultStore) -> None:
    await store.add_pool_room("!pool:localhost", policy="1:localhost", now=at(0))
    consult = await new_consult(store, [paged(1, K1, 0, 1)])
    with pytest.raises(ConflictError):
        await store.claim_pool_room(consult, 1, policy="1:localhost", made_after=at(-60), now=at(2))
    assert [p.room for p in await store.pool_rooms()] == ["!pool:localhost"]
    assert len(await store.events(consult)) == 2


async def test_stale_pool_rooms_are_never_claimed(store: ConsultStore) -> None:
    await store.add_pool_room("!other-policy:localhost", policy="0:localhost", now=at(10))
    await store.add_pool_room("!too-old:localhost", policy="1:localhost", now=at(-120))
    consult = await new_consult(store, [])
    taken = await store.claim_pool_room(
        consult, 1, policy="1:localhost", made_after=at(-60), now=at(20)
    )
    assert taken is None
    assert await store.drop_pool_room("!too-old:localhost")
    assert not await store.drop_pool_room("!too-old:localhost")
    assert [p.room for p in await store.pool_rooms()] == ["!other-policy:localhost"]
