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

Nothing here does I/O or reads a clock: who is on duty and whether the track is open are
resolved by the caller at the moment of the step and passed in. Events hold metadata only (who,
when, which level), never the text of a question; events.py says what each kind stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from consultbot.domain.consult import conference

# The names of model.py, inputs.py, effects.py and events.py are importable from here too (the
# lifecycle's vocabulary, as before the split), hence `X as X`.
from consultbot.domain.consult.effects import (
    AddWidget as AddWidget,
    AlertAdmins as AlertAdmins,
    CreateRoom as CreateRoom,
    Direct as Direct,
    Effect as Effect,
    EffectKind as EffectKind,
    EndPoll as EndPoll,
    EscalationNotice as EscalationNotice,
    Invite as Invite,
    Notice as Notice,
    PageLevel as PageLevel,
    PostPoll as PostPoll,
    RepeatPage as RepeatPage,
    Reply as Reply,
    Transition as Transition,
    UndeliveredReply as UndeliveredReply,
    end_poll as end_poll,
    late_reply as late_reply,
    undelivered as undelivered,
)
from consultbot.domain.consult.events import (
    Acknowledged as Acknowledged,
    AckVia as AckVia,
    Closed as Closed,
    Event as Event,
    EventKind as EventKind,
    LevelSkipped as LevelSkipped,
    Offered as Offered,
    Paged as Paged,
    PageDelivered as PageDelivered,
    PageUndelivered as PageUndelivered,
    PassedOn as PassedOn,
    Payload as Payload,
    Person as Person,
    PhoneContact as PhoneContact,
    PollPosted as PollPosted,
    Queued as Queued,
    Reminded as Reminded,
    Repeated as Repeated,
    Requested as Requested,
    RoomCreated as RoomCreated,
    Unanswered as Unanswered,
    Withdrawn as Withdrawn,
)
from consultbot.domain.consult.inputs import (
    AckBy as AckBy,
    CallBy as CallBy,
    CloseBy as CloseBy,
    Delivered as Delivered,
    Input as Input,
    MeetingBy as MeetingBy,
    PassOnBy as PassOnBy,
    PollSent as PollSent,
    QueueBy as QueueBy,
    Request as Request,
    RoomReady as RoomReady,
    Timer as Timer,
    Undeliverable as Undeliverable,
)
from consultbot.domain.consult.model import (
    OPEN_STATES as OPEN_STATES,
    Consult as Consult,
    Page as Page,
    Policy as Policy,
    State as State,
    paged_page as paged_page,
    started as started,
)
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.duty.outcomes import DEFAULT_OUTCOMES
from consultbot.domain.types import Outcome

# --------------------------------------------------------------------------------------------
# Folding the log


def apply(consult: Consult | None, event: Event) -> Consult:
    """The consult after one more event of its log."""
    if consult is None and event.kind != EventKind.REQUESTED:
        raise ValueError(f"a consult log must start with 'requested', not {event.kind!r}")
    payload = event.payload()
    if isinstance(payload, Requested):
        return started(payload, event.at)
    assert consult is not None
    if consult.is_conference:
        return conference.apply(consult, event, payload)
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
            pages = (*consult.pages, page)
            return replace(consult, state=State.PAGING, pages=pages, deadline=due, repeat_at=None)
        case PageDelivered():
            if consult.state is State.PAGING and consult.level == payload.level:
                sent = replace(consult.pages[-1], sent=True)
                return replace(
                    consult,
                    pages=(*consult.pages[:-1], sent),
                    deadline=payload.deadline,
                    repeat_at=payload.repeat_at,
                )
            return consult
        case Repeated():
            return replace(consult, repeat_at=None, repeated_at=consult.repeated_at or event.at)
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


def _page_next(consult: Consult, duty: OnDuty, now: datetime, policy: Policy) -> Transition:
    """Page the lowest level above the current one that has anyone on duty; else unanswered."""
    payloads = conference.escalate(consult, duty, now + policy.ack_timeout)
    events = [Event.of(now, payload) for payload in payloads]
    page = payloads[-1]
    if isinstance(page, Paged):
        first = not consult.pages
        effects: list[Effect] = [
            # The consultants' invite is their page's first signal; the requester's follows
            # the page (docs/decisions.md, "Pages before bookkeeping").
            CreateRoom(invite=tuple(p.user for p in page.people))
            if first
            else EscalationNotice(params={"level": page.level, "from_level": consult.level}),
            PageLevel(level=page.level, people=page.people, first=first),
        ]
        if first:
            effects.append(Invite(users=(consult.requester,)))
        return events, effects
    effects = [Notice(template="unanswered")] if consult.room else []
    effects += [Reply(template="unanswered"), AlertAdmins(template="admin_unanswered")]
    return events, effects


