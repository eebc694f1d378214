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


def _with_service(data: dict[str, Any], service: ServiceId | None) -> dict[str, Any]:
    """`data`, with the conference service it concerns (kept out of a plain consult's entry)."""
    if service is not None:
        data["service"] = service
    return data


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

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "consult": self.consult,
            "requester": self.requester,
            "service": self.service,
            "track": self.track.value,
            "request_room": self.request_room,
            "request_event": self.request_event,
        }
        if self.language:
            data["language"] = self.language
        if self.services:
            data["services"] = list(self.services)
        return data


@dataclass(frozen=True, kw_only=True)
class Offered:
    """Asked while the track was closed: offered to be queued until `opens_at`."""

    KIND: ClassVar[EventKind] = EventKind.OFFERED
    opens_at: datetime

    def data(self) -> dict[str, Any]:
        return {"opens_at": self.opens_at.isoformat()}


@dataclass(frozen=True, kw_only=True)
class Queued:
    """The requester queued the offered consult for the opening."""

    KIND: ClassVar[EventKind] = EventKind.QUEUED

    def data(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class Withdrawn:
    """The opening passed and the offer was not taken."""

    KIND: ClassVar[EventKind] = EventKind.WITHDRAWN

    def data(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class RoomCreated:
    """The consult room exists (recorded by the outbox once it is created)."""

    KIND: ClassVar[EventKind] = EventKind.ROOM_CREATED
    room: str

    def data(self) -> dict[str, Any]:
        return {"room": self.room}


@dataclass(frozen=True, kw_only=True)
class LevelSkipped:
    """Nobody was on duty at `level` (of `service`, in a conference)."""

    KIND: ClassVar[EventKind] = EventKind.LEVEL_SKIPPED
    level: int
    service: ServiceId | None = None

    def data(self) -> dict[str, Any]:
        return _with_service({"level": self.level}, self.service)


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
    service: ServiceId | None = None
    alarm_at: datetime | None = None

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "level": self.level,
            "people": _people_data(self.people),
            "deadline": _iso(self.deadline),
        }
        if self.alarm_at is not None:
            data["alarm_at"] = self.alarm_at.isoformat()
        return _with_service(data, self.service)


@dataclass(frozen=True, kw_only=True)
class PageDelivered:
    """The page of `level` (of `service`, in a conference) went out: the homeserver took it.
    Unacknowledged, the next level is due at `deadline`."""

    KIND: ClassVar[EventKind] = EventKind.PAGE_DELIVERED
    level: int
    deadline: datetime
    service: ServiceId | None = None

    def data(self) -> dict[str, Any]:
        return _with_service(
            {"level": self.level, "deadline": self.deadline.isoformat()}, self.service
        )


@dataclass(frozen=True, kw_only=True)
class PageUndelivered:
    """The page of `level` (of `service`, in a conference) had not gone out when its time
    would have run out: the requester and the admins were told. It is still being sent."""

    KIND: ClassVar[EventKind] = EventKind.PAGE_UNDELIVERED
    level: int
    service: ServiceId | None = None

    def data(self) -> dict[str, Any]:
        return _with_service({"level": self.level}, self.service)


@dataclass(frozen=True, kw_only=True)
class PassedOn:
    """`user`, paged at `level` (of `service`, in a conference), could not take it."""

    KIND: ClassVar[EventKind] = EventKind.PASSED_ON
    user: UserId
    level: int
    service: ServiceId | None = None

    def data(self) -> dict[str, Any]:
        return _with_service({"user": self.user, "level": self.level}, self.service)


@dataclass(frozen=True, kw_only=True)
class Unanswered:
    """No level was left to page: nobody answered the consult (or, for a conference, none of
    its services acknowledged and none is left to page)."""

    KIND: ClassVar[EventKind] = EventKind.UNANSWERED

    def data(self) -> dict[str, Any]:
        return {}


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

    def data(self) -> dict[str, Any]:
        data = {"user": self.user, "via": self.via.value, "remind_at": _iso(self.remind_at)}
        return _with_service(data, self.service)


@dataclass(frozen=True, kw_only=True)
class Reminded:
    """The parties were reminded to close; it closes by itself at `close_at`."""

    KIND: ClassVar[EventKind] = EventKind.REMINDED
    close_at: datetime

    def data(self) -> dict[str, Any]:
        return {"close_at": self.close_at.isoformat()}


@dataclass(frozen=True, kw_only=True)
class Closed:
    """Closed with `outcome` by `user` (None: closed automatically)."""

    KIND: ClassVar[EventKind] = EventKind.CLOSED
    outcome: Outcome
    user: UserId | None

    def data(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "user": self.user}


@dataclass(frozen=True, kw_only=True)
class PhoneContact:
    """`user` asked for the other party's number (`!ring`)."""

    KIND: ClassVar[EventKind] = EventKind.PHONE_CONTACT
    user: UserId

    def data(self) -> dict[str, Any]:
        return {"user": self.user}


@dataclass(frozen=True, kw_only=True)
class PollPosted:
    """The outcome poll is in the consult room (recorded by the outbox once it is sent)."""

    KIND: ClassVar[EventKind] = EventKind.POLL_POSTED
    event_id: str

    def data(self) -> dict[str, Any]:
        return {"event_id": self.event_id}


@dataclass(frozen=True, kw_only=True)
class ServiceUnanswered:
    """A conference's `service` has no level left to page (or nobody on duty at all); the
    other services go on."""

    KIND: ClassVar[EventKind] = EventKind.SERVICE_UNANSWERED
    service: ServiceId

    def data(self) -> dict[str, Any]:
        return {"service": self.service}


@dataclass(frozen=True, kw_only=True)
class ConferenceAcknowledged:
    """Every service of a conference has acknowledged, or had nobody to page and at least one
    acknowledged: the conference is acknowledged; the reminder to close is due at `remind_at`."""

    KIND: ClassVar[EventKind] = EventKind.CONFERENCE_ACKNOWLEDGED
    remind_at: datetime

    def data(self) -> dict[str, Any]:
        return {"remind_at": self.remind_at.isoformat()}


@dataclass(frozen=True, kw_only=True)
class MeetingSet:
    """`!möte`: `user` set the conference's meeting to `meeting`; the reminder with the link
    is due at `remind_at` (None when the meeting is too near for one)."""

    KIND: ClassVar[EventKind] = EventKind.MEETING_SET
    user: UserId
    meeting: datetime
    remind_at: datetime | None

    def data(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "meeting": self.meeting.isoformat(),
            "remind_at": _iso(self.remind_at),
        }


@dataclass(frozen=True, kw_only=True)
class MeetingReminded:
    """Everyone in the conference was reminded of the meeting at `meeting`."""

    KIND: ClassVar[EventKind] = EventKind.MEETING_REMINDED
    meeting: datetime

    def data(self) -> dict[str, Any]:
        return {"meeting": self.meeting.isoformat()}


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


Read = Callable[[Any], Any] | None  # None: the stored value as it is


def _reader(hint: Any) -> Read:
    """How a field of type `hint` is read back from its entry's dict."""
    if hint is datetime:
        return datetime.fromisoformat
    if hint == datetime | None:
        return _instant
    if hint is int:
        return int
    if hint == tuple[Person, ...]:
        return _people
    if hint == tuple[ServiceId, ...]:
        return tuple
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint
    if type(None) in get_args(hint):
        return _or_none  # an id, or None ("" too)
    return None  # a string or an id


def _parser(cls: type[Payload]) -> Callable[[Mapping[str, Any]], Payload]:
    """How `cls` is read back from its entry's dict, worked out once from its fields: reading
    the log is a hot path. A field with a default that is missing or empty in the dict (an
    entry written before the field was, a plain consult's `service`) has its default."""
    hints = get_type_hints(cls)
    fields = [(f.name, _reader(hints[f.name]), f.default) for f in dataclasses.fields(cls)]
    required = [(name, read) for name, read, default in fields if default is MISSING]
    optional = [(name, read) for name, read, default in fields if default is not MISSING]
    defaults = {name: default for name, _, default in fields if default is not MISSING}

    def parse(data: Mapping[str, Any]) -> Payload:
        values = dict(defaults)
        for name, read in required:
            value = data[name]
            values[name] = value if read is None else read(value)
        for name, read in optional:
            value = data.get(name)
            if value:
                values[name] = value if read is None else read(value)
        # Every field set, as pickle and copy do: a frozen dataclass's __init__ sets each one
        # through object.__setattr__, which made reading the log slower than by hand.
        payload = object.__new__(cls)
        payload.__dict__.update(values)
        return payload

    return parse


_PARSERS: Mapping[EventKind, Callable[[Mapping[str, Any]], Payload]] = {
    kind: _parser(cls) for kind, cls in PAYLOADS.items()
}


@dataclass(frozen=True, kw_only=True)
class Event:
    """One entry of a consult's log, as stored."""

    kind: EventKind
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, at: datetime, payload: Payload) -> Event:
        """The entry recording `payload` at `at`."""
        return cls(kind=payload.KIND, at=at, data=payload.data())

    def payload(self) -> Payload:
        """The typed payload; ValueError for a kind this version does not know."""
        parse = _PARSERS.get(self.kind)
        if parse is None:
            raise ValueError(f"unknown consult event {self.kind!r}")
        return parse(self.data)
