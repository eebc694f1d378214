"""The consult lifecycle as a pure state machine.

    requested ─┬─ open ──► paging(level n) ──ack──► acknowledged ──close──► closed
               │              │  ▲  timeout / !vidare: next level on duty     │ reminder, then
               │              │  └──────────┘  (empty levels skipped at once)  │ auto-close as
               │              └── no level left ──► unanswered ──late ack──┘   │ "unknown" (24 h)
               └─ closed hours ──► offered ──!kö──► queued ──opening──► paging
                                      └── opening passes untaken ──► withdrawn

A level's timeout counts from when its page went out (`Delivered`, reported by the outbox), not
from when it was decided: a page held up by a backlog, an outage or a restart still gets its
whole time before the next level is paged or the consult is declared unanswered. A page not out
one timeout after it was decided is reported to the requester (call the switchboard) and the
admins, once (`page_undelivered`); it is still sent, and its time starts then.

`step(consult, command, now, policy)` returns the events to append to the consult's log and the
effects to carry out; `fold` rebuilds a consult from its log. Nothing here does I/O or reads a
clock: who is on duty and whether the track is open are resolved by the caller at the moment
of the step and passed in. Events hold metadata only (who, when, which level), never the text
of a question; events.py says what each kind of event stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import ModuleType
from typing import TYPE_CHECKING, Any

from consultbot.domain.consult.events import (
    Acknowledged,
    AckVia,
    Closed,
    Event,
    EventKind,
    LevelSkipped,
    Offered,
    Paged,
    PageDelivered,
    PageUndelivered,
    PassedOn,
    Person,
    PhoneContact,
    PollPosted,
    Queued,
    Reminded,
    Requested,
    RoomCreated,
    Unanswered,
    Withdrawn,
)
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId

if TYPE_CHECKING:
    from consultbot.domain.consult.conference import Leg


def _conference() -> ModuleType:
    """domain/conference.py, the lifecycle of a conference (it builds on this module)."""
    from consultbot.domain.consult import conference

    return conference


class State(StrEnum):
    """Where a consult is in its lifecycle."""

    OFFERED = "offered"
    QUEUED = "queued"
    PAGING = "paging"
    ACKNOWLEDGED = "acknowledged"
    UNANSWERED = "unanswered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


OPEN_STATES = frozenset({State.OFFERED, State.QUEUED, State.PAGING, State.ACKNOWLEDGED})


@dataclass(frozen=True, kw_only=True)
class Page:
    """One escalation level paged at one instant (decided then; `sent` once it went out)."""

    level: int
    people: tuple[Person, ...]
    at: datetime
    sent: bool = True


@dataclass(frozen=True, kw_only=True)
class Policy:
    """The timing rules of one track, from the config."""

    ack_timeout: timedelta
    reminder_after: timedelta = timedelta(hours=4)
    auto_close_after: timedelta = timedelta(hours=24)
    meeting_reminder_before: timedelta = timedelta(minutes=15)  # conferences (`!möte`)


@dataclass(frozen=True, kw_only=True)
class Consult:
    """A consult, as its event log says it is now."""

    id: ConsultId
    requester: UserId
    service: ServiceId
    track: Track
    request_room: str
    request_event: str
    requested_at: datetime
    state: State = State.PAGING
    room: str = ""
    pages: tuple[Page, ...] = ()
    skipped: tuple[int, ...] = ()
    deadline: datetime | None = None
    opens_at: datetime | None = None
    acked_by: UserId | None = None
    acked_at: datetime | None = None
    outcome: Outcome | None = None
    closed_by: UserId | None = None
    closed_at: datetime | None = None
    reminded: bool = False
    passed_on: int = 0
    phone_contacts: int = 0
    language: str = ""  # the requester's answers' language ("" = the config's)
    poll: str = ""  # the event id of the outcome poll in the consult room, once posted
    # A conference (`!mdk`): its services and each one's own escalation (domain/conference.py)
    services: tuple[ServiceId, ...] = ()
    legs: tuple[Leg, ...] = ()
    closing_deadline: datetime | None = None  # reminder / auto-close of an acknowledged one
    meeting_at: datetime | None = None
    meeting_remind_at: datetime | None = None
    meeting_reminded: datetime | None = None  # the meeting time the last reminder was for

    @property
    def is_conference(self) -> bool:
        """True for a multidisciplinary conference (several services, track mdk)."""
        return bool(self.services)

    def leg(self, service: str) -> Leg | None:
        """A conference's escalation of one of its services."""
        return next((leg for leg in self.legs if leg.service == service), None)

    @property
    def level(self) -> int:
        """The level paged last (0 before any page)."""
        return self.pages[-1].level if self.pages else 0

    @property
    def escalated(self) -> bool:
        """True when any level above the first was paged."""
        return any(page.level > 1 for page in self.pages)

    @property
    def paged_users(self) -> frozenset[UserId]:
        """Everyone paged so far, at any level."""
        return frozenset(p.user for page in self.pages for p in page.people)

    @property
    def is_open(self) -> bool:
        """True until the consult is closed, unanswered or withdrawn."""
        return self.state in OPEN_STATES

    def person(self, user: UserId) -> Person | None:
        """The paged person `user`, with the name and phone from their shift."""
        for page in reversed(self.pages):
            for person in page.people:
                if person.user == user:
                    return person
        return None

    def ack_seconds(self) -> float | None:
        """Seconds from the first page to the acknowledgement."""
        if self.acked_at is None or not self.pages:
            return None
        return (self.acked_at - self.pages[0].at).total_seconds()


