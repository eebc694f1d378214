"""The bot-state port (`BotState`) on every backend."""

from __future__ import annotations

from consultbot.ports import ConsultStore


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


async def test_a_meta_value_can_be_forgotten(store: ConsultStore) -> None:
    await store.set_meta("dead_man:K-000001", "syd_x")
    await store.set_meta("dead_man:K-000002", "syd_y")
    await store.delete_meta("dead_man:K-000001")
    await store.delete_meta("dead_man:K-000009")  # none stored: fine
    assert await store.get_meta("dead_man:K-000001") is None
    assert await store.meta_under("dead_man:") == {"dead_man:K-000002": "syd_y"}
