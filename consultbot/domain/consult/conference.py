"""A multidisciplinary conference (`!mdk`): one room, one escalation per service.

A conference is a consult of track `mdk` whose log names several services
(`Requested.services`). Each service is a `Leg`: paged, acknowledged (by any of its paged
people), escalated through its own levels with the track's timeout, or left unanswered, on its
own; the entries of a leg carry its `service`. The first page invites and mentions the people of
every service at once. The conference is acknowledged (`ConferenceAcknowledged`) when every
service has acknowledged or had nobody at all to page, and at least one acknowledged; it is
unanswered when no service acknowledged and none is left to page. Closing, `!ring` and the
reminder to close work as for a consult. `!möte` sets the meeting time; everyone is reminded
`Policy.meeting_reminder_before` ahead, once per meeting time.

Pure. This module does not import escalation.py, which dispatches to it (the shared vocabulary
is in model.py, inputs.py and effects.py). The consult's `deadline` is the earliest of what is
due: a waiting service's next level, the meeting reminder, the reminder to close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from consultbot.domain.consult.effects import (
    AddWidget,
    AlertAdmins,
    CreateRoom,
    Effect,
    EscalationNotice,
    Invite,
    Notice,
    PageLevel,
    PostPoll,
    RepeatPage,
    Reply,
    Transition,
    end_poll,
    late_reply,
    undelivered,
)
from consultbot.domain.consult.events import (
    Acknowledged,
    AckVia,
    Closed,
    ConferenceAcknowledged,
    Event,
    LevelSkipped,
    MeetingReminded,
    MeetingSet,
    Paged,
    PageDelivered,
    PageUndelivered,
    PassedOn,
    Payload,
    Person,
    PhoneContact,
    PollPosted,
    Reminded,
    Repeated,
    Requested,
    RoomCreated,
    ServiceUnanswered,
    Unanswered,
)
from consultbot.domain.consult.inputs import (
    AckBy,
    Delivered,
    Input,
    MeetingBy,
    PassOnBy,
    QueueBy,
    Request,
    Timer,
)
from consultbot.domain.consult.model import Consult, Leg, Policy, State, paged_page, started
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.types import Outcome, ServiceId, Track, UserId

# --------------------------------------------------------------------------------------------
# Which services a `!mdk` names


@dataclass(frozen=True, kw_only=True)
class Convened:
    """The services a `!mdk` named, as the catalogue knows them."""

    services: tuple[Service, ...] = ()  # known and serving mdk, each once, in the order named
    unknown: tuple[str, ...] = ()  # names the catalogue does not know
    without_mdk: tuple[Service, ...] = ()  # known, but not serving mdk
    available: tuple[Service, ...] = ()  # every service that serves mdk

    @property
    def ok(self) -> bool:
        """True when every name is a service serving mdk, and at least two of them."""
        return not self.unknown and not self.without_mdk and len(self.services) >= 2


def convene(catalogue: Catalogue, names: Iterable[str]) -> Convened:
    """Resolve the service names of a `!mdk`."""
    # Keyed by id, in the order named: a long list stays linear (no `in` over a list).
    services: dict[str, Service] = {}
    unknown: list[str] = []
    without: dict[str, Service] = {}
    for name in names:
        service = catalogue.find(name)
        if service is None:
            unknown.append(name)
        elif Track.MDK not in service.tracks:
            without.setdefault(service.id, service)
        else:
            services.setdefault(service.id, service)
    return Convened(
        services=tuple(services.values()),
        unknown=tuple(unknown),
        without_mdk=tuple(without.values()),
        available=tuple(s for s in catalogue.services if Track.MDK in s.tracks),
    )


# --------------------------------------------------------------------------------------------
# One service's escalation


def escalate(paged: Consult | Leg, duty: OnDuty, alarm_at: datetime) -> list[Payload]:
    """The next step of a consult, or of one waiting service of a conference: page the lowest
    level above the one paged last that has anyone on duty (levels between skipped at once),
    or, with none, unanswered. A page not out by `alarm_at` is reported (`PageUndelivered`)."""
    service = paged.service if isinstance(paged, Leg) else None
    current = paged.level
    following = [(level, shifts) for level, shifts in duty.levels if level > current]
    if not following:
        skipped: list[Payload] = [LevelSkipped(level=1, service=service)] if not current else []
        return [*skipped, ServiceUnanswered(service=service) if service else Unanswered()]
    level, shifts = following[0]
    found: dict[UserId, Person] = {}
    for s in shifts:
        found.setdefault(s.user, Person(user=s.user, name=s.name, phone=s.phone))
    return [
        *(LevelSkipped(level=n, service=service) for n in range(current + 1, level)),
        # Its deadline is set once the page has gone out (`PageDelivered`).
        Paged(
            level=level,
            people=tuple(found.values()),
            deadline=None,
            service=service,
            alarm_at=alarm_at,
        ),
    ]


# --------------------------------------------------------------------------------------------
# Folding


def _with_leg(consult: Consult, service: ServiceId | None, change: Callable[[Leg], Leg]) -> Consult:
    return replace(
        consult,
        legs=tuple(change(leg) if leg.service == service else leg for leg in consult.legs),
    )


def _due(leg: Leg, now: datetime) -> bool:
    """True when the leg's deadline (next level, or the report of a page not out) has come."""
    return leg.deadline is not None and now >= leg.deadline