# --------------------------------------------------------------------------------------------
# Inputs into the machine. Named `…By` (who acts) so that they are not confused with the chat
# commands of commands.py: `!kvittera` parses to `commands.Acknowledge`, which the inbox turns
# into `AckBy` once it knows the consult and who sent it.


@dataclass(frozen=True, kw_only=True)
class Request:
    """A new consult; `duty` and `open_now`/`opens_at` are resolved at `now` by the caller."""

    consult_id: ConsultId
    requester: UserId
    service: ServiceId
    track: Track
    request_room: str
    request_event: str
    duty: OnDuty
    open_now: bool
    opens_at: datetime | None = None
    language: str = ""
    # A conference: every service convened and who is on duty at each; the meeting link.
    services: tuple[ServiceId, ...] = ()
    duties: Mapping[ServiceId, OnDuty] = field(default_factory=dict)
    meeting_url: str = ""


@dataclass(frozen=True, kw_only=True)
class Timer:
    """The consult's deadline has come; `duty` and opening state are resolved at `now`."""

    duty: OnDuty
    open_now: bool = True
    opens_at: datetime | None = None
    duties: Mapping[ServiceId, OnDuty] = field(default_factory=dict)  # a conference's services


@dataclass(frozen=True, kw_only=True)
class AckBy:
    """A reaction, `!kvittera` or a message from `user` in the consult room."""

    user: UserId
    via: AckVia


@dataclass(frozen=True, kw_only=True)
class PassOnBy:
    """`!vidare`: a paged person cannot take it; page the next level now."""

    user: UserId
    duty: OnDuty
    duties: Mapping[ServiceId, OnDuty] = field(default_factory=dict)  # a conference's services


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """The page of `level` (of `service`, in a conference; "" for the first page, which goes
    to every service at once) went out: its timeout starts now."""

    level: int
    service: str = ""


@dataclass(frozen=True, kw_only=True)
class CloseBy:
    """`!avsluta OUTCOME`."""

    user: UserId
    outcome: Outcome


@dataclass(frozen=True, kw_only=True)
class QueueBy:
    """`!kö`: the requester accepts queueing an out-of-hours consult for the next opening."""

    user: UserId


@dataclass(frozen=True, kw_only=True)
class CallBy:
    """`!ring`: `user` asks for the other party's number; counted as a phone contact."""

    user: UserId
    requester_phone: str = ""


@dataclass(frozen=True, kw_only=True)
class MeetingBy:
    """`!möte`: `user` sets the conference's meeting to the instant `meeting`."""

    user: UserId
    meeting: datetime


