"""matrix-nio: login, the sync loop, E2EE, events → the service, and the Messenger port.

Facts this module is built around (see ../shared/MATRIX-NOTES.md):
- nio's own sync-token store saves the position before callbacks run, so a crash would lose
  events. Here the position is saved in the database only after a whole batch is handled.
- nio keeps rooms in memory only. At start the bot does one full-state sync (timeline empty)
  so that it knows its rooms, then syncs on from the saved position to see what it missed.
- Sending into an encrypted room shares the room key only with members nio knows at that
  moment. A page therefore waits until the invitees are in nio's member list and their device
  keys are queried. A share already under way when a member is learned would still be used for
  the next message: no message is encrypted under a key a member's device lacks (`_Client`).
- Rooms the bot makes carry no alias (anyone on the server could squat the next one): a room
  made just before a crash is found again by its creation content (`create_room`). Nothing
  goes into a room the bot made unless it passes the room policy, read from the state sync
  brought (`_vet`, `room_policy.room_faults`): no request on the way of a page.
- nio retries connection errors forever; its wait is capped at one second here so that the bot
  catches up quickly after a homeserver outage. HTTP 429 is waited out as the server asks: nio
  reads only `retry_after_ms` in the body, so an HTTP `Retry-After` header (as a proxy or load
  balancer in front of the homeserver sends it) is read here (`_Client`).
- nio turns a decrypted event into whatever type its plaintext names and applies it to its
  room model; the sender alone writes that plaintext. A decrypted event posing as room state
  is dropped before nio sees it (`as_message`), and decrypted events are never read as state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from nio import (
    AsyncClient,
    AsyncClientConfig,
    BadEvent,
    InviteMemberEvent,
    JoinError,
    LocalProtocolError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    PowerLevelsEvent,
    ReactionEvent,
    RoomCreateError,
    RoomCreateEvent,
    RoomCreateResponse,
    RoomEncryptedFile,
    RoomEncryptionEvent,
    RoomForgetError,
    RoomGetEventResponse,
    RoomGetStateResponse,
    RoomGuestAccessEvent,
    RoomHistoryVisibilityEvent,
    RoomInviteError,
    RoomJoinRulesEvent,
    RoomKickError,
    RoomLeaveError,
    RoomMemberEvent,
    RoomMessage,
    RoomMessageFile,
    RoomMessagesResponse,
    RoomMessageText,
    RoomPreset,
    RoomPutStateResponse,
    RoomRedactError,
    RoomSendResponse,
    StickerEvent,
    SyncResponse,
    UnknownBadEvent,
    UnknownEvent,
    WhoamiResponse,
)
from nio.api import Api, MessageDirection
from nio.exceptions import GroupEncryptionError

from consultbot.adapters.matrix import media, room_policy
from consultbot.adapters.matrix.message_text import event_texts, is_chat, shown_texts
from consultbot.adapters.matrix.room_policy import CREATION_KEY
from consultbot.config import MatrixConfig
from consultbot.domain.chat import audience
from consultbot.domain.consult import polls
from consultbot.domain.errors import ConsultbotError
from consultbot.domain.types import UserId
from consultbot.ports import (
    ConsultStore,
    Content,
    FileSource,
    FileTooLarge,
    IncomingFile,
    IncomingInvite,
    IncomingMessage,
    IncomingReaction,
    IncomingVote,
    Messenger,
    RoomRefused,
    UnsafeRoom,
)
from consultbot.tasks import Tasks

log = logging.getLogger(__name__)

DISPLAY_NAME = "Konsultbot (Chatbot)"
SYNC_TOKEN = "sync_token"
ROOM_POLICY = "room_policy"
ROOM_INTENT = "room-intent:"  # + key: the creation content of a room about to be made
# What leaving a room the bot is no longer in answers: nothing to do.
_NOT_IN_ROOM = ("M_FORBIDDEN", "M_NOT_FOUND")
PL = "m.room.power_levels"
#: Faults the bot sets right itself in a room it alone controls (`_vet`).
REPAIRABLE = frozenset({"join_rule", "server_acl"})
LOCKED_TYPES = (
    "m.room.server_acl",
    "m.room.guest_access",
    "m.room.join_rules",
    "m.room.history_visibility",
)
SYNC_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": 100}},
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
}
INITIAL_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": 1}},
    "presence": {"not_types": ["*"]},
}
WAIT_FOR_ROOM = 30.0
WAIT_FOR_MEMBERS = 15.0
BACKFILL_PAGES = 5
UNDECRYPTED_KEEP_SECONDS = 600
JOIN_RETRY_PAUSES = (0.5, 1.0, 2.0)
OWN_TOKEN_FILE = "sync_token"  # this device's own sync position (two instances)
STANDBY_POLL_MS = 1000  # a standby's long-poll: it notices the takeover within this long


def _fresh_timeout() -> int:
    # Synapse answers a repeated identical sync request from its response cache for a while,
    # even across a restart of the bot; a fresh `timeout` value makes the request new.
    return 1 + int(time.time() * 1000) % 997


class EncryptionUnavailable(ConsultbotError):
    """matrix-nio was installed without its e2e extra."""


class LoginFailed(ConsultbotError):
    """The homeserver refused the bot's credentials."""


class Handler(Protocol):
    """What the sync loop delivers events to (the service)."""

    async def handle_message(self, message: IncomingMessage) -> None:
        """A text message."""

    async def handle_reaction(self, reaction: IncomingReaction) -> None:
        """A reaction."""

    async def handle_file(self, file: IncomingFile) -> None:
        """A file (m.file or m.image, encrypted or not)."""

    async def handle_vote(self, vote: IncomingVote) -> None:
        """A vote in a poll (MSC3381, unstable or stable event type)."""

    async def handle_invite(self, invite: IncomingInvite) -> None:
        """Someone invited a person on a server that is not allowed into a room the bot is in."""

    def allowed(self, user: str) -> bool:
        """True for users on an allowed homeserver."""


def mentioned(source: dict[str, Any]) -> tuple[UserId, ...]:
    """The users a message mentions with a pill (`m.mentions.user_ids`), in order."""
    content = source.get("content", {}) if isinstance(source, dict) else {}
    mentions = content.get("m.mentions", {}) if isinstance(content, dict) else {}
    users = mentions.get("user_ids", []) if isinstance(mentions, dict) else []
    if not isinstance(users, list):
        return ()
    return tuple(UserId(u) for u in users if isinstance(u, str))


def strip_reply_fallback(body: str, source: dict[str, Any]) -> str:
    """A reply's own text, without the quoted "> <@user> …" lines older clients put first."""
    content = source.get("content", {}) if isinstance(source, dict) else {}
    relates = content.get("m.relates_to", {}) if isinstance(content, dict) else {}
    if not (isinstance(relates, dict) and "m.in_reply_to" in relates):
        return body
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    rest = lines[
        next((i for i, line in enumerate(lines) if not line.startswith(">")), len(lines)) :
    ]
    return "\n".join(rest).lstrip("\n")


