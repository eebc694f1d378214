"""A person's end-to-end encrypted Matrix client (matrix-nio), for the demo and the tests.

It syncs in the background, decrypts what it can, records every message, reaction and invite,
and lets a caller wait for the one it expects, with a timeout. A message that arrives before its
room key is recorded as "undecryptable" and decrypted again after each sync, so it is recorded
once more as what it is when the key comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    EncryptedToDeviceEvent,
    InviteMemberEvent,
    KeysQueryError,
    KeysQueryResponse,
    LocalProtocolError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RedactionEvent,
    RoomCreateResponse,
    RoomEncryptedFile,
    RoomEncryptedImage,
    RoomKeyEvent,
    RoomMemberEvent,
    RoomMessageFile,
    RoomMessageImage,
    RoomMessageNotice,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
    ToDeviceEvent,
    UnknownEvent,
    UploadResponse,
)
from nio.exceptions import EncryptionError


@dataclass(frozen=True, kw_only=True)
class Seen:
    """Something this client saw: a message, a reaction or an invite."""

    # "message" | "reaction" | "invite" | "undecryptable" | "redaction" | "join" | "leave" | …
    kind: str
    room: str
    sender: str
    event_id: str = ""
    body: str = ""
    html: str = ""
    msgtype: str = ""
    mentions: tuple[str, ...] = ()
    key: str = ""
    reacts_to: str = ""
    encrypted: bool = False  # it came end-to-end encrypted (and was decrypted)
    source: dict[str, Any] = field(default_factory=dict)


SEND_TRIES = 3  # a send that nio's room-key race broke is tried again (`send_content`)

# What an encrypted event may turn out to be, once decrypted.
_DECRYPTED = (
    RoomMessageText,
    RoomMessageNotice,
    ReactionEvent,
    RoomEncryptedFile,
    RoomEncryptedImage,
)


class _UserClient(AsyncClient):  # type: ignore[misc]
    """nio's client, with a key query that is a no-op when nothing is left to query.

    `sync_forever` schedules `keys_query` when keys are due; a send's own query can take the
    list first, and nio's query then raises and ends the sync loop (seen in the SIGKILL run).
    """

    async def keys_query(self) -> KeysQueryResponse | KeysQueryError:
        if not self.users_for_key_query:
            return KeysQueryError("No key query required.")
        return await super().keys_query()


class MatrixUser:
    """One logged-in user with their own device and crypto store."""

    def __init__(self, homeserver: str, user_id: str, password: str, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.user_id = user_id
        self._password = password
        self.client = _UserClient(
            homeserver,
            user_id,
            store_path=str(store),
            config=AsyncClientConfig(
                encryption_enabled=True, store_sync_tokens=True, max_timeout_retry_wait_time=1.0
            ),
        )
        self.seen: list[Seen] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._first_sync = asyncio.Event()
        self._undecrypted: list[tuple[MatrixRoom, MegolmEvent]] = []

    async def start(self) -> None:
        """Log in, upload keys and start syncing in the background."""
        response = await self.client.login(self._password, device_name="consultbot-test")
        if not isinstance(response, LoginResponse):
            raise RuntimeError(f"login as {self.user_id} failed: {response}")
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        self.client.add_event_callback(
            self._on_event, (*_DECRYPTED, MegolmEvent, RoomMessageFile, RoomMessageImage)
        )
        self.client.add_event_callback(self._on_invite, (InviteMemberEvent,))
        self.client.add_event_callback(
            self._on_other, (RedactionEvent, RoomMemberEvent, UnknownEvent)
        )
        self.client.add_response_callback(self._on_sync, SyncResponse)
        self.client.add_to_device_callback(self._on_to_device, (ToDeviceEvent,))
        # Device keys change what a waiter may be waiting for (whom a room key can reach).
        self.client.add_response_callback(self._notify, KeysQueryResponse)
        # A busy room (a bot catching up after a restart) may get more than the homeserver's
        # default ten events between two syncs; a limited timeline would skip the rest.
        self._task = asyncio.create_task(
            self.client.sync_forever(
                timeout=10_000, full_state=True, sync_filter={"room": {"timeline": {"limit": 500}}}
            )
        )
        async with asyncio.timeout(30):
            await self._first_sync.wait()

    @property
    def sync_error(self) -> BaseException | None:
        """Why the background sync ended, if it did (an exception in a callback ends it)."""
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception() or RuntimeError("sync loop ended")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    async def _on_sync(self, response: Any) -> None:
        self._first_sync.set()
        await self._decrypt_again()
        await self._notify()

    async def _on_to_device(self, event: Any) -> None:
        # A room key that arrived ("room_key", its session in `key`), or an Olm-encrypted
        # to-device message this device could not decrypt ("olm_undecryptable").
        if isinstance(event, RoomKeyEvent):
            await self._record(
                Seen(kind="room_key", room=event.room_id, sender=event.sender, key=event.session_id)
            )
        elif isinstance(event, EncryptedToDeviceEvent):
            await self._record(Seen(kind="olm_undecryptable", room="", sender=event.sender))

    async def _notify(self, *_: Any) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _record(self, seen: Seen) -> None:
        self.seen.append(seen)
        await self._notify()

    async def _decrypt_again(self) -> None:
        """Events that came before their room key: decrypt those whose key is here now."""
        for room, event in list(self._undecrypted):
            try:
                decrypted = self.client.decrypt_event(event)
            except EncryptionError:
                continue  # the key has not arrived yet
            self._undecrypted.remove((room, event))
            if isinstance(decrypted, _DECRYPTED):
                await self._on_event(room, decrypted)

    async def _record_event(self, kind: str, room: MatrixRoom, event: Any, **more: Any) -> None:
        fields = {"sender": event.sender, "event_id": event.event_id, **more}
        await self._record(Seen(kind=kind, room=room.room_id, **fields))

    async def _on_event(self, room: MatrixRoom, event: Any) -> None:
        source = getattr(event, "source", {}) or {}
        content = source.get("content", {}) if isinstance(source, dict) else {}
        encrypted = bool(getattr(event, "decrypted", False))
        if isinstance(event, MegolmEvent):
            self._undecrypted.append((room, event))
            await self._record_event("undecryptable", room, event, key=event.session_id)
        elif isinstance(event, ReactionEvent):
            more = {"key": event.key, "reacts_to": event.reacts_to}
            await self._record_event("reaction", room, event, encrypted=encrypted, **more)
        else:
            await self._record_event(
                "message",
                room,
                event,
                body=getattr(event, "body", None) or "",
                html=getattr(event, "formatted_body", None) or "",
                msgtype=content.get("msgtype", ""),
                mentions=tuple(content.get("m.mentions", {}).get("user_ids", [])),
                encrypted=encrypted,
                source=source,
            )

    async def _on_other(self, room: MatrixRoom, event: Any) -> None:
        if isinstance(event, RedactionEvent):
            await self._record_event("redaction", room, event, reacts_to=event.redacts)
        elif isinstance(event, UnknownEvent):
            # Other event types (a poll's start and end): kind "event", the type as msgtype.
            source = event.source if isinstance(event.source, dict) else {}
            await self._record_event("event", room, event, msgtype=event.type, source=source)
        elif isinstance(event, RoomMemberEvent) and event.membership in ("leave", "join"):
            await self._record_event(event.membership, room, event, sender=event.state_key)

    async def _on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == self.user_id and event.membership == "invite":
            await self._record(Seen(kind="invite", room=room.room_id, sender=event.sender))

    async def wait_for(self, predicate: Callable[[Seen], bool], seconds: float = 30.0) -> Seen:
        """The first thing seen (so far or from now on) that matches; TimeoutError otherwise."""
        async with asyncio.timeout(seconds), self._changed:
            found = await self._changed.wait_for(lambda: next(filter(predicate, self.seen), None))
        assert found is not None  # wait_for returns once the condition holds
        return found

    async def wait_until(self, condition: Callable[[], bool], seconds: float = 30.0) -> None:
        """Wait, re-checking after every sync, until `condition()` holds."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(condition)

    async def join(self, room: str) -> None:
        """Join a room and wait until sync shows it."""
        await self.client.join(room)
        await self.wait_until(lambda: room in self.client.rooms)

    async def create_dm(self, other: str, *, wait: bool = True) -> str:
        """An encrypted direct chat with `other`; returns once they have joined (if `wait`)."""
        megolm = {"algorithm": "m.megolm.v1.aes-sha2"}
        response = await self.client.room_create(
            is_direct=True,
            preset=RoomPreset.trusted_private_chat,
            invite=[other],
            initial_state=[{"type": "m.room.encryption", "state_key": "", "content": megolm}],
        )
        if not isinstance(response, RoomCreateResponse):
            raise RuntimeError(f"could not create a DM: {response}")
        room = str(response.room_id)
        if not wait:
            return room
        await self.wait_until(
            lambda: (
                room in self.client.rooms
                and other in self.client.rooms[room].users
                and other not in self.client.rooms[room].invited_users
            )
        )
        return room

    async def send_text(self, room: str, body: str) -> str:
        """Send an (encrypted) m.text; returns its event id."""
        return await self.send_content(room, "m.room.message", {"msgtype": "m.text", "body": body})

    async def react(self, room: str, event_id: str, key: str = "✅") -> str:
        """React to an event (as Element does: an m.annotation)."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_content(room, "m.reaction", content)

    async def send_file(
        self, room: str, data: bytes, *, name: str, mimetype: str = "application/octet-stream"
    ) -> str:
        """Send a file as Element does: encrypted (`file`) in an encrypted room, else `url`."""
        encrypted = self.client.rooms[room].encrypted if room in self.client.rooms else True
        upload, keys = await self.client.upload(
            lambda *_: data,
            content_type=mimetype,
            filename=name,
            encrypt=encrypted,
            filesize=len(data),
        )
        if not isinstance(upload, UploadResponse):
            raise RuntimeError(f"upload failed: {upload}")
        content: dict[str, Any] = {
            "msgtype": "m.file",
            "body": name,
            "filename": name,
            "info": {"mimetype": mimetype, "size": len(data)},
        }
        if encrypted:
            assert keys is not None
            content["file"] = {**keys, "url": upload.content_uri}
        else:
            content["url"] = upload.content_uri
        return await self.send_content(room, "m.room.message", content)

    async def send_content(self, room: str, event_type: str, content: dict[str, Any]) -> str:
        """Send any event (encrypted in an encrypted room); returns its event id."""
        with contextlib.suppress(LocalProtocolError):
            if self.client.should_query_keys:
                await self.client.keys_query()
        for attempt in range(1, SEND_TRIES + 1):
            try:
                response = await self.client.room_send(
                    room, event_type, content, ignore_unverified_devices=True
                )
                break
            except KeyError:
                # nio's own race: a membership change that its sync brings while it shares
                # the room key drops that key mid-share (`outbound_group_sessions[room]`).
                # Nothing was sent: share a new key and send again.
                if attempt == SEND_TRIES:
                    raise
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"send failed: {response}")
        return str(response.event_id)