Input = Request | Timer | AckBy | PassOnBy | Delivered | CloseBy | QueueBy | CallBy | MeetingBy


# --------------------------------------------------------------------------------------------
# Effects out of the machine


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A notice to the requester in the room where they asked."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CreateRoom:
    """Create the consult's encrypted room and invite these people."""

    invite: tuple[UserId, ...]


@dataclass(frozen=True, kw_only=True)
class PageLevel:
    """Invite a level's people into the consult room and page them (m.text with mentions)."""

    level: int
    people: tuple[Person, ...]
    first: bool
    service: str = ""  # a conference's escalation of one service ("" for its first page)


@dataclass(frozen=True, kw_only=True)
class Notice:
    """A status notice (m.notice) in the consult room."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AlertAdmins:
    """Tell the admins (admin room) about something that needs a person."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Direct:
    """A notice to one person in their direct chat with the bot."""

    user: UserId
    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PostPoll:
    """Post the outcome poll (MSC3381) in the consult room; one vote closes the consult."""


@dataclass(frozen=True, kw_only=True)
class EndPoll:
    """End the outcome poll: the consult was closed with `outcome`."""

    outcome: str


@dataclass(frozen=True, kw_only=True)
class AddWidget:
    """Add the meeting link as a room widget (state, unencrypted: no patient data)."""

    url: str
    name: str


Effect = (
    Reply | CreateRoom | PageLevel | Notice | AlertAdmins | Direct | PostPoll | EndPoll | AddWidget
)


# --------------------------------------------------------------------------------------------
# Folding the log


def apply(consult: Consult | None, event: Event) -> Consult:
    """The consult after one more event of its log."""
    if consult is None and event.kind != EventKind.REQUESTED:
        raise ValueError(f"a consult log must start with 'requested', not {event.kind!r}")
    payload = event.payload()
    if isinstance(payload, Requested):
        return Consult(
            id=payload.consult,
            requester=payload.requester,
            service=payload.service,
            track=payload.track,
            request_room=payload.request_room,
            request_event=payload.request_event,
            requested_at=event.at,
            state=State.PAGING,
            language=payload.language,
            services=payload.services,
            legs=_conference().legs(payload.services) if payload.services else (),
        )
    assert consult is not None
    if consult.is_conference:
        result: Consult = _conference().apply(consult, event, payload)
        return result
    match payload:
        case Offered():
            return replace(
                consult, state=State.OFFERED, opens_at=payload.opens_at, deadline=payload.opens_at
            )
        case Queued():
            return replace(consult, state=State.QUEUED, deadline=consult.opens_at)
        case Withdrawn():
            return replace(consult, state=State.WITHDRAWN, deadline=None)
        case RoomCreated():
            return replace(consult, room=payload.room)
        case PollPosted():
            return replace(consult, poll=payload.event_id)
        case LevelSkipped():
            return replace(consult, skipped=(*consult.skipped, payload.level))
        case Paged():
            page = paged_page(payload, event.at)
            due = payload.deadline or payload.alarm_at
            return replace(consult, state=State.PAGING, pages=(*consult.pages, page), deadline=due)
        case PageDelivered():
            if consult.state is State.PAGING and consult.level == payload.level:
                sent = replace(consult.pages[-1], sent=True)
                return replace(
                    consult, pages=(*consult.pages[:-1], sent), deadline=payload.deadline
                )
            return consult
        case PageUndelivered():
            if consult.state is State.PAGING and consult.level == payload.level:
                return replace(consult, deadline=None)  # told once; its time starts when out
            return consult
        case PassedOn():
            return replace(consult, passed_on=consult.passed_on + 1)
        case Unanswered():
            return replace(consult, state=State.UNANSWERED, deadline=None)
        case Acknowledged():
            return replace(
                consult,
                state=State.ACKNOWLEDGED,
                acked_by=payload.user,
                acked_at=event.at,
                deadline=payload.remind_at,
            )
        case Reminded():
            return replace(consult, reminded=True, deadline=payload.close_at)
        case Closed():
            return replace(
                consult,
                state=State.CLOSED,
                outcome=payload.outcome,
                closed_by=payload.user,
                closed_at=event.at,
                deadline=None,
            )
        case PhoneContact():
            return replace(consult, phone_contacts=consult.phone_contacts + 1)
    return consult  # conference entries (meeting_set …) do not occur in a plain consult