def _sent(leg: Leg, deadline: datetime, repeat_at: datetime | None) -> Leg:
    """The leg once its last page went out: its time runs until `deadline`; unacknowledged,
    the page is repeated at `repeat_at`."""
    if leg.settled or not leg.pages:
        return leg
    pages = (*leg.pages[:-1], replace(leg.pages[-1], sent=True))
    return replace(leg, pages=pages, deadline=deadline, repeat_at=repeat_at)


def _deadline(c: Consult) -> datetime | None:
    due: list[datetime] = []
    if c.state is State.PAGING:
        due += [leg.deadline for leg in c.legs if not leg.settled and leg.deadline is not None]
    if c.state is State.ACKNOWLEDGED and c.closing_deadline is not None:
        due.append(c.closing_deadline)
    meeting_open = c.state in (State.PAGING, State.ACKNOWLEDGED, State.UNANSWERED)
    if meeting_open and c.meeting_remind_at is not None and c.meeting_reminded != c.meeting_at:
        due.append(c.meeting_remind_at)
    return min(due, default=None)


def apply(consult: Consult, event: Event, payload: Payload) -> Consult:
    """The conference after one more entry of its log (not the first)."""
    at = event.at
    match payload:
        case RoomCreated():
            consult = replace(consult, room=payload.room)
        case LevelSkipped():
            consult = _with_leg(
                consult,
                payload.service,
                lambda leg: replace(leg, skipped=(*leg.skipped, payload.level)),
            )
        case Paged():
            page = paged_page(payload, at)
            due = payload.deadline or payload.alarm_at
            consult = replace(consult, pages=(*consult.pages, page))
            consult = _with_leg(
                consult,
                payload.service,
                lambda leg: replace(leg, pages=(*leg.pages, page), deadline=due, repeat_at=None),
            )
        case PageDelivered():
            deadline, repeat_at = payload.deadline, payload.repeat_at
            consult = _with_leg(
                consult, payload.service, lambda leg: _sent(leg, deadline, repeat_at)
            )
        case Repeated():
            consult = _with_leg(
                consult,
                payload.service,
                lambda leg: replace(leg, repeat_at=None, repeated_at=leg.repeated_at or at),
            )
        case PageUndelivered():
            consult = _with_leg(
                consult,
                payload.service,
                lambda leg: leg if leg.settled else replace(leg, deadline=None),
            )
        case PassedOn():
            consult = replace(consult, passed_on=consult.passed_on + 1)
        case Unanswered():
            consult = replace(consult, state=State.UNANSWERED)
        case ServiceUnanswered():
            consult = _with_leg(
                consult, payload.service, lambda leg: replace(leg, unanswered=True, deadline=None)
            )
        case Acknowledged():
            user = payload.user
            consult = _with_leg(
                consult,
                payload.service,
                lambda leg: replace(leg, acked_by=user, acked_at=at, deadline=None),
            )
        case ConferenceAcknowledged():
            acked = [leg for leg in consult.legs if leg.acked_at is not None]
            last = max(acked, key=lambda leg: leg.acked_at or at, default=None)
            consult = replace(
                consult,
                state=State.ACKNOWLEDGED,
                acked_by=last.acked_by if last else None,
                acked_at=at,
                closing_deadline=payload.remind_at,
            )
        case Reminded():
            consult = replace(consult, reminded=True, closing_deadline=payload.close_at)
        case Closed():
            consult = replace(
                consult,
                state=State.CLOSED,
                outcome=payload.outcome,
                closed_by=payload.user,
                closed_at=at,
            )
        case PollPosted():
            consult = replace(consult, poll=payload.event_id)
        case PhoneContact():
            consult = replace(consult, phone_contacts=consult.phone_contacts + 1)
        case MeetingSet():
            consult = replace(
                consult, meeting_at=payload.meeting, meeting_remind_at=payload.remind_at
            )
        case MeetingReminded():
            consult = replace(consult, meeting_reminded=payload.meeting)
        case Requested():
            raise ValueError("a conference log has one 'requested' entry, the first")
        case _:
            pass  # offered, queued, withdrawn: conferences are never queued
    return replace(consult, deadline=_deadline(consult))


