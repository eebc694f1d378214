"""The leader lease: which of two `consultbot run` processes on one PostgreSQL database is active.

One row, `leader_lease` (migration 8), named `consultbot`: who holds it (the holder's Matrix
device id), its epoch, and when it expires on the database's clock. See docs/failover.md.

- Acquire: one statement takes the row when it has expired (or is already ours: the same device
  started again) and bumps the epoch. Renew: extends it only while holder and epoch are still
  ours. Expiry is on the database's clock (`clock_timestamp()`), so the hosts' clocks may differ.
- Fencing (`check`, the store's fence): the first statement of every write transaction reads the
  row `FOR SHARE` and raises `NotLeader` when the epoch is not ours. A takeover's UPDATE waits for
  the write transactions in flight, and after it no write of the old epoch commits. A paused old
  leader that wakes cannot write. Those transactions are also limited in how long they may sit
  idle (`IDLE_IN_TRANSACTION_MS`), so a leader frozen inside one cannot hold the takeover up.
- Sending (`assert_leader`, the Matrix adapter's guard): the database cannot fence what is sent
  to the homeserver, so the holder keeps a local deadline, on its own monotonic clock, that ends
  `MARGIN_SECONDS` before the earliest moment the lease can expire on the database (measured from
  when the renewal was *sent*). Past it nothing is sent: a leader cut off from the database stops
  sending before the standby can take over.
- Matrix (`lease_move`): the holder gives the lease up when the homeserver has not answered it
  for `bot.matrix_lost_seconds` (`keep(last_ok, …)`), stopping before it releases; a standby takes
  it only after the homeserver answered it just now (`wait_acquired(reachable=…)`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from typing import Any

import psycopg

from consultbot.domain.errors import NotLeader

log = logging.getLogger(__name__)

LEASE_NAME = "consultbot"
LEASE_SECONDS = 5.0  # the database lets the lease lapse this long after the last renewal
RENEW_SECONDS = 1.0  # the holder renews this often; a standby tries to take it this often
MARGIN_SECONDS = 1.0  # the holder stops sending this long before the lease can lapse
STATEMENT_SECONDS = 2.0  # one lease statement may take this long (a cut network is a failure)
IDLE_IN_TRANSACTION_MS = 2000  # a write transaction frozen this long is ended by the server

DB_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

ACQUIRE = f"""
INSERT INTO leader_lease AS l (name, holder, epoch, expires_at_ms)
VALUES (%(name)s, %(holder)s, 1, {DB_NOW_MS} + %(ms)s)
ON CONFLICT (name) DO UPDATE
SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at_ms = EXCLUDED.expires_at_ms
WHERE l.expires_at_ms < {DB_NOW_MS} OR l.holder = EXCLUDED.holder
RETURNING epoch
"""

RENEW = f"""
UPDATE leader_lease SET expires_at_ms = {DB_NOW_MS} + %(ms)s
WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s
RETURNING epoch
"""

RELEASE = """
UPDATE leader_lease SET expires_at_ms = 0
WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s
"""

FENCE = "SELECT holder, epoch FROM leader_lease WHERE name = %(name)s FOR SHARE"


class Move(StrEnum):
    """What an instance does with the lease next (`lease_move`)."""

    KEEP = "keep"  # the holder, in touch with Matrix: renew
    GIVE_UP = "give_up"  # the holder, out of touch with Matrix: stop, then release
    TAKE = "take"  # not the holder, Matrix answered just now: try to take it
    WAIT = "wait"  # not the holder, Matrix out of reach: do not take it into the same cut


def lease_move(
    *, held: bool, last_ok: float | None, now: float, lost_seconds: float, reachable: bool
) -> Move:
    """The lease decision from plain values (monotonic seconds).

    `last_ok` is when the homeserver last answered a request of this instance with success (a
    sync, a send it accepted, a probe); a failing sync or send is no answer. The holder keeps
    the lease while that is under `lost_seconds` old. `reachable` is the standby's check made
    just before taking it (the homeserver answered it now): an instance cut off from Matrix,
    the old holder included, never takes the lease.
    """
    if held:
        alive = last_ok is not None and now - last_ok < lost_seconds
        return Move.KEEP if alive else Move.GIVE_UP
    return Move.TAKE if reachable else Move.WAIT


@dataclass(eq=False)
class LeaderLease:
    """One instance's side of the lease: acquire, renew, fence writes, guard sends."""

    url: str = field(repr=False)  # may hold a password
    holder: str
    _: KW_ONLY
    seconds: float = LEASE_SECONDS
    renew_every: float = RENEW_SECONDS
    margin: float = MARGIN_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    epoch: int | None = field(default=None, init=False)  # ours while we hold the lease
    _valid_until: float = field(default=0.0, init=False)  # monotonic: nothing is sent after this
    acquired: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    # Set once, when a held lease is lost: stop at once.
    lost: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    reason: str = field(default="", init=False)
    gave_up: bool = field(default=False, init=False)  # stepped down for Matrix: release it
    _conn: psycopg.AsyncConnection[Any] | None = field(default=None, init=False)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                await self._conn.close()
            self._conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(STATEMENT_SECONDS))
            )
            await self._conn.execute(f"SET lock_timeout = {int(STATEMENT_SECONDS * 1000)}")
        return self._conn

    async def _run(self, sql: str, params: dict[str, Any]) -> int | None:
        """One lease statement on the lease connection; its `epoch`, None when no row."""
        async with asyncio.timeout(STATEMENT_SECONDS):
            conn = await self._connection()
            try:
                cursor = await conn.execute(sql, params)
            except BaseException:
                # A statement that failed or timed out leaves the connection in doubt.
                await conn.close()
                raise
            row = await cursor.fetchone() if cursor.description else None
        return int(row[0]) if row else None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def held(self) -> bool:
        """True while this instance holds the lease (as far as it knows)."""
        return self.epoch is not None and not self.lost.is_set()

    def _params(self) -> dict[str, Any]:
        return dict(
            name=LEASE_NAME, holder=self.holder, ms=int(self.seconds * 1000), epoch=self.epoch
        )

    async def try_acquire(self) -> bool:
        """Take the lease if it is free (expired, never held, or ours); True when held."""
        sent = self.monotonic()
        try:
            epoch = await self._run(ACQUIRE, self._params())
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("leader lease: could not try to take it: %s", type(exc).__name__)
            return False
        if epoch is None:
            return False
        self.epoch = epoch
        self._valid_until = sent + self.seconds - self.margin
        self.acquired.set()
        log.info("leader lease taken: epoch %d, holder %s", epoch, self.holder)
        return True

    async def wait_acquired(self, reachable: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Try to take the lease every `renew_every` seconds until it is ours; with
        `reachable`, only after it said the homeserver answers (`lease_move`)."""
        while True:
            ok = True if reachable is None else await reachable()
            move = lease_move(held=False, last_ok=None, now=0.0, lost_seconds=0.0, reachable=ok)
            if move is Move.TAKE and await self.try_acquire():
                return
            await asyncio.sleep(self.renew_every)

    async def renew(self) -> bool:
        """Extend the lease; False when it could not be renewed this time (not yet lost)."""
        if not self.held:
            return False
        sent = self.monotonic()
        try:
            epoch = await self._run(RENEW, self._params())
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("leader lease: renewal failed: %s", type(exc).__name__)
            return False
        if epoch is None:
            self._lose(f"another instance holds the lease now (our epoch was {self.epoch})")
            return False
        self._valid_until = max(self._valid_until, sent + self.seconds - self.margin)
        return True

    async def keep(
        self,
        last_ok: Callable[[], float | None] | None = None,
        lost_seconds: float = 15.0,
    ) -> None:
        """Renew every `renew_every` seconds until the lease is lost (then return).

        A renewal runs beside the check of the local deadline: one stuck on a dead network
        (psycopg then spends seconds trying to cancel it) never holds the deadline up. With
        `last_ok` (when the homeserver last answered), the lease is given up once that is
        `lost_seconds` old (`lease_move`, `give_up`).
        """
        if self.epoch is None:
            return
        renewal: asyncio.Task[bool] | None = None
        try:
            while True:
                if renewal is None or renewal.done():
                    renewal = asyncio.create_task(self.renew())
                started = self.monotonic()
                await asyncio.wait([renewal], timeout=self.renew_every)
                if not self.valid():
                    self._lose("the lease could not be renewed in time (database unreachable?)")
                if last_ok is not None and not self.lost.is_set():
                    seen = last_ok()
                    now = self.monotonic()
                    move = lease_move(
                        held=True, last_ok=seen, now=now, lost_seconds=lost_seconds, reachable=False
                    )
                    if move is Move.GIVE_UP:
                        self.give_up(
                            f"no answer from the homeserver for {lost_seconds:g} s"
                            " (Matrix unreachable?)"
                        )
                if self.lost.is_set():
                    return
                await asyncio.sleep(max(0.0, self.renew_every - (self.monotonic() - started)))
        finally:
            if renewal is not None and not renewal.done():
                renewal.cancel()  # not waited for: psycopg may take seconds to give up

    def _lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            log.error("leader lease lost (epoch %s): %s", self.epoch, reason)
            self.lost.set()

    def give_up(self, reason: str) -> None:
        """Out of touch with Matrix: stop at once (nothing is sent or written from now on, as
        when the lease is lost); `release`, which runs after everything has stopped, then
        frees it on the database for the standby."""
        if self.held:
            self.gave_up = True
            self._lose(reason)

    async def release(self) -> None:
        """Give the lease up (a clean stop): the standby may take it at once."""
        if self.epoch is None:
            return
        if self.gave_up:
            params = self._params()
            self.epoch = None
            try:
                await self._run(RELEASE, params)  # only while it is still our epoch
                log.info("leader lease released: out of touch with Matrix")
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("leader lease: could not release it: %s", type(exc).__name__)
            return
        if self.lost.is_set():
            self.epoch = None  # lost: not ours to release (or the database is out of reach)
            return
        params = self._params()
        self.lost.set()
        self.epoch = None
        try:
            await self._run(RELEASE, params)
            log.info("leader lease released")
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("leader lease: could not release it: %s", type(exc).__name__)

    def valid(self) -> bool:
        """True while the lease is held and cannot have lapsed on the database yet."""
        return self.held and self.monotonic() < self._valid_until

    def assert_leader(self) -> None:
        """Raise NotLeader unless this instance may send now (the Matrix adapter's guard)."""
        if not self.valid():
            raise NotLeader(self.reason or "this instance does not hold the leader lease")

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The store's fence: the first statement of every write transaction.

        Locks the lease row for share until the transaction ends (a takeover waits for it) and
        raises NotLeader when the lease is not ours, so the transaction is rolled back.
        """
        epoch = self.epoch
        if epoch is None or self.lost.is_set():
            raise NotLeader(self.reason or "this instance does not hold the leader lease")
        await conn.execute(
            f"SET LOCAL idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}"
        )
        cursor = await conn.execute(FENCE, {"name": LEASE_NAME})
        row = await cursor.fetchone()
        if row is None or row[0] != self.holder or int(row[1]) != epoch:
            self._lose(f"another instance holds the lease now (our epoch was {epoch})")
            raise NotLeader(self.reason)
