"""Ports: the small interfaces the service layer needs from the outside world.

Each has an in-memory twin in `adapters/memory/`; `tests/adapters/test_store_contract.py`
runs one contract suite against every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from consultbot.domain.chat.audience import Fault
from consultbot.domain.consult.escalation import Consult
from consultbot.domain.consult.events import Event
from consultbot.domain.consult.stats import FactTable
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.duty.roster import Period, Shift
from consultbot.domain.files.uploads import PendingUpload
from consultbot.domain.types import ConsultId, Dataset, Outcome, ServiceId, UserId


@dataclass(frozen=True, kw_only=True)
class Version:
    """One imported version of a data set."""

    dataset: Dataset
    number: int
    imported_at: datetime
    source: str
    summary: str
    active: bool
    rolled_back: bool


@dataclass(frozen=True, kw_only=True)
class AdminAction:
    """An admin action or a refused attempt at one, for the data-protection officer."""

    at: datetime
    actor: UserId
    action: str
    allowed: bool
    detail: str


class DataStore(ABC):
    """Versioned data sets: catalogue, roster, staff list, contact directory.

    Every import creates a new version atomically (all or nothing) and keeps the previous
    one; `rollback` makes the previous version active again and returns its number.
    """

    @abstractmethod
    async def import_catalogue(self, catalogue: Catalogue, *, source: str, now: datetime) -> int:
        """Make `catalogue` the active catalogue; return the new version number."""

    @abstractmethod
    async def catalogue(self) -> Catalogue:
        """The active catalogue (empty when none was imported)."""

    @abstractmethod
    async def import_roster(
        self,
        shifts: Sequence[Shift],
        periods: Mapping[ServiceId, Period | Sequence[Period]],
        *,
        source: str,
        now: datetime,
    ) -> int:
        """For each service in `periods`, replace its shifts that start inside one of its
        periods (one, or several: one per file) with the given shifts; other services, and the
        days between the periods, stay. Return the new version number."""

    @abstractmethod
    async def on_duty(self, service: ServiceId, at: datetime) -> OnDuty:
        """The people on duty for `service` at `at`, by level."""

    @abstractmethod
    async def shifts(
        self, service: ServiceId, start: datetime | None = None, end: datetime | None = None
    ) -> list[Shift]:
        """Active shifts of `service` overlapping [start, end), ordered by start and level."""

    @abstractmethod
    async def import_staff(
        self, members: Sequence[StaffMember], *, source: str, now: datetime
    ) -> int:
        """Replace the staff list; return the new version number."""

    @abstractmethod
    async def staff_member(self, user: UserId) -> StaffMember | None:
        """The active staff list's entry for `user`, if any."""

    @abstractmethod
    async def staff(self) -> list[StaffMember]:
        """The whole active staff list."""

    @abstractmethod
    async def import_directory(
        self, entries: Sequence[DirectoryEntry], *, source: str, now: datetime
    ) -> int:
        """Replace the contact directory; return the new version number."""

    @abstractmethod
    async def directory(self) -> list[DirectoryEntry]:
        """The active contact directory."""

    @abstractmethod
    async def rollback(self, dataset: Dataset, *, now: datetime) -> int:
        """Undo the active version of `dataset`; return the version active now.

        Raise NothingToRollBack when there is no earlier version.
        """

    @abstractmethod
    async def versions(self, dataset: Dataset) -> list[Version]:
        """Every version of `dataset`, newest first."""

    @abstractmethod
    async def save_upload(self, upload: PendingUpload) -> None:
        """Keep `upload` until its admin activates or discards it (replacing an earlier one)."""

    @abstractmethod
    async def pending_upload(self, admin: UserId) -> PendingUpload | None:
        """The upload waiting for `admin`, if any."""

    @abstractmethod
    async def drop_upload(self, admin: UserId) -> bool:
        """Forget the upload waiting for `admin`; True when there was one."""

    @abstractmethod
    async def record_admin_action(
        self, *, actor: UserId, action: str, allowed: bool, detail: str, now: datetime
    ) -> None:
        """Log an admin action (or a refused attempt at one) with who and when."""

    @abstractmethod
    async def admin_actions(self) -> list[AdminAction]:
        """Every logged admin action, oldest first."""

    @abstractmethod
    async def add_handovers(self, handovers: Sequence[Handover]) -> list[Handover]:
        """Store new handovers (their `id` is ignored); return them with their ids."""

    @abstractmethod
    async def handovers(self, state: HandoverState | None = None) -> list[Handover]:
        """Every handover (in `state`), oldest first. `on_duty` and `shifts` lay the
        accepted ones over the roster (domain/handover.py `cover`)."""

    @abstractmethod
    async def decide_handover(
        self, handover: int, state: HandoverState, *, now: datetime
    ) -> Handover | None:
        """Move an offered handover to `state` at `now`; None (and no change) when it is no
        longer offered, so that an answer and a lapse can never both win."""

    @abstractmethod
    async def close(self) -> None:
        """Release resources."""