def _applied(consult: Consult | None, event: Event) -> Consult:
    """The conference after one more entry; its first (`requested`) opens it."""
    payload = event.payload()
    if consult is None:
        assert isinstance(payload, Requested)
        return started(payload, event.at)
    return apply(consult, event, payload)


# --------------------------------------------------------------------------------------------
# Steps


class _Steps:
    """The events and effects of one step, with the conference as they leave it."""

    def __init__(self, consult: Consult | None, now: datetime) -> None:
        self._consult = consult
        self.now = now
        self.events: list[Event] = []
        self.effects: list[Effect] = []

    @property
    def consult(self) -> Consult:
        assert self._consult is not None
        return self._consult

    def add(self, *payloads: Payload) -> None:
        for payload in payloads:
            event = Event.of(self.now, payload)
            self.events.append(event)
            self._consult = _applied(self._consult, event)

    def leg(self, service: ServiceId) -> Leg:
        leg = self.consult.leg(service)
        assert leg is not None
        return leg


def _no_duty(service: ServiceId, now: datetime) -> OnDuty:
    return OnDuty(service=service, at=now, levels=())


def _unanswered_leg(s: _Steps, service: ServiceId) -> None:
    s.effects.append(Notice(template="mdk_service_unanswered", params={"service": service}))
    s.effects.append(AlertAdmins(template="admin_mdk_unanswered", params={"service": service}))


def _escalate(s: _Steps, service: ServiceId, duty: OnDuty, policy: Policy) -> None:
    """Page the next level of one waiting service (after the first page)."""
    before = s.leg(service).level
    s.add(*escalate(s.leg(service), duty, s.now + policy.ack_timeout))
    leg = s.leg(service)
    if leg.unanswered:
        _unanswered_leg(s, service)
        return
    page = leg.pages[-1]
    s.effects.append(
        EscalationNotice(params={"level": page.level, "from_level": before, "service": service})
    )
    s.effects.append(PageLevel(level=page.level, people=page.people, first=False, service=service))


def _settle(s: _Steps, policy: Policy) -> None:
    """Acknowledge the conference, or mark it unanswered, once no service is waiting."""
    c = s.consult
    if c.state not in (State.PAGING, State.UNANSWERED):
        return
    if not all(leg.settled for leg in c.legs):
        return
    if any(leg.acked_by is not None for leg in c.legs):
        s.add(ConferenceAcknowledged(remind_at=s.now + policy.reminder_after))
        s.effects.append(PostPoll())  # the outcome in one tap, as for a consult
    elif c.state is State.PAGING:
        s.add(Unanswered())
        s.effects.append(Reply(template="mdk_unanswered"))


def step(consult: Consult | None, command: Input, now: datetime, policy: Policy) -> Transition:
    """escalation.step for a conference (which closes one, and answers `!ring`, itself)."""
    if isinstance(command, Request):
        return _request(command, now, policy)
    assert consult is not None
    match command:
        case Timer():
            return _timer(consult, command, now, policy)
        case AckBy():
            return _acknowledge(consult, command, now, policy)
        case PassOnBy():
            return _pass_on(consult, command, now, policy)
        case Delivered():
            return _delivered(consult, command, now, policy)
        case QueueBy():
            return [], [Reply(template="nothing_to_queue")]
        case MeetingBy():
            return _meeting(consult, command, now, policy)
    raise TypeError(f"unknown command {command!r}")


