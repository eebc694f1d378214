"""A consult's event log: what each entry records, as typed payloads.

An `Event` is what the stores keep: a kind, an instant and a JSON-safe `data` dict. The dict's
shape per kind is given by one payload class below; write events with `Event.of(at, payload)`
and read them with `event.payload()`, so a misspelled kind or field is a type error, not a
consult that cannot be rebuilt after a restart. The stored kinds and keys are fixed: existing
databases hold them (change them only with a migration).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field
from datetime import datetime
from enum import StrEnum, unique
from typing import Any, ClassVar, get_args, get_type_hints

from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId


@unique
class EventKind(StrEnum):
    """What one entry of a consult's log records. The values are stored: never change one."""

    REQUESTED = "requested"
    OFFERED = "offered"
    QUEUED = "queued"
    WITHDRAWN = "withdrawn"
    ROOM_CREATED = "room_created"
    LEVEL_SKIPPED = "level_skipped"
    PAGED = "paged"
    PASSED_ON = "passed_on"
    UNANSWERED = "unanswered"
    ACKNOWLEDGED = "acknowledged"
    REMINDED = "reminded"
    CLOSED = "closed"
    PHONE_CONTACT = "phone_contact"
    POLL_POSTED = "poll_posted"
    PAGE_DELIVERED = "page_delivered"
    PAGE_UNDELIVERED = "page_undelivered"
    # A conference (`!mdk`): see domain/conference.py.
    SERVICE_UNANSWERED = "service_unanswered"
    CONFERENCE_ACKNOWLEDGED = "conference_acknowledged"
    MEETING_SET = "meeting_set"
    MEETING_REMINDED = "meeting_reminded"
    REPEATED = "repeated"


class AckVia(StrEnum):
    """How an acknowledgement came. Stored in the `acknowledged` event: never change a value."""

    REACTION = "reaction"  # ✅ or 👍 (domain/acknowledgement.py says which count)
    COMMAND = "command"  # !kvittera
    MESSAGE = "message"  # any other message from a paged person in the consult room
    CLOSE = "close"  # !avsluta by a paged person who had not acknowledged yet


@dataclass(frozen=True, kw_only=True)
class Person:
    """Someone paged: their id and, from the roster, the name and phone to show."""

    user: UserId
    name: str
    phone: str = ""


def _people_data(people: Iterable[Person]) -> list[dict[str, str]]:
    return [{"user": p.user, "name": p.name, "phone": p.phone} for p in people]


