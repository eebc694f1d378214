"""Olm sessions with the on-duty consultants' devices before their first page (issue 24).

A first page to a device the bot has no Olm session with waits, before its room key can go,
for a claim of one of the device's one-time keys and a new session; in a burst of first pages
those claims stand in the homeserver's queue beside the consultants' joins
(docs/page-speed-profile.md). `OlmReadiness.prepare` does that work ahead of time for the
people on duty now or soon (engine/duty_keys.py), so their first page goes out like any
other.

- A user who shares no encrypted room with the bot gets no device-list updates from the
  homeserver, so nio must not count them as tracked: after the query they are untracked
  again, and a page's room makes nio query them afresh (a phone logged in after this still
  gets the page's room key). Only the claim is taken off the page's path, never the query.
- Each new session is used at once for an encrypted `m.dummy` (as nio does to mend a wedged
  session), so the device sets up its side now, while the one-time key is surely still there.
- A device whose one-time key was asked for is not asked again for an hour (one that had none
  left would otherwise be asked every round; its first page claims again, as nio does).

Best effort: a refusal or an error is logged and the page path does the work as before.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nio import KeysClaimResponse, KeysQueryResponse
from nio.event_builders import ToDeviceMessage

from consultbot.adapters.matrix.session import Session

log = logging.getLogger(__name__)

CLAIM_AGAIN_SECONDS = 3600.0


@dataclass
class _Batch(ToDeviceMessage):  # type: ignore[misc]
    """One to-device request for many devices (nio's message is for one)."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"messages": self.messages}


class OlmReadiness:
    """Sets up Olm sessions with users' devices ahead of their first page."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._asked: dict[tuple[str, str], float] = {}  # device → when its key was asked for

    async def prepare(self, users: Sequence[str]) -> int:
        """Olm sessions with every device of `users` that has none; how many were opened."""
        client = self._session.nio
        olm = client.olm
        wanted = sorted({user for user in users if user != client.user_id})
        if olm is None or not wanted:
            return 0
        async with self._session.keys_lock:
            untracked = {user for user in wanted if user not in olm.tracked_users}
            if untracked:
                answer = await client.keys_query(untracked)
                self._untrack_strangers(untracked)
                if not isinstance(answer, KeysQueryResponse):
                    log.warning("olm sessions ahead of pages: key query failed: %s", answer)
                    return 0
            now = time.monotonic()
            self._asked = {
                device: at for device, at in self._asked.items() if now - at < CLAIM_AGAIN_SECONDS
            }
            missing = {
                user: fresh
                for user, devices in olm.get_missing_sessions(wanted).items()
                if (fresh := [d for d in devices if (user, d) not in self._asked])
            }
            if not missing:
                return 0
            self._asked.update(((user, d), now) for user, ds in missing.items() for d in ds)
            claimed = await client.keys_claim(missing)
            if not isinstance(claimed, KeysClaimResponse):
                log.warning("olm sessions ahead of pages: key claim failed: %s", claimed)
                return 0
            opened = self._greet(missing)
            if opened.messages:
                sent = await client.to_device(opened, str(uuid.uuid4()))
                log.info(
                    "olm sessions ahead of pages: %d new (%d users on duty); sent: %s",
                    sum(len(ds) for ds in opened.messages.values()),
                    len(wanted),
                    type(sent).__name__,
                )
            return sum(len(ds) for ds in opened.messages.values())

    def _untrack_strangers(self, users: set[str]) -> None:
        """nio tracks every user a key query answered for; only those who share an encrypted
        room with the bot stay tracked (the homeserver tells of their devices' changes)."""
        olm = self._session.nio.olm
        rooms = [room for room in self._session.nio.rooms.values() if room.encrypted]
        for user in users:
            if not any(user in room.users for room in rooms):
                olm.tracked_users.discard(user)

    def _greet(self, asked: dict[str, list[str]]) -> _Batch:
        """An encrypted m.dummy for each asked device that now has a session (nio's own
        encryption, `_olm_encrypt`, which also stores the session)."""
        olm = self._session.nio.olm
        batch = _Batch("m.room.encrypted", "", "", {})
        for user, devices in asked.items():
            for device_id in devices:
                device = olm.device_store[user].get(device_id)
                session = olm.session_store.get(device.curve25519) if device is not None else None
                if device is None or session is None:
                    continue
                content = olm._olm_encrypt(session, device, "m.dummy", {})
                batch.messages.setdefault(user, {})[device_id] = content
        return batch