def paged_page(payload: Paged, at: datetime) -> Page:
    """The page a `paged` entry records; one from before delivery was recorded counts as sent."""
    return Page(
        level=payload.level, people=payload.people, at=at, sent=payload.deadline is not None
    )


def fold(events: Iterable[Event]) -> Consult:
    """Rebuild a consult from its whole log."""
    consult: Consult | None = None
    for event in events:
        consult = apply(consult, event)
    if consult is None:
        raise ValueError("empty consult log")
    return consult


# --------------------------------------------------------------------------------------------
# The step function

Transition = tuple[list[Event], list[Effect]]


def _page_next(consult: Consult, duty: OnDuty, now: datetime, policy: Policy) -> Transition:
    """Page the lowest level above the current one that has anyone on duty; else unanswered."""
    events: list[Event] = []
    effects: list[Effect] = []
    current = consult.level
    following = [(level, shifts) for level, shifts in duty.levels if level > current]
    if following:
        level, shifts = following[0]
        for skipped in range(current + 1, level):
            events.append(Event.of(now, LevelSkipped(level=skipped)))
        seen: dict[UserId, Person] = {}
        for s in shifts:
            seen.setdefault(s.user, Person(user=s.user, name=s.name, phone=s.phone))
        people = tuple(seen.values())
        # Its deadline is set once the page has gone out (`Delivered`).
        alarm_at = now + policy.ack_timeout
        events.append(
            Event.of(now, Paged(level=level, people=people, deadline=None, alarm_at=alarm_at))
        )
        first = not consult.pages
        if first:
            # The consultants first: the invite is their page's first signal.
            effects.append(CreateRoom(invite=(*(p.user for p in people), consult.requester)))
        else:
            effects.append(
                Notice(template="escalating", params={"level": level, "from_level": current})
            )
        effects.append(PageLevel(level=level, people=people, first=first))
        return events, effects
    if current == 0:
        events.append(Event.of(now, LevelSkipped(level=1)))
    events.append(Event.of(now, Unanswered()))
    if consult.room:
        effects.append(Notice(template="unanswered"))
    effects.append(Reply(template="unanswered"))
    effects.append(AlertAdmins(template="admin_unanswered"))
    return events, effects


def step(consult: Consult | None, command: Input, now: datetime, policy: Policy) -> Transition:
    """Events and effects for `command` at `now`. `consult` is None only for a `Request`."""
    if isinstance(command, Request):
        if command.services:
            started: Transition = _conference().step(None, command, now, policy)
            return started
        return _request(command, now, policy)
    if consult is None:
        raise ValueError("only a Request starts a consult")
    if consult.is_conference:
        stepped: Transition = _conference().step(consult, command, now, policy)
        return stepped
    match command:
        case Timer():
            return _timer(consult, command, now, policy)
        case AckBy():
            return _acknowledge(consult, command, now, policy)
        case PassOnBy():
            return _pass_on(consult, command, now, policy)
        case Delivered():
            return _delivered(consult, command, now, policy)
        case CloseBy():
            return _close(consult, command, now)
        case QueueBy():
            return _queue(consult, command, now)
        case CallBy():
            return _call(consult, command, now)
        case MeetingBy():
            return [], [Notice(template="meeting_conference_only")]
    raise TypeError(f"unknown command {command!r}")