def step(consult: Consult | None, command: Input, now: datetime, policy: Policy) -> Transition:
    """Events and effects for `command` at `now`. `consult` is None only for a `Request`."""
    if isinstance(command, Request):
        if command.services:
            return conference.step(None, command, now, policy)
        return _request(command, now, policy)
    if consult is None:
        raise ValueError("only a Request starts a consult")
    match command:
        case RoomReady():
            return _room_ready(consult, command, now)
        case PollSent():
            return _poll_sent(consult, command, now)
        case Undeliverable():
            return [], []  # nothing changes: a page is never given up (see Undeliverable)
        case CloseBy():
            return _close(consult, command, now)
        case CallBy():
            return _call(consult, command, now)
    if consult.is_conference:
        return conference.step(consult, command, now, policy)
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
            return _queue(consult, command, now)
        case MeetingBy():
            return [], [Notice(template="meeting_conference_only")]
    raise TypeError(f"unknown command {command!r}")


def _request(command: Request, now: datetime, policy: Policy) -> Transition:
    requested = Event.of(now, command.requested())
    consult = apply(None, requested)
    if not command.open_now:
        opens_at = command.opens_at
        if opens_at is None:
            raise ValueError("a closed track needs opens_at")
        offered = Event.of(now, Offered(opens_at=opens_at))
        return [requested, offered], [
            Reply(template="outside_hours", params={"opens_at": opens_at.isoformat()})
        ]
    events, effects = _page_next(consult, command.duty, now, policy)
    if any(e.kind == EventKind.PAGED for e in events):
        # After the room is created: its invite is what reaches the consultant first.
        effects.insert(1, Reply(template="created"))
    return [requested, *events], effects


def _timer(consult: Consult, command: Timer, now: datetime, policy: Policy) -> Transition:
    if consult.deadline is None or now < consult.deadline:
        repeat_at = consult.repeat_at
        if consult.state is State.PAGING and repeat_at is not None and now >= repeat_at:
            return _repeat(consult, now)
        return [], []  # a stale or early timer: nothing is due
    match consult.state:
        case State.OFFERED:
            return [Event.of(now, Withdrawn())], [Reply(template="offer_lapsed")]
        case State.QUEUED:
            if not command.open_now:
                # The track did not open after all (hours changed): wait for the next opening.
                if command.opens_at is None:
                    return [], []  # nothing to wait for: the caller did not say when it opens
                offered = Offered(opens_at=command.opens_at)
                return [Event.of(now, offered), Event.of(now, Queued())], []
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


def _repeat(consult: Consult, now: datetime) -> Transition:
    """The current level's page again, to the people it paged: unacknowledged at its repeat
    time (once; a level timed out is escalated instead, see `_timer`)."""
    page = consult.pages[-1]
    return (
        [Event.of(now, Repeated(level=page.level))],
        [RepeatPage(level=page.level, people=page.people)],
    )


def _delivered(consult: Consult, command: Delivered, now: datetime, policy: Policy) -> Transition:
    """The current level's page went out: its timeout starts. A page of a level passed by
    since, a repeat, or a page into a consult acknowledged meanwhile changes nothing."""
    page = consult.pages[-1] if consult.pages else None
    waiting = consult.state is State.PAGING and page is not None and not page.sent
    if not waiting or consult.level != command.level:
        return [], []
    deadline = now + policy.ack_timeout
    delivered = PageDelivered(
        level=command.level, deadline=deadline, repeat_at=policy.repeat_at(now)
    )
    return [Event.of(now, delivered)], []


def _room_ready(consult: Consult, report: RoomReady, now: datetime) -> Transition:
    """The consult room, recorded once: a room reported again (a retry) changes nothing."""
    if consult.room:
        return [], []
    return [Event.of(now, RoomCreated(room=report.room))], []


