"""The bot's Matrix connection, as the service sees it: the Messenger and FileSource ports.

This module sends (messages, images, events, state, redactions); the modules beside it do the
rest, each named for its job (docs/decisions.md, "The Matrix adapter by job").

Sending into an encrypted room shares the room key only with members nio knows at that
moment. A page therefore waits until the invitees are in nio's member list and their device
keys are queried (`MatrixBot.send`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nio import (
    MegolmEvent,
    RoomGetEventResponse,
    RoomKickError,
    RoomMessageText,
    RoomRedactError,
    RoomSendResponse,
)

from consultbot.adapters.matrix import media, room_policy
from consultbot.adapters.matrix.events import EventReader
from consultbot.adapters.matrix.membership import Doorkeeper
from consultbot.adapters.matrix.nio_client import AUDIENCE_CHECK
from consultbot.adapters.matrix.olm_ready import OlmReadiness
from consultbot.adapters.matrix.provisioning import Provisioner
from consultbot.adapters.matrix.rooms import WAIT_FOR_ROOM, RoomBook
from consultbot.adapters.matrix.session import Handler, Session
from consultbot.adapters.matrix.sync import SyncLoop
from consultbot.config import MatrixConfig
from consultbot.domain.types import UserId
from consultbot.ports import ConsultStore, Content, FileSource, IncomingFile, Messenger
from consultbot.tasks import Tasks

log = logging.getLogger(__name__)

WAIT_FOR_MEMBERS = 15.0
#: The longest a sync's pool rooms' invites wait, from the start of its handling, for the rest
#: of it (sync.py); well under effects.PAGES_AFTER_INVITES_SECONDS, which counts from the fill.
FILL_GATHER_SECONDS = 0.25


class MatrixBot(Messenger, FileSource):
    """The bot's Matrix connection: one device, one crypto store, one sync loop."""

    def __init__(
        self,
        config: MatrixConfig,
        store: ConsultStore,
        *,
        allowed_servers: Sequence[str] = (),
        tasks: Tasks | None = None,
        guard: Callable[[], None] | None = None,
        own_token: bool = False,
    ) -> None:
        # Two instances (docs/failover.md): `guard` raises unless this instance may send, and
        # each instance keeps its device's own sync position in its store folder.
        self.session = Session(config, store, allowed_servers=allowed_servers, guard=guard)
        self.tasks = tasks or Tasks()  # the owner of the bot's background tasks (tasks.py)
        self.rooms = RoomBook(self.session)
        self.provisioner = Provisioner(self.session, self.rooms)
        self.doors = Doorkeeper(self.session, self.rooms)
        self.readiness = OlmReadiness(self.session, self.rooms)
        self.sync = SyncLoop(
            self.session,
            self.rooms,
            self.doors,
            EventReader(self.session, self.rooms),
            caught_up=self._start_lockdown,
            own_token=own_token,
        )

    # -- the session ----------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def device_id(self) -> str:
        client = self.session.client
        return str(client.device_id) if client is not None else ""

    @property
    def rate_limited(self) -> int:
        """HTTP 429 answers seen (for consultbot/engine/metrics.py)."""
        return int(getattr(self.session.client, "rate_limited", 0))

    @property
    def last_sync(self) -> float | None:
        return self.sync.last_sync

    @property
    def last_ok(self) -> float | None:
        """When the homeserver last answered with success (session.py, `keep_in_touch`)."""
        return self.session.last_ok

    async def reachable(self, seconds: float = 2.0) -> bool:
        """True when the homeserver answers this device now (a standby, before taking over)."""
        return await self.session.probe(seconds)

    async def close(self) -> None:
        self.sync.stopping.set()
        if self.session.client is not None:
            await self.session.client.close()

    async def run(self, handler: Handler | None = None) -> None:
        """Sync until stopped, every event to `handler` (by default the one set before; sync.py)."""
        if handler is not None:
            self.session.handler = handler
        await self.sync.run()

    async def standby(self, until: asyncio.Event) -> None:
        await self.sync.standby(until)

    # -- rooms ----------------------------------------------------------------------------------

    def own_room(self, room: str) -> None:
        self.rooms.own.add(room)

    def pool_policy(self) -> str:
        return f"{room_policy.POLICY_VERSION}:{','.join(self.session.servers)}"

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        return await self.provisioner.create_room(key=key, name=name, topic=topic, invite=invite)

    async def create_pool_room(self) -> str:
        return await self.provisioner.create_pool_room()

    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        # A pool room's invites wait for the rest of the sync being handled (sync.py), until
        # `FILL_GATHER_SECONDS` after its handling began: every fill of a sync that takes
        # longer goes at that same moment.
        session = self.session
        left = session.handling_since + FILL_GATHER_SECONDS - asyncio.get_running_loop().time()
        if not session.handled.is_set() and left > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await session.handled.wait()
        await self.provisioner.fill_room(room, invite=invite)

    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        # Known from sync first: at start-up the open consults' rooms are named again, and a
        # room sync shows named so already costs no request (provisioning.py).
        await self._known(room)
        await self.provisioner.name_room(room, name=name, topic=topic)

    async def joined_by_someone(self, room: str, seconds: float) -> None:
        client, bot = self.session.nio, self.session.user_id

        def joined() -> bool:
            known = client.rooms.get(room)
            return known is not None and any(
                user != bot and user not in known.invited_users for user in known.users
            )

        await self.session.wait(joined, seconds)

    async def invite(self, room: str, users: Sequence[UserId]) -> None:
        await self.provisioner.invite(room, users)

    async def let_in(self, room: str, user: UserId) -> bool:
        return await self.provisioner.let_in(room, user)

    async def prepare(self, users: Sequence[UserId]) -> int:
        return await self.readiness.prepare(users)

    async def expect(self, room: str, users: Sequence[UserId]) -> None:
        await self._known(room)
        await self.rooms.vet(room)
        self.provisioner.expect(room, users)

    async def leave(self, room: str) -> None:
        await self.doors.leave(room)

    def _start_lockdown(self) -> None:
        self.readiness.caught_up.set()  # who shares a room with the bot is known now

        # After the catch-up, beside the sync loop: pages must not wait for old rooms.
        async def lock_down() -> None:
            await self.provisioner.own_recorded_rooms()
            await self.provisioner.lock_down_rooms()

        self.tasks.spawn(
            lock_down(),
            name="room-lockdown",
            context="bringing consult rooms up to the room policy",
        )

    # -- sending --------------------------------------------------------------------------------

    async def _known(self, room: str) -> None:
        """Wait for sync to show `room` (one just made is not in nio's rooms until then)."""
        client = self.session.nio
        if not await self.session.wait(lambda: room in client.rooms, WAIT_FOR_ROOM):
            raise RuntimeError(f"room {room} not known after {WAIT_FOR_ROOM} s")

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        client = self.session.nio
        await self._known(room)
        check = self.rooms.audience_check(
            room, numbers=numbers, by_bot=await self.rooms.made_by_bot(room)
        )
        await self.rooms.vet(room)
        if recipients:

            def members_known() -> bool:
                known = client.rooms[room].users
                return all(user in known for user in recipients)

            if not await self.session.wait(members_known, WAIT_FOR_MEMBERS):
                log.warning("sending in %s before every recipient showed up in sync", room)
            await self.session.query_keys()
        body: dict[str, Any] = {
            "msgtype": "m.notice" if content.notice else "m.text",
            "body": content.text,
            "format": "org.matrix.custom.html",
            "formatted_body": content.html,
            "m.mentions": {"user_ids": list(content.mentions)} if content.mentions else {},
        }
        if check is not None:
            check(room)  # an unencrypted room is never encrypted into: checked here too
        audience_check = AUDIENCE_CHECK.set(check)
        try:
            return await self._post(room, "m.room.message", body, txn=txn, what="send")
        finally:
            AUDIENCE_CHECK.reset(audience_check)

    async def _post(
        self, room: str, event_type: str, content: dict[str, Any], *, txn: str, what: str
    ) -> str:
        """Send one event with `txn` (a retry is dropped by the homeserver); its id."""
        response = await self.session.nio.room_send(
            room, event_type, content, tx_id=txn, ignore_unverified_devices=True
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"{what} to {room} failed: {response}")
        return str(response.event_id)

    async def kick(self, room: str, user: UserId, *, reason: str) -> None:
        response = await self.session.nio.room_kick(room, user, reason=reason)
        if isinstance(response, RoomKickError):
            raise RuntimeError(f"could not remove {user} from {room}: {response.status_code}")

    async def send_event(
        self, room: str, event_type: str, content: Mapping[str, Any], *, txn: str
    ) -> str:
        await self._known(room)
        await self.rooms.vet_any(room)
        return await self._post(
            room, event_type, dict(content), txn=txn, what=f"sending {event_type}"
        )

    async def send_image(
        self, room: str, data: bytes, *, name: str, width: int, height: int, txn: str
    ) -> str:
        """Upload the image (encrypted in an encrypted room) and post it with `txn`: a retry
        uploads again but the homeserver drops the repeated post."""
        client = self.session.nio
        await self._known(room)
        await self.rooms.vet_any(room)
        content = await media.upload_image(
            client,
            data,
            name=name,
            width=width,
            height=height,
            encrypt=client.rooms[room].encrypted,
        )
        await self.session.query_keys()
        return await self._post(room, "m.room.message", content, txn=txn, what="sending an image")

    async def redact(self, room: str, event_id: str, *, reason: str, txn: str) -> bool:
        response = await self.session.nio.room_redact(room, event_id, reason=reason, tx_id=txn)
        if isinstance(response, RoomRedactError):
            log.warning("could not redact %s in %s: %s", event_id, room, response.status_code)
            return False
        return True

    async def message_text(self, room: str, event_id: str) -> str | None:
        response = await self.session.nio.room_get_event(room, event_id)
        if not isinstance(response, RoomGetEventResponse):
            return None
        event: Any = response.event
        if isinstance(event, MegolmEvent):
            event = self.session.decrypt(event, room)
        return event.body if isinstance(event, RoomMessageText) else None

    async def put_state(
        self, room: str, kind: str, state_key: str, content: dict[str, Any]
    ) -> None:
        await self.rooms.vet_any(room)
        await self.session.put_state(room, kind, content, state_key=state_key)

    # -- FileSource ----------------------------------------------------------------------------

    async def fetch_file(self, file: IncomingFile, *, max_bytes: int) -> bytes:
        item = media.attachment(file.ref)
        if item is None:
            raise OSError(f"{file.event_id} carries no file")
        try:
            return await media.fetch(self.session.nio, item, max_bytes=max_bytes)
        except media.MediaError as exc:
            raise OSError(str(exc)) from None
