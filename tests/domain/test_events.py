"""The consult log's typed payloads: what is stored per kind, and reading it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from consultbot.domain.consult.events import (
    PAYLOADS,
    Acknowledged,
    AckVia,
    Closed,
    ConferenceAcknowledged,
    Event,
    EventKind,
    LevelSkipped,
    MeetingReminded,
    MeetingSet,
    Offered,
    Paged,
    PageDelivered,
    PageUndelivered,
    PassedOn,
    Payload,
    Person,
    PhoneContact,
    PollPosted,
    Queued,
    Reminded,
    Repeated,
    Requested,
    RoomCreated,
    ServiceUnanswered,
    Unanswered,
    Withdrawn,
)
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LOCAL = datetime(2026, 11, 24, 8, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
A = UserId("@anna:localhost")

# Every kind, with the dict the database holds for it (existing databases hold exactly these).
STORED: list[tuple[Payload, dict[str, object]]] = [
    (
        Requested(
            consult=ConsultId("K-000001"),
            requester=UserId("@vera:localhost"),
            service=ServiceId("kardiologi"),
            track=Track.AKUT,
            request_room="!dm:localhost",
            request_event="$ask",
        ),
        {
            "consult": "K-000001",
            "requester": "@vera:localhost",
            "service": "kardiologi",
            "track": "akut",
            "request_room": "!dm:localhost",
            "request_event": "$ask",
        },
    ),
    (Offered(opens_at=LOCAL), {"opens_at": "2026-11-24T08:00:00+01:00"}),
    (Queued(), {}),
    (Withdrawn(), {}),
    (RoomCreated(room="!c:localhost"), {"room": "!c:localhost"}),
    (LevelSkipped(level=2), {"level": 2}),
    (
        Paged(
            level=1,
            people=(Person(user=A, name="Anna", phone="070-1"), Person(user=A, name="B")),
            deadline=AT + timedelta(minutes=1),
        ),
        {
            "level": 1,
            "people": [
                {"user": A, "name": "Anna", "phone": "070-1"},
                {"user": A, "name": "B", "phone": ""},
            ],
            "deadline": "2026-11-23T09:01:00+00:00",
        },
    ),
    (PassedOn(user=A, level=1), {"user": A, "level": 1}),
    (Unanswered(), {}),
    (
        Acknowledged(user=A, via=AckVia.REACTION, remind_at=AT),
        {"user": A, "via": "reaction", "remind_at": "2026-11-23T09:00:00+00:00"},
    ),
    (
        Acknowledged(user=A, via=AckVia.CLOSE, remind_at=None),
        {"user": A, "via": "close", "remind_at": None},
    ),
    (Reminded(close_at=AT), {"close_at": "2026-11-23T09:00:00+00:00"}),
    (Closed(outcome=Outcome.ADVICE, user=A), {"outcome": "advice", "user": A}),
    (Closed(outcome=Outcome.UNKNOWN, user=None), {"outcome": "unknown", "user": None}),
    (PhoneContact(user=A), {"user": A}),
    (PollPosted(event_id="$poll"), {"event_id": "$poll"}),
    # A conference (`!mdk`): its services on the first entry, each leg's entries tagged.
    (
        Requested(
            consult=ConsultId("K-000002"),
            requester=UserId("@vera:localhost"),
            service=ServiceId("kardiologi"),
            track=Track.MDK,
            request_room="!dm:localhost",
            request_event="$mdk",
            services=(ServiceId("kardiologi"), ServiceId("onkologi")),
        ),
        {
            "consult": "K-000002",
            "requester": "@vera:localhost",
            "service": "kardiologi",
            "track": "mdk",
            "request_room": "!dm:localhost",
            "request_event": "$mdk",
            "services": ["kardiologi", "onkologi"],
        },
    ),
    (PageUndelivered(level=2), {"level": 2}),
    (
        PageUndelivered(level=1, service=ServiceId("onkologi")),
        {"level": 1, "service": "onkologi"},
    ),
    (
        Paged(level=1, people=(), deadline=None, alarm_at=AT),
        {"level": 1, "people": [], "deadline": None, "alarm_at": "2026-11-23T09:00:00+00:00"},
    ),
    (
        PageDelivered(level=2, deadline=LOCAL),
        {"level": 2, "deadline": "2026-11-24T08:00:00+01:00"},
    ),
    (
        PageDelivered(level=1, deadline=AT, service=ServiceId("onkologi")),
        {"level": 1, "deadline": "2026-11-23T09:00:00+00:00", "service": "onkologi"},
    ),
    (
        LevelSkipped(level=1, service=ServiceId("onkologi")),
        {"level": 1, "service": "onkologi"},
    ),
    (
        Paged(level=2, people=(), deadline=None, service=ServiceId("onkologi")),
        {"level": 2, "people": [], "deadline": None, "service": "onkologi"},
    ),
    (
        PassedOn(user=A, level=2, service=ServiceId("onkologi")),
        {"user": A, "level": 2, "service": "onkologi"},
    ),
    (ServiceUnanswered(service=ServiceId("onkologi")), {"service": "onkologi"}),
    (
        Acknowledged(user=A, via=AckVia.MESSAGE, remind_at=None, service=ServiceId("onkologi")),
        {"user": A, "via": "message", "remind_at": None, "service": "onkologi"},
    ),
    (ConferenceAcknowledged(remind_at=AT), {"remind_at": "2026-11-23T09:00:00+00:00"}),
    (
        MeetingSet(user=A, meeting=LOCAL, remind_at=None),
        {"user": A, "meeting": "2026-11-24T08:00:00+01:00", "remind_at": None},
    ),
    (MeetingReminded(meeting=LOCAL), {"meeting": "2026-11-24T08:00:00+01:00"}),
    # A repeated page (issue 24): when it is due, and that it went out.
    (
        PageDelivered(level=1, deadline=LOCAL, repeat_at=AT),
        {"level": 1, "deadline": "2026-11-24T08:00:00+01:00", "repeat_at": AT.isoformat()},
    ),
    (Repeated(level=2), {"level": 2}),
    (Repeated(level=1, service=ServiceId("onkologi")), {"level": 1, "service": "onkologi"}),
]


def test_every_kind_has_a_payload_and_an_example() -> None:
    assert set(PAYLOADS) == set(EventKind)
    assert {type(payload).KIND for payload, _ in STORED} == set(EventKind)


@pytest.mark.parametrize(("payload", "data"), STORED)
def test_a_payload_is_stored_as_before_and_read_back_unchanged(
    payload: Payload, data: dict[str, object]
) -> None:
    event = Event.of(AT, payload)
    assert event.kind is type(payload).KIND and event.at == AT
    assert event.data == data
    # As a store gives it back: JSON text, the kind as a plain string.
    stored = Event(kind=EventKind(str(event.kind)), at=AT, data=json.loads(json.dumps(data)))
    assert stored.payload() == payload


def test_instants_keep_their_offset() -> None:
    read = Event.of(AT, Offered(opens_at=LOCAL)).payload()
    assert isinstance(read, Offered)
    assert read.opens_at.isoformat() == LOCAL.isoformat()


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown consult event"):
        Event(kind="nonsense", at=AT, data={}).payload()  # type: ignore[arg-type]


def test_older_and_sparser_entries_read_with_their_defaults() -> None:
    """A field with a default, missing or empty in the stored dict, has its default; an empty
    id where None may stand reads as None (as the hand-written readers did)."""
    assert Event(
        kind=EventKind.PAGED,
        at=AT,
        data={"level": 1, "people": [{"user": A, "name": "A"}], "deadline": None, "service": ""},
    ).payload() == Paged(level=1, people=(Person(user=A, name="A"),), deadline=None)
    assert Event(
        kind=EventKind.CLOSED, at=AT, data={"outcome": "advice", "user": ""}
    ).payload() == Closed(outcome=Outcome.ADVICE, user=None)
    requested = {
        "consult": "K-1",
        "requester": A,
        "service": "s",
        "track": "akut",
        "request_room": "!r",
        "request_event": "$e",
        "services": [],
    }
    read = Event(kind=EventKind.REQUESTED, at=AT, data=requested).payload()
    assert isinstance(read, Requested) and read.language == "" and read.services == ()
    assert Event(kind=EventKind.QUEUED, at=AT, data={}).payload() == Queued()


def test_a_payload_with_post_init_is_refused_when_its_codec_is_made() -> None:
    """Reading the log fills a payload's fields without its __init__ (speed): a payload that
    checks or derives something in __post_init__ would be read back unchecked, so it is refused."""
    from dataclasses import dataclass as _dataclass

    from consultbot.domain.consult import events

    @_dataclass(frozen=True)
    class Checked:
        user: str

        def __post_init__(self) -> None:
            assert self.user

    with pytest.raises(TypeError, match="__post_init__"):
        events._codec(Checked)  # type: ignore[arg-type]
