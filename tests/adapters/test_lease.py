"""The leader lease on a real (throwaway) PostgreSQL: one holder, takeover after expiry, fencing.

Two `LeaderLease` objects stand for two `consultbot run` processes on one database. The lease
is short here (tenths of a second) so that expiry can be waited for; time is the database's,
and the tests wait on it (`eventually`), never for a fixed while.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from consultbot.adapters.sql.lease import DB_NOW_MS, LeaderLease, Move, lease_move
from consultbot.adapters.sql.migrations import MIGRATIONS
from consultbot.domain.errors import NotLeader
from tests.support.waiting import eventually

LEASE_TABLE = 8  # the numbered migration that makes `leader_lease`


@pytest.fixture
async def url(pg_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        for statement in MIGRATIONS[LEASE_TABLE - 1]:
            await conn.execute(statement)
        await conn.execute("CREATE TABLE page (n integer)")
    return pg_url


@pytest.fixture
async def leases(url: str) -> AsyncIterator[list[LeaderLease]]:
    made: list[LeaderLease] = []
    yield made
    for lease in made:
        await lease.close()


def lease(
    leases: list[LeaderLease], url: str, holder: str, seconds: float = 0.6, **kw: Any
) -> LeaderLease:
    made = LeaderLease(url, holder, seconds=seconds, renew_every=0.1, margin=0.2, **kw)
    leases.append(made)
    return made


async def write(url: str, fence: LeaderLease, n: int) -> None:
    """A store's write transaction: the fence first, then the write."""
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        await fence.check(conn)
        await conn.execute("INSERT INTO page VALUES (%s)", (n,))