def _request(command: Request, now: datetime, policy: Policy) -> Transition:
    s = _Steps(None, now)
    s.add(command.requested())
    paged: dict[UserId, Person] = {}
    for service in command.services:
        duty = command.duties.get(service) or _no_duty(service, now)
        s.add(*escalate(s.leg(service), duty, now + policy.ack_timeout))
        for page in s.leg(service).pages:
            for person in page.people:
                paged.setdefault(person.user, person)
    nobody = [leg.service for leg in s.consult.legs if leg.unanswered]
    if not paged:
        s.add(Unanswered())
        s.effects.append(Reply(template="mdk_unanswered"))
        s.effects.append(AlertAdmins(template="admin_mdk_unanswered", params={"service": ""}))
        return s.events, s.effects
    people = tuple(paged.values())
    s.effects.append(CreateRoom(invite=tuple(paged)))
    s.effects.append(Reply(template="mdk_created"))
    s.effects.append(PageLevel(level=1, people=people, first=True))
    s.effects.append(Invite(users=(command.requester,)))
    if command.meeting_url:
        s.effects.append(AddWidget(url=command.meeting_url, name=f"Möte {command.consult_id}"))
        s.effects.append(Notice(template="meeting_link"))
    for service in nobody:
        _unanswered_leg(s, service)
    return s.events, s.effects


def _timer(consult: Consult, command: Timer, now: datetime, policy: Policy) -> Transition:
    if consult.due is None or now < consult.due:
        return [], []  # a stale or early timer: nothing is due
    s = _Steps(consult, now)
    if consult.state is State.PAGING:
        for leg in consult.legs:
            # A waiting service's page again, before its level times out (then it escalates).
            repeat_at = leg.repeat_at
            if leg.settled or repeat_at is None or now < repeat_at or _due(leg, now):
                continue
            page = leg.pages[-1]
            s.add(Repeated(level=page.level, service=leg.service))
            s.effects.append(RepeatPage(level=page.level, people=page.people, service=leg.service))
        ready = [leg for leg in consult.legs if not leg.settled and _due(leg, now)]
        stuck: list[Leg] = []
        for leg in ready:
            if leg.pages and not leg.pages[-1].sent:
                stuck.append(leg)  # its page is not out yet: its time has not begun
                continue
            duty = command.duties.get(leg.service) or _no_duty(leg.service, now)
            _escalate(s, leg.service, duty, policy)
        if stuck:
            # Reported once, whatever the number of services whose page it is.
            for leg in stuck:
                s.add(PageUndelivered(level=leg.level, service=leg.service))
            s.effects += undelivered(min(leg.level for leg in stuck))
        _settle(s, policy)
    c = s.consult
    due = c.meeting_remind_at
    reminding = c.state in (State.PAGING, State.ACKNOWLEDGED, State.UNANSWERED)
    if reminding and due is not None and now >= due and c.meeting_at != c.meeting_reminded:
        assert c.meeting_at is not None
        s.add(MeetingReminded(meeting=c.meeting_at))
        everyone = [*sorted(c.paged_users - {c.requester}), c.requester]
        params = {"meeting": c.meeting_at.isoformat(), "notice": False, "mentions": everyone}
        s.effects.append(Notice(template="meeting_reminder", params=params))
    c = s.consult
    closing = c.closing_deadline
    if c.state is State.ACKNOWLEDGED and closing is not None and now >= closing:
        if not c.reminded:
            close_at = (c.acked_at or now) + policy.auto_close_after
            s.add(Reminded(close_at=close_at))
            s.effects.append(Notice(template="reminder", params={"close_at": close_at.isoformat()}))
        else:
            s.add(Closed(outcome=Outcome.UNKNOWN, user=None))
            s.effects.append(Notice(template="auto_closed"))
            s.effects += end_poll(c, Outcome.UNKNOWN)
    return s.events, s.effects