def _poll_sent(consult: Consult, report: PollSent, now: datetime) -> Transition:
    """The outcome poll, recorded once; a consult closed while it was on its way has it ended
    at once: nobody votes on it."""
    if consult.poll:
        return [], []
    posted = [Event.of(now, PollPosted(event_id=report.event_id))]
    if consult.is_open:
        return posted, []
    return posted, [EndPoll(outcome=consult.outcome.value if consult.outcome else "")]


def _acknowledge(consult: Consult, command: AckBy, now: datetime, policy: Policy) -> Transition:
    person = consult.person(command.user)
    if consult.state in (State.PAGING, State.UNANSWERED) and person is not None:
        remind_at = now + policy.reminder_after
        seconds = (now - consult.pages[0].at).total_seconds() if consult.pages else 0.0
        params = {
            "user": command.user,
            "name": person.name,
            "phone": person.phone,
            "seconds": seconds,
        }
        effects: list[Effect] = [Notice(template="acknowledged", params=params), PostPoll()]
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


def _pass_on(consult: Consult, command: PassOnBy, now: datetime, policy: Policy) -> Transition:
    if consult.state is not State.PAGING:
        template = "pass_after_ack" if consult.state is State.ACKNOWLEDGED else "not_open"
        return [], [Notice(template=template)]
    current = consult.pages[-1] if consult.pages else None
    if current is None or command.user not in {p.user for p in current.people}:
        return [], [Notice(template="not_paged_now")]
    passed = Event.of(now, PassedOn(user=command.user, level=current.level))
    events, effects = _page_next(consult, command.duty, now, policy)
    return [passed, *events], effects


def _close(consult: Consult, command: CloseBy, now: datetime) -> Transition:
    """`!avsluta`, of a consult or a conference."""
    if consult.state in (State.CLOSED, State.WITHDRAWN):
        return [], [Notice(template="already_closed")]
    offered = command.offered or DEFAULT_OUTCOMES[consult.track]
    if command.outcome is Outcome.UNKNOWN or command.outcome not in offered:
        # An outcome of another path (`!avsluta hemma` on a specialist consult): refused with
        # the outcomes this path offers.
        return [], [Notice(template="bad_outcome", params={"offered": [o.value for o in offered]})]
    user = command.user
    if user != consult.requester and user not in consult.paged_users:
        return [], [Notice(template="not_a_party")]
    # Closing with an outcome is the strongest acknowledgement there is: for every service of a
    # conference `user` was paged for and that has not acknowledged.
    payloads: list[Payload] = [
        Acknowledged(user=user, via=AckVia.CLOSE, remind_at=None, service=leg.service)
        for leg in consult.legs
        if user in leg.paged_users and leg.acked_by is None
    ]
    plain = not consult.is_conference and consult.state in (State.PAGING, State.UNANSWERED)
    if plain and user in consult.paged_users:
        payloads.append(Acknowledged(user=user, via=AckVia.CLOSE, remind_at=None))
    payloads.append(Closed(outcome=command.outcome, user=user))
    return [Event.of(now, payload) for payload in payloads], [
        Notice(template="closed", params={"outcome": command.outcome.value}),
        Reply(template="closed_reply", params={"outcome": command.outcome.value}),
        *end_poll(consult, command.outcome),
    ]


def _queue(consult: Consult, command: QueueBy, now: datetime) -> Transition:
    if consult.state is not State.OFFERED or command.user != consult.requester:
        return [], [Reply(template="nothing_to_queue")]
    opens = consult.opens_at.isoformat() if consult.opens_at else ""
    return [Event.of(now, Queued())], [Reply(template="queued", params={"opens_at": opens})]


def _call(consult: Consult, command: CallBy, now: datetime) -> Transition:
    """`!ring`, in a consult or a conference: the requester gets the numbers of who
    acknowledged (for each service), else of who is paged now; a paged person the requester's."""
    if command.user == consult.requester:
        others: list[Person] = []
        for paged in consult.legs or (consult,):
            acker = paged.person(paged.acked_by) if paged.acked_by else None
            if acker is not None:
                others.append(acker)
            elif paged.pages:
                others += paged.pages[-1].people
        numbers = [{"name": p.name, "phone": p.phone} for p in others if p.phone]
    elif command.user in consult.paged_users:
        phone = command.requester_phone
        numbers = [{"name": "", "phone": phone}] if phone else []
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
