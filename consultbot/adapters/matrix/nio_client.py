"""matrix-nio's client as the bot needs it: its encryption and HTTP patches (`Client`), its
settings (`client_config`), and what the bot and nio's room model may see of a decrypted event
(`as_message`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from nio import (
    Api,
    AsyncClient,
    AsyncClientConfig,
    BadEvent,
    KeysQueryResponse,
    MatrixRoom,
    MegolmEvent,
    PowerLevelsEvent,
    RoomCreateEvent,
    RoomEncryptionEvent,
    RoomGuestAccessEvent,
    RoomHistoryVisibilityEvent,
    RoomJoinRulesEvent,
    RoomMemberEvent,
    RoomMessagesResponse,
    SyncResponse,
    UnknownBadEvent,
)
from nio.exceptions import GroupEncryptionError
from nio.store import DefaultStore
from peewee import SqliteDatabase

from consultbot.adapters.matrix import room_policy
from consultbot.config import MatrixConfig

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 600.0


def retry_after_ms(header: str | None) -> int | None:
    """Milliseconds an HTTP `Retry-After` header asks to wait (seconds or an HTTP date)."""
    if not header:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return int(1000 * min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS))


KEY_RESHARES = 2  # room-key shares tried again before a message goes out regardless
MAX_SEND_TRIES = 6  # encryptions tried for one message (each may wait for a share under way)
_STRICT_ROOM_KEYS: ContextVar[bool] = ContextVar("strict_room_keys", default=True)
# Run at the moment a message is encrypted, on the members the room key goes to: raises
# RoomRefused when they may not read it (`MatrixBot.send`).
AUDIENCE_CHECK: ContextVar[Callable[[str], None] | None] = ContextVar(
    "audience_check", default=None
)


class RoomKeyNotShared(Exception):
    """The room key about to encrypt a message has not reached every member's device."""

    def __init__(self, room_id: str, missing: Sequence[tuple[str, str]]) -> None:
        super().__init__(f"room key in {room_id} not shared with {len(missing)} device(s)")
        self.room_id = room_id
        self.missing = tuple(missing)


# The nio event classes that change nio's room model (`MatrixRoom.handle_event`, membership).
_STATE_EVENTS = (
    RoomCreateEvent,
    RoomMemberEvent,
    PowerLevelsEvent,
    RoomEncryptionEvent,
    RoomJoinRulesEvent,
    RoomGuestAccessEvent,
    RoomHistoryVisibilityEvent,
)


# State types nio's room model reads by type name.
_NIO_STATE = (
    "m.room.member",
    "m.room.name",
    "m.room.canonical_alias",
    "m.room.topic",
    "m.room.avatar",
    "m.room.tombstone",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
    "m.space.parent",
    "m.space.child",
)


def _poses_as_state(event: Any) -> bool:
    """True for a decrypted event whose plaintext claims to be room state."""
    source = getattr(event, "source", None)
    if isinstance(event, _STATE_EVENTS) or not isinstance(source, dict):
        return True
    if "state_key" in source:
        return True
    kind = source.get("type")
    return isinstance(kind, str) and (kind in room_policy.CHECKED_TYPES or kind in _NIO_STATE)


def from_decryption(event: Any) -> bool:
    """True for an event whose content came out of decryption: its sender's word, not state."""
    return bool(getattr(event, "decrypted", False))


def as_message(decrypted: Any, megolm: MegolmEvent) -> Any:
    """What the rest of the bot (and nio's room model) may see of a decrypted event.

    Room state only ever comes from the homeserver: an encrypted event's plaintext is written
    by its sender alone, so one whose plaintext names a state type or a `state_key` (a forged
    `m.room.create`, power levels or member leave) becomes an `UnknownBadEvent` no one reads.
    Every decryption result is marked `decrypted`, bad ones too, for `RoomBook.learn`.
    """
    if isinstance(decrypted, (BadEvent, UnknownBadEvent)) or _poses_as_state(decrypted):
        source = getattr(decrypted, "source", None)
        dropped = UnknownBadEvent(source if isinstance(source, dict) else {})
        dropped.decrypted = True
        dropped.sender_key = megolm.sender_key
        dropped.session_id = megolm.session_id
        if not isinstance(decrypted, (BadEvent, UnknownBadEvent)):
            log.warning(
                "dropped an encrypted event from %s posing as room state (%s) in %s",
                megolm.sender,
                type(decrypted).__name__,
                megolm.room_id,
            )
        return dropped
    decrypted.decrypted = True
    return decrypted


