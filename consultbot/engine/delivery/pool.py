"""The warm pool: empty, encrypted consult rooms made in advance, so a page waits for no
room creation.

A pool room is made with exactly a consult room's state (encryption, server ACL, guest access,
join rule, history visibility, power levels: `adapters/room_policy.py`) but no name, no topic,
no alias and nobody but the bot in it. It carries no patient data and no consult number.

- Taking a room. The outbox takes the oldest fresh room for a consult: the stepper records it
  as the consult's room and takes it out of the pool in ONE transaction
  (`Stepper.take_pool_room`): a room handed to one consult is out of the pool before anyone
  else can see it, and a crash leaves it either in the pool or the consult's. Then it
  invites (`Messenger.fill_room`, repeated after a crash); the room's name and topic follow
  the first page (`Messenger.name_room`). With the pool empty the room is made at once.
- Refilling. `RoomPool.run` (a background task of tasks.py) keeps `size` rooms ready: after
  claims (`kick`) and once a minute, but only once no room has been taken and nothing sent for
  `QUIET_SECONDS`, one room at a time. Making a room is the homeserver's heaviest call; made
  while pages are on their way, it would slow them down (measured: invites took 3× longer). A
  room is recorded in the pool only after the homeserver has made it; a crash in between
  leaves an empty room nobody is in but the bot.
- Staleness. A room made under another room policy (the policy version, or the allowed
  servers of its ACL, changed) or older than `max_age` is never handed out; the bot leaves it
  and makes a new one.
- Restarts. The pool is in the database; rooms made before a restart are used after it.
- Fair share. One requester cannot empty the pool: a requester's consults within
  `share_window` (the request limit's window) take ready rooms like anyone's until they hold
  `reserve` rooms (half the pool); from then on another takes a room only if `reserve` rooms
  stay ready for everyone else, and gets a room made for it otherwise. (Refusing from the
  second consult on sent a doctor's second consult in a rush to a slow room creation, while
  the pool still held rooms enough for everyone: docs/page-speed-profile.md.)
  Claims are taken one at a time; the consults are read from the consult log, so this holds
  across restarts and counts conferences too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from consultbot.domain.types import ConsultId
from consultbot.ports import Clock, ConsultStore, Messenger, PoolRoom, PoolRoomGone

log = logging.getLogger(__name__)

POOL_SIZE = 20
POOL_MAX_AGE = timedelta(days=7)
REFILL_SECONDS = 60.0
QUIET_SECONDS = 1.0
SHARE_WINDOW = timedelta(minutes=10)

#: Records a pool room as the consult's room, taking it out of the pool (Stepper.take_pool_room
#: for one consult); returns the consult's room, PoolRoomGone when the room is not there.
TakeRoom = Callable[[str], Awaitable[str]]


class RoomPool:
    """Keeps `size` empty consult rooms ready and hands each out once."""

    def __init__(
        self,
        *,
        store: ConsultStore,
        messenger: Messenger,
        clock: Clock,
        size: int = POOL_SIZE,
        max_age: timedelta = POOL_MAX_AGE,
        share_window: timedelta = SHARE_WINDOW,
    ) -> None:
        self._store = store
        self.share_window = share_window
        self._messenger = messenger
        self._clock = clock
        self.size = size
        self.max_age = max_age
        self._wake = asyncio.Event()
        self._claiming = asyncio.Lock()
        self.filled = asyncio.Event()
        self.quiet_seconds = QUIET_SECONDS
        self._last_claim = -math.inf
        self._last_busy = -math.inf
        self.busy: Callable[[], bool] = lambda: False  # given by `run`

    def kick(self) -> None:
        """A room was taken: make another."""
        self._wake.set()

    async def _rooms(self, *, fresh: bool, entries: Sequence[PoolRoom] | None = None) -> list[str]:
        """The pool's rooms (`entries` as read, or read now), oldest first: the fresh ones
        (made under the room policy now, within `max_age`), or else the stale ones."""
        policy, made_after = self._messenger.pool_policy(), self._clock.now() - self.max_age
        if entries is None:
            entries = await self._store.pool_rooms()
        return [
            entry.room
            for entry in entries
            if (entry.policy == policy and entry.created_at > made_after) is fresh
        ]

    async def claim(self, consult: ConsultId, take: TakeRoom) -> str | None:
        """A fresh pool room, recorded as `consult`'s room by `take` (the stepper's
        `take_pool_room`: in the transaction that takes it out of the pool); None when the
        pool has none. A room another instance took meanwhile is passed over."""
        if self.size <= 0:
            return None
        # One claim at a time: consults' rooms are made in parallel lanes, and the fair share
        # counts the rooms still ready, which a claim running alongside would change.
        async with self._claiming:
            entries = await self._store.pool_rooms()  # read once for the share and the take
            if not await self._within_share(consult, len(entries)):
                return None
            self._last_claim = asyncio.get_running_loop().time()
            room = await self._take_oldest(take, entries)
        if room is not None:
            log.info("consult %s: took room %s from the pool", consult, room)
        self.kick()
        return room

    async def _take_oldest(self, take: TakeRoom, entries: Sequence[PoolRoom]) -> str | None:
        """The oldest fresh room of `entries`, taken."""
        for room in await self._rooms(fresh=True, entries=entries):
            try:
                return await take(room)
            except PoolRoomGone:
                continue  # taken or dropped since it was listed: the next one
        return None

    @property
    def reserve(self) -> int:
        """Rooms kept ready for others when a requester asks again within `share_window`."""
        return self.size // 2

    async def _within_share(self, consult: ConsultId, ready: int) -> bool:
        """False when the requester's consults within the window already hold `reserve` rooms
        and taking one more would leave fewer than `reserve` of the `ready` rooms: this room
        is made."""
        if ready - 1 >= self.reserve:
            return True  # plenty left for everyone: nobody's share to count
        asked = await self._store.consult(consult)
        if asked is None:
            return True
        since = asked.requested_at - self.share_window
        held = sum(bool(c.room) for c in await self._store.asked_by(asked.requester, since))
        if held < self.reserve:
            return True
        log.info("consult %s: the rest of the pool is kept for other requesters", consult)
        return False

    async def replace_stale(self) -> int:
        """Drop (and leave) pool rooms made under another policy or too long ago; how many."""
        dropped = 0
        for room in await self._rooms(fresh=False):
            if await self._store.drop_pool_room(room):
                dropped += 1
                log.info("pool room %s is stale; leaving it", room)
                try:
                    await self._messenger.leave(room)
                except Exception:
                    log.warning("could not leave the stale pool room %s", room)
        return dropped

    def _busy_for(self) -> float:
        """Seconds until the bot has been quiet (no room taken, nothing being sent) for
        `quiet_seconds`."""
        now = asyncio.get_running_loop().time()
        if self.busy():
            self._last_busy = now
        since = now - max(self._last_claim, self._last_busy)
        return max(0.0, self.quiet_seconds - since)

    async def fill(self, *, paced: bool = False) -> int:
        """Make rooms until the pool holds `size` fresh ones; how many were made.

        `paced`: stop early (returning what was made) when a room is taken meanwhile.
        """
        await self.replace_stale()
        made = 0
        while True:
            if paced and self._busy_for() > 0:
                return made
            if len(await self._store.pool_rooms()) >= self.size:
                self.filled.set()
                return made
            try:  # one room at a time (see above)
                room = await self._messenger.create_pool_room()
            except Exception as exc:
                log.warning("could not make a pool room: %s", type(exc).__name__)
                raise RuntimeError("the homeserver made no pool room") from exc
            policy = self._messenger.pool_policy()
            await self._store.add_pool_room(room, policy=policy, now=self._clock.now())
            made += 1

    async def run(self, *, busy: Callable[[], bool] | None = None) -> None:
        """Refill after every claim and every minute; a failure is retried after a pause.

        `busy`: true while messages are on their way (the outbox's lanes at work): no refill then.
        """
        if busy is not None:
            self.busy = busy
        if self.size <= 0:
            return
        self._last_busy = asyncio.get_running_loop().time()  # a start is busy: catch up first
        while True:
            self._wake.clear()
            # Time, not an event, ends the wait: a quiet second after the last claim.
            while (wait := self._busy_for()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
            try:
                made = await self.fill(paced=True)
                if made:
                    log.info("room pool: %d rooms made", made)
                if self._busy_for() > 0:
                    continue  # rooms were taken meanwhile: refill once it is quiet again
            except Exception:
                log.exception("refilling the room pool failed")
                await asyncio.sleep(5.0)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFILL_SECONDS):
                    await self._wake.wait()