def _request(command: Request, now: datetime, policy: Policy) -> Transition:
    requested = Event.of(
        now,
        Requested(
            consult=command.consult_id,
            requester=command.requester,
            service=command.service,
            track=command.track,
            request_room=command.request_room,
            request_event=command.request_event,
            language=command.language,
        ),
    )
    consult = apply(None, requested)
    if not command.open_now:
        opens_at = command.opens_at
        if opens_at is None:
            raise ValueError("a closed track needs opens_at")
        return (
            [
                requested,
                Event.of(now, Offered(opens_at=opens_at)),
            ],
            [Reply(template="outside_hours", params={"opens_at": opens_at.isoformat()})],
        )
    events, effects = _page_next(consult, command.duty, now, policy)
    if any(e.kind == EventKind.PAGED for e in events):
        # After the room is created: its invite is what reaches the consultant first.
        effects.insert(1, Reply(template="created"))
    return [requested, *events], effects


def _timer(consult: Consult, command: Timer, now: datetime, policy: Policy) -> Transition:
    if consult.deadline is None or now < consult.deadline:
        return [], []  # a stale or early timer: nothing is due
    match consult.state:
        case State.OFFERED:
            return [Event.of(now, Withdrawn())], [Reply(template="offer_lapsed")]
        case State.QUEUED:
            if not command.open_now:
                # The track did not open after all (hours changed): wait for the next opening.
                if command.opens_at is None:
                    return [], []  # nothing to wait for: the caller did not say when it opens
                opens = command.opens_at
                return [
                    Event.of(now, Offered(opens_at=opens)),
                    Event.of(now, Queued()),
                ], []
            events, effects = _page_next(consult, command.duty, now, policy)
            if any(e.kind == EventKind.PAGED for e in events):
                effects.insert(1, Reply(template="queue_opened"))
            return events, effects
        case State.PAGING:
            if consult.pages and not consult.pages[-1].sent:
                level = consult.pages[-1].level
                return [Event.of(now, PageUndelivered(level=level))], undelivered(level)
            return _page_next(consult, command.duty, now, policy)
        case State.ACKNOWLEDGED:
            if not consult.reminded:
                close_at = (consult.acked_at or now) + policy.auto_close_after
                return (
                    [Event.of(now, Reminded(close_at=close_at))],
                    [Notice(template="reminder", params={"close_at": close_at.isoformat()})],
                )
            return (
                [Event.of(now, Closed(outcome=Outcome.UNKNOWN, user=None))],
                [Notice(template="auto_closed"), *end_poll(consult, Outcome.UNKNOWN)],
            )
    return [], []


def _delivered(consult: Consult, command: Delivered, now: datetime, policy: Policy) -> Transition:
    """The current level's page went out: its timeout starts. A page of a level passed by
    since, a repeat, or a page into a consult acknowledged meanwhile changes nothing."""
    page = consult.pages[-1] if consult.pages else None
    waiting = consult.state is State.PAGING and page is not None and not page.sent
    if not waiting or consult.level != command.level:
        return [], []
    deadline = now + policy.ack_timeout
    return [Event.of(now, PageDelivered(level=command.level, deadline=deadline))], []


def undelivered(level: int) -> list[Effect]:
    """A page still not out when its time would have run out (the homeserver down, the consult
    room gone): the requester is told to call, the admins to look. It is still being sent."""
    return [
        Reply(template="page_undelivered", params={"level": level}),
        AlertAdmins(template="admin_page_undelivered", params={"level": level}),
    ]


def _acknowledge(consult: Consult, command: AckBy, now: datetime, policy: Policy) -> Transition:
    person = consult.person(command.user)
    if consult.state in (State.PAGING, State.UNANSWERED) and person is not None:
        remind_at = now + policy.reminder_after
        seconds = (now - consult.pages[0].at).total_seconds() if consult.pages else 0.0
        effects: list[Effect] = [
            Notice(
                template="acknowledged",
                params={
                    "user": command.user,
                    "name": person.name,
                    "phone": person.phone,
                    "seconds": seconds,
                },
            ),
            PostPoll(),
        ]
        if consult.state is State.UNANSWERED:
            effects.append(late_reply(person))
        return (
            [Event.of(now, Acknowledged(user=command.user, via=command.via, remind_at=remind_at))],
            effects,
        )
    if command.via is not AckVia.COMMAND:
        return [], []  # reactions and chat from others, or after the ack, are just conversation
    if consult.state is State.ACKNOWLEDGED and consult.acked_by is not None:
        acker = consult.person(consult.acked_by)
        return [], [
            Notice(
                template="already_acknowledged",
                params={"name": acker.name if acker else consult.acked_by},
            )
        ]
    if person is None:
        return [], [Notice(template="not_paged")]
    return [], [Notice(template="not_open")]