def _people(data: Iterable[Mapping[str, str]]) -> tuple[Person, ...]:
    return tuple(
        Person(user=UserId(p["user"]), name=p["name"], phone=p.get("phone", "")) for p in data
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --------------------------------------------------------------------------------------------
# Payloads, one per kind


@dataclass(frozen=True, kw_only=True)
class Requested:
    """A consult was asked for (always the first entry)."""

    KIND: ClassVar[EventKind] = EventKind.REQUESTED
    consult: ConsultId
    requester: UserId
    service: ServiceId
    track: Track
    request_room: str
    request_event: str
    language: str = ""  # the requester's, when they asked in another than the config's
    # A conference (`!mdk`, track mdk): every service convened, in the order named; `service`
    # is the first of them. Empty for a consult of one service.
    services: tuple[ServiceId, ...] = ()
    # Frozen at request time (a later staff list does not rewrite history): the requester's
    # unit in the staff list ("" when not on it) and what kind of unit it is (a
    # `RequesterKind` value; "" in entries written before the field was: read as unknown).
    unit: str = ""
    requester_kind: str = ""


@dataclass(frozen=True, kw_only=True)
class Offered:
    """Asked while the track was closed: offered to be queued until `opens_at`."""

    KIND: ClassVar[EventKind] = EventKind.OFFERED
    opens_at: datetime


@dataclass(frozen=True, kw_only=True)
class Queued:
    """The requester queued the offered consult for the opening."""

    KIND: ClassVar[EventKind] = EventKind.QUEUED


@dataclass(frozen=True, kw_only=True)
class Withdrawn:
    """The opening passed and the offer was not taken."""

    KIND: ClassVar[EventKind] = EventKind.WITHDRAWN


@dataclass(frozen=True, kw_only=True)
class RoomCreated:
    """The consult room exists (recorded by the outbox once it is created)."""

    KIND: ClassVar[EventKind] = EventKind.ROOM_CREATED
    room: str


@dataclass(frozen=True, kw_only=True)
class LevelSkipped:
    """Nobody was on duty at `level` (of `service`, in a conference)."""

    KIND: ClassVar[EventKind] = EventKind.LEVEL_SKIPPED
    level: int
    service: ServiceId | None = None


@dataclass(frozen=True, kw_only=True)
class Paged:
    """`people` were paged at `level` (of `service`, in a conference); unacknowledged, the
    next level is due at `deadline`. Decided, not yet sent: `deadline` is None until the
    page has gone out (`PageDelivered`), so that a page held up (a backlog, an outage, a
    restart) still gets its whole time; if it has not gone out by `alarm_at`, the requester
    and the admins are told (`PageUndelivered`). Logs written before that rule carry the
    deadline counted from the decision, and no `alarm_at`."""

    KIND: ClassVar[EventKind] = EventKind.PAGED
    level: int
    people: tuple[Person, ...]
    deadline: datetime | None
    alarm_at: datetime | None = None
    service: ServiceId | None = None


@dataclass(frozen=True, kw_only=True)
class PageDelivered:
    """The page of `level` (of `service`, in a conference) went out: the homeserver took it.
    Unacknowledged, the next level is due at `deadline`."""

    KIND: ClassVar[EventKind] = EventKind.PAGE_DELIVERED
    level: int
    deadline: datetime
    service: ServiceId | None = None
    # Unacknowledged, the page is repeated at `repeat_at` (None: no repeat; the track's
    # `repeat_share` is 0, or the entry was written before repeats were).
    repeat_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Repeated:
    """The page of `level` (of `service`, in a conference) was repeated to the people it
    paged, unacknowledged at its `repeat_at`: a new message that mentions them again."""

    KIND: ClassVar[EventKind] = EventKind.REPEATED
    level: int
    service: ServiceId | None = None


@dataclass(frozen=True, kw_only=True)
class PageUndelivered:
    """The page of `level` (of `service`, in a conference) had not gone out when its time
    would have run out: the requester and the admins were told. It is still being sent."""

    KIND: ClassVar[EventKind] = EventKind.PAGE_UNDELIVERED
    level: int
    service: ServiceId | None = None


@dataclass(frozen=True, kw_only=True)
class PassedOn:
    """`user`, paged at `level` (of `service`, in a conference), could not take it."""

    KIND: ClassVar[EventKind] = EventKind.PASSED_ON
    user: UserId
    level: int
    service: ServiceId | None = None


@dataclass(frozen=True, kw_only=True)
class Unanswered:
    """No level was left to page: nobody answered the consult (or, for a conference, none of
    its services acknowledged and none is left to page)."""

    KIND: ClassVar[EventKind] = EventKind.UNANSWERED


@dataclass(frozen=True, kw_only=True)
class Acknowledged:
    """`user` took the consult; a reminder is due at `remind_at` (None when closing).

    In a conference, `user` acknowledged for `service` only (and `remind_at` is None): the
    conference as a whole is acknowledged by `ConferenceAcknowledged`."""

    KIND: ClassVar[EventKind] = EventKind.ACKNOWLEDGED
    user: UserId
    via: AckVia
    remind_at: datetime | None
    service: ServiceId | None = None


@dataclass(frozen=True, kw_only=True)
class Reminded:
    """The parties were reminded to close; it closes by itself at `close_at`."""

    KIND: ClassVar[EventKind] = EventKind.REMINDED
    close_at: datetime


@dataclass(frozen=True, kw_only=True)
class Closed:
    """Closed with `outcome` by `user` (None: closed automatically)."""

    KIND: ClassVar[EventKind] = EventKind.CLOSED
    outcome: Outcome
    user: UserId | None


@dataclass(frozen=True, kw_only=True)
class PhoneContact:
    """`user` asked for the other party's number (`!ring`)."""

    KIND: ClassVar[EventKind] = EventKind.PHONE_CONTACT
    user: UserId


@dataclass(frozen=True, kw_only=True)
class PollPosted:
    """The outcome poll is in the consult room (recorded by the outbox once it is sent)."""

    KIND: ClassVar[EventKind] = EventKind.POLL_POSTED
    event_id: str


@dataclass(frozen=True, kw_only=True)
class ServiceUnanswered:
    """A conference's `service` has no level left to page (or nobody on duty at all); the
    other services go on."""

    KIND: ClassVar[EventKind] = EventKind.SERVICE_UNANSWERED
    service: ServiceId


@dataclass(frozen=True, kw_only=True)
class ConferenceAcknowledged:
    """Every service of a conference has acknowledged, or had nobody to page and at least one
    acknowledged: the conference is acknowledged; the reminder to close is due at `remind_at`."""

    KIND: ClassVar[EventKind] = EventKind.CONFERENCE_ACKNOWLEDGED
    remind_at: datetime


@dataclass(frozen=True, kw_only=True)
class MeetingSet:
    """`!möte`: `user` set the conference's meeting to `meeting`; the reminder with the link
    is due at `remind_at` (None when the meeting is too near for one)."""

    KIND: ClassVar[EventKind] = EventKind.MEETING_SET
    user: UserId
    meeting: datetime
    remind_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class MeetingReminded:
    """Everyone in the conference was reminded of the meeting at `meeting`."""

    KIND: ClassVar[EventKind] = EventKind.MEETING_REMINDED
    meeting: datetime


Payload = (
    Requested
    | Offered
    | Queued
    | Withdrawn
    | RoomCreated
    | LevelSkipped
    | Paged
    | PageDelivered
    | PageUndelivered
    | Repeated
    | PassedOn
    | Unanswered
    | Acknowledged
    | Reminded
    | Closed
    | PhoneContact
    | PollPosted
    | ServiceUnanswered
    | ConferenceAcknowledged
    | MeetingSet
    | MeetingReminded
)

PAYLOADS: Mapping[EventKind, type[Payload]] = {cls.KIND: cls for cls in get_args(Payload)}


def _or_none(value: str | None) -> str | None:
    return value or None


Convert = Callable[[Any], Any] | None  # None: stored as it is


def _converters(hint: Any) -> tuple[Convert, Convert]:
    """How a field of type `hint` is written to its entry's dict, and read back."""
    if hint is datetime:
        return datetime.isoformat, datetime.fromisoformat
    if hint == datetime | None:
        return _iso, _instant
    if hint is int:
        return None, int
    if hint == tuple[Person, ...]:
        return _people_data, _people
    if hint == tuple[ServiceId, ...]:
        return list, tuple
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return str, hint  # str() of a StrEnum member is its value
    if type(None) in get_args(hint):
        return None, _or_none  # an id, or None ("" too)
    return None, None  # a string or an id


Write = Callable[[Payload], dict[str, Any]]
Parse = Callable[[Mapping[str, Any]], Payload]


def _codec(cls: type[Payload]) -> tuple[Write, Parse]:
    """How `cls` is written to its entry's dict and read back, worked out once from its fields
    (writing and reading the log are hot paths). Each field is stored under its name; one with
    a default is left out while it has it (a plain consult's entries carry no `service`), and
    has it when read back missing or empty (an entry written before the field was)."""
    if hasattr(cls, "__post_init__"):  # `parse` fills the fields without calling __init__
        raise TypeError(f"{cls.__name__}: a payload read from the log skips __post_init__")
    hints = get_type_hints(cls)
    fields = [(f.name, *_converters(hints[f.name]), f.default) for f in dataclasses.fields(cls)]
    writes = [(name, w) for name, w, _, default in fields if default is MISSING]
    reads = [(name, r) for name, _, r, default in fields if default is MISSING]
    optional_writes = [(name, w, d) for name, w, _, d in fields if d is not MISSING]
    optional_reads = [(name, r) for name, _, r, d in fields if d is not MISSING]
    defaults = {name: default for name, _, default in optional_writes}

    def write(payload: Payload) -> dict[str, Any]:
        values = payload.__dict__
        data: dict[str, Any] = {}
        for name, convert in writes:
            value = values[name]
            data[name] = value if convert is None else convert(value)
        for name, convert, default in optional_writes:
            value = values[name]
            if value != default:
                data[name] = value if convert is None else convert(value)
        return data

    def parse(data: Mapping[str, Any]) -> Payload:
        values = dict(defaults)
        for name, convert in reads:
            value = data[name]
            values[name] = value if convert is None else convert(value)
        for name, convert in optional_reads:
            value = data.get(name)
            if value:
                values[name] = value if convert is None else convert(value)
        # Every field set at once, as pickle and copy do (the payloads have no __post_init__):
        # a frozen dataclass's __init__ sets each one through object.__setattr__, which made
        # reading the log slower than the hand-written readers this replaced.
        payload = object.__new__(cls)
        payload.__dict__.update(values)
        return payload

    return write, parse


_WRITERS: dict[EventKind, Write] = {}
_PARSERS: dict[EventKind, Parse] = {}
for _kind, _cls in PAYLOADS.items():
    _WRITERS[_kind], _PARSERS[_kind] = _codec(_cls)


@dataclass(frozen=True, kw_only=True)
class Event:
    """One entry of a consult's log, as stored."""

    kind: EventKind
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, at: datetime, payload: Payload) -> Event:
        """The entry recording `payload` at `at`."""
        kind = payload.KIND
        event = object.__new__(cls)  # set at once, as in `_codec`: writing is a hot path too
        fields = event.__dict__
        fields["kind"], fields["at"], fields["data"] = kind, at, _WRITERS[kind](payload)
        return event

    def payload(self) -> Payload:
        """The typed payload; ValueError for a kind this version does not know."""
        parse = _PARSERS.get(self.kind)
        if parse is None:
            raise ValueError(f"unknown consult event {self.kind!r}")
        return parse(self.data)