MAX_RETRY_AFTER_SECONDS = 600.0


def retry_after_ms(header: str | None) -> int | None:
    """Milliseconds an HTTP `Retry-After` header asks to wait (seconds or an HTTP date)."""
    if not header:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        from email.utils import parsedate_to_datetime

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
_AUDIENCE_CHECK: ContextVar[Callable[[str], None] | None] = ContextVar(
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


def _decrypted(event: Any) -> bool:
    """True for an event whose content came out of decryption: its sender's word, not state."""
    return bool(getattr(event, "decrypted", False))


def as_message(decrypted: Any, megolm: MegolmEvent) -> Any:
    """What the rest of the bot (and nio's room model) may see of a decrypted event.

    Room state only ever comes from the homeserver: an encrypted event's plaintext is written
    by its sender alone, so one whose plaintext names a state type or a `state_key` (a forged
    `m.room.create`, power levels or member leave) becomes an `UnknownBadEvent` no one reads.
    Every decryption result is marked `decrypted`, bad ones too, for `_learn_rooms`.
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


class _Client(AsyncClient):  # type: ignore[misc]
    """nio's client, honouring the HTTP `Retry-After` header of a 429 answer, and sending no
    message under a room key that some member's device did not get.

    nio shares a room's key once, with the members and devices it knows when the share starts,
    and every message sent while that share is under way waits for it and then goes out under
    that key. A member learned meanwhile (an invite right after a restart, while a notice's
    share is in flight) would get the page under a key their device never received: delivered
    once, unreadable. `encrypt` therefore checks, at the moment of encrypting, that the key
    reached every current device of every member (joined or invited); if not, `room_send`
    shares the same key with the devices missing and encrypts again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claimed: set[tuple[str, str]] = set()  # devices a one-time key was asked for

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
            # decision to join needs its encryption and join rule too (`MatrixBot._invites`).
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
        check = _AUDIENCE_CHECK.get()
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


def client_config(config: MatrixConfig) -> AsyncClientConfig:
    """nio's settings: connection errors retried forever, at most a second apart.

    nio's own backoff doubles from 0.1 s up to a minute; after a 30 s homeserver outage that
    alone would leave the bot waiting up to half a minute more before it catches up.
    """
    return AsyncClientConfig(
        encryption_enabled=True,
        store_sync_tokens=False,
        pickle_key=config.pickle_key or "consultbot",
        max_timeout_retry_wait_time=1.0,
        backoff_factor=0.1,
        request_timeout=30,
    )


def state_facts(events: Sequence[Any]) -> tuple[audience.RoomFacts, str]:
    """A room's facts (domain/audience.py) and its creator, from raw state events: the room's
    state, or an invite's stripped state. Without a join-rule event a room is invite-only."""
    encrypted, join_rule, creator = False, "invite", ""
    members: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        kind, content = event.get("type"), event.get("content")
        content = content if isinstance(content, dict) else {}
        if kind == "m.room.encryption" and content.get("algorithm"):
            encrypted = True
        elif kind == "m.room.join_rules":
            join_rule = str(content.get("join_rule", ""))
        elif kind == "m.room.create":
            creator = str(event.get("sender", ""))
        elif kind == "m.room.member" and content.get("membership") in ("join", "invite"):
            members.append(str(event.get("state_key", "")))
    facts = audience.RoomFacts(encrypted=encrypted, join_rule=join_rule, members=tuple(members))
    return facts, creator


def _content(event: Any) -> dict[str, Any]:
    """An event's (decrypted) content as nio parsed it, {} when it has none."""
    source = getattr(event, "source", None)
    content = source.get("content", {}) if isinstance(source, dict) else {}
    return content if isinstance(content, dict) else {}


def _texts_shown(event: Any) -> tuple[str, ...]:
    """What an event that is no readable message shows people (message_text.event_texts). The
    type is read from the event's source: nio gives none to an event it could not parse."""
    if not isinstance(event, (BadEvent, UnknownBadEvent, StickerEvent, UnknownEvent)):
        return ()
    kind = event.source.get("type") if isinstance(event.source, dict) else None
    return event_texts(kind, _content(event)) if isinstance(kind, str) else ()


def _joined(event: Mapping[str, Any], user: str) -> bool:
    """True for `user`'s own membership event saying they are in the room."""
    content = event.get("content")
    return (
        event.get("type") == "m.room.member"
        and event.get("state_key") == user
        and isinstance(content, dict)
        and content.get("membership") == "join"
    )


def encryption_available() -> bool:
    """True when matrix-nio can do end-to-end encryption here."""
    from nio.crypto import ENCRYPTION_ENABLED

    return bool(ENCRYPTION_ENABLED)


def writes_rooms(method: str, path: str) -> bool:
    """True for a request that changes a room (sends, state, invites, joins, room creation).

    Only the active instance makes these (see `MatrixBot.guard`); syncing, keys, to-device
    messages, login and profile reads are every instance's.
    """
    if method.upper() not in ("PUT", "POST", "DELETE"):
        return False
    route = path.split("?", 1)[0]
    return any(part in route for part in ("/rooms/", "/createRoom", "/join/"))


class _CountingClient(_Client):
    """nio's client, counting the homeserver's HTTP 429 answers (nio waits them out).

    Every request that changes a room first asks `guard` (when set), which raises when this
    instance may not send (a standby, or a leader whose lease is lapsing: adapters/lease.py).
    """

    rate_limited = 0
    guard: Callable[[], None] | None = None

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if self.guard is not None:
            method = str(kwargs.get("method", args[0] if args else ""))
            path = str(kwargs.get("path", args[1] if len(args) > 1 else ""))
            if writes_rooms(method, path):
                self.guard()
        response = await super().send(*args, **kwargs)
        if getattr(response, "status", None) == 429:
            self.rate_limited += 1
        return response


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
        self.config = config
        # Two instances (docs/failover.md): `guard` raises unless this instance may send, and
        # each instance keeps its device's own sync position in its store folder.
        self.guard = guard
        self.own_token = own_token
        self.store = store
        self.tasks = tasks or Tasks()  # the owner of the bot's background tasks (tasks.py)
        self.servers = room_policy.allowed_servers(config.user_id, allowed_servers)
        self.handler: Handler | None = None
        self.client: AsyncClient | None = None
        self._synced = asyncio.Condition()
        self._keys_lock = asyncio.Lock()
        self._undecrypted: dict[str, tuple[MegolmEvent, str, float]] = {}
        self._stopping = asyncio.Event()
        # Rooms the bot made, as sync shows them: the state `room_policy.room_faults` reads
        # (type → content).
        self._room_state: dict[str, dict[str, dict[str, Any]]] = {}
        # Who created each room the bot is in (its `m.room.create` sender): the bot's own
        # rooms are checked by their policy, rooms people opened by domain/audience.py.
        self._creators: dict[str, str] = {}
        self._own_rooms: set[str] = set()  # rooms the service says the bot made (`own_room`)
        self._unsafe: dict[str, tuple[str, ...]] = {}  # rooms that failed the policy: faults
        self.last_sync: float | None = None  # time.monotonic() of the last successful sync

    @property
    def rate_limited(self) -> int:
        """HTTP 429 answers seen (for consultbot/engine/metrics.py)."""
        return self.client.rate_limited if isinstance(self.client, _CountingClient) else 0

    # -- login ------------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The bot's Matrix id."""
        return self.config.user_id

    def _credentials_file(self) -> Path:
        return self.config.store_path / "credentials.json"

    async def login(self) -> None:
        """Log in (or restore the saved device), load the crypto store, set the display name."""
        if not encryption_available():
            raise EncryptionUnavailable(
                "end-to-end encryption is unavailable: install matrix-nio[e2e]"
            )
        self.config.store_path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.config.store_path, 0o700)
        client = _CountingClient(
            self.config.homeserver,
            self.config.user_id,
            store_path=str(self.config.store_path),
            config=client_config(self.config),
        )
        client.guard = self.guard
        self.client = client
        saved = self._saved_credentials()
        if self.config.access_token:
            client.access_token = self.config.access_token
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse) or not who.device_id:
                raise LoginFailed("the access_token was refused by the homeserver")
            client.restore_login(self.config.user_id, who.device_id, self.config.access_token)
        elif saved and await self._restore(saved):
            pass
        else:
            await self._password_login(saved.get("device_id") if saved else None)
        self._private_store()
        await self._set_display_name()
        log.info("logged in as %s, device %s", client.user_id, client.device_id)

    def _private_store(self) -> None:
        """The E2EE store and the saved credentials are the bot's alone: 0700 / 0600."""
        for path in self.config.store_path.rglob("*"):
            os.chmod(path, 0o700 if path.is_dir() else 0o600)

    def _saved_credentials(self) -> dict[str, str]:
        try:
            data = json.loads(self._credentials_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if (
            data.get("user_id") != self.config.user_id
            or data.get("homeserver") != self.config.homeserver
        ):
            return {}
        return {k: str(v) for k, v in data.items()}

    async def _restore(self, saved: dict[str, str]) -> bool:
        assert self.client is not None
        self.client.restore_login(self.config.user_id, saved["device_id"], saved["access_token"])
        who = await self.client.whoami()
        if isinstance(who, WhoamiResponse):
            return True
        log.warning("saved access token refused; logging in again with the same device")
        return False

    async def _password_login(self, device_id: str | None) -> None:
        assert self.client is not None
        if not self.config.password:
            raise LoginFailed("no password configured and no valid saved session")
        if device_id:
            self.client.device_id = device_id
        response = await self.client.login(
            self.config.password, device_name=self.config.device_name
        )
        if not isinstance(response, LoginResponse):
            raise LoginFailed(f"login as {self.config.user_id} failed: {response}")
        path = self._credentials_file()
        path.write_text(
            json.dumps(
                {
                    "homeserver": self.config.homeserver,
                    "user_id": response.user_id,
                    "device_id": response.device_id,
                    "access_token": response.access_token,
                }
            ),
            encoding="utf-8",
        )
        os.chmod(path, 0o600)

    @property
    def device_id(self) -> str:
        """This instance's Matrix device (after login)."""
        return str(self.client.device_id) if self.client is not None else ""

    async def _set_display_name(self) -> None:
        assert self.client is not None
        current = await self.client.get_displayname()
        name = getattr(current, "displayname", None)
        if not name or not str(name).endswith("(Chatbot)"):
            await self.client.set_displayname(DISPLAY_NAME)

    async def close(self) -> None:
        """Stop syncing and close the HTTP session."""
        self._stopping.set()
        if self.client is not None:
            await self.client.close()

    # -- the sync loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Sync until stopped. Each batch is handled before its position is saved.

        The first sync of a run asks for the full room state since the saved position, so nio
        learns every room (it keeps none across restarts) and the bot sees what it missed, in
        one response. Separate "initial" and "catch-up" syncs would deliver pending to-device
        messages twice; a room key decrypted twice wedges the Olm session and later messages
        could not be read.
        """
        client = self.client
        assert client is not None
        token = await self.store.get_meta(SYNC_TOKEN)
        if token is None:
            token = await self._first_sync_ever()
        first = True
        while not self._stopping.is_set():
            try:
                response = await client.sync(
                    timeout=_fresh_timeout() if first else 30_000,
                    sync_filter=SYNC_FILTER,
                    since=token,
                    full_state=first or None,
                )
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
            self._learn_rooms(response)
            await self._crypto_chores()
            await self._handle(response)
            token = response.next_batch
            await self.store.set_meta(SYNC_TOKEN, token)
            self._save_own_token(token)
            self.last_sync = time.monotonic()
            async with self._synced:
                self._synced.notify_all()
            if first:
                log.info("caught up: %d rooms", len(client.rooms))
                self._start_lockdown()
            first = False

    async def _first_sync_ever(self) -> str:
        """On the very first start nothing before now is ours to handle, but invites are."""
        client = self.client
        assert client is not None
        while True:
            response = await client.sync(
                timeout=_fresh_timeout(), sync_filter=INITIAL_FILTER, full_state=True
            )
            if isinstance(response, SyncResponse):
                break
            log.warning("first sync failed: %s; retrying", response)
            await asyncio.sleep(1.0)
        self._learn_rooms(response)
        await self._crypto_chores()
        await self._invites(response)
        await self.store.set_meta(SYNC_TOKEN, response.next_batch)
        self._save_own_token(str(response.next_batch))
        self.last_sync = time.monotonic()
        async with self._synced:
            self._synced.notify_all()
        return str(response.next_batch)

    # -- standing by (two instances, docs/failover.md) -------------------------------------------

    def _own_token_file(self) -> Path:
        return self.config.store_path / OWN_TOKEN_FILE

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
        client = self.client
        assert client is not None
        token = self._own_token()
        while True:
            flushing = until.is_set()
            try:
                response = await client.sync(
                    timeout=0 if flushing else STANDBY_POLL_MS,
                    sync_filter=INITIAL_FILTER,
                    since=token,
                    full_state=True if token is None else None,
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("standby sync failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if not isinstance(response, SyncResponse):
                log.warning("standby sync error: %s", response)
                await asyncio.sleep(1.0)
                continue
            self._learn_rooms(response)
            await self._crypto_chores()
            token = str(response.next_batch)
            self._save_own_token(token)
            self.last_sync = time.monotonic()
            if flushing and not response.to_device_events:
                return

    async def _crypto_chores(self) -> None:
        client = self.client
        assert client is not None
        async with self._keys_lock:
            try:
                if client.should_upload_keys:
                    await client.keys_upload()
                if client.should_query_keys:
                    await client.keys_query()
                if client.should_claim_keys:
                    await client.keys_claim(client.get_users_for_key_claiming())
                await client.send_to_device_messages()
            except LocalProtocolError as exc:
                log.debug("crypto chores: %s", exc)

    # -- the state of the rooms the bot made --------------------------------------------------

    def _learn_rooms(self, response: SyncResponse) -> None:
        """Keep the state `room_faults` reads, as this sync brings it (before anything waits on
        the rooms it names); rooms the bot left are forgotten."""
        for room_id, info in response.rooms.join.items():
            for event in (*info.state, *info.timeline.events):
                source = getattr(event, "source", None)
                if isinstance(source, dict) and not _decrypted(event):
                    self._learn_state(room_id, source)
        for room_id in response.rooms.leave:
            self._forget_room(room_id)

    def _learn_state(self, room: str, event: Mapping[str, Any]) -> None:
        kind, content = event.get("type"), event.get("content")
        if kind not in room_policy.CHECKED_TYPES or event.get("state_key") != "":
            return
        if not isinstance(content, dict):
            return
        self._room_state.setdefault(room, {})[str(kind)] = content
        if kind == "m.room.create":
            self._creators[room] = str(event.get("sender", ""))

    def _forget_room(self, room: str) -> None:
        self._room_state.pop(room, None)
        self._creators.pop(room, None)

    def own_room(self, room: str) -> None:
        self._own_rooms.add(room)

    async def _vet(self, room: str) -> None:
        """Raise `UnsafeRoom` unless `room`, if the bot made it, passes the room policy.

        Read from the state sync brought (or the creation itself): no request on a page's way.
        A join rule or ACL off the policy in a room the bot still controls alone is set right
        instead (as the start-up lockdown would); anything else is final for the room.
        """
        if room in self._unsafe:
            raise UnsafeRoom(room, self._unsafe[room])
        if room not in self._own_rooms and self._creators.get(room) != self.user_id:
            return  # a room a user opened (or a room not the bot's): not this policy's
        if not await self._wait(lambda: room in self._creators, WAIT_FOR_ROOM):
            raise RuntimeError(f"the state of {room} not known after {WAIT_FOR_ROOM} s")
        if self._creators[room] == self.user_id:
            # A sync can show a room the bot is making half made: its first events only.
            await self._wait(lambda: "m.room.encryption" in self._room_state[room], WAIT_FOR_ROOM)
        faults = self._faults(room)
        if faults and set(faults) <= REPAIRABLE:
            await self._repair(room)
            faults = self._faults(room)
        if faults:
            self._unsafe[room] = faults
            log.error("room %s fails the room policy (%s): nothing goes into it", room, faults)
            raise UnsafeRoom(room, faults)
        # nio encrypts by its own view of the room: it must have seen the encryption too.
        client = self.client
        assert client is not None

        def encrypted() -> bool:
            known = client.rooms.get(room)
            return known is None or bool(known.encrypted)

        if not await self._wait(encrypted, WAIT_FOR_ROOM):
            raise RuntimeError(f"{room} is not encrypted in nio's view after sync")

    async def _vet_any(self, room: str) -> None:
        """`_vet`, and for a room the bot did not make: RoomRefused unless it is fit for the
        bot (domain/audience.py: encrypted, not public, nobody from elsewhere).

        For everything but a message (`send` has its own check, with its fall-backs): an
        image, an event, state or an invite never goes into a room a user opened that any
        reader could not be trusted with, whatever the caller believes about it.
        """
        await self._vet(room)
        if room in self._own_rooms or await self.made_by_bot(room):
            return
        unknown = audience.RoomFacts(encrypted=False, join_rule="", members=())
        found = audience.faults(self._facts(room) or unknown, self.servers)
        if found:
            log.error("%s is not the bot's and not fit for it (%s): nothing sent", room, found)
            raise RoomRefused(room, found, fit=False)

    def _faults(self, room: str) -> tuple[str, ...]:
        return room_policy.room_faults(
            self.user_id, self.servers, self._creators.get(room, ""), self._room_state[room]
        )

    async def _repair(self, room: str) -> None:
        """Put the policy's join rule, ACL (and the rest of the lockdown) into `room`."""
        client = self.client
        assert client is not None
        current = {kind: self._room_state[room].get(kind) for kind in (*LOCKED_TYPES, PL)}
        for kind, content in room_policy.lockdown_changes(self.user_id, self.servers, current):
            put = await client.room_put_state(room, kind, content)
            if not isinstance(put, RoomPutStateResponse):
                raise RuntimeError(f"could not set {kind} in {room}: {put}")
            self._room_state[room][kind] = content
            log.info("room %s: %s set to the policy's", room, kind)

    async def _handle(self, response: SyncResponse) -> None:
        await self._invites(response)
        for room_id, info in response.rooms.join.items():
            events: list[Any] = list(info.timeline.events)
            self._note_creator(room_id, [*info.state, *events])
            # A gap before the bot's own join is no gap: nothing from before it joined is the
            # bot's to handle (nor readable). Rooms the bot just created or joined skip it.
            if info.timeline.limited and info.timeline.prev_batch and not self._joins(events):
                events = [*await self._backfill(room_id, info.timeline.prev_batch), *events]
            for event in events:
                await self._event(room_id, event)
        await self._retry_undecrypted()

    async def _backfill(self, room_id: str, start: str) -> list[Any]:
        """Events a limited sync left out, oldest first; stops at events already handled."""
        client = self.client
        assert client is not None
        found: list[Any] = []
        for _ in range(BACKFILL_PAGES):
            page = await client.room_messages(
                room_id, start=start, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            stop = False
            for event in page.chunk:
                if self._joins([event]) or await self.store.is_handled(event.event_id):
                    stop = True
                    break
                found.append(event)
            if stop or not page.end:
                break
            start = page.end
        found.reverse()
        log.info("backfilled %d events in %s after a gap", len(found), room_id)
        return found

    def _joins(self, events: Sequence[Any]) -> bool:
        """True when `events` hold the room's creation or the bot's own join."""
        return any(
            not _decrypted(e)
            and (
                isinstance(e, RoomCreateEvent)
                or (
                    isinstance(e, RoomMemberEvent)
                    and e.state_key == self.user_id
                    and e.membership == "join"
                )
            )
            for e in events
        )

    async def _event(self, room_id: str, event: Any) -> None:
        client = self.client
        assert client is not None
        if getattr(event, "sender", None) == self.user_id:
            return
        if isinstance(event, MegolmEvent):
            decrypted = self._try_decrypt(event, room_id)
            if decrypted is None:
                log.info(
                    "cannot decrypt %s in %s yet; waiting for its key", event.event_id, room_id
                )
                self._undecrypted[event.event_id] = (
                    event,
                    room_id,
                    asyncio.get_running_loop().time(),
                )
                return
            event = decrypted
        try:
            await self._deliver(room_id, event)
        except Exception:
            log.exception("event %s in %s failed", getattr(event, "event_id", "?"), room_id)

    def _try_decrypt(self, event: MegolmEvent, room_id: str) -> Any:
        """The decrypted event, None when its key is not (yet) here.

        nio needs the event's room id to find the key; events that nio could not decrypt
        during the sync, and events fetched on their own, come without it.
        """
        assert self.client is not None
        event.room_id = event.room_id or room_id
        try:
            decrypted = self.client.decrypt_event(event)
        except Exception:
            return None
        return None if isinstance(decrypted, MegolmEvent) else decrypted

    async def _retry_undecrypted(self) -> None:
        now = asyncio.get_running_loop().time()
        for event_id, (event, room_id, since) in list(self._undecrypted.items()):
            decrypted = self._try_decrypt(event, room_id)
            if decrypted is not None:
                del self._undecrypted[event_id]
                await self._deliver(room_id, decrypted)
            elif now - since > UNDECRYPTED_KEEP_SECONDS:
                del self._undecrypted[event_id]
                log.warning("gave up decrypting %s in %s", event_id, room_id)

    async def _deliver(self, room_id: str, event: Any) -> None:
        client = self.client
        assert client is not None and self.handler is not None
        at = datetime.fromtimestamp(getattr(event, "server_timestamp", 0) / 1000, UTC)
        if isinstance(event, RoomMessage) and not isinstance(
            event, (RoomMessageFile, RoomEncryptedFile)
        ):
            # Every message that shows text (notices, emotes, media captions, edits too) is
            # read for personnummer; only a plain m.text is read as chat.
            content = _content(event)
            chat = is_chat(content)
            body = content.get("body") if chat else None
            await self._hand_message(
                room_id,
                event_id=event.event_id,
                sender=event.sender,
                at=at,
                body=strip_reply_fallback(body, event.source) if isinstance(body, str) else "",
                mentions=mentioned(event.source),
                texts=shown_texts(content),
                read_only=not chat,
            )
        elif isinstance(event, (RoomMessageFile, RoomEncryptedFile)):
            content = _content(event)
            item = media.attachment(content)
            if item is None:
                return
            room = client.rooms.get(room_id)
            await self.handler.handle_file(
                IncomingFile(
                    room=room_id,
                    event_id=event.event_id,
                    sender=UserId(event.sender),
                    name=item.name,
                    mimetype=item.mimetype,
                    size=item.size,
                    ref=content,
                    at=at,
                    direct=room is not None and len(room.users) <= 2,
                    other_text=shown_texts(content),
                )
            )
        elif (
            isinstance(event, RoomMemberEvent)
            and event.membership == "invite"
            and event.state_key != self.user_id
            and not room_policy.invite_allowed(event.state_key, self.servers)
        ):
            await self.handler.handle_invite(
                IncomingInvite(
                    room=room_id,
                    event_id=event.event_id,
                    inviter=UserId(event.sender),
                    invitee=UserId(event.state_key),
                    at=at,
                )
            )
        elif isinstance(event, UnknownEvent) and event.type in polls.POLL_RESPONSE_TYPES:
            content = _content(event)
            vote = polls.poll_vote(event.type, content)
            if vote is None:
                return
            await self.handler.handle_vote(
                IncomingVote(
                    room=room_id,
                    event_id=event.event_id,
                    sender=UserId(event.sender),
                    poll=vote.poll,
                    outcome=vote.outcome,
                    at=at,
                )
            )
        elif isinstance(event, ReactionEvent):
            await self.handler.handle_reaction(
                IncomingReaction(
                    room=room_id,
                    event_id=event.event_id,
                    sender=UserId(event.sender),
                    key=event.key,
                    reacts_to=event.reacts_to,
                    at=at,
                    unfit=await self._unfit(room_id) or (),
                )
            )
        elif texts := _texts_shown(event):
            # A sticker, a user's poll, a message nio could not parse: read for personnummer
            # only. The bot's own outcome poll never comes here (`_event` skips its events).
            source = event.source
            event_id, sender = source.get("event_id"), source.get("sender")
            if isinstance(event_id, str) and isinstance(sender, str) and sender != self.user_id:
                await self._hand_message(
                    room_id, event_id=event_id, sender=sender, at=at, texts=texts, read_only=True
                )

    async def _hand_message(
        self,
        room_id: str,
        *,
        event_id: str,
        sender: str,
        at: datetime,
        texts: tuple[str, ...],
        read_only: bool,
        body: str = "",
        mentions: tuple[UserId, ...] = (),
    ) -> None:
        """Give the inbox a message of a room the bot is in (nothing for any other room)."""
        client = self.client
        assert client is not None and self.handler is not None
        room = client.rooms.get(room_id)
        unfit = await self._unfit(room_id)
        if room is None or unfit is None:
            return  # not a room of the bot's (any more)
        await self.handler.handle_message(
            IncomingMessage(
                room=room_id,
                event_id=event_id,
                sender=UserId(sender),
                body=body,
                at=at,
                direct=len(room.users) <= 2,
                mentions=mentions,
                other_text=texts,
                read_only=read_only,
                unfit=unfit,
            )
        )

    async def _unfit(self, room_id: str) -> tuple[audience.Fault, ...] | None:
        """Why the bot may not answer in `room_id` (domain/audience.py): () for a room it made;
        None for a room that is not the bot's."""
        facts = self._facts(room_id)
        if facts is None:
            return None
        return () if await self.made_by_bot(room_id) else audience.faults(facts, self.servers)

    async def _invites(self, response: SyncResponse) -> None:
        """Join a room only when an allowed user invites the bot into an encrypted room that
        is not public and whose members are all on allowed servers (domain/audience.py);
        decline every other invite without a word. The invite's state is what the inviter's
        server says: once joined, the room's real state is checked again."""
        client = self.client
        assert client is not None
        offered_states: dict[str, list[Any]] = getattr(response, "invite_states", {})
        for room_id, info in response.rooms.invite.items():
            inviter = next(
                (
                    e.sender
                    for e in info.invite_state
                    if isinstance(e, InviteMemberEvent) and e.state_key == self.user_id
                ),
                None,
            )
            if inviter is None:
                continue
            offered, _ = state_facts(offered_states.get(room_id, []))
            found = self._invite_faults(inviter, offered)
            if found:
                log.info("declining the invite to %s: %s", room_id, ", ".join(found))
                await self._quietly_leave(room_id)
                continue
            if await self._join(room_id):
                await self._verify_joined(room_id, inviter)

    def _invite_faults(self, inviter: str, facts: audience.RoomFacts) -> tuple[audience.Fault, ...]:
        """Why the invite is declined (the inviter may not use the bot, or the room is not
        fit); () when the bot joins."""
        allowed = self.handler is not None and self.handler.allowed(inviter)
        return audience.invite_faults(facts, self.servers, inviter_allowed=allowed)

    async def _join(self, room_id: str) -> bool:
        """Join a room the bot is invited to; False (logged) when that fails."""
        assert self.client is not None
        joined = await self.client.join(room_id)
        for pause in JOIN_RETRY_PAUSES:
            # An invite over federation can arrive before its room is joinable here; the
            # invite is in one sync only, so a failed join is tried again a few times.
            if not isinstance(joined, JoinError):
                break
            await asyncio.sleep(pause)
            joined = await self.client.join(room_id)
        if isinstance(joined, JoinError):
            log.warning("could not join %s: %s", room_id, joined)
            return False
        return True

    async def _verify_joined(self, room_id: str, inviter: str) -> None:
        """Leave a room just joined whose real state fails the checks its invite passed."""
        state = await self._fetch_room_state(room_id)
        if state is None:
            log.warning("left %s: its state could not be read", room_id)
            await self._quietly_leave(room_id)
            return
        facts, creator = state_facts(state)
        self._creators[room_id] = creator
        found = self._invite_faults(inviter, facts)
        if found:
            log.warning("left %s: the room is not what its invite said (%s)", room_id, found)
            await self._quietly_leave(room_id)
            return
        log.info("joined %s", room_id)

    async def _quietly_leave(self, room_id: str) -> None:
        """Decline an invite or leave a room, without a message; a failure is only logged."""
        try:
            await self.leave(room_id)
        except Exception:
            log.exception("could not leave %s", room_id)

    async def _fetch_room_state(self, room_id: str) -> list[dict[str, Any]] | None:
        """The room's current state events as the homeserver has them; None when unreadable."""
        assert self.client is not None
        answer = await self.client.room_get_state(room_id)
        if not isinstance(answer, RoomGetStateResponse):
            return None
        return [e for e in answer.events if isinstance(e, dict)]

    # -- who can read a room (domain/audience.py) ---------------------------------------------

    def _note_creator(self, room_id: str, events: Sequence[Any]) -> None:
        for event in events:
            source = getattr(event, "source", None)
            if (
                isinstance(source, dict)
                and source.get("type") == "m.room.create"
                and not _decrypted(event)
            ):
                self._creators[room_id] = str(source.get("sender", ""))

    async def made_by_bot(self, room_id: str) -> bool:
        """True for a room the bot created: its `m.room.create` event is the bot's (no one
        else can have written it). Read from the homeserver when sync has not shown it."""
        if room_id not in self._creators:
            state = await self._fetch_room_state(room_id)
            if state is None:
                return False  # unknown: checked as a room someone else opened
            self._creators[room_id] = state_facts(state)[1]
        return self._creators[room_id] == self.user_id

    def _facts(self, room_id: str) -> audience.RoomFacts | None:
        """The room as the bot knows it now: the members it would share a room key with."""
        assert self.client is not None
        room = self.client.rooms.get(room_id)
        if room is None:
            return None
        return audience.RoomFacts(
            encrypted=bool(room.encrypted),
            join_rule=str(room.join_rule),
            members=tuple(dict.fromkeys([*room.users, *room.invited_users])),
        )

    def _audience_check(
        self, room_id: str, *, numbers: bool, by_bot: bool
    ) -> Callable[[str], None] | None:
        """What `send` runs just before encrypting: raises RoomRefused when the room's
        audience at that moment may not read the message. None when there is nothing to check
        (a room the bot made, for a message without staff numbers: its policy checks it)."""
        if by_bot and not numbers:
            return None
        servers = self.servers

        def check(room: str) -> None:
            facts = self._facts(room) or audience.RoomFacts(
                encrypted=False, join_rule="", members=()
            )
            found = audience.faults(facts, servers)
            if by_bot:
                found = tuple(f for f in found if f is not audience.Fault.PUBLIC)
            if found:
                raise RoomRefused(room, found, fit=by_bot)

        return check

    # -- consult rooms created before the room policy ------------------------------------------

    def _start_lockdown(self) -> None:
        # After the catch-up, beside the sync loop: pages must not wait for old rooms.
        async def lock_down() -> None:
            await self.own_recorded_rooms()
            await self.lock_down_rooms()

        self.tasks.spawn(
            lock_down(),
            name="room-lockdown",
            context="bringing consult rooms up to the room policy",
        )

    async def own_recorded_rooms(self) -> int:
        """Hold the consult rooms the database knows, that somebody else made, to the room
        policy (rooms adopted by their alias before the bot checked who made them); how many.
        They fail it: the first thing on its way to one leaves it and tells the admins."""
        client = self.client
        assert client is not None
        adopted = 0
        for room_id in list(client.rooms):
            creator = self._creators.get(room_id)
            if creator is None or creator == self.user_id or room_id in self._own_rooms:
                continue
            if await self.store.consult_for_room(room_id) is not None:
                self._own_rooms.add(room_id)
                adopted += 1
        if adopted:
            log.warning("%d consult rooms were made by somebody else", adopted)
        return adopted

    async def lock_down_rooms(self) -> int:
        """Bring the rooms the bot made before the current room policy up to it, once; how
        many state events that took.

        A migration step for the rooms: it runs after start-up (the first sync has brought
        every room's state) until every room whose creation event the bot sent has the
        policy's ACL, guest access, join rule and power levels (nobody else above
        `OTHERS_CEILING`), then is recorded as done for this policy and these servers (a
        failure leaves it to the next start). Rooms somebody else made are not the bot's to
        change: one recorded as the bot's fails `_vet` and is left.
        """
        client = self.client
        assert client is not None
        marker = f"{room_policy.LOCKDOWN_VERSION}:{','.join(self.servers)}"
        if await self.store.get_meta(ROOM_POLICY) == marker:
            return 0
        changed = 0
        for room_id, creator in list(self._creators.items()):
            if creator != self.user_id or room_id not in client.rooms:
                continue
            # Read from the server, not from sync: a migration, once, and exact.
            state = self._room_state.setdefault(room_id, {})
            current: dict[str, dict[str, Any] | None] = {}
            for kind in (*LOCKED_TYPES, PL):
                answer = await client.room_get_state_event(room_id, kind)
                content = getattr(answer, "content", None)
                current[kind] = content if isinstance(content, dict) else None
            for kind, content in room_policy.lockdown_changes(self.user_id, self.servers, current):
                put = await client.room_put_state(room_id, kind, content)
                if not isinstance(put, RoomPutStateResponse):
                    raise RuntimeError(f"could not set {kind} in {room_id}: {put}")
                state[kind] = content
                changed += 1
        await self.store.set_meta(ROOM_POLICY, marker)
        log.info("room policy %s applied: %d state events", marker, changed)
        return changed

    # -- FileSource --------------------------------------------------------------------------

    async def fetch_file(self, file: IncomingFile, *, max_bytes: int) -> bytes:
        assert self.client is not None
        item = media.attachment(file.ref)
        if item is None:
            raise OSError(f"{file.event_id} carries no file")
        try:
            return await media.fetch(self.client, item, max_bytes=max_bytes)
        except media.AttachmentTooLarge as exc:
            raise FileTooLarge(exc.size) from None
        except media.MediaError as exc:
            raise OSError(str(exc)) from None

    # -- Messenger ------------------------------------------------------------------------------

    async def wait_synced(self, predicate: Callable[[], bool], seconds: float = 30.0) -> bool:
        """Wait until `predicate()` holds after a sync (or `seconds` pass); whether it holds."""
        return await self._wait(predicate, seconds)

    async def _wait(self, predicate: Callable[[], bool], seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds), self._synced:
                await self._synced.wait_for(predicate)
            return True
        except TimeoutError:
            return predicate()

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        """Create an encrypted room for `key`, or find the one made for it before a crash.

        The intent (`key` and a random nonce) is recorded before the room is made and goes
        into its creation content; the caller records the room's id after. A call that finds
        an intent recorded repeats that very creation (`_create`): if the room was made, it is
        taken, with the proof only the bot can give; if not, it is made now. An intent whose
        room the bot cannot use (left, or failing the policy) gives way to a new one.
        """
        earlier = await self.store.get_meta(ROOM_INTENT + key)
        if earlier:
            room = await self._create(earlier, name=name, topic=topic, invite=invite)
            if room is not None:
                await self.invite(room, invite)  # again: the crash may have come before
                return room
        mark = f"{key}/{secrets.token_hex(16)}"
        await self.store.set_meta(ROOM_INTENT + key, mark)
        room = await self._create(mark, name=name, topic=topic, invite=invite)
        if room is None:
            # One bad invitee must not stop the others from being reached.
            room = await self._create(mark, name=name, topic=topic, invite=())
            if room is None:
                raise RuntimeError(f"could not create the room for {key}")
            await self.invite(room, invite)
        return room

    async def _create(
        self, mark: str, *, name: str, topic: str, invite: Sequence[str]
    ) -> str | None:
        """One createRoom with the policy's state and `mark` in the creation content; the
        room, or None when the homeserver refused it.

        Under the alias `consultbot-<the mark's nonce>`: nobody can guess it, so it is taken
        only when this very creation was asked for before (before a crash; or nio repeated a
        request that timed out while the homeserver was making the room). That room is taken
        only with the proof `_proven` asks for, never by its alias alone.
        """
        client = self.client
        assert client is not None
        levels = room_policy.power_levels()
        state = room_policy.locked_state(self.servers)
        alias = f"consultbot-{mark.rpartition('/')[2]}"
        method, path, data = Api.room_create(
            client.access_token,
            alias=alias,
            name=name,
            topic=topic,
            preset=RoomPreset.private_chat,
            invite=list(invite),
            initial_state=state,
            power_level_override=levels,
        )
        body = json.loads(data) | {"creation_content": {room_policy.CREATION_KEY: mark}}
        response = await client._send(RoomCreateResponse, method, path, json.dumps(body))
        if isinstance(response, RoomCreateError) and response.status_code == "M_ROOM_IN_USE":
            return await self._made_already(alias, mark)
        if not isinstance(response, RoomCreateResponse):
            log.warning("room creation for %s failed: %s", mark, response)
            return None
        room = str(response.room_id)
        self._made(room)
        return room

    def _made(self, room: str) -> None:
        """A room the bot just made: held to the room policy once sync shows its state."""
        self._own_rooms.add(room)

    async def _made_already(self, alias: str, mark: str) -> str | None:
        """The room an earlier try of the same createRoom made, proven the bot's and still in
        use; None otherwise."""
        client = self.client
        assert client is not None
        server = self.user_id.split(":", 1)[1]
        resolved = await client.room_resolve_alias(f"#{alias}:{server}")
        room = str(getattr(resolved, "room_id", "") or "")
        if room and await self._proven(room, mark):
            log.info("the room for %s was made already: %s", mark, room)
            return room
        log.warning("the alias %s leads to no room of the bot's in use", alias)
        return None

    async def _proven(self, room: str, mark: str) -> bool:
        """True when the bot is in `room`, sent its m.room.create with `mark` in it, and has
        not found it failing the policy (asked for once when sync has not shown the room)."""
        client = self.client
        assert client is not None
        if room in self._unsafe:
            return False
        if room not in self._creators:
            answer = await client.room_get_state(room)
            if not isinstance(answer, RoomGetStateResponse):
                return False
            events = [event for event in answer.events if isinstance(event, dict)]
            if not any(_joined(event, self.user_id) for event in events):
                return False  # a room the bot left: its state as it was then
            for event in events:
                self._learn_state(room, event)
        create = self._room_state.get(room, {}).get("m.room.create", {})
        if self._creators.get(room) != self.user_id or create.get(CREATION_KEY) != mark:
            return False
        self._own_rooms.add(room)
        return True

    def pool_policy(self) -> str:
        return f"{room_policy.POLICY_VERSION}:{','.join(self.servers)}"

    async def create_pool_room(self) -> str:
        client = self.client
        assert client is not None
        response = await client.room_create(
            preset=RoomPreset.private_chat,
            initial_state=room_policy.locked_state(self.servers),
            power_level_override=room_policy.power_levels(),
        )
        if isinstance(response, RoomCreateError):
            raise RuntimeError(f"could not make a pool room: {response.status_code}")
        self._made(str(response.room_id))
        return str(response.room_id)

    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        client = self.client
        assert client is not None
        await self._vet(room)
        # The invites side by side, with the member list nio wants before the room's first
        # encrypted message: the invite is the page's first signal and waits for nothing else.
        inviting = asyncio.gather(*(self._invite(room, user) for user in invite))
        known = client.rooms.get(room)
        if known is not None and not known.members_synced:
            invited, _ = await asyncio.gather(inviting, client.joined_members(room))
        else:
            invited = await inviting
        self._learn_invited(room, [user for user, ok in zip(invite, invited, strict=True) if ok])

    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        assert self.client is not None
        await self._vet_any(room)
        for put in await asyncio.gather(
            self.client.room_put_state(room, "m.room.name", {"name": name}),
            self.client.room_put_state(room, "m.room.topic", {"topic": topic}),
        ):
            if not isinstance(put, RoomPutStateResponse):
                raise RuntimeError(f"could not name the room {room}: {put}")

    def _learn_invited(self, room: str, users: Sequence[str]) -> None:
        """The page need not wait for invites to come back through sync: nio learns the
        invitees now, so their device keys are queried and the room key goes to them with the
        page (an invitee can then decrypt it as soon as they join)."""
        client = self.client
        assert client is not None
        known = client.rooms.get(room)
        if known is None or not users:
            return
        added = [user for user in users if user not in known.users]
        for user in added:
            known.add_member(user, None, None, invited=True)
        if known.encrypted and client.olm is not None:
            client.olm.update_tracked_users(known)
            if added:
                # As nio does when a membership event arrives through sync: a new room key,
                # shared with everyone now in the room. Without this the page would go out
                # under the key shared before the invite, which the invitee never received.
                client.invalidate_outbound_session(room)

    async def invite(self, room: str, users: Sequence[UserId]) -> None:
        await self._vet_any(room)
        invited = [user for user in users if await self._invite(room, user)]
        self._learn_invited(room, invited)

    async def _invite(self, room: str, user: str) -> bool:
        """Invite one user; True when they are invited (or were already)."""
        assert self.client is not None
        response = await self.client.room_invite(room, user)
        if isinstance(response, RoomInviteError) and "already" not in (response.message or ""):
            log.error("could not invite %s to %s: %s", user, room, response.status_code)
            return False
        return True

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        client = self.client
        assert client is not None
        if not await self._wait(lambda: room in client.rooms, WAIT_FOR_ROOM):
            raise RuntimeError(f"room {room} not known after {WAIT_FOR_ROOM} s")
        check = self._audience_check(room, numbers=numbers, by_bot=await self.made_by_bot(room))
        await self._vet(room)
        if recipients:

            def members_known() -> bool:
                known = client.rooms[room].users
                return all(user in known for user in recipients)

            if not await self._wait(members_known, WAIT_FOR_MEMBERS):
                log.warning("sending in %s before every recipient showed up in sync", room)
            async with self._keys_lock:
                try:
                    if client.should_query_keys:
                        await client.keys_query()
                except LocalProtocolError as exc:
                    log.debug("keys query: %s", exc)
        body: dict[str, Any] = {
            "msgtype": "m.notice" if content.notice else "m.text",
            "body": content.text,
            "format": "org.matrix.custom.html",
            "formatted_body": content.html,
            "m.mentions": {"user_ids": list(content.mentions)} if content.mentions else {},
        }
        if check is not None:
            check(room)  # an unencrypted room is never encrypted into: checked here too
        audience_check = _AUDIENCE_CHECK.set(check)
        try:
            response = await client.room_send(
                room, "m.room.message", body, tx_id=txn, ignore_unverified_devices=True
            )
        finally:
            _AUDIENCE_CHECK.reset(audience_check)
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"send to {room} failed: {response}")
        return str(response.event_id)

    async def kick(self, room: str, user: UserId, *, reason: str) -> None:
        assert self.client is not None
        response = await self.client.room_kick(room, user, reason=reason)
        if isinstance(response, RoomKickError):
            raise RuntimeError(f"could not remove {user} from {room}: {response.status_code}")

    async def send_event(
        self, room: str, event_type: str, content: Mapping[str, Any], *, txn: str
    ) -> str:
        client = self.client
        assert client is not None
        if not await self._wait(lambda: room in client.rooms, WAIT_FOR_ROOM):
            raise RuntimeError(f"room {room} not known after {WAIT_FOR_ROOM} s")
        await self._vet_any(room)
        response = await client.room_send(
            room, event_type, dict(content), tx_id=txn, ignore_unverified_devices=True
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"sending {event_type} to {room} failed: {response}")
        return str(response.event_id)

    async def send_image(
        self, room: str, data: bytes, *, name: str, width: int, height: int, txn: str
    ) -> str:
        """Upload the image (encrypted in an encrypted room) and post it with `txn`: a retry
        uploads again but the homeserver drops the repeated post."""
        client = self.client
        assert client is not None
        if not await self._wait(lambda: room in client.rooms, WAIT_FOR_ROOM):
            raise RuntimeError(f"room {room} not known after {WAIT_FOR_ROOM} s")
        await self._vet_any(room)
        content = await media.upload_image(
            client,
            data,
            name=name,
            width=width,
            height=height,
            encrypt=client.rooms[room].encrypted,
        )
        async with self._keys_lock:
            try:
                if client.should_query_keys:
                    await client.keys_query()
            except LocalProtocolError as exc:
                log.debug("keys query: %s", exc)
        response = await client.room_send(
            room, "m.room.message", content, tx_id=txn, ignore_unverified_devices=True
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"sending an image to {room} failed: {response}")
        return str(response.event_id)

    async def redact(self, room: str, event_id: str, *, reason: str, txn: str) -> bool:
        assert self.client is not None
        response = await self.client.room_redact(room, event_id, reason=reason, tx_id=txn)
        if isinstance(response, RoomRedactError):
            log.warning("could not redact %s in %s: %s", event_id, room, response.status_code)
            return False
        return True

    async def join_room(self, room: str, *, makers: Sequence[str] = ()) -> str | None:
        """Join a room by id or alias; its id, or None (logged) when that fails, the room is
        not fit for the bot (domain/audience.py), or neither the bot nor one of `makers`
        created it (its `m.room.create`, read from the homeserver).

        An alias, or an id, names whatever room holds it: anyone on an allowed server can make
        a fit room under it and invite the bot. Only the creator proves whose room it is.
        """
        assert self.client is not None
        response = await self.client.join(room)
        if isinstance(response, JoinError):
            log.error("could not join %s: %s", room, response)
            return None
        room_id = str(response.room_id)
        state = await self._fetch_room_state(room_id)
        facts, creator = state_facts(state or [])
        found = audience.faults(facts, self.servers) if state is not None else ()
        if state is None or found:
            log.error("left %s (%s): not fit for the bot (%s)", room, room_id, found or "state?")
            await self._quietly_leave(room_id)
            return None
        if creator != self.user_id and creator not in makers:
            log.error(
                "left %s (%s): made by %s, not by the bot or an admin", room, room_id, creator
            )
            await self._quietly_leave(room_id)
            return None
        self._creators[room_id] = creator
        return room_id

    async def put_state(
        self, room: str, kind: str, state_key: str, content: dict[str, Any]
    ) -> None:
        client = self.client
        assert client is not None
        await self._vet_any(room)
        put = await client.room_put_state(room, kind, content, state_key=state_key)
        if not isinstance(put, RoomPutStateResponse):
            raise RuntimeError(f"could not set {kind} in {room}: {put}")

    async def leave(self, room: str) -> None:
        client = self.client
        assert client is not None
        left = await client.room_leave(room)
        if isinstance(left, RoomLeaveError) and left.status_code not in _NOT_IN_ROOM:
            raise RuntimeError(f"could not leave {room}: {left.status_code}")
        self._forget_room(room)
        # Forgotten: the room leaves the bot's account (no history, not in its room list).
        forgot = await client.room_forget(room)
        if isinstance(forgot, RoomForgetError):
            log.warning("could not forget the room %s: %s", room, forgot.status_code)

    async def message_text(self, room: str, event_id: str) -> str | None:
        assert self.client is not None
        response = await self.client.room_get_event(room, event_id)
        if not isinstance(response, RoomGetEventResponse):
            return None
        event: Any = response.event
        if isinstance(event, MegolmEvent):
            event = self._try_decrypt(event, room)
        return event.body if isinstance(event, RoomMessageText) else None
