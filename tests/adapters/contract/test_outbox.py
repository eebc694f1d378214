"""The outbox port (`Outbox`) on every backend: what is queued, in order, until sent."""

from __future__ import annotations

from typing import Any

from consultbot.ports import ConsultStore, OutboxKind, Outgoing
from tests.adapters.contract.consult_events import (
    DM,
    K1,
    NOW,
    ROOM,
    at,
    new_consult,
    paged,
    send,
)


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


async def test_many_entries_queued_at_once_keep_their_order(store: ConsultStore) -> None:
    """A step's entries go into the outbox in one statement per batch (SQL): hundreds queued
    at once (a handover notice to everyone, say) come back in the order given, each with its
    own payload, and the ids returned are theirs in that order."""
    count = 2 * 150 + 7  # more than two of the SQL store's batches
    ids = await store.record(None, 0, [], [send(n) for n in range(count)], now=NOW)
    pending = await store.pending()
    assert [i.id for i in pending] == ids == sorted(ids)
    assert [i.payload["n"] for i in pending] == list(range(count))
