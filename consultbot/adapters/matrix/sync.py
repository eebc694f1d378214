"""The sync loop: each batch of events handled before its position is saved.

- nio's own sync-token store saves the position before callbacks run, so a crash would lose
  events. Here the position is saved in the database only after a whole batch is handled.
- A standby instance (docs/failover.md) syncs the same way, handling nothing, so that its
  device receives the room keys people's clients send it.
- While a sync's events are being handled `Session.handled` is clear: a burst's requests come
  in one sync and are handled one after another, and pool rooms' invites wait for the rest of
  the sync being handled (until `client.FILL_GATHER_SECONDS` after its handling began) so that
  they reach the homeserver together, as a bare relay's do (docs/decisions.md, "Invites of one
  sync go together").
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nio import MegolmEvent, RoomCreateEvent, RoomMemberEvent, RoomMessagesResponse, SyncResponse
from nio.api import MessageDirection

from consultbot.adapters.matrix.events import EventReader
from consultbot.adapters.matrix.membership import Doorkeeper
from consultbot.adapters.matrix.nio_client import from_decryption
from consultbot.adapters.matrix.olm_ready import untrack_strangers
from consultbot.adapters.matrix.rooms import RoomBook
from consultbot.adapters.matrix.session import Session

log = logging.getLogger(__name__)

SYNC_TOKEN = "sync_token"
SYNC_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": 100}},
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
}
INITIAL_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": 1}},
    "presence": {"not_types": ["*"]},
}
BACKFILL_PAGES = 5
UNDECRYPTED_KEEP_SECONDS = 600
OWN_TOKEN_FILE = "sync_token"  # this device's own sync position (two instances)
STANDBY_POLL_MS = 1000  # a standby's long-poll: it notices the takeover within this long
LONG_POLL_MS = 30_000


def _fresh_timeout() -> int:
    # Synapse answers a repeated identical sync request from its response cache for a while,
    # even across a restart of the bot; a fresh `timeout` value makes the request new.
    return 1 + int(time.time() * 1000) % 997


def someone_left(response: SyncResponse) -> bool:
    """The bot left a room, or the homeserver lists someone who shares no encrypted room with
    it any more (`device_lists.left`)."""
    return bool(response.rooms.leave or response.device_list.left)


class SyncLoop:
    """Syncs, as the active instance (`run`) or as the standby (`standby`)."""

    def __init__(
        self,
        session: Session,
        rooms: RoomBook,
        doors: Doorkeeper,
        reader: EventReader,
        *,
        caught_up: Callable[[], None],
        own_token: bool = False,
    ) -> None:
        self.session = session
        self.rooms = rooms
        self.doors = doors
        self.reader = reader
        self.caught_up = caught_up  # called once the first sync of a run is handled
        self.own_token = own_token  # keep this device's position in its store folder too
        self.stopping = asyncio.Event()
        self.last_sync: float | None = None  # time.monotonic() of the last successful sync
        self._undecrypted: dict[str, tuple[MegolmEvent, str, float]] = {}

    # -- the one loop -------------------------------------------------------------------------

    async def _sync_until(
        self,
        token: str | None,
        *,
        request: Callable[[str | None, bool], Mapping[str, Any]],
        handle: Callable[[SyncResponse, bool], Awaitable[bool]],
    ) -> str:
        """Sync from `token` with `request(token, first)` until `handle(response, first)` says
        that response was the last, or the bot stops; the position reached.

        Every response first teaches the bot its rooms; the keys chores run beside `handle`
        and end before the next request; the position is saved once `handle` is done with the
        response (a crash before the chores end costs nothing that the next sync's chores do
        not do again, but a to-device message nio had queued then).
        """
        first = True
        while not self.stopping.is_set():
            try:
                response = await self.session.nio.sync(**request(token, first))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sync failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if not isinstance(response, SyncResponse):
                log.warning("sync error: %s", response)
                await asyncio.sleep(1.0)
                continue
            self.rooms.learn(response)
            if someone_left(response):  # nobody stays tracked who shares no encrypted room
                untrack_strangers(self.session.nio, self.rooms)
            # The keys chores beside the handling, not before it: they wait for the keys lock,
            # which a page's key share holds in a rush, and the handling (decryption included:
            # the response's room keys are in already) needs none of them.
            chores = asyncio.create_task(self.session.crypto_chores())
            self.session.handled.clear()
            self.session.handling_since = asyncio.get_running_loop().time()
            try:
                last = await handle(response, first)
            finally:
                self.session.handled.set()
                await chores
            token = str(response.next_batch)
            self._save_own_token(token)
            self.last_sync = time.monotonic()
            await self.session.synced()
            if last:
                break
            first = False
        return token or ""

    async def run(self) -> None:
        """Sync until stopped, handling every event.

        The first sync of a run asks for the full room state since the saved position, so nio
        learns every room (it keeps none across restarts) and the bot sees what it missed, in
        one response. Separate "initial" and "catch-up" syncs would deliver pending to-device
        messages twice; a room key decrypted twice wedges the Olm session and later messages
        could not be read.
        """
        store = self.session.store
        token = await store.get_meta(SYNC_TOKEN)
        if token is None:
            token = await self._first_sync_ever()

        def request(since: str | None, first: bool) -> Mapping[str, Any]:
            timeout = _fresh_timeout() if first else LONG_POLL_MS
            return {
                "timeout": timeout,
                "sync_filter": SYNC_FILTER,
                "since": since,
                "full_state": first or None,
            }

        async def handle(response: SyncResponse, first: bool) -> bool:
            await self._handle(response)
            await store.set_meta(SYNC_TOKEN, response.next_batch)
            if first:
                log.info("caught up: %d rooms", len(self.session.nio.rooms))
                self.caught_up()
            return False

        await self._sync_until(token, request=request, handle=handle)

    async def _first_sync_ever(self) -> str:
        """On the very first start nothing before now is ours to handle, but invites are."""

        def request(since: str | None, first: bool) -> Mapping[str, Any]:
            return {"timeout": _fresh_timeout(), "sync_filter": INITIAL_FILTER, "full_state": True}

        async def handle(response: SyncResponse, first: bool) -> bool:
            await self.doors.answer_invites(response)
            await self.session.store.set_meta(SYNC_TOKEN, response.next_batch)
            return True

        return await self._sync_until(None, request=request, handle=handle)

    async def standby(self, until: asyncio.Event) -> None:
        """Sync as the standby until `until` is set; nothing is handled, nothing is sent.

        The device's keys are uploaded and the room keys people's clients send to it arrive,
        so that it can read what it is sent once it is active. Its own position is kept in
        its store folder, not in the database (which holds the active instance's position).

        Before returning, every to-device message for this device is fetched and acknowledged
        (syncs without waiting until none comes): the active instance's position, which the
        bot goes on from, may be ahead of this device's own, and a sync from it would drop
        this device's room keys unread; one behind it must not hand them over twice.
        """
        flushing = False

        def request(since: str | None, first: bool) -> Mapping[str, Any]:
            nonlocal flushing
            flushing = until.is_set()
            return {
                "timeout": 0 if flushing else STANDBY_POLL_MS,
                "sync_filter": INITIAL_FILTER,
                "since": since,
                "full_state": True if since is None else None,
            }

        async def drained(response: SyncResponse, first: bool) -> bool:
            return flushing and not response.to_device_events

        await self._sync_until(self._own_token(), request=request, handle=drained)

    # -- this device's own position (two instances, docs/failover.md) -------------------------

    def _own_token_file(self) -> Path:
        return self.session.config.store_path / OWN_TOKEN_FILE

    def _own_token(self) -> str | None:
        try:
            return self._own_token_file().read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def _save_own_token(self, token: str) -> None:
        """This device's sync position, kept beside its crypto store (two instances only)."""
        if not self.own_token:
            return
        path = self._own_token_file()
        spare = path.with_suffix(".new")
        spare.write_text(token, encoding="utf-8")
        os.chmod(spare, 0o600)
        spare.replace(path)

    # -- the events of a sync -----------------------------------------------------------------

    async def _handle(self, response: SyncResponse) -> None:
        await self.doors.answer_invites(response)
        for room_id, info in response.rooms.join.items():
            events: list[Any] = list(info.timeline.events)
            # A gap before the bot's own join is no gap: nothing from before it joined is the
            # bot's to handle (nor readable). Rooms the bot just created or joined skip it.
            if info.timeline.limited and info.timeline.prev_batch and not self.joins(events):
                events = [*await self._backfill(room_id, info.timeline.prev_batch), *events]
            for event in events:
                await self.handle_event(room_id, event)
        await self.retry_undecrypted()

    async def _backfill(self, room_id: str, start: str) -> list[Any]:
        """Events a limited sync left out, oldest first; stops at events already handled."""
        client = self.session.nio
        found: list[Any] = []
        for _ in range(BACKFILL_PAGES):
            page = await client.room_messages(
                room_id, start=start, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            stop = False
            for event in page.chunk:
                if self.joins([event]) or await self.session.store.is_handled(event.event_id):
                    stop = True
                    break
                found.append(event)
            if stop or not page.end:
                break
            start = page.end
        found.reverse()
        log.info("backfilled %d events in %s after a gap", len(found), room_id)
        return found

    def joins(self, events: Sequence[Any]) -> bool:
        """True when `events` hold the room's creation or the bot's own join."""
        return any(
            not from_decryption(e)
            and (
                isinstance(e, RoomCreateEvent)
                or (
                    isinstance(e, RoomMemberEvent)
                    and e.state_key == self.session.user_id
                    and e.membership == "join"
                )
            )
            for e in events
        )

    async def handle_event(self, room_id: str, event: Any) -> None:
        """Decrypt (or keep for when its key comes) and deliver one event not the bot's own."""
        if getattr(event, "sender", None) == self.session.user_id:
            return
        if isinstance(event, MegolmEvent):
            decrypted = self.session.decrypt(event, room_id)
            if decrypted is None:
                log.info(
                    "cannot decrypt %s in %s yet; waiting for its key", event.event_id, room_id
                )
                since = asyncio.get_running_loop().time()
                self._undecrypted[event.event_id] = (event, room_id, since)
                return
            event = decrypted
        await self._deliver(room_id, event)

    async def _deliver(self, room_id: str, event: Any) -> None:
        # One event that fails is logged, never allowed to end the sync loop: the bot would
        # stop hearing every room.
        try:
            await self.reader.deliver(room_id, event)
        except Exception:
            log.exception("event %s in %s failed", getattr(event, "event_id", "?"), room_id)

    async def retry_undecrypted(self) -> None:
        """Deliver the kept events whose keys have come since; give up on the oldest."""
        now = asyncio.get_running_loop().time()
        for event_id, (event, room_id, since) in list(self._undecrypted.items()):
            decrypted = self.session.decrypt(event, room_id)
            if decrypted is not None:
                del self._undecrypted[event_id]
                await self._deliver(room_id, decrypted)
            elif now - since > UNDECRYPTED_KEEP_SECONDS:
                del self._undecrypted[event_id]
                log.warning("gave up decrypting %s in %s", event_id, room_id)