def writes_rooms(method: str, path: str) -> bool:
    """True for a request that changes a room (sends, state, invites, joins, room creation).

    Only the active instance makes these (see `Client.guard`); syncing, keys, to-device
    messages, login and profile reads are every instance's.
    """
    if method.upper() not in ("PUT", "POST", "DELETE"):
        return False
    route = path.split("?", 1)[0]
    return any(part in route for part in ("/rooms/", "/createRoom", "/join/"))


class _KeyQueryMarks(set[str]):
    """nio's set of users whose device keys are to be queried, telling the key queries in
    flight which users were marked meanwhile (a sync saying their devices changed)."""

    def __init__(self, users: set[str]) -> None:
        super().__init__(users)
        self.flights: list[set[str]] = []

    def add(self, user: str) -> None:
        super().add(user)
        for flight in self.flights:
            flight.add(user)

    def update(self, *users: Any) -> None:
        marked = set().union(*users)
        super().update(marked)
        for flight in self.flights:
            flight.update(marked)


class Client(AsyncClient):  # type: ignore[misc]
    """nio's client, honouring the HTTP `Retry-After` header of a 429 answer (nio reads only
    `retry_after_ms` in the body; a proxy or load balancer in front of the homeserver sends the
    header), counting those answers (nio waits them out), and sending no message under a room
    key that some member's device did not get.

    Every request that changes a room first asks `guard` (when set), which raises when this
    instance may not send (a standby, or a leader whose lease is lapsing: adapters/sql/lease.py).

    nio shares a room's key once, with the members and devices it knows when the share starts,
    and every message sent while that share is under way waits for it and then goes out under
    that key. A member learned meanwhile (an invite right after a restart, while a notice's
    share is in flight) would get the page under a key their device never received: delivered
    once, unreadable. `encrypt` therefore checks, at the moment of encrypting, that the key
    reached every current device of every member (joined or invited); if not, `room_send`
    shares the same key with the devices missing and encrypts again.

    `last_ok` is when the homeserver last answered a request with success (2xx): a sync, a
    send it accepted, a probe. A refused or unanswered request (nio retries those) or an error
    answer leaves it as it was: the lease and /healthz judge contact by its age.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claimed: set[tuple[str, str]] = set()  # devices a one-time key was asked for
        self.rate_limited = 0
        self.guard: Callable[[], None] | None = None
        self.last_ok: float | None = None  # time.monotonic() of the last 2xx answer

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if self.guard is not None:
            method = str(kwargs.get("method", args[0] if args else ""))
            path = str(kwargs.get("path", args[1] if len(args) > 1 else ""))
            if writes_rooms(method, path):
                self.guard()
        response = await super().send(*args, **kwargs)
        status = getattr(response, "status", None)
        if status == 429:
            self.rate_limited += 1
        elif isinstance(status, int) and 200 <= status < 300:
            self.last_ok = time.monotonic()
        return response

    async def create_matrix_response(
        self,
        response_class: type,
        transport_response: Any,
        data: tuple[Any, ...] | None = None,
        save_to: Any = None,
    ) -> Any:
        response = await super().create_matrix_response(
            response_class, transport_response, data=data, save_to=save_to
        )
        if isinstance(response, SyncResponse) and response.rooms.invite:
            # nio keeps only the member, name and alias events of an invite's state; the
            # decision to join needs its encryption and join rule too (`Doorkeeper.answer_invites`).
            raw = await transport_response.json()
            invited = raw.get("rooms", {}).get("invite", {}) if isinstance(raw, dict) else {}
            response.invite_states = {
                room: info.get("invite_state", {}).get("events", [])
                for room, info in invited.items()
                if isinstance(info, dict)
            }
        if transport_response is not None and transport_response.status == 429:
            told = retry_after_ms(transport_response.headers.get("Retry-After"))
            if told is not None and not getattr(response, "retry_after_ms", None):
                response.retry_after_ms = told
        return response

    def load_store(self) -> None:
        super().load_store()
        if self.olm is not None and not isinstance(self.olm.users_for_key_query, _KeyQueryMarks):
            self.olm.users_for_key_query = _KeyQueryMarks(self.olm.users_for_key_query)

    async def keys_query(self, users: set[str] | None = None) -> Any:
        """nio's key query (of `users`, or of those nio marked), without losing a change
        reported while it is in flight: nio takes every user the answer names off its list,
        also one a sync marked changed after the question left (a phone logged in meanwhile),
        and would not ask again until their next change. Those are marked again after."""
        marks = self.olm.users_for_key_query if self.olm is not None else None
        if users is not None:
            method, path, data = Api.keys_query(self.access_token, users)
            query = functools.partial(self._send, KeysQueryResponse, method, path, data)
        else:
            query = super().keys_query
        if not isinstance(marks, _KeyQueryMarks):
            return await query()
        flight: set[str] = set()
        marks.flights.append(flight)
        try:
            return await query()
        finally:
            # By identity: another query out at the same time (nio's own, in `room_send`) may
            # hold an equal set. Marked again as a plain set: not a change another query that
            # is still out has to note.
            marks.flights[:] = [f for f in marks.flights if f is not flight]
            set.update(marks, flight)

    async def keys_claim(self, user_set: dict[str, Any]) -> Any:
        self.claimed.update(
            (user, device) for user, devices in user_set.items() for device in devices
        )
        return await super().keys_claim(user_set)

    def unshared_devices(self, room_id: str) -> list[tuple[str, str]]:
        """Devices of the room's members that the room's shared key has not reached and could
        (a device without an Olm session whose one-time key was already asked for cannot)."""
        olm = self.olm
        room = self.rooms.get(room_id)
        session = olm.outbound_group_sessions.get(room_id) if olm is not None else None
        if room is None or not room.encrypted or session is None or not session.shared:
            return []
        covered = session.users_shared_with | session.users_ignored
        return [
            (user, device.id)
            for user in room.users
            for device in olm.device_store.active_user_devices(user)
            if (user, device.id) not in covered
            and not (user == self.user_id and device.id == self.device_id)
            and not olm.is_device_blacklisted(device)
            and (
                olm.session_store.get(device.curve25519) is not None
                or (user, device.id) not in self.claimed
            )
        ]

    def _handle_timeline_event(
        self, event: Any, room_id: str, room: MatrixRoom, encrypted_rooms: set[str]
    ) -> Any:
        # nio decrypts here and then applies whatever the plaintext names to its room model:
        # decrypt first, so that only a message (never forged state) goes on to nio.
        if not isinstance(event, MegolmEvent) or self.olm is None:
            return super()._handle_timeline_event(event, room_id, room, encrypted_rooms)
        event.room_id = room_id
        decrypted = self.olm._decrypt_megolm_no_error(event)
        if decrypted is None:
            return None  # stays a MegolmEvent (nio's room model ignores those)
        message = as_message(decrypted, event)
        super()._handle_timeline_event(message, room_id, room, encrypted_rooms)
        return message

    def _handle_messages_response(self, response: RoomMessagesResponse) -> None:
        megolm = list(response.chunk)
        super()._handle_messages_response(response)
        response.chunk = [
            as_message(now, was) if isinstance(was, MegolmEvent) and now is not was else now
            for was, now in zip(megolm, response.chunk, strict=True)
        ]

    def decrypt_event(self, event: MegolmEvent) -> Any:
        return as_message(super().decrypt_event(event), event)

    def encrypt(
        self, room_id: str, message_type: str, content: dict[Any, Any]
    ) -> tuple[str, dict[str, str]]:
        check = AUDIENCE_CHECK.get()
        if check is not None:
            check(room_id)  # the members checked are those the room key is shared with
        missing = self.unshared_devices(room_id)
        if missing and _STRICT_ROOM_KEYS.get():
            raise RoomKeyNotShared(room_id, missing)
        if missing:
            log.warning(
                "sending in %s although the room key has not reached %s",
                room_id,
                ", ".join(f"{user} {device}" for user, device in missing),
            )
        encrypted: tuple[str, dict[str, str]] = super().encrypt(room_id, message_type, content)
        return encrypted

    async def room_send(
        self,
        room_id: str,
        message_type: str,
        content: dict[Any, Any],
        tx_id: str | None = None,
        ignore_unverified_devices: bool = False,
    ) -> Any:
        reshares = 0
        for attempt in range(1, MAX_SEND_TRIES + 1):
            # After KEY_RESHARES shares the message goes out even if a device is still missing
            # (one without an Olm session, say): a page most devices can read beats no page.
            strict = _STRICT_ROOM_KEYS.set(reshares < KEY_RESHARES)
            try:
                return await super().room_send(
                    room_id,
                    message_type,
                    content,
                    tx_id=tx_id,
                    ignore_unverified_devices=ignore_unverified_devices,
                )
            except GroupEncryptionError:
                # Another send is sharing the key again; the next try waits for it.
                if attempt == MAX_SEND_TRIES:
                    raise
            except RoomKeyNotShared as exc:
                if attempt == MAX_SEND_TRIES:
                    raise
                reshares += 1
                log.warning(
                    "room key in %s had not reached %d device(s) (%s); sharing it with them",
                    room_id,
                    len(exc.missing),
                    ", ".join(f"{user} {device}" for user, device in exc.missing),
                )
                session = self.olm.outbound_group_sessions.get(room_id)
                if session is not None:
                    # nio then shares this same key with the devices it has not reached
                    # (those it has are skipped) before it encrypts again.
                    session.shared = False
            finally:
                _STRICT_ROOM_KEYS.reset(strict)
        raise AssertionError("unreachable")  # pragma: no cover


class _BoundOnce(SqliteDatabase):  # type: ignore[misc]
    """nio's crypto database, to which its models stay bound.

    nio binds its ~15 models to the store's database around every store call (`bind_ctx`,
    which walks each model's graph of references twice). The bot has one crypto store, so
    the models are bound to it once (`CryptoStore.__post_init__`) and a call finds them bound
    already: in a profile of a rush the binding was 8 % of the event loop's samples, and with
    the account's row (`CryptoStore`) the loop was 8 % less busy after. Should another store
    in the process (a test's client) have bound them meanwhile, its `bind_ctx` has restored
    them to this database when it ended; were they bound elsewhere now, this binds them
    around the call as nio does."""

    def bind_ctx(
        self, models: Sequence[Any], bind_refs: bool = True, bind_backrefs: bool = True
    ) -> Any:
        if (
            bind_refs
            and bind_backrefs
            and all(model._meta.database is self for model in _with_references(tuple(models)))
        ):
            return contextlib.nullcontext(models)
        return super().bind_ctx(models, bind_refs, bind_backrefs)


@functools.cache
def _with_references(models: tuple[Any, ...]) -> tuple[Any, ...]:
    """`models` and every model they refer to or are referred to by: what `bind_ctx` binds."""
    found = dict.fromkeys(models)
    for model in models:
        found.update(dict.fromkeys(other for _, other, _ in model._meta.model_graph()))
    return tuple(found)


class CryptoStore(DefaultStore):  # type: ignore[misc]
    """nio's crypto store (Olm sessions, room keys) in SQLite's WAL mode, `synchronous =
    NORMAL`, as the bot's own database: nio writes it on the event loop after every Olm
    encryption (a page's key share), and in rollback mode each of those commits synced the
    disk twice (SPEC §8: 27 % of the loop in a burst of 50 was the key share, most of it these
    writes). A process that is killed loses nothing; a power cut may lose the last writes, as
    it may the bot's database's.

    Two costs nio pays on every store call are paid once: binding its models to the database
    (`_BoundOnce`), and reading the Olm account's row, which every write of a session or key
    looks up for its id (9 % of the loop's samples in the same profile). The row is read again
    after the account is saved, the one write to it."""

    def __post_init__(self) -> None:
        self._account_row: Any = None
        super().__post_init__()
        self.database.bind(self.models)

    def _create_database(self) -> SqliteDatabase:
        return _BoundOnce(
            self.database_path,
            pragmas={
                "foreign_keys": 1,
                "secure_delete": 1,
                "journal_mode": "wal",
                "synchronous": 1,  # NORMAL
            },
        )

    def _get_account(self) -> Any:
        if self._account_row is None:
            self._account_row = super()._get_account()
        return self._account_row

    def save_account(self, account: Any) -> None:
        try:
            super().save_account(account)
        finally:
            self._account_row = None  # read again: a save that failed half way included


def client_config(config: MatrixConfig) -> AsyncClientConfig:
    """nio's settings: connection errors retried forever, at most a second apart.

    nio's own backoff doubles from 0.1 s up to a minute; after a 30 s homeserver outage that
    alone would leave the bot waiting up to half a minute more before it catches up.
    """
    return AsyncClientConfig(
        encryption_enabled=True,
        store=CryptoStore,
        store_sync_tokens=False,
        pickle_key=config.pickle_key or "consultbot",
        max_timeout_retry_wait_time=1.0,
        backoff_factor=0.1,
        request_timeout=30,
    )


def encryption_available() -> bool:
    from nio.crypto import ENCRYPTION_ENABLED

    return bool(ENCRYPTION_ENABLED)