class OutboxKind(StrEnum):
    """What an outbox entry asks for. The values are stored: never change one."""

    EFFECT = "effect"  # a consult's effect (payload: domain/codec.py), `consult` set
    SEND = "send"  # a plain message (payload: a Content) to `room`
    REDACT = "redact"  # redact payload["event_id"] in `room` (a personnummer)
    LEAVE = "leave"  # leave `room`
    KICK = "kick"  # remove payload["user"] from `room` (or withdraw their invite)
    REPORT = "report"  # the follow-up report of payload["month"] (table + chart), made at send
    # time, to `room`, or to the admin rooms when `room` is ""
    COVERAGE = "coverage"  # level-1 coverage gaps (payload["gaps"]) to the admin rooms
    DIRECT = "direct"  # a plain message (payload: a Content) to the user `room` in a DM
    # `room`, a room a user opened, is not fit for answers (payload: "faults", "asker"): the
    # asker is told once in their direct chat; a room unfit for good is left, admins told once
    UNFIT = "unfit"


@dataclass(frozen=True, kw_only=True)
class OutboxItem:
    """Something to send to Matrix, written in the same transaction as what caused it.

    `txn` is the Matrix transaction id, stable across retries, so a resend after a crash
    cannot double a message.
    """

    id: int
    kind: OutboxKind
    consult: ConsultId | None
    room: str
    payload: dict[str, Any]
    txn: str


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """An outbox entry before it is stored."""

    kind: OutboxKind
    payload: dict[str, Any]
    room: str = ""
    consult: ConsultId | None = None


@dataclass(frozen=True)
class PoolRoom:
    """An empty consult room made in advance: when, and under which room policy."""

    room: str
    created_at: datetime
    policy: str


@dataclass(frozen=True)
class Purged:
    """What one retention purge forgot: how many of each (counts only, for the log)."""

    consults: int = 0
    events: int = 0
    outbox: int = 0
    handled: int = 0


class ConflictError(Exception):
    """Another step of the same consult was stored first; reload and try again."""


class PoolRoomGone(Exception):
    """The pool room to be taken is no longer in the pool (taken or dropped meanwhile)."""


