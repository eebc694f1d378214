"""Olm sessions with the on-duty consultants' devices before their first page (issue 24).

A first page to a device the bot has no Olm session with waits, before its room key can go,
for a claim of one of the device's one-time keys and a new session; in a burst of first pages
those claims stand in the homeserver's queue beside the consultants' joins
(docs/page-speed-profile.md). `OlmReadiness.prepare` does that work ahead of time for the
people on duty now or soon (engine/duty_keys.py), so their first page goes out like any
other.

- The homeserver tells the bot of device changes only for people it shares an encrypted room
  with, and nio counts everyone a key query answered for as tracked: invited later, they would
  not be asked again, and a phone logged in since would miss the page's room key. So after
  every preparing query nobody stays tracked who shares no encrypted room with the bot (also
  not someone whose last room with it is gone); a page's room makes nio ask afresh. Only the
  claim is taken off the page's path, never the query.
- Each new session is used at once for an Olm-encrypted `m.dummy` (as nio does to mend a
  wedged session), so the device sets up its side now, while the one-time key it published is
  surely still there. The devices whose keys are claimed are written down (the bot's store)
  before the claim and crossed out once greeted: a greeting that did not go out, also one cut
  short by a stop, is sent at the next round (nio stores a session with the claim's answer).
- A device whose one-time key was asked for is not asked again for an hour (one that had none
  left would otherwise be asked every round), and the devices of someone who shares no room
  with the bot are asked for at most every 15 minutes once one is known (until then every
  round: a phone logged in just before the shift is ready within a minute).
- Only the query holds the keys lock (a page's key share waits for it), and each request is
  bounded: a slow homeserver delays a page by at most `REQUEST_SECONDS`, not for as long as it
  hangs.

Best effort: a refusal or an error is logged and the page path does the work as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nio import KeysClaimResponse, KeysQueryResponse, ToDeviceResponse
from nio.event_builders import ToDeviceMessage

from consultbot.adapters.matrix.rooms import RoomBook
from consultbot.adapters.matrix.session import Session
from consultbot.domain.types import UserId

log = logging.getLogger(__name__)

CLAIM_AGAIN_SECONDS = 3600.0
QUERY_AGAIN_SECONDS = 900.0
REQUEST_SECONDS = 10.0
CAUGHT_UP_SECONDS = 120.0  # the first sync must show who shares a room with the bot
GREETINGS_PER_REQUEST = 50  # about 1 KB each
PENDING = "olm_greetings_pending"  # the bot store's key: devices claimed, not yet greeted

Device = tuple[str, str]  # (user, device id)


@dataclass
class _Batch(ToDeviceMessage):  # type: ignore[misc]
    """One to-device request for many devices (nio's message is for one)."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"messages": self.messages}


class OlmReadiness:
    """Sets up Olm sessions with users' devices ahead of their first page."""

    def __init__(self, session: Session, rooms: RoomBook) -> None:
        self._session = session
        self._rooms = rooms
        self.caught_up = asyncio.Event()  # set once the first sync of the run is handled
        self._asked: dict[Device, float] = {}  # when each device's one-time key was asked for
        self._queried: dict[str, float] = {}  # when a stranger's devices were asked for
        self._ungreeted: set[Device] | None = None  # claimed, not greeted (read at first use)

    async def prepare(self, users: Sequence[UserId]) -> int:
        """Olm sessions with every device of `users` that has none; how many devices were
        greeted (their side of the session set up)."""
        try:
            async with asyncio.timeout(CAUGHT_UP_SECONDS):
                await self.caught_up.wait()
        except TimeoutError:
            return 0
        client = self._session.nio
        wanted: list[str] = sorted({user for user in users if user != client.user_id})
        if client.olm is None:
            return 0
        if self._ungreeted is None:
            stored = await self._session.store.get_meta(PENDING)
            self._ungreeted = {(u, d) for u, d in json.loads(stored)} if stored else set()
        now = time.monotonic()
        self._asked = {d: at for d, at in self._asked.items() if now - at < CLAIM_AGAIN_SECONDS}
        self._queried = {u: at for u, at in self._queried.items() if now - at < QUERY_AGAIN_SECONDS}
        await self._query(wanted, now)
        await self._claim(wanted, now)
        return await self._greet()

    async def _query(self, wanted: list[str], now: float) -> None:
        """Ask for the devices of those nio does not track (those with a device known to the
        bot: not within 15 minutes)."""
        client = self._session.nio
        olm = client.olm
        # Under the lock also when nobody is asked: the keys chores of the first sync (the
        # bot's own keys uploaded) are done before anything is sent under them.
        async with self._session.keys_lock:
            untrack_strangers(
                self._session.nio, self._rooms
            )  # also those whose last room with the bot is gone
            strangers = {
                u
                for u in wanted
                if u not in olm.tracked_users
                and (
                    u not in self._queried
                    or not any(True for _ in olm.device_store.active_user_devices(u))
                )
            }
            if not strangers:
                return
            self._queried.update(dict.fromkeys(strangers, now))
            answer: Any = None
            try:
                async with asyncio.timeout(REQUEST_SECONDS):
                    answer = await client.keys_query(strangers)
            except TimeoutError:
                answer = "no answer"
            finally:
                untrack_strangers(self._session.nio, self._rooms)
        if not isinstance(answer, KeysQueryResponse):
            log.warning("olm sessions ahead of pages: key query failed: %s", answer)

    async def _pending(self, devices: set[Device]) -> None:
        """The devices claimed and not yet greeted, kept in the bot's store."""
        if devices != self._ungreeted:
            self._ungreeted = devices
            await self._session.store.set_meta(PENDING, json.dumps(sorted(devices)))

    async def _claim(self, wanted: list[str], now: float) -> None:
        """Claim a one-time key of each device without a session (written down first)."""
        olm = self._session.nio.olm
        missing: dict[str, list[str]] = {}
        for user in wanted:
            for device in olm.device_store.active_user_devices(user):
                if (
                    (user, device.id) in self._asked
                    or olm.is_device_blacklisted(device)
                    or olm.session_store.get(device.curve25519) is not None
                ):
                    continue
                missing.setdefault(user, []).append(device.id)
                self._asked[(user, device.id)] = now
        if not missing:
            return
        assert self._ungreeted is not None
        asked = {(user, d) for user, devices in missing.items() for d in devices}
        await self._pending(self._ungreeted | asked)
        claimed: Any = None
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                claimed = await self._session.nio.keys_claim(missing)
        except TimeoutError:
            claimed = "no answer"
        if not isinstance(claimed, KeysClaimResponse):
            log.warning("olm sessions ahead of pages: key claim failed: %s", claimed)

    async def _greet(self) -> int:
        """An Olm-encrypted m.dummy to each device claimed and not yet greeted that has a
        session (nio's own encryption, `_olm_encrypt`, which also stores the session), a few
        dozen to a request; how many went out. The rest are greeted at the next round."""
        olm = self._session.nio.olm
        assert self._ungreeted is not None
        pending = set(self._ungreeted)
        batches: list[_Batch] = []
        for n, (user, device_id) in enumerate(sorted(pending)):
            device = olm.device_store[user].get(device_id)
            session = olm.session_store.get(device.curve25519) if device is not None else None
            if device is None or session is None or olm.is_device_blacklisted(device):
                pending.discard((user, device_id))  # no key claimed (none left), or gone
                continue
            try:
                content = olm._olm_encrypt(session, device, "m.dummy", {})
            except Exception:
                log.warning("olm sessions ahead of pages: could not encrypt for %s", device_id)
                continue
            if n % GREETINGS_PER_REQUEST == 0 or not batches:
                batches.append(_Batch("m.room.encrypted", "", "", {}))
            batches[-1].messages.setdefault(user, {})[device_id] = content
        greeted = 0
        for batch in batches:
            sent: Any = None
            try:
                async with asyncio.timeout(REQUEST_SECONDS):
                    sent = await self._session.nio.to_device(batch, str(uuid.uuid4()))
            except TimeoutError:
                sent = "no answer"
            if not isinstance(sent, ToDeviceResponse):
                log.warning(
                    "olm sessions ahead of pages: greetings not sent, again later: %s", sent
                )
                continue
            done = {(user, d) for user, found in batch.messages.items() for d in found}
            pending -= done
            greeted += len(done)
        await self._pending(pending)
        if greeted:
            log.info("olm sessions ahead of pages: %d devices greeted", greeted)
        return greeted


def untrack_strangers(client: Any, book: RoomBook) -> None:
    """Nobody stays tracked by nio who shares no encrypted room with the bot: the homeserver
    tells of their devices' changes only while they do. Run with every sync that tells of
    someone leaving (sync.py) and around the key query of a preparing round."""
    if client.olm is None:
        return  # no encryption (yet): nothing tracked
    rooms = client.rooms
    book.left.intersection_update(rooms)  # forgotten: out of nio's too
    shared: set[str] = set()
    for room_id, room in rooms.items():
        # Not one the bot has left or was put out of (nio keeps those until forgotten).
        if room.encrypted and room_id not in book.left and client.user_id in room.users:
            shared.update(room.users)
    client.olm.tracked_users.intersection_update(shared | {client.user_id})