def late_reply(person: Person) -> Reply:
    """The requester, told that nobody answered, hears where they asked that someone has."""
    return Reply(template="late_acknowledged", params={"name": person.name, "phone": person.phone})


def _pass_on(consult: Consult, command: PassOnBy, now: datetime, policy: Policy) -> Transition:
    if consult.state is not State.PAGING:
        return [], [
            Notice(
                template="not_open" if consult.state is not State.ACKNOWLEDGED else "pass_after_ack"
            )
        ]
    current = consult.pages[-1] if consult.pages else None
    if current is None or command.user not in {p.user for p in current.people}:
        return [], [Notice(template="not_paged_now")]
    passed = Event.of(now, PassedOn(user=command.user, level=current.level))
    events, effects = _page_next(consult, command.duty, now, policy)
    return [passed, *events], effects


def _close(consult: Consult, command: CloseBy, now: datetime) -> Transition:
    if consult.state in (State.CLOSED, State.WITHDRAWN):
        return [], [Notice(template="already_closed")]
    if command.outcome is Outcome.UNKNOWN:
        return [], [Notice(template="bad_outcome")]
    may_close = command.user == consult.requester or command.user in consult.paged_users
    if not may_close:
        return [], [Notice(template="not_a_party")]
    events: list[Event] = []
    if consult.state in (State.PAGING, State.UNANSWERED) and command.user in consult.paged_users:
        # Closing with an outcome is the strongest acknowledgement there is.
        ack = Acknowledged(user=command.user, via=AckVia.CLOSE, remind_at=None)
        events.append(Event.of(now, ack))
    events.append(Event.of(now, Closed(outcome=command.outcome, user=command.user)))
    return events, [
        Notice(template="closed", params={"outcome": command.outcome.value}),
        Reply(template="closed_reply", params={"outcome": command.outcome.value}),
        *end_poll(consult, command.outcome),
    ]


def end_poll(consult: Consult, outcome: Outcome) -> list[Effect]:
    """Ending the outcome poll, when there is one: nobody votes on a closed consult (or
    conference)."""
    return [EndPoll(outcome=outcome.value)] if consult.poll else []


def _queue(consult: Consult, command: QueueBy, now: datetime) -> Transition:
    if consult.state is not State.OFFERED or command.user != consult.requester:
        return [], [Reply(template="nothing_to_queue")]
    opens = consult.opens_at.isoformat() if consult.opens_at else ""
    return [Event.of(now, Queued())], [Reply(template="queued", params={"opens_at": opens})]


def _call(consult: Consult, command: CallBy, now: datetime) -> Transition:
    if command.user == consult.requester:
        if consult.acked_by is not None:
            others = [p for p in (consult.person(consult.acked_by),) if p is not None]
        else:
            others = list(consult.pages[-1].people) if consult.pages else []
        numbers = [{"name": p.name, "phone": p.phone} for p in others if p.phone]
    elif command.user in consult.paged_users:
        numbers = (
            [{"name": "", "phone": command.requester_phone}] if command.requester_phone else []
        )
    else:
        return [], [Notice(template="not_a_party")]
    if not numbers:
        return [], [Notice(template="no_phone")]
    # `asker`: who gets the numbers in their direct chat if, when the notice is sent, someone
    # in the room may not see them (the outbox checks; domain/audience.py).
    params = {
        "numbers": numbers,
        "to_requester": command.user != consult.requester,
        "asker": command.user,
    }
    return (
        [Event.of(now, PhoneContact(user=command.user))],
        [Notice(template="call", params=params)],
    )