class ConsultStore(ABC):
    """Consult event logs, the outbox, handled Matrix events and small bot state."""

    @abstractmethod
    async def allocate_consult(self, *, now: datetime) -> ConsultId:
        """A new, never-used consult number such as K-000123, allocated at `now`."""

    @abstractmethod
    async def record(
        self,
        consult: ConsultId | None,
        expected_length: int,
        events: Sequence[Event],
        outgoing: Sequence[Outgoing],
        *,
        handled: str | None = None,
        sent: int | None = None,
        pool_room: str | None = None,
        now: datetime,
    ) -> list[int]:
        """Atomically append `events` to the consult's log (which must still have
        `expected_length` entries, else ConflictError), queue `outgoing`, remember the
        Matrix event id `handled`, mark the outbox entry `sent` done and take `pool_room` out
        of the warm pool (PoolRoomGone, and nothing recorded, when it is not there). Return
        the outbox ids. `consult` None stores no events. Called by the stepper alone
        (engine/stepper.py), which decides the entries."""

    @abstractmethod
    async def events(self, consult: ConsultId) -> list[Event]:
        """The consult's whole log, oldest first."""

    @abstractmethod
    async def consult(self, consult: ConsultId) -> Consult | None:
        """The consult as its log says, or None."""

    @abstractmethod
    async def open_consults(self) -> list[Consult]:
        """Every consult that is not closed, unanswered or withdrawn, or that has a deadline."""

    @abstractmethod
    async def consult_for_room(self, room: str) -> ConsultId | None:
        """The consult whose consult room is `room`."""

    @abstractmethod
    async def consults_of(self, user: UserId, *, open_only: bool = True) -> list[Consult]:
        """Consults `user` asked or was paged for, newest first."""

    @abstractmethod
    async def consults_between(self, start: datetime, end: datetime) -> list[Consult]:
        """Consults requested in [start, end), for statistics."""

    @abstractmethod
    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        """The statistics facts of the consults requested in [start, end), as columns."""

    @abstractmethod
    async def pending(self) -> list[OutboxItem]:
        """Outbox entries not yet sent, oldest first."""

    @abstractmethod
    async def sent(self, item: int, *, now: datetime) -> None:
        """Mark an outbox entry as done."""

    @abstractmethod
    async def is_handled(self, event_id: str) -> bool:
        """True when the Matrix event was handled before."""

    @abstractmethod
    async def duty_reminders(self, since: datetime) -> list[SentReminder]:
        """The duty reminders sent for duties that end after `since`, by start."""

    @abstractmethod
    async def record_reminders(
        self,
        remove: Sequence[SentReminder],
        add: Sequence[SentReminder],
        outgoing: Sequence[Outgoing],
        *,
        now: datetime,
    ) -> None:
        """Atomically forget `remove`, remember `add` (one per person and start) and queue
        `outgoing`: a reminder is recorded exactly when its message is queued."""

    @abstractmethod
    async def add_pool_room(self, room: str, *, policy: str, now: datetime) -> None:
        """Put a new, empty consult room (made under room policy `policy`) in the warm pool."""

    @abstractmethod
    async def pool_rooms(self) -> list[PoolRoom]:
        """The rooms in the warm pool, oldest first."""

    @abstractmethod
    async def drop_pool_room(self, room: str) -> bool:
        """Take a room out of the pool without using it (stale); False when it was not there."""

    @abstractmethod
    async def get_meta(self, key: str) -> str | None:
        """A small piece of bot state (sync token, instance id …)."""

    @abstractmethod
    async def set_meta(self, key: str, value: str) -> None:
        """Store a small piece of bot state."""

    @abstractmethod
    async def meta_under(self, prefix: str) -> dict[str, str]:
        """Every piece of bot state whose key starts with `prefix` (key → value)."""

    # -- retention (consultbot/engine/retention.py; docs/privacy.md) --

    @abstractmethod
    async def leave_closed_rooms(self, quiet_since: datetime, *, now: datetime) -> list[str]:
        """Queue, once per consult ever, a LEAVE outbox entry (with the consult set) for the
        room of each consult that is closed, unanswered or withdrawn, has no deadline, and
        whose last event is before `quiet_since` (checked again when queued). Return those
        rooms. One call at a time: the retention run's lock sees to it."""

    @abstractmethod
    async def purge_consults(self, before: datetime, *, now: datetime) -> Purged:
        """Forget the metadata of each consult that is closed, unanswered or withdrawn, has no
        deadline, whose last event is before `before`, and whose room (if any) the bot has
        left (its LEAVE entry sent): its event log, parties, outbox entries, room and
        requester. Its statistics stay, with the requester replaced by the requester's unit in
        the staff list now (`domain.stats.frozen_unit`), so the statistics of its period do
        not change. Also forget sent outbox entries of no consult and handled Matrix event
        ids (`$…`) from before `before`. Open consults are never touched. Return the counts."""


@dataclass(frozen=True, kw_only=True)
class IncomingMessage:
    """A text message the bot can read (already decrypted)."""

    room: str
    event_id: str
    sender: UserId
    body: str
    at: datetime
    direct: bool = False
    mentions: tuple[UserId, ...] = ()  # users mentioned with a pill (`m.mentions`)
    # Everything else the event shows people, as plain text: a reply's quoted lines, the
    # formatted body's text, an edit's new content. Read for personnummer, never parsed.
    other_text: tuple[str, ...] = ()
    # An m.notice, m.emote, media caption or an edit: read for personnummer only, never a
    # command or an answer (an edit of a command is not a new command).
    read_only: bool = False
    # Why the bot may not answer in this room, a room a user opened (domain/audience.py);
    # () when it may, and always for a room the bot made (checked when it sends).
    unfit: tuple[Fault, ...] = ()


@dataclass(frozen=True, kw_only=True)
class IncomingFile:
    """A file someone sent (already decrypted as an event; its bytes are fetched on demand).

    `ref` is what the messenger needs to fetch it (the event's content); nothing else reads it.
    """

    room: str
    event_id: str
    sender: UserId
    name: str
    mimetype: str
    size: int | None
    ref: Mapping[str, Any]
    at: datetime
    direct: bool = False
    other_text: tuple[str, ...] = ()  # its name and caption as people see them (personnummer)


class FileTooLarge(Exception):
    """A file is larger than the caller accepts."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


class UnsafeRoom(Exception):
    """A room the bot made is no longer as the room policy has it: nothing goes into it.

    `faults` are the words of `adapters/room_policy.room_faults` (`encryption`, `creator`, …).
    """

    def __init__(self, room: str, faults: Sequence[str]) -> None:
        super().__init__(f"{room}: {', '.join(faults)}")
        self.room = room
        self.faults = tuple(faults)


class FileSource(ABC):
    """Fetches the bytes of files people sent (decrypting them where needed)."""

    @abstractmethod
    async def fetch_file(self, file: IncomingFile, *, max_bytes: int) -> bytes:
        """The file's bytes; FileTooLarge past `max_bytes`, OSError when it cannot be had."""