def _delivered(consult: Consult, command: Delivered, now: datetime, policy: Policy) -> Transition:
    """A page went out: the timeout starts for each service it paged that still waits for it
    (the first page is every service's level 1)."""
    if consult.state is not State.PAGING:
        return [], []
    s = _Steps(consult, now)
    for leg in consult.legs:
        if command.service:
            paged_here = leg.service == command.service and leg.level == command.level
        else:  # the first page: every service still on the level it paged first
            paged_here = len(leg.pages) == 1
        if paged_here and not leg.settled and leg.pages and not leg.pages[-1].sent:
            deadline = now + policy.ack_timeout
            s.add(
                PageDelivered(
                    level=leg.level,
                    deadline=deadline,
                    service=leg.service,
                    repeat_at=policy.repeat_at(now),
                )
            )
    return s.events, s.effects


def _open(consult: Consult) -> bool:
    return consult.state not in (State.CLOSED, State.WITHDRAWN)


def _acknowledge(consult: Consult, command: AckBy, now: datetime, policy: Policy) -> Transition:
    user = command.user
    waiting = [leg for leg in consult.legs if user in leg.paged_users and leg.acked_by is None]
    if waiting and _open(consult):
        s = _Steps(consult, now)
        for leg in waiting:
            person = leg.person(user)
            assert person is not None
            s.add(Acknowledged(user=user, via=command.via, remind_at=None, service=leg.service))
            seconds = (now - leg.pages[0].at).total_seconds()
            params = {"user": user, "name": person.name, "phone": person.phone, "seconds": seconds}
            s.effects.append(
                Notice(template="mdk_acknowledged", params={**params, "service": leg.service})
            )
        late = consult.person(user)
        if consult.state is State.UNANSWERED and late is not None:
            s.effects.append(late_reply(late))
        _settle(s, policy)
        return s.events, s.effects
    if command.via is not AckVia.COMMAND:
        return [], []  # reactions and chat from others, or after the ack, are just conversation
    if not _open(consult):
        return [], [Notice(template="already_closed")]
    acked = [leg for leg in consult.legs if user in leg.paged_users and leg.acked_by is not None]
    if acked:
        acker = acked[0].person(acked[0].acked_by) if acked[0].acked_by else None
        name = acker.name if acker else str(acked[0].acked_by)
        return [], [Notice(template="already_acknowledged", params={"name": name})]
    return [], [Notice(template="not_paged")]


def _pass_on(consult: Consult, command: PassOnBy, now: datetime, policy: Policy) -> Transition:
    user = command.user
    current = [
        leg
        for leg in consult.legs
        if not leg.settled and leg.pages and user in {p.user for p in leg.pages[-1].people}
    ]
    if consult.state is not State.PAGING or not current:
        mine = [leg for leg in consult.legs if user in leg.paged_users]
        if mine and all(leg.acked_by is not None for leg in mine):
            return [], [Notice(template="pass_after_ack")]
        if not _open(consult):
            return [], [Notice(template="not_open")]
        return [], [Notice(template="not_paged_now")]
    s = _Steps(consult, now)
    for leg in current:
        s.add(PassedOn(user=user, level=leg.level, service=leg.service))
        duty = command.duties.get(leg.service) or _no_duty(leg.service, now)
        _escalate(s, leg.service, duty, policy)
    _settle(s, policy)
    return s.events, s.effects


def _meeting(consult: Consult, command: MeetingBy, now: datetime, policy: Policy) -> Transition:
    if not _open(consult):
        return [], [Notice(template="already_closed")]
    if command.user != consult.requester and command.user not in consult.paged_users:
        return [], [Notice(template="not_a_party")]
    if command.meeting <= now:
        return [], [Notice(template="meeting_past")]
    remind_at: datetime | None = command.meeting - policy.meeting_reminder_before
    if remind_at is not None and remind_at <= now:
        remind_at = None  # too near for a reminder: the confirmation is the reminder
    s = _Steps(consult, now)
    s.add(MeetingSet(user=command.user, meeting=command.meeting, remind_at=remind_at))
    params = {"meeting": command.meeting.isoformat(), "reminder": remind_at is not None}
    s.effects.append(Notice(template="meeting_set", params=params))
    return s.events, s.effects
