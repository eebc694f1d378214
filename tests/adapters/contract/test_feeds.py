"""The calendar feeds port (`Feeds`) on every backend: found by the hash of its token until
it is revoked; a revoked feed keeps who revoked it, and its number is never given again."""

from __future__ import annotations

from datetime import timedelta

from consultbot.domain.duty.feeds import FeedKind, token_hash
from consultbot.domain.types import UserId
from consultbot.ports import DataStore
from tests.adapters.contract.duty_values import NOW

ADMIN = UserId("@admin:localhost")
OTHER = UserId("@other-admin:localhost")


async def test_a_feed_is_found_by_its_token_hash_until_it_is_revoked(
    data_store: DataStore,
) -> None:
    made = await data_store.add_feed(
        FeedKind.SERVICE, "kardiologi", token_hash("t1"), by=ADMIN, now=NOW
    )
    assert (made.kind, made.target, made.created_by, made.created_at) == (
        FeedKind.SERVICE,
        "kardiologi",
        ADMIN,
        NOW,
    )
    assert made.active and made.id >= 1
    assert await data_store.feed_by_token_hash(token_hash("t1")) == made
    assert await data_store.feed_by_token_hash(token_hash("t2")) is None
    assert await data_store.feed_by_token_hash("t1") is None  # the token itself finds nothing

    later = NOW + timedelta(hours=1)
    revoked = await data_store.revoke_feed(made.id, by=OTHER, now=later)
    assert revoked is not None and not revoked.active
    assert (revoked.revoked_at, revoked.revoked_by) == (later, OTHER)
    assert await data_store.feed_by_token_hash(token_hash("t1")) is None
    assert await data_store.revoke_feed(made.id, by=OTHER, now=later) is None  # once only
    assert await data_store.revoke_feed(made.id + 1000, by=OTHER, now=later) is None


async def test_the_list_holds_the_feeds_in_force_and_numbers_are_never_reused(
    data_store: DataStore,
) -> None:
    first = await data_store.add_feed(FeedKind.SERVICE, "kardiologi", "h1", by=ADMIN, now=NOW)
    mine = await data_store.add_feed(
        FeedKind.PERSON, "@anna:localhost", "h2", by=ADMIN, now=NOW + timedelta(minutes=1)
    )
    assert await data_store.feeds() == [first, mine]
    await data_store.revoke_feed(mine.id, by=ADMIN, now=NOW + timedelta(minutes=2))
    assert await data_store.feeds() == [first]
    third = await data_store.add_feed(FeedKind.SERVICE, "neurologi", "h3", by=ADMIN, now=NOW)
    assert third.id > mine.id > first.id
    assert await data_store.feeds() == [first, third]