@dataclass(frozen=True, kw_only=True)
class IncomingInvite:
    """Someone in a room the bot is in invited someone on a server that is not allowed."""

    room: str
    event_id: str
    inviter: UserId
    invitee: UserId
    at: datetime


@dataclass(frozen=True, kw_only=True)
class IncomingVote:
    """A vote in a poll (the outcome poll): which poll, and the outcome chosen, if any."""

    room: str
    event_id: str
    sender: UserId
    poll: str
    outcome: Outcome | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class IncomingReaction:
    """A reaction (annotation) in a room the bot is in."""

    room: str
    event_id: str
    sender: UserId
    key: str
    reacts_to: str
    at: datetime
    # As for a message: why the bot may not answer in this room, () when it may.
    unfit: tuple[Fault, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Content:
    """A message body in plain text and HTML, with the users it mentions."""

    text: str
    html: str
    mentions: tuple[UserId, ...] = ()
    notice: bool = True


class RoomRefused(Exception):
    """A message was not sent: the room's audience, as it is at the moment of sending, may not
    read it (domain/audience.py). `fit` is True when the room may still get a message
    without staff numbers (a room the bot made, where someone from elsewhere is invited)."""

    def __init__(self, room: str, faults: Sequence[Fault], *, fit: bool) -> None:
        super().__init__(f"not sent to {room}: {', '.join(faults)}")
        self.room = room
        self.faults = tuple(faults)
        self.fit = fit


class Messenger(ABC):
    """What the service needs from Matrix. Every send carries a transaction id for retries."""

    @abstractmethod
    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        """Create (or, for the same `key`, find again) an encrypted room; return its id."""

    @abstractmethod
    async def create_pool_room(self) -> str:
        """Create an empty encrypted consult room for the warm pool: no name, no topic, no
        invitees; the state and power levels of a consult room. Return its id."""

    @abstractmethod
    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        """Invite into a pool room (again: no change); the invitees can read the next message."""

    @abstractmethod
    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        """Set a room's name and topic (the same again: no change)."""

    @abstractmethod
    def own_room(self, room: str) -> None:
        """`room` is one the bot made (a consult, pool, private or admin room): from now on
        nothing goes into it (message, invite, name, state) unless it passes the room policy;
        a room that does not raises `UnsafeRoom`. Rooms whose creation event the bot sent are
        held to it anyway; this covers rooms recorded before the bot checked their creator."""

    @abstractmethod
    def pool_policy(self) -> str:
        """The room policy rooms are made under now; pool rooms made under another are stale."""

    @abstractmethod
    async def invite(self, room: str, users: Sequence[UserId]) -> None:
        """Invite users; someone already in the room or invited is fine."""

    @abstractmethod
    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        """Send a message; first make sure `recipients` can decrypt it. Return the event id.

        Raises RoomRefused, sending nothing, when at the moment of sending a room a user
        opened is not fit for answers, or (`numbers`: the message carries staff phone numbers)
        the room is unencrypted or someone joined or invited is on a server not allowed.
        """

    @abstractmethod
    async def send_image(
        self, room: str, data: bytes, *, name: str, width: int, height: int, txn: str
    ) -> str:
        """Upload a PNG and post it (an encrypted attachment in an encrypted room); event id."""

    @abstractmethod
    async def redact(self, room: str, event_id: str, *, reason: str, txn: str) -> bool:
        """Redact an event; False when the bot may not."""

    @abstractmethod
    async def leave(self, room: str) -> None:
        """Leave a room and forget it (it leaves the bot's room list); a room the bot is no
        longer in is fine."""

    @property
    def user_id(self) -> str:
        """The bot's Matrix id ("" when unknown)."""
        return ""

    @abstractmethod
    async def put_state(
        self, room: str, kind: str, state_key: str, content: dict[str, Any]
    ) -> None:
        """Set a room state event (e.g. a widget); setting the same content again is harmless."""

    @abstractmethod
    async def message_text(self, room: str, event_id: str) -> str | None:
        """The text of a message (fetched and decrypted), or None when it cannot be read."""

    @abstractmethod
    async def kick(self, room: str, user: UserId, *, reason: str) -> None:
        """Remove `user` from `room`, or withdraw their invitation."""

    @abstractmethod
    async def send_event(
        self, room: str, event_type: str, content: Mapping[str, Any], *, txn: str
    ) -> str:
        """Send an event of another type than a message (a poll); its id. Same `txn` = same
        event: a retry cannot double it."""


class Timers(ABC):
    """One timer per key; scheduling again replaces it."""

    @abstractmethod
    def schedule(self, key: str, at: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` at `at` (at once if `at` has passed)."""

    @abstractmethod
    def cancel(self, key: str) -> None:
        """Forget the timer for `key`, if any."""


class Clock(ABC):
    """The time, so that tests can set it."""

    @abstractmethod
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
