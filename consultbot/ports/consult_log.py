"""The consult-log ports: the consults' event logs, the outbox written with them, handled
Matrix events, the warm room pool, sent duty reminders and small bot state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from consultbot.domain.consult.escalation import Consult
from consultbot.domain.consult.events import Event
from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.types import ConsultId, UserId


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
    """Something to send to Matrix, written in the same transaction as what caused it. `txn`
    is the Matrix transaction id, stable across retries: a resend after a crash cannot double
    a message."""

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


class ConflictError(Exception):
    """Another step of the same consult was stored first; reload and try again."""


class PoolRoomGone(Exception):
    """The pool room to be taken is no longer in the pool (taken or dropped meanwhile)."""


class ConsultLog(ABC):
    """Consult event logs, appended to with compare-and-set on their length, and the
    Matrix events already handled."""

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
        before: Sequence[Event] | None = None,
    ) -> list[int]:
        """Atomically append `events` to the consult's log (which must still have
        `expected_length` entries, else ConflictError), queue `outgoing`, remember the
        Matrix event id `handled`, mark the outbox entry `sent` done and take `pool_room` out
        of the warm pool (PoolRoomGone, and nothing recorded, when it is not there). Return
        the outbox ids. `consult` None stores no events. `before`: the log as the caller
        read it (its `expected_length` entries), so that the store need not read it again.
        Called by the stepper alone (engine/stepper.py), which decides the entries."""

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
    async def asked_by(self, user: UserId, since: datetime) -> list[Consult]:
        """The consults `user` asked for since `since` (the request limit, repeats and the
        pool's fair share: one requester's, not everyone's)."""

    @abstractmethod
    async def is_handled(self, event_id: str) -> bool:
        """True when the Matrix event was handled before."""


class Outbox(ABC):
    """What is to go to Matrix, queued with what caused it (`ConsultLog.record`)."""

    @abstractmethod
    async def pending(self) -> list[OutboxItem]:
        """Outbox entries not yet sent, oldest first."""

    @abstractmethod
    async def sent(self, item: int, *, now: datetime) -> None:
        """Mark an outbox entry as done."""


class PoolRooms(ABC):
    """Empty consult rooms made in advance (the warm pool)."""

    @abstractmethod
    async def add_pool_room(self, room: str, *, policy: str, now: datetime) -> None:
        """Put a new, empty consult room (made under room policy `policy`) in the warm pool."""

    @abstractmethod
    async def pool_rooms(self) -> list[PoolRoom]:
        """The rooms in the warm pool, oldest first."""

    @abstractmethod
    async def drop_pool_room(self, room: str) -> bool:
        """Take a room out of the pool without using it (stale); False when it was not there."""


class ReminderLog(ABC):
    """The duty reminders sent, so that each goes out once."""

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


class BotState(ABC):
    """Small pieces of the bot's own state by key (sync token, instance id …)."""

    @abstractmethod
    async def get_meta(self, key: str) -> str | None:
        """A small piece of bot state (sync token, instance id …)."""

    @abstractmethod
    async def set_meta(self, key: str, value: str) -> None:
        """Store a small piece of bot state."""

    @abstractmethod
    async def delete_meta(self, key: str) -> None:
        """Forget a piece of bot state (none stored is fine)."""

    @abstractmethod
    async def meta_under(self, prefix: str) -> dict[str, str]:
        """Every piece of bot state whose key starts with `prefix` (key → value)."""