async def scalar(url: str, sql: str, *params: object) -> Any:
    """The one value a query gives, on the database's side."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(sql.encode(), params)).fetchone()
    return row[0] if row else None


EXPIRY = "SELECT expires_at_ms FROM leader_lease"  # on the database's clock, in ms
PAST = f"SELECT {DB_NOW_MS} > %s"
WAITING_FOR_A_LOCK = (  # a session waiting for a row lock: the takeover's UPDATE
    "SELECT count(*) > 0 FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def pages(url: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT n FROM page ORDER BY n")
        return [row[0] for row in await cursor.fetchall()]


async def test_only_one_instance_holds_the_lease_and_only_it_may_write(
    url: str, leases: list[LeaderLease]
) -> None:
    a, b = lease(leases, url, "DEVICEA"), lease(leases, url, "DEVICEB")
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert a.valid() and not b.valid()
    await write(url, a, 1)
    with pytest.raises(NotLeader):
        await write(url, b, 2)
    with pytest.raises(NotLeader):
        b.assert_leader()
    a.assert_leader()
    assert await pages(url) == [1]
    assert await scalar(url, "SELECT holder FROM leader_lease WHERE epoch = 1") == "DEVICEA"


async def test_a_renewed_lease_is_kept_and_the_standby_waits(
    url: str, leases: list[LeaderLease]
) -> None:
    a, b = lease(leases, url, "DEVICEA"), lease(leases, url, "DEVICEB")
    assert await a.try_acquire()
    first_term = await scalar(url, EXPIRY)
    keeping = asyncio.create_task(a.keep())
    try:
        await eventually(
            lambda: scalar(url, PAST, first_term),
            within=5,
            what="the lease's first 0.6 s to pass on the database's clock",
        )
        assert not await b.try_acquire()  # renewed all along: still A's
        assert a.valid()
        assert await scalar(url, EXPIRY) > first_term
    finally:
        keeping.cancel()


async def test_the_standby_takes_over_once_the_leader_stops_renewing_and_the_old_one_is_fenced(
    url: str, leases: list[LeaderLease]
) -> None:
    a, b = lease(leases, url, "DEVICEA"), lease(leases, url, "DEVICEB")
    assert await a.try_acquire()
    await write(url, a, 1)
    # A freezes (no renewals). Before its lease lapses on the database its own deadline has
    # passed: it stops sending first.
    await eventually(lambda: not a.valid(), within=5, what="A to see its own deadline pass")
    async with asyncio.timeout(5):
        await b.wait_acquired()
    assert b.epoch == 2
    await write(url, b, 2)
    # A wakes up: whatever it tries to write is refused, and it knows it has lost the lease.
    with pytest.raises(NotLeader):
        await write(url, a, 3)
    assert a.lost.is_set()
    assert not await a.renew()
    assert await pages(url) == [1, 2]


async def test_a_takeover_waits_for_a_write_in_flight_and_the_write_after_it_fails(
    url: str, leases: list[LeaderLease]
) -> None:
    a, b = lease(leases, url, "DEVICEA"), lease(leases, url, "DEVICEB")
    assert await a.try_acquire()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.transaction():
            await a.check(conn)  # the fence holds the lease row for share …
            expiry = await scalar(url, EXPIRY)
            await eventually(
                lambda: scalar(url, PAST, expiry),
                within=5,
                what="the lease to expire on the database's clock",
            )
            taking = asyncio.create_task(b.wait_acquired())  # … past the lease's expiry
            await eventually(
                lambda: scalar(url, WAITING_FOR_A_LOCK),
                within=1.5,  # the fenced transaction is ended by the server after 2 s idle
                what="the takeover to wait for the lease row the write in flight holds",
            )
            assert not taking.done()
            await conn.execute("INSERT INTO page VALUES (1)")
        async with asyncio.timeout(5):
            await taking
    with pytest.raises(NotLeader):
        await write(url, a, 2)
    assert await pages(url) == [1]


async def test_a_leader_frozen_inside_a_write_transaction_does_not_hold_the_takeover_up(
    url: str, leases: list[LeaderLease]
) -> None:
    a, b = lease(leases, url, "DEVICEA"), lease(leases, url, "DEVICEB")
    assert await a.try_acquire()
    conn = await psycopg.AsyncConnection.connect(url)
    try:
        await conn.execute("BEGIN")
        await a.check(conn)  # … and then the process is frozen (SIGSTOP): nothing more comes
        async with asyncio.timeout(6):
            await b.wait_acquired()  # the server ends the idle transaction; B takes over
        with pytest.raises(psycopg.Error):
            await conn.execute("INSERT INTO page VALUES (1)")
    finally:
        await conn.close()
    assert await pages(url) == []


async def test_a_leader_that_cannot_reach_the_database_stops_itself_before_the_lease_lapses(
    url: str, leases: list[LeaderLease]
) -> None:
    a = lease(leases, url, "DEVICEA")
    b = lease(leases, url, "DEVICEB")
    assert await a.try_acquire()
    a.url = "postgresql://nobody@127.0.0.1:1/none"  # the network to the database is cut
    await a.close()
    async with asyncio.timeout(5):
        await a.keep()  # returns once the lease is lost
    assert a.lost.is_set() and not a.valid()
    assert "renewed in time" in a.reason
    async with asyncio.timeout(5):
        await b.wait_acquired()
    assert b.epoch == 2


async def test_the_same_device_started_again_takes_its_lease_at_once_with_a_new_epoch(
    url: str, leases: list[LeaderLease]
) -> None:
    before = lease(leases, url, "DEVICEA", seconds=30)
    assert await before.try_acquire()
    again = lease(leases, url, "DEVICEA", seconds=30)
    assert await again.try_acquire()  # no 30 s wait: the old process is gone (SIGKILL)
    assert again.epoch == 2
    with pytest.raises(NotLeader):
        await write(url, before, 1)


async def test_a_released_lease_is_taken_by_the_standby_at_once(
    url: str, leases: list[LeaderLease]
) -> None:
    a = lease(leases, url, "DEVICEA", seconds=30)
    b = lease(leases, url, "DEVICEB", seconds=30)
    assert await a.try_acquire()
    await a.release()
    assert not a.valid()
    assert await b.try_acquire()


# -- out of touch with Matrix (issue 24 item 3): the decision, then the lease on PostgreSQL ----


def test_the_holder_keeps_the_lease_while_the_homeserver_answers_and_gives_it_up_after() -> None:
    def move(last_ok: float | None, now: float, reachable: bool = True) -> Move:
        return lease_move(
            held=True, last_ok=last_ok, now=now, lost_seconds=15.0, reachable=reachable
        )

    assert move(100.0, 100.0) is Move.KEEP
    assert move(100.0, 114.9) is Move.KEEP  # a long-poll in flight, the probe not due yet
    assert move(100.0, 115.0) is Move.GIVE_UP  # 15 s without a success answer
    assert move(100.0, 300.0) is Move.GIVE_UP
    assert move(None, 0.0) is Move.GIVE_UP  # never answered at all
    # Its own reachability does not matter to the holder: only answers that came count.
    assert move(100.0, 101.0, reachable=False) is Move.KEEP
    assert move(100.0, 116.0, reachable=True) is Move.GIVE_UP


def test_an_instance_without_the_lease_takes_it_only_when_the_homeserver_answers_it() -> None:
    def move(reachable: bool, last_ok: float | None = 100.0, now: float = 101.0) -> Move:
        return lease_move(
            held=False, last_ok=last_ok, now=now, lost_seconds=15.0, reachable=reachable
        )

    assert move(True) is Move.TAKE
    assert move(False) is Move.WAIT  # the standby cut off too: never into the same cut
    # The old holder, which gave the lease up a moment ago and still cannot reach Matrix.
    assert move(False, last_ok=100.0, now=130.0) is Move.WAIT
    assert move(True, last_ok=None) is Move.TAKE  # the check made just now is what counts


async def test_a_leader_out_of_touch_with_matrix_gives_the_lease_up_and_only_a_reachable_standby_takes_it(  # noqa: E501
    url: str, leases: list[LeaderLease]
) -> None:
    clock = [1000.0]
    a = lease(leases, url, "DEVICEA", seconds=30, monotonic=lambda: clock[0])
    b = lease(leases, url, "DEVICEB", seconds=30)
    assert await a.try_acquire()
    answered = [clock[0]]  # when the homeserver last answered A
    keeping = asyncio.create_task(a.keep(lambda: answered[0], 15.0))
    try:
        clock[0] += 14.0  # A's long-poll and probe still in time: kept
        term = await scalar(url, EXPIRY)

        async def renewed() -> bool:
            return bool(await scalar(url, EXPIRY) > term)

        await eventually(renewed, within=5, what="a renewal at 14 s without an answer")
        await write(url, a, 1)
        assert a.valid() and not a.lost.is_set()
        clock[0] += 1.0  # 15 s without an answer (a's deadline is still 15 s away)
        async with asyncio.timeout(5):
            await keeping
    finally:
        keeping.cancel()
    # Stopped first: nothing is sent (the guard) or written (the fence) from now on …
    assert a.lost.is_set() and a.gave_up and "homeserver" in a.reason
    with pytest.raises(NotLeader):
        a.assert_leader()
    with pytest.raises(NotLeader):
        await write(url, a, 2)
    # … then released, well before the 30 s lease would lapse.
    await a.release()
    # A standby that cannot reach the homeserver does not take it; one that can, does.
    checks: list[bool] = []

    async def reachable() -> bool:
        checks.append(len(checks) >= 2)  # the first two checks get no answer
        return checks[-1]

    async with asyncio.timeout(5):
        await b.wait_acquired(reachable=reachable)
    assert checks == [False, False, True] and b.epoch == 2
    await write(url, b, 3)
    # The old holder, back as the standby and still cut off, waits: the lease stays B's.
    again = lease(leases, url, "DEVICEA", seconds=30)

    async def unreachable() -> bool:
        return False

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await again.wait_acquired(reachable=unreachable)
    assert again.epoch is None
    assert await scalar(url, "SELECT holder FROM leader_lease") == "DEVICEB"
    assert await pages(url) == [1, 3]
