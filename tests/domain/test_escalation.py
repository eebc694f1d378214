"""The consult lifecycle state machine, driven with plain values (SPEC §6, STYLE idea 1).

Every test runs commands through `step`, applies the events one by one and checks that
`fold` of the whole log gives the same consult, so each table also tests the event log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from consultbot.domain.consult.escalation import (
    AckBy,
    AckVia,
    AlertAdmins,
    CallBy,
    CloseBy,
    Consult,
    CreateRoom,
    Delivered,
    Effect,
    EffectKind,
    EndPoll,
    EscalationNotice,
    Event,
    EventKind,
    Input,
    Invite,
    Notice,
    Page,
    PageLevel,
    PassOnBy,
    Person,
    Policy,
    PollSent,
    PostPoll,
    QueueBy,
    Reply,
    Request,
    RoomReady,
    State,
    Timer,
    Undeliverable,
    UndeliveredReply,
    apply,
    fold,
    step,
)
from consultbot.domain.duty.oncall import OnDuty, on_duty
from consultbot.domain.duty.outcomes import PRIMARY_CARE_OUTCOMES, SPECIALIST_OUTCOMES
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId

# --------------------------------------------------------------------------------------------
# Plain values

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
OPENS = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # the next opening of a closed track
MIN = timedelta(minutes=1)
ACK_TIMEOUT = timedelta(minutes=10)
REMINDER_AFTER = timedelta(hours=4)
AUTO_CLOSE_AFTER = timedelta(hours=24)
POLICY = Policy(
    ack_timeout=ACK_TIMEOUT, reminder_after=REMINDER_AFTER, auto_close_after=AUTO_CLOSE_AFTER
)
SERVICE = ServiceId("kardiologi")
CONSULT = ConsultId("K-000123")

REQ = UserId("@req:region.se")
A1 = UserId("@anna:region.se")
B1 = UserId("@bo:region.se")
C2 = UserId("@cia:region.se")
E2 = UserId("@eva:region.se")
D3 = UserId("@dan:region.se")
STRANGER = UserId("@ulf:region.se")

DIRECTORY: dict[UserId, tuple[str, str]] = {
    A1: ("Anna Alm", "+46 23 00 00 01"),
    B1: ("Bo Berg", "+46 23 00 00 02"),
    C2: ("Cia Ek", "+46 23 00 00 03"),
    E2: ("Eva Gran", "+46 23 00 00 05"),
    D3: ("Dan Fors", ""),  # no phone in the roster
}

# The consults here are halvakut: the specialist paths' outcomes (domain/duty/outcomes.py).
USER_OUTCOMES = list(SPECIALIST_OUTCOMES)
VIAS = [AckVia.REACTION, AckVia.COMMAND, AckVia.MESSAGE]


def make_duty(levels: Mapping[int, Sequence[UserId]], at: datetime = T0) -> OnDuty:
    """The OnDuty that `on_duty` resolves from one long shift per (level, user) entry."""
    shifts = [
        Shift(
            service=SERVICE,
            level=level,
            start=T0 - timedelta(days=1),
            end=T0 + timedelta(days=30),
            user=user,
            name=DIRECTORY[user][0],
            phone=DIRECTORY[user][1],
        )
        for level, users in levels.items()
        for user in users
    ]
    return on_duty(SERVICE, at, shifts)


def person(user: UserId) -> Person:
    name, phone = DIRECTORY[user]
    return Person(user=user, name=name, phone=phone)


def people(*users: UserId) -> tuple[Person, ...]:
    return tuple(person(u) for u in users)


def pdata(*users: UserId) -> list[dict[str, str]]:
    return [{"user": u, "name": DIRECTORY[u][0], "phone": DIRECTORY[u][1]} for u in users]


def iso(at: datetime) -> str:
    return at.isoformat()


DUTY_123 = make_duty({1: [A1], 2: [C2], 3: [D3]})
DUTY_12 = make_duty({1: [A1], 2: [C2]})
DUTY_1 = make_duty({1: [A1]})
DUTY_NONE = make_duty({})

REQUESTED_DATA = {
    "consult": CONSULT,
    "requester": REQ,
    "service": SERVICE,
    "track": "halvakut",
    "request_room": "!dm:region.se",
    "request_event": "$ask",
}


def request(
    duty: OnDuty = DUTY_123,
    *,
    open_now: bool = True,
    opens_at: datetime | None = None,
    language: str = "",
) -> Request:
    return Request(
        consult_id=CONSULT,
        requester=REQ,
        service=SERVICE,
        track=Track.HALVAKUT,
        request_room="!dm:region.se",
        request_event="$ask",
        duty=duty,
        open_now=open_now,
        opens_at=opens_at,
        language=language,
    )


def paged(level: int, *users: UserId, at: datetime) -> tuple[str, dict[str, Any]]:
    """A page decided at `at`: its deadline comes once it has gone out (`Delivered`); if it
    has not gone out one timeout later, that is reported (`alarm_at`)."""
    data = {"level": level, "people": pdata(*users), "deadline": None}
    return ("paged", {**data, "alarm_at": iso(at + ACK_TIMEOUT)})


def acked(user: UserId, via: str, at: datetime) -> tuple[str, dict[str, Any]]:
    return ("acknowledged", {"user": user, "via": via, "remind_at": iso(at + REMINDER_AFTER)})


def ack_notice(user: UserId, seconds: float) -> Notice:
    name, phone = DIRECTORY[user]
    return Notice(
        template="acknowledged",
        params={"user": user, "name": name, "phone": phone, "seconds": seconds},
    )


def escalating(level: int, from_level: int) -> EscalationNotice:
    return EscalationNotice(params={"level": level, "from_level": from_level})


CLOSED_EFFECTS = {
    o: [
        Notice(template="closed", params={"outcome": o.value}),
        Reply(template="closed_reply", params={"outcome": o.value}),
    ]
    for o in Outcome
}


# --------------------------------------------------------------------------------------------
# A driver: step, apply event by event, and check fold against it after every step


@dataclass
class Run:
    """One consult driven through `step`, as the service would (minus the I/O)."""

    log: list[Event] = field(default_factory=list)
    consult: Consult | None = None
    effects: list[list[Effect]] = field(default_factory=list)

    def do(
        self, command: Input, now: datetime, *, send: bool = True
    ) -> tuple[list[Event], list[Effect]]:
        """One step; with `send`, its pages then go out at once (`Delivered`, as the outbox
        reports them), and their entries join the log but not what is returned."""
        events, effects = step(self.consult, command, now, POLICY)
        for event in events:
            assert event.at == now
            self.consult = apply(self.consult, event)
        self.log.extend(events)
        self.effects.append(effects)
        if self.log:
            assert fold(self.log) == self.consult
        if send:
            for effect in effects:
                if isinstance(effect, PageLevel):
                    self.deliver(effect.level, now)
        return events, effects

    def deliver(self, level: int, at: datetime) -> list[Event]:
        """The outbox reports the page of `level` sent at `at`."""
        return self.report(Delivered(level=level), at)

    def room(self, room: str = "!consult:region.se", at: datetime = T0) -> None:
        """The outbox reports the consult room made (the CreateRoom effect carried out)."""
        self.report(RoomReady(room=room), at)

    def poll(self, event_id: str = "$poll", at: datetime = T0) -> None:
        """The outbox reports the outcome poll posted (the PostPoll effect carried out)."""
        self.report(PollSent(event_id=event_id), at)

    def report(self, report: Input, at: datetime) -> list[Event]:
        """A report of the outbox, stepped like any input: it asks for nothing more."""
        events, effects = step(self.consult, report, at, POLICY)
        assert effects == []
        for event in events:
            self.consult = apply(self.consult, event)
        self.log.extend(events)
        assert fold(self.log) == self.consult
        return events

    @property
    def c(self) -> Consult:
        assert self.consult is not None
        return self.consult


def plain(events: Sequence[Event]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.data) for e in events]


def started(duty: OnDuty = DUTY_123, *, room: bool = True) -> Run:
    """A consult requested at T0 with level 1 paged (and its room noted)."""
    run = Run()
    run.do(request(duty), T0)
    if room and run.c.pages:
        run.room()
    return run


def escalated_to_2(duty: OnDuty = DUTY_123) -> Run:
    run = started(duty)
    run.do(Timer(duty=duty), T0 + ACK_TIMEOUT)
    assert run.c.level == 2
    return run


def acknowledged_by_a1(at: datetime = T0 + 3 * MIN) -> Run:
    run = started()
    run.do(AckBy(user=A1, via=AckVia.REACTION), at)
    assert run.c.state is State.ACKNOWLEDGED
    return run


def unanswered(*, room: bool = True) -> Run:
    run = started(DUTY_1, room=room)
    run.do(Timer(duty=DUTY_1), T0 + ACK_TIMEOUT)
    assert run.c.state is State.UNANSWERED
    return run


def offered() -> Run:
    run = Run()
    run.do(request(DUTY_NONE, open_now=False, opens_at=OPENS), T0)
    return run


def queued() -> Run:
    run = offered()
    run.do(QueueBy(user=REQ), T0 + MIN)
    return run


def closed() -> Run:
    run = started()
    run.do(CloseBy(user=REQ, outcome=Outcome.ADVICE), T0 + MIN)
    return run


# --------------------------------------------------------------------------------------------
# Request


@pytest.mark.parametrize(
    ("levels", "expected_events", "expected_effects"),
    [
        pytest.param(
            {1: [A1], 2: [C2]},
            [paged(1, A1, at=T0)],
            [
                CreateRoom(invite=(A1,)),
                Reply(template="created"),
                PageLevel(level=1, people=people(A1), first=True),
                Invite(users=(REQ,)),
            ],
            id="level-1-paged",
        ),
        pytest.param(
            {1: [B1, A1], 2: [C2]},
            [paged(1, A1, B1, at=T0)],
            [
                CreateRoom(invite=(A1, B1)),
                Reply(template="created"),
                PageLevel(level=1, people=people(A1, B1), first=True),
                Invite(users=(REQ,)),
            ],
            id="shared-level-1-all-paged-together",
        ),
        pytest.param(
            {1: [A1, A1], 2: [C2]},
            [paged(1, A1, at=T0)],
            [
                CreateRoom(invite=(A1,)),
                Reply(template="created"),
                PageLevel(level=1, people=people(A1), first=True),
                Invite(users=(REQ,)),
            ],
            id="two-shifts-one-page",
        ),
        pytest.param(
            {2: [C2]},
            [("level_skipped", {"level": 1}), paged(2, C2, at=T0)],
            [
                CreateRoom(invite=(C2,)),
                Reply(template="created"),
                PageLevel(level=2, people=people(C2), first=True),
                Invite(users=(REQ,)),
            ],
            id="empty-level-1-skipped-at-once",
        ),
        pytest.param(
            {3: [D3]},
            [("level_skipped", {"level": 1}), ("level_skipped", {"level": 2}), paged(3, D3, at=T0)],
            [
                CreateRoom(invite=(D3,)),
                Reply(template="created"),
                PageLevel(level=3, people=people(D3), first=True),
                Invite(users=(REQ,)),
            ],
            id="two-empty-levels-skipped",
        ),
        pytest.param(
            {},
            [("level_skipped", {"level": 1}), ("unanswered", {})],
            [Reply(template="unanswered"), AlertAdmins(template="admin_unanswered")],
            id="nobody-on-duty",
        ),
    ],
)
def test_request_while_open(
    levels: Mapping[int, Sequence[UserId]],
    expected_events: list[tuple[str, dict[str, Any]]],
    expected_effects: list[Effect],
) -> None:
    run = Run()
    events, effects = run.do(request(make_duty(levels)), T0)
    assert plain(events) == [("requested", REQUESTED_DATA), *expected_events]
    assert effects == expected_effects
    c = run.c
    assert c.requested_at == T0
    assert (c.id, c.requester, c.service, c.track) == (CONSULT, REQ, SERVICE, Track.HALVAKUT)
    if c.pages:
        assert c.state is State.PAGING
        assert c.deadline == T0 + ACK_TIMEOUT
        assert c.pages[0].at == T0
    else:
        assert c.state is State.UNANSWERED
        assert c.deadline is None
        assert not any(isinstance(e, CreateRoom | PageLevel) for e in effects)


def test_request_while_closed_is_offered() -> None:
    run = Run()
    events, effects = run.do(request(DUTY_123, open_now=False, opens_at=OPENS), T0)
    assert plain(events) == [
        ("requested", REQUESTED_DATA),
        ("offered", {"opens_at": iso(OPENS)}),
    ]
    assert effects == [Reply(template="outside_hours", params={"opens_at": iso(OPENS)})]
    assert run.c.state is State.OFFERED
    assert run.c.deadline == OPENS
    assert run.c.opens_at == OPENS
    assert run.c.is_open
    assert run.c.pages == ()


def test_request_while_closed_needs_opens_at() -> None:
    with pytest.raises(ValueError, match="opens_at"):
        step(None, request(open_now=False), T0, POLICY)


@pytest.mark.parametrize("command", [Timer(duty=DUTY_123), AckBy(user=A1, via=AckVia.COMMAND)])
def test_only_a_request_starts_a_consult(command: Input) -> None:
    with pytest.raises(ValueError, match="only a Request"):
        step(None, command, T0, POLICY)


# --------------------------------------------------------------------------------------------
# Out of hours: offered, queued, opened, withdrawn


@pytest.mark.parametrize(
    ("setup", "user", "expected_events", "expected_effects", "state"),
    [
        (
            offered,
            REQ,
            [("queued", {})],
            [Reply(template="queued", params={"opens_at": iso(OPENS)})],
            State.QUEUED,
        ),
        (offered, STRANGER, [], [Reply(template="nothing_to_queue")], State.OFFERED),
        (offered, A1, [], [Reply(template="nothing_to_queue")], State.OFFERED),
        (queued, REQ, [], [Reply(template="nothing_to_queue")], State.QUEUED),
        (started, REQ, [], [Reply(template="nothing_to_queue")], State.PAGING),
    ],
)
def test_queue(
    setup: Any,
    user: UserId,
    expected_events: list[tuple[str, dict[str, Any]]],
    expected_effects: list[Effect],
    state: State,
) -> None:
    run = setup()
    events, effects = run.do(QueueBy(user=user), T0 + 2 * MIN)
    assert plain(events) == expected_events
    assert effects == expected_effects
    assert run.c.state is state
    if state is State.QUEUED:
        assert run.c.deadline == OPENS


@pytest.mark.parametrize(
    ("setup", "timer", "now", "expected_events", "expected_effects", "state"),
    [
        pytest.param(
            queued,
            Timer(duty=make_duty({1: [A1, B1], 2: [C2]}, OPENS)),
            OPENS,
            [paged(1, A1, B1, at=OPENS)],
            [
                CreateRoom(invite=(A1, B1)),
                Reply(template="queue_opened"),
                PageLevel(level=1, people=people(A1, B1), first=True),
                Invite(users=(REQ,)),
            ],
            State.PAGING,
            id="queued-opens-pages-level-1",
        ),
        pytest.param(
            queued,
            Timer(duty=make_duty({2: [C2]}, OPENS)),
            OPENS + MIN,
            [("level_skipped", {"level": 1}), paged(2, C2, at=OPENS + MIN)],
            [
                CreateRoom(invite=(C2,)),
                Reply(template="queue_opened"),
                PageLevel(level=2, people=people(C2), first=True),
                Invite(users=(REQ,)),
            ],
            State.PAGING,
            id="queued-opens-skips-empty-level-1",
        ),
        pytest.param(
            queued,
            Timer(duty=DUTY_NONE),
            OPENS,
            [("level_skipped", {"level": 1}), ("unanswered", {})],
            [Reply(template="unanswered"), AlertAdmins(template="admin_unanswered")],
            State.UNANSWERED,
            id="queued-opens-nobody-on-duty",
        ),
        pytest.param(
            queued,
            Timer(duty=DUTY_123),
            OPENS - timedelta(seconds=1),
            [],
            [],
            State.QUEUED,
            id="queued-early-timer",
        ),
        pytest.param(
            queued,
            Timer(duty=DUTY_123, open_now=False, opens_at=OPENS + timedelta(days=1)),
            OPENS,
            [("offered", {"opens_at": iso(OPENS + timedelta(days=1))}), ("queued", {})],
            [],
            State.QUEUED,
            id="queued-track-did-not-open-waits-for-next",
        ),
        pytest.param(
            offered,
            Timer(duty=DUTY_123),
            OPENS,
            [("withdrawn", {})],
            [Reply(template="offer_lapsed")],
            State.WITHDRAWN,
            id="offer-lapses-at-opening",
        ),
        pytest.param(
            offered,
            Timer(duty=DUTY_123),
            OPENS - MIN,
            [],
            [],
            State.OFFERED,
            id="offered-early-timer",
        ),
    ],
)
def test_timer_out_of_hours(
    setup: Any,
    timer: Timer,
    now: datetime,
    expected_events: list[tuple[str, dict[str, Any]]],
    expected_effects: list[Effect],
    state: State,
) -> None:
    run = setup()
    events, effects = run.do(timer, now)
    assert plain(events) == expected_events
    assert effects == expected_effects
    assert run.c.state is state
    if state is State.WITHDRAWN:
        assert not run.c.is_open
        assert run.c.deadline is None
    if state is State.PAGING:
        assert run.c.deadline == now + ACK_TIMEOUT
        assert run.c.escalated == (run.c.level > 1)


def test_queued_then_opened_then_unacknowledged_escalates() -> None:
    run = queued()
    run.do(Timer(duty=DUTY_12), OPENS)
    run.room(at=OPENS)
    events, effects = run.do(Timer(duty=DUTY_12), OPENS + ACK_TIMEOUT)
    assert plain(events) == [paged(2, C2, at=OPENS + ACK_TIMEOUT)]
    assert effects == [escalating(2, 1), PageLevel(level=2, people=people(C2), first=False)]


# --------------------------------------------------------------------------------------------
# Timer while paging: escalation


@pytest.mark.parametrize(
    ("timer_duty", "now", "expected_events", "expected_effects"),
    [
        pytest.param(DUTY_123, T0 + ACK_TIMEOUT - timedelta(seconds=1), [], [], id="early"),
        pytest.param(DUTY_123, T0 + 5 * MIN, [], [], id="stale"),
        pytest.param(
            DUTY_123,
            T0 + ACK_TIMEOUT,
            [paged(2, C2, at=T0 + ACK_TIMEOUT)],
            [escalating(2, 1), PageLevel(level=2, people=people(C2), first=False)],
            id="at-deadline",
        ),
        pytest.param(
            DUTY_123,
            T0 + 2 * ACK_TIMEOUT + timedelta(seconds=7),
            [paged(2, C2, at=T0 + 2 * ACK_TIMEOUT + timedelta(seconds=7))],
            [escalating(2, 1), PageLevel(level=2, people=people(C2), first=False)],
            id="after-deadline",
        ),
        pytest.param(
            make_duty({1: [A1], 2: [E2, C2]}),
            T0 + ACK_TIMEOUT,
            [paged(2, C2, E2, at=T0 + ACK_TIMEOUT)],
            [escalating(2, 1), PageLevel(level=2, people=people(C2, E2), first=False)],
            id="duty-resolved-at-escalation",
        ),
        pytest.param(
            make_duty({2: [E2]}),
            T0 + ACK_TIMEOUT,
            [paged(2, E2, at=T0 + ACK_TIMEOUT)],
            [escalating(2, 1), PageLevel(level=2, people=people(E2), first=False)],
            id="level-1-left-duty-meanwhile",
        ),
        pytest.param(
            make_duty({1: [A1], 3: [D3]}),
            T0 + ACK_TIMEOUT,
            [("level_skipped", {"level": 2}), paged(3, D3, at=T0 + ACK_TIMEOUT)],
            [escalating(3, 1), PageLevel(level=3, people=people(D3), first=False)],
            id="empty-level-2-skipped",
        ),
        pytest.param(
            make_duty({1: [A1], 4: [E2]}),
            T0 + ACK_TIMEOUT,
            [
                ("level_skipped", {"level": 2}),
                ("level_skipped", {"level": 3}),
                paged(4, E2, at=T0 + ACK_TIMEOUT),
            ],
            [escalating(4, 1), PageLevel(level=4, people=people(E2), first=False)],
            id="empty-levels-2-and-3-skipped",
        ),
        pytest.param(
            DUTY_1,
            T0 + ACK_TIMEOUT,
            [("unanswered", {})],
            [
                Notice(template="unanswered"),
                Reply(template="unanswered"),
                AlertAdmins(template="admin_unanswered"),
            ],
            id="no-level-left",
        ),
        pytest.param(
            DUTY_NONE,
            T0 + ACK_TIMEOUT,
            [("unanswered", {})],
            [
                Notice(template="unanswered"),
                Reply(template="unanswered"),
                AlertAdmins(template="admin_unanswered"),
            ],
            id="everyone-left-duty",
        ),
    ],
)
def test_timer_while_paging_level_1(
    timer_duty: OnDuty,
    now: datetime,
    expected_events: list[tuple[str, dict[str, Any]]],
    expected_effects: list[Effect],
) -> None:
    run = started(DUTY_123)
    events, effects = run.do(Timer(duty=timer_duty), now)
    assert plain(events) == expected_events
    assert effects == expected_effects
    assert not any(isinstance(e, CreateRoom) for e in effects)
    c = run.c
    if not events:
        assert (c.state, c.level, c.deadline) == (State.PAGING, 1, T0 + ACK_TIMEOUT)
    elif c.state is State.PAGING:
        assert c.escalated
        assert c.deadline == now + ACK_TIMEOUT
        assert c.pages[-1] == Page(level=c.level, people=effects[-1].people, at=now)  # type: ignore[union-attr]
    else:
        assert c.state is State.UNANSWERED
        assert c.deadline is None
        assert not c.is_open


def test_unanswered_without_a_room_sends_no_room_notice() -> None:
    run = started(DUTY_1, room=False)
    events, effects = run.do(Timer(duty=DUTY_1), T0 + ACK_TIMEOUT)
    assert plain(events) == [("unanswered", {})]
    assert effects == [Reply(template="unanswered"), AlertAdmins(template="admin_unanswered")]


def test_escalation_walks_every_level_then_gives_up() -> None:
    run = started(DUTY_123)
    t2, t3, t4, t5 = (T0 + n * ACK_TIMEOUT for n in (1, 2, 3, 4))
    assert plain(run.do(Timer(duty=DUTY_123), t2)[0]) == [paged(2, C2, at=t2)]
    assert run.do(Timer(duty=DUTY_123), t2 + MIN) == ([], [])  # the old timer again: stale
    events, effects = run.do(Timer(duty=DUTY_123), t3)
    assert plain(events) == [paged(3, D3, at=t3)]
    assert effects == [escalating(3, 2), PageLevel(level=3, people=people(D3), first=False)]
    events, effects = run.do(Timer(duty=DUTY_123), t4)
    assert plain(events) == [("unanswered", {})]
    assert effects == [
        Notice(template="unanswered"),
        Reply(template="unanswered"),
        AlertAdmins(template="admin_unanswered"),
    ]
    assert run.do(Timer(duty=DUTY_123), t5) == ([], [])  # nothing is due once unanswered
    assert [p.level for p in run.c.pages] == [1, 2, 3]
    assert run.c.paged_users == {A1, C2, D3}


# --------------------------------------------------------------------------------------------
# What the outbox reports: the room, the poll, an effect given up


def test_the_consult_room_is_recorded_once() -> None:
    run = started(room=False)
    assert run.report(RoomReady(room="!made:region.se"), T0) != []
    assert run.c.room == "!made:region.se"
    # Reported again (a retry after a crash, or a pool room taken alongside): nothing changes.
    assert run.report(RoomReady(room="!other:region.se"), T0 + MIN) == []
    assert run.c.room == "!made:region.se"


def test_the_outcome_poll_is_recorded_once() -> None:
    run = acknowledged_by_a1()
    assert [e.kind for e in run.report(PollSent(event_id="$poll"), T0 + 4 * MIN)] == ["poll_posted"]
    assert run.report(PollSent(event_id="$again"), T0 + 5 * MIN) == []
    assert run.c.poll == "$poll"


def test_a_poll_that_arrives_after_the_close_is_ended_at_once() -> None:
    run = acknowledged_by_a1()
    run.do(CloseBy(user=REQ, outcome=Outcome.ADVICE), T0 + 4 * MIN)
    events, effects = step(run.c, PollSent(event_id="$late"), T0 + 5 * MIN, POLICY)
    assert [e.kind for e in events] == ["poll_posted"]
    assert effects == [EndPoll(outcome="advice")]  # nobody votes on a closed consult


@pytest.mark.parametrize("kind", list(EffectKind))
def test_an_effect_given_up_changes_nothing(kind: EffectKind) -> None:
    """A page is never given up; one that cannot go out is reported when its time is up."""
    run = started()
    assert step(run.c, Undeliverable(kind=kind), T0 + MIN, POLICY) == ([], [])


# --------------------------------------------------------------------------------------------
# Delivered: a level's time starts when its page went out


def test_a_page_held_up_gets_its_whole_time_from_when_it_went_out() -> None:
    run = Run()
    run.do(request(DUTY_123), T0, send=False)
    run.room()
    assert run.c.state is State.PAGING and not run.c.pages[-1].sent  # decided, not yet out
    # Its time would have run out: the requester is told to call, the admins to look, once.
    events, effects = run.do(Timer(duty=DUTY_123), T0 + ACK_TIMEOUT)
    assert plain(events) == [("page_undelivered", {"level": 1})]
    assert effects == [
        UndeliveredReply(params={"level": 1}),
        AlertAdmins(template="admin_page_undelivered", params={"level": 1}),
    ]
    assert run.c.deadline is None
    assert run.do(Timer(duty=DUTY_123), T0 + 2 * ACK_TIMEOUT) == ([], [])
    out = T0 + 17 * MIN  # a backlog, an outage or a restart held the page up
    [delivered] = run.deliver(1, out)
    assert plain([delivered]) == [
        ("page_delivered", {"level": 1, "deadline": iso(out + ACK_TIMEOUT)})
    ]
    assert run.c.deadline == out + ACK_TIMEOUT and run.c.pages[-1].sent
    assert run.do(Timer(duty=DUTY_123), out + ACK_TIMEOUT - MIN) == ([], [])
    events, _ = run.do(Timer(duty=DUTY_123), out + ACK_TIMEOUT, send=False)
    assert plain(events) == [paged(2, C2, at=out + ACK_TIMEOUT)]
    assert run.deliver(2, out + ACK_TIMEOUT + MIN) != []  # level 2's time starts once it is out
    assert run.c.deadline == out + ACK_TIMEOUT + MIN + ACK_TIMEOUT


def test_level_2_held_up_is_not_declared_unanswered_before_its_time() -> None:
    """The flaw the SIGKILL suite found: level 2's page went out after its deadline, counted
    from the decision, had passed; the consult was unanswered before level 2 could answer."""
    run = started(DUTY_12)
    run.do(Timer(duty=DUTY_12), T0 + ACK_TIMEOUT, send=False)  # level 2 decided
    late = T0 + ACK_TIMEOUT + 15 * MIN  # … and sent 15 min later
    events, _ = run.do(Timer(duty=DUTY_12), T0 + 2 * ACK_TIMEOUT)
    assert [e.kind for e in events] == ["page_undelivered"]  # reported, not unanswered
    assert run.c.state is State.PAGING
    run.deliver(2, late)
    assert run.do(Timer(duty=DUTY_12), late + ACK_TIMEOUT - timedelta(seconds=1)) == ([], [])
    events, _ = run.do(AckBy(user=C2, via=AckVia.REACTION), late + 2 * MIN)
    assert [e.kind for e in events] == ["acknowledged"]
    assert run.c.state is State.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("setup", "level"),
    [
        pytest.param(started, 1, id="a-repeat"),
        pytest.param(escalated_to_2, 1, id="a-level-passed-by"),
        pytest.param(acknowledged_by_a1, 1, id="after-the-ack"),
        pytest.param(unanswered, 1, id="after-unanswered"),
        pytest.param(closed, 1, id="after-the-close"),
    ],
)
def test_delivered_changes_nothing_once_the_time_runs_or_the_level_is_past(
    setup: Any, level: int
) -> None:
    run = setup()
    before = run.c
    assert run.deliver(level, T0 + 9 * MIN) == []
    assert run.c == before


def test_a_log_written_before_the_rule_keeps_its_decided_deadline() -> None:
    """Consults open across the upgrade: their `paged` entry carries the deadline."""
    new = Run()
    new.do(request(DUTY_123), T0, send=False)
    requested = new.log[0]
    old_paged = Event(
        kind=EventKind.PAGED,
        at=T0,
        data={"level": 1, "people": pdata(A1), "deadline": iso(T0 + ACK_TIMEOUT)},
    )
    log = [requested, old_paged]
    consult = fold(log)
    assert consult.deadline == T0 + ACK_TIMEOUT
    assert step(consult, Delivered(level=1), T0 + MIN, POLICY) == ([], [])
    events, _ = step(consult, Timer(duty=DUTY_123), T0 + ACK_TIMEOUT, POLICY)
    assert [e.kind for e in events] == ["paged"]


# --------------------------------------------------------------------------------------------
# AckBy


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    ("setup", "user", "now", "seconds"),
    [
        pytest.param(started, A1, T0 + 3 * MIN, 180.0, id="level-1-paging"),
        pytest.param(started, A1, T0, 0.0, id="at-once"),
        pytest.param(escalated_to_2, C2, T0 + 12 * MIN, 720.0, id="level-2-paging"),
        pytest.param(escalated_to_2, A1, T0 + 11 * MIN, 660.0, id="level-1-after-escalation"),
        pytest.param(unanswered, A1, T0 + 2 * ACK_TIMEOUT, 1200.0, id="late-ack-unanswered"),
    ],
)
def test_acknowledge_by_a_paged_person(
    setup: Any, user: UserId, now: datetime, seconds: float, via: str
) -> None:
    run = setup()
    pages_before = run.c.pages
    late = run.c.state is State.UNANSWERED
    events, effects = run.do(AckBy(user=user, via=via), now)
    assert plain(events) == [acked(user, via, now)]
    expected: list[Effect] = [ack_notice(user, seconds), PostPoll()]  # then the outcome poll
    if late:  # the requester, told to call the switchboard, hears where they asked
        person = run.c.person(user)
        assert person is not None
        expected.append(
            Reply(template="late_acknowledged", params={"name": person.name, "phone": person.phone})
        )
    assert effects == expected
    c = run.c
    assert c.state is State.ACKNOWLEDGED
    assert c.is_open
    assert (c.acked_by, c.acked_at) == (user, now)
    assert c.deadline == now + REMINDER_AFTER
    assert c.ack_seconds() == seconds
    assert c.pages == pages_before


@pytest.mark.parametrize(
    ("setup", "user", "via", "expected_effects"),
    [
        (started, STRANGER, "command", [Notice(template="not_paged")]),
        (started, STRANGER, "reaction", []),
        (started, STRANGER, "message", []),
        (started, REQ, "command", [Notice(template="not_paged")]),
        (started, REQ, "message", []),
        (started, C2, "command", [Notice(template="not_paged")]),  # on duty, not yet paged
        (started, C2, "reaction", []),
        (unanswered, STRANGER, "command", [Notice(template="not_paged")]),
        (unanswered, REQ, "message", []),
        (offered, A1, "command", [Notice(template="not_paged")]),
        (queued, A1, "reaction", []),
        *[
            (
                acknowledged_by_a1,
                who,
                "command",
                [Notice(template="already_acknowledged", params={"name": "Anna Alm"})],
            )
            for who in (A1, STRANGER, REQ)
        ],
        *[
            (acknowledged_by_a1, who, via, [])
            for who in (A1, REQ)
            for via in ("reaction", "message")
        ],
        (closed, A1, "command", [Notice(template="not_open")]),
        (closed, A1, "reaction", []),
        (closed, A1, "message", []),
        (closed, STRANGER, "command", [Notice(template="not_paged")]),
    ],
)
def test_acknowledge_that_changes_nothing(
    setup: Any, user: UserId, via: str, expected_effects: list[Effect]
) -> None:
    run = setup()
    before = run.c
    events, effects = run.do(AckBy(user=user, via=AckVia(via)), T0 + 5 * MIN)
    assert events == []
    assert effects == expected_effects
    assert run.c == before


def test_second_acknowledgement_keeps_the_first() -> None:
    run = started(make_duty({1: [A1, B1], 2: [C2]}))
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0 + MIN)
    events, effects = run.do(AckBy(user=B1, via=AckVia.COMMAND), T0 + 2 * MIN)
    assert events == []
    assert effects == [Notice(template="already_acknowledged", params={"name": "Anna Alm"})]
    assert (run.c.acked_by, run.c.acked_at) == (A1, T0 + MIN)


# --------------------------------------------------------------------------------------------
# The key safety property: acknowledgement and escalation are one atomic transition


ACK = AckBy(user=A1, via=AckVia.REACTION)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    "script",
    [
        pytest.param([(ACK, _t(5)), (Timer(duty=DUTY_123), _t(10))], id="ack-then-old-deadline"),
        pytest.param(
            [(ACK, _t(10)), (Timer(duty=DUTY_123), _t(10))], id="ack-and-deadline-same-instant"
        ),
        pytest.param(
            [(ACK, _t(9.99)), *[(Timer(duty=DUTY_123), _t(m)) for m in (10, 10, 20, 30, 239)]],
            id="ack-just-before-then-repeated-timers",
        ),
        pytest.param(
            [(AckBy(user=A1, via=AckVia.MESSAGE), _t(1)), (Timer(duty=DUTY_123), _t(60))],
            id="message-ack",
        ),
        pytest.param(
            [(AckBy(user=A1, via=AckVia.COMMAND), _t(1)), (Timer(duty=DUTY_123), _t(11))],
            id="command-ack",
        ),
        pytest.param(
            [(CloseBy(user=A1, outcome=Outcome.ADVICE), _t(2)), (Timer(duty=DUTY_123), _t(10))],
            id="close-as-ack",
        ),
        pytest.param(
            [
                (Timer(duty=DUTY_123), _t(10)),
                (ACK, _t(10)),
                (Timer(duty=DUTY_123), _t(20)),
                (Timer(duty=DUTY_123), _t(30)),
            ],
            id="escalated-then-level-1-acks",
        ),
        pytest.param(
            [
                (Timer(duty=DUTY_123), _t(10)),
                (AckBy(user=C2, via=AckVia.COMMAND), _t(19)),
                (Timer(duty=DUTY_123), _t(20)),
            ],
            id="level-2-acks-before-its-deadline",
        ),
        pytest.param(
            [
                (Timer(duty=DUTY_123), _t(10)),
                (Timer(duty=DUTY_123), _t(20)),
                (AckBy(user=D3, via=AckVia.REACTION), _t(20)),
                (Timer(duty=DUTY_123), _t(30)),
            ],
            id="last-level-acks-at-its-deadline",
        ),
        pytest.param(
            [
                (Timer(duty=DUTY_123), _t(10)),
                (Timer(duty=DUTY_123), _t(20)),
                (Timer(duty=DUTY_123), _t(30)),
                (ACK, _t(31)),
                (Timer(duty=DUTY_123), _t(40)),
                (PassOnBy(user=A1, duty=DUTY_123), _t(41)),
            ],
            id="late-ack-after-unanswered",
        ),
        pytest.param(
            [
                (ACK, _t(3)),
                (PassOnBy(user=A1, duty=DUTY_123), _t(4)),
                (PassOnBy(user=C2, duty=DUTY_123), _t(5)),
                (Timer(duty=DUTY_123), _t(10)),
            ],
            id="pass-on-after-ack",
        ),
        pytest.param(
            [
                (ACK, _t(3)),
                *[(Timer(duty=DUTY_123), _t(3) + d) for d in (REMINDER_AFTER, AUTO_CLOSE_AFTER)],
                (Timer(duty=DUTY_123), _t(3) + 2 * AUTO_CLOSE_AFTER),
            ],
            id="ack-reminder-auto-close",
        ),
    ],
)
def test_no_page_after_acknowledgement(script: list[tuple[Input, datetime]]) -> None:
    run = started(DUTY_123)
    acked_at: int | None = None
    for command, now in script:
        events, effects = run.do(command, now)
        if acked_at is not None:
            assert not any(e.kind == "paged" for e in events)
            assert not any(isinstance(e, PageLevel | CreateRoom) for e in effects)
        if any(e.kind == "acknowledged" for e in events):
            acked_at = len(run.log)
    assert acked_at is not None
    kinds = [e.kind for e in run.log]
    assert "paged" not in kinds[acked_at:]
    assert kinds.count("acknowledged") == 1


# --------------------------------------------------------------------------------------------
# PassOnBy (!vidare)


@pytest.mark.parametrize(
    ("setup", "command", "expected_events", "expected_effects"),
    [
        pytest.param(
            started,
            PassOnBy(user=A1, duty=DUTY_123),
            [("passed_on", {"user": A1, "level": 1}), paged(2, C2, at=T0 + 2 * MIN)],
            [escalating(2, 1), PageLevel(level=2, people=people(C2), first=False)],
            id="level-1-passes",
        ),
        pytest.param(
            started,
            PassOnBy(user=A1, duty=make_duty({1: [A1], 2: [E2]})),
            [("passed_on", {"user": A1, "level": 1}), paged(2, E2, at=T0 + 2 * MIN)],
            [escalating(2, 1), PageLevel(level=2, people=people(E2), first=False)],
            id="duty-resolved-at-pass",
        ),
        pytest.param(
            started,
            PassOnBy(user=A1, duty=make_duty({1: [A1], 3: [D3]})),
            [
                ("passed_on", {"user": A1, "level": 1}),
                ("level_skipped", {"level": 2}),
                paged(3, D3, at=T0 + 2 * MIN),
            ],
            [escalating(3, 1), PageLevel(level=3, people=people(D3), first=False)],
            id="pass-skips-empty-level",
        ),
        pytest.param(
            started,
            PassOnBy(user=A1, duty=DUTY_1),
            [("passed_on", {"user": A1, "level": 1}), ("unanswered", {})],
            [
                Notice(template="unanswered"),
                Reply(template="unanswered"),
                AlertAdmins(template="admin_unanswered"),
            ],
            id="pass-at-last-level",
        ),
        pytest.param(
            escalated_to_2,
            PassOnBy(user=C2, duty=DUTY_123),
            [("passed_on", {"user": C2, "level": 2}), paged(3, D3, at=T0 + 2 * MIN)],
            [escalating(3, 2), PageLevel(level=3, people=people(D3), first=False)],
            id="level-2-passes",
        ),
        pytest.param(
            escalated_to_2,
            PassOnBy(user=A1, duty=DUTY_123),
            [],
            [Notice(template="not_paged_now")],
            id="level-1-after-level-2-paged",
        ),
        pytest.param(
            started,
            PassOnBy(user=C2, duty=DUTY_123),
            [],
            [Notice(template="not_paged_now")],
            id="level-2-not-yet-paged",
        ),
        pytest.param(
            started,
            PassOnBy(user=STRANGER, duty=DUTY_123),
            [],
            [Notice(template="not_paged_now")],
            id="stranger",
        ),
        pytest.param(
            started,
            PassOnBy(user=REQ, duty=DUTY_123),
            [],
            [Notice(template="not_paged_now")],
            id="requester",
        ),
        pytest.param(
            acknowledged_by_a1,
            PassOnBy(user=A1, duty=DUTY_123),
            [],
            [Notice(template="pass_after_ack")],
            id="after-ack",
        ),
        pytest.param(
            unanswered,
            PassOnBy(user=A1, duty=DUTY_123),
            [],
            [Notice(template="not_open")],
            id="unanswered",
        ),
        pytest.param(
            closed, PassOnBy(user=A1, duty=DUTY_123), [], [Notice(template="not_open")], id="closed"
        ),
        pytest.param(
            offered,
            PassOnBy(user=A1, duty=DUTY_123),
            [],
            [Notice(template="not_open")],
            id="offered",
        ),
    ],
)
def test_pass_on(
    setup: Any,
    command: PassOnBy,
    expected_events: list[tuple[str, dict[str, Any]]],
    expected_effects: list[Effect],
) -> None:
    run = setup()
    before = run.c
    now = T0 + 2 * MIN
    events, effects = run.do(command, now)
    assert plain(events) == expected_events
    assert effects == expected_effects
    if events:
        assert run.c.passed_on == before.passed_on + 1
        if run.c.state is State.PAGING:
            assert run.c.escalated
            assert run.c.deadline == now + ACK_TIMEOUT  # no waiting out the old deadline
    else:
        assert run.c == before


# --------------------------------------------------------------------------------------------
# CloseBy (!avsluta)


@pytest.mark.parametrize("outcome", USER_OUTCOMES)
@pytest.mark.parametrize(
    ("setup", "user", "ack_first"),
    [
        pytest.param(started, REQ, False, id="requester-while-paging"),
        pytest.param(started, A1, True, id="paged-while-paging"),
        pytest.param(escalated_to_2, A1, True, id="earlier-level-while-paging"),
        pytest.param(escalated_to_2, C2, True, id="current-level-while-paging"),
        pytest.param(acknowledged_by_a1, REQ, False, id="requester-after-ack"),
        pytest.param(acknowledged_by_a1, A1, False, id="acknowledger"),
        pytest.param(unanswered, REQ, False, id="requester-unanswered"),
        pytest.param(unanswered, A1, True, id="paged-unanswered"),
        pytest.param(offered, REQ, False, id="requester-offered"),
        pytest.param(queued, REQ, False, id="requester-queued"),
    ],
)
def test_close(setup: Any, user: UserId, ack_first: bool, outcome: Outcome) -> None:
    run = setup()
    was_acked_by = run.c.acked_by
    now = T0 + 30 * MIN
    events, effects = run.do(CloseBy(user=user, outcome=outcome), now)
    closed_event = ("closed", {"outcome": outcome.value, "user": user})
    if ack_first:
        ack = ("acknowledged", {"user": user, "via": "close", "remind_at": None})
        assert plain(events) == [ack, closed_event]
    else:
        assert plain(events) == [closed_event]
    assert effects == CLOSED_EFFECTS[outcome]
    c = run.c
    assert (c.state, c.outcome, c.closed_by, c.closed_at) == (State.CLOSED, outcome, user, now)
    assert c.deadline is None
    assert not c.is_open
    assert c.acked_by == (user if ack_first else was_acked_by)
    if ack_first:
        assert c.ack_seconds() == (now - c.pages[0].at).total_seconds()


@pytest.mark.parametrize(
    ("setup", "command", "expected"),
    [
        (started, CloseBy(user=STRANGER, outcome=Outcome.ADVICE), "not_a_party"),
        (started, CloseBy(user=C2, outcome=Outcome.ADVICE), "not_a_party"),  # not yet paged
        (acknowledged_by_a1, CloseBy(user=STRANGER, outcome=Outcome.ED), "not_a_party"),
        *[
            (closed, CloseBy(user=who, outcome=Outcome.OTHER), "already_closed")
            for who in (REQ, A1)
        ],
        (closed, CloseBy(user=STRANGER, outcome=Outcome.UNKNOWN), "already_closed"),
        (lambda: _withdrawn(), CloseBy(user=REQ, outcome=Outcome.ADVICE), "already_closed"),
    ],
)
def test_close_refused(setup: Any, command: CloseBy, expected: str) -> None:
    run = setup()
    before = run.c
    events, effects = run.do(command, T0 + 30 * MIN)
    assert events == []
    assert effects == [Notice(template=expected)]
    assert run.c == before


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        (started, CloseBy(user=REQ, outcome=Outcome.UNKNOWN)),
        (acknowledged_by_a1, CloseBy(user=A1, outcome=Outcome.UNKNOWN)),
        # The fourth path's own outcomes are not a specialist consult's.
        *[(acknowledged_by_a1, CloseBy(user=A1, outcome=o)) for o in PRIMARY_CARE_OUTCOMES[:3]],
        (started, CloseBy(user=REQ, outcome=Outcome.HOME)),
        # A catalogue that offers only some outcomes on the path: the others are refused, and
        # the answer names those it offers.
        (
            started,
            CloseBy(user=REQ, outcome=Outcome.VISIT, offered=(Outcome.ADVICE, Outcome.OTHER)),
        ),
    ],
)
def test_an_outcome_the_path_does_not_offer_is_refused_with_those_it_does(
    setup: Any, command: CloseBy
) -> None:
    run = setup()
    before = run.c
    events, effects = run.do(command, T0 + 30 * MIN)
    offered = command.offered or SPECIALIST_OUTCOMES
    assert events == []
    assert effects == [
        Notice(template="bad_outcome", params={"offered": [o.value for o in offered]})
    ]
    assert run.c == before


def test_a_catalogue_set_decides_what_closes_the_consult() -> None:
    run = started()
    home = CloseBy(user=REQ, outcome=Outcome.HOME, offered=PRIMARY_CARE_OUTCOMES)
    events, _ = run.do(home, T0 + MIN)
    assert plain(events) == [("closed", {"outcome": "home", "user": REQ})]
    assert run.c.outcome is Outcome.HOME


def _withdrawn() -> Run:
    run = offered()
    run.do(Timer(duty=DUTY_123), OPENS)
    assert run.c.state is State.WITHDRAWN
    return run


def test_close_twice_keeps_the_first_outcome() -> None:
    run = started()
    run.do(CloseBy(user=A1, outcome=Outcome.REFERRAL), T0 + MIN)
    events, effects = run.do(CloseBy(user=REQ, outcome=Outcome.ADVICE), T0 + 2 * MIN)
    assert (events, effects) == ([], [Notice(template="already_closed")])
    assert (run.c.outcome, run.c.closed_by) == (Outcome.REFERRAL, A1)


# --------------------------------------------------------------------------------------------
# Reminder and automatic close


def test_reminder_then_auto_close() -> None:
    acked_at = T0 + 3 * MIN
    remind_at = acked_at + REMINDER_AFTER
    close_at = acked_at + AUTO_CLOSE_AFTER
    run = acknowledged_by_a1(acked_at)
    assert run.c.deadline == remind_at
    assert run.do(Timer(duty=DUTY_123), T0 + ACK_TIMEOUT) == ([], [])  # the old ack deadline
    assert run.do(Timer(duty=DUTY_123), remind_at - timedelta(seconds=1)) == ([], [])

    events, effects = run.do(Timer(duty=DUTY_123), remind_at)
    assert plain(events) == [("reminded", {"close_at": iso(close_at)})]
    assert effects == [Notice(template="reminder", params={"close_at": iso(close_at)})]
    assert (run.c.state, run.c.reminded, run.c.deadline) == (State.ACKNOWLEDGED, True, close_at)

    assert run.do(Timer(duty=DUTY_123), remind_at) == ([], [])  # the same timer again
    assert run.do(Timer(duty=DUTY_123), close_at - timedelta(seconds=1)) == ([], [])

    events, effects = run.do(Timer(duty=DUTY_123), close_at)
    assert plain(events) == [("closed", {"outcome": "unknown", "user": None})]
    assert effects == [Notice(template="auto_closed")]
    c = run.c
    assert (c.state, c.outcome, c.closed_by, c.closed_at) == (
        State.CLOSED,
        Outcome.UNKNOWN,
        None,
        close_at,
    )
    assert c.deadline is None
    assert run.do(Timer(duty=DUTY_123), close_at + timedelta(days=1)) == ([], [])


def test_late_timer_reminds_then_closes() -> None:
    """A bot that was down for two days reminds first, then closes on the next timer."""
    run = acknowledged_by_a1(T0)
    late = T0 + timedelta(days=2)
    assert [e.kind for e in run.do(Timer(duty=DUTY_123), late)[0]] == ["reminded"]
    assert [e.kind for e in run.do(Timer(duty=DUTY_123), late)[0]] == ["closed"]


def test_reminder_after_a_late_ack() -> None:
    run = unanswered()
    ack_at = T0 + timedelta(hours=1)
    run.do(AckBy(user=A1, via=AckVia.MESSAGE), ack_at)
    events, _ = run.do(Timer(duty=DUTY_123), ack_at + REMINDER_AFTER)
    assert plain(events) == [("reminded", {"close_at": iso(ack_at + AUTO_CLOSE_AFTER)})]


# --------------------------------------------------------------------------------------------
# CallBy (!ring)


def _acked_by(user: UserId, levels: Mapping[int, Sequence[UserId]]) -> Any:
    def setup() -> Run:
        run = started(make_duty(levels))
        run.do(AckBy(user=user, via=AckVia.COMMAND), T0 + MIN)
        return run

    return setup


@pytest.mark.parametrize(
    ("setup", "command", "numbers", "to_requester"),
    [
        pytest.param(
            acknowledged_by_a1,
            CallBy(user=REQ),
            [{"name": "Anna Alm", "phone": "+46 23 00 00 01"}],
            False,
            id="requester-gets-acknowledgers-number",
        ),
        pytest.param(
            _acked_by(A1, {1: [A1, B1]}),
            CallBy(user=REQ),
            [{"name": "Anna Alm", "phone": "+46 23 00 00 01"}],
            False,
            id="only-the-acknowledger-not-the-whole-level",
        ),
        pytest.param(
            lambda: started(make_duty({1: [A1, B1, D3]})),
            CallBy(user=REQ),
            [
                {"name": "Anna Alm", "phone": "+46 23 00 00 01"},
                {"name": "Bo Berg", "phone": "+46 23 00 00 02"},
            ],
            False,
            id="requester-before-ack-gets-current-level",
        ),
        pytest.param(
            escalated_to_2,
            CallBy(user=REQ),
            [{"name": "Cia Ek", "phone": "+46 23 00 00 03"}],
            False,
            id="requester-after-escalation-gets-current-level",
        ),
        pytest.param(
            acknowledged_by_a1,
            CallBy(user=A1, requester_phone="+46 70 000 00 00"),
            [{"name": "", "phone": "+46 70 000 00 00"}],
            True,
            id="acknowledger-gets-requesters-number",
        ),
        pytest.param(
            started,
            CallBy(user=A1, requester_phone="+46 70 000 00 00"),
            [{"name": "", "phone": "+46 70 000 00 00"}],
            True,
            id="paged-gets-requesters-number",
        ),
    ],
)
def test_call(
    setup: Any, command: CallBy, numbers: list[dict[str, str]], to_requester: bool
) -> None:
    run = setup()
    before = run.c.phone_contacts
    events, effects = run.do(command, T0 + 5 * MIN)
    assert plain(events) == [("phone_contact", {"user": command.user})]
    params = {"numbers": numbers, "to_requester": to_requester, "asker": command.user}
    assert effects == [Notice(template="call", params=params)]
    assert run.c.phone_contacts == before + 1


@pytest.mark.parametrize(
    ("setup", "command", "expected"),
    [
        pytest.param(
            _acked_by(D3, {3: [D3]}), CallBy(user=REQ), "no_phone", id="acknowledger-has-no-phone"
        ),
        pytest.param(
            lambda: started(make_duty({1: [D3]})), CallBy(user=REQ), "no_phone", id="level-no-phone"
        ),
        pytest.param(offered, CallBy(user=REQ), "no_phone", id="nobody-paged"),
        pytest.param(started, CallBy(user=A1), "no_phone", id="requester-has-no-phone"),
        pytest.param(
            started,
            CallBy(user=STRANGER, requester_phone="+46 70 000 00 00"),
            "not_a_party",
            id="stranger",
        ),
        pytest.param(started, CallBy(user=C2), "not_a_party", id="not-yet-paged"),
    ],
)
def test_call_without_contact(setup: Any, command: CallBy, expected: str) -> None:
    run = setup()
    before = run.c
    events, effects = run.do(command, T0 + 5 * MIN)
    assert events == []
    assert effects == [Notice(template=expected)]
    assert run.c == before


def test_calls_are_counted() -> None:
    run = acknowledged_by_a1()
    for n in range(3):
        run.do(CallBy(user=REQ), T0 + (10 + n) * MIN)
    run.do(CallBy(user=A1, requester_phone="070"), T0 + 20 * MIN)
    assert run.c.phone_contacts == 4
    assert [e.kind for e in run.log].count("phone_contact") == 4


# --------------------------------------------------------------------------------------------
# fold and the derived properties


@dataclass(frozen=True)
class Expect:
    state: State
    level: int
    escalated: bool
    paged: frozenset[UserId]
    is_open: bool
    ack_seconds: float | None


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        pytest.param(
            started,
            Expect(State.PAGING, 1, False, frozenset({A1}), True, None),
            id="paging-level-1",
        ),
        pytest.param(
            lambda: started(make_duty({2: [C2]})),
            Expect(State.PAGING, 2, True, frozenset({C2}), True, None),
            id="level-1-skipped",
        ),
        pytest.param(
            escalated_to_2,
            Expect(State.PAGING, 2, True, frozenset({A1, C2}), True, None),
            id="escalated",
        ),
        pytest.param(
            acknowledged_by_a1,
            Expect(State.ACKNOWLEDGED, 1, False, frozenset({A1}), True, 180.0),
            id="acknowledged",
        ),
        pytest.param(
            unanswered,
            Expect(State.UNANSWERED, 1, False, frozenset({A1}), False, None),
            id="unanswered-after-level-1",
        ),
        pytest.param(
            lambda: started(DUTY_NONE),
            # escalated's docstring: "True when any level after the first was paged" -- none was.
            Expect(State.UNANSWERED, 0, False, frozenset(), False, None),
            id="nobody-on-duty-is-not-escalated",
        ),
        pytest.param(
            offered, Expect(State.OFFERED, 0, False, frozenset(), True, None), id="offered"
        ),
        pytest.param(queued, Expect(State.QUEUED, 0, False, frozenset(), True, None), id="queued"),
        pytest.param(
            _withdrawn, Expect(State.WITHDRAWN, 0, False, frozenset(), False, None), id="withdrawn"
        ),
        pytest.param(
            closed,
            Expect(State.CLOSED, 1, False, frozenset({A1}), False, None),
            id="closed-by-requester",
        ),
    ],
)
def test_derived_properties(setup: Any, expect: Expect) -> None:
    run = setup()
    c = fold(run.log)
    assert c == run.c
    got = Expect(c.state, c.level, c.escalated, c.paged_users, c.is_open, c.ack_seconds())
    assert got == expect


def test_fold_replays_a_whole_lifecycle_prefix_by_prefix() -> None:
    run = started(DUTY_123)
    run.do(Timer(duty=DUTY_123), T0 + ACK_TIMEOUT)
    run.do(PassOnBy(user=C2, duty=DUTY_123), T0 + 12 * MIN)
    run.do(CallBy(user=C2, requester_phone="+46 70 000 00 00"), T0 + 13 * MIN)
    run.do(AckBy(user=D3, via=AckVia.MESSAGE), T0 + 14 * MIN)
    run.do(Timer(duty=DUTY_123), T0 + 14 * MIN + REMINDER_AFTER)
    run.do(CloseBy(user=REQ, outcome=Outcome.VISIT), T0 + 5 * 60 * MIN)
    consult: Consult | None = None
    for n, event in enumerate(run.log, start=1):
        consult = apply(consult, event)
        assert fold(run.log[:n]) == consult
    c = run.c
    assert [p.level for p in c.pages] == [1, 2, 3]
    assert (c.passed_on, c.phone_contacts, c.reminded) == (1, 1, True)
    assert (c.acked_by, c.ack_seconds(), c.outcome) == (D3, 14 * 60.0, Outcome.VISIT)
    assert c.room == "!consult:region.se"
    assert c.person(D3) == person(D3)
    assert c.person(STRANGER) is None


@pytest.mark.parametrize(
    ("log", "message"),
    [
        ([], "empty"),
        ([Event(kind=EventKind.PAGED, at=T0, data={})], "must start with 'requested'"),
        (
            [
                Event(kind=EventKind.REQUESTED, at=T0, data=REQUESTED_DATA),
                Event(kind="nonsense", at=T0),
            ],
            "unknown consult event",
        ),
    ],
)
def test_fold_rejects_bad_logs(log: list[Event], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fold(log)


# --------------------------------------------------------------------------------------------
# Random sequences of inputs

USERS = [REQ, A1, B1, C2, E2, STRANGER]
DUTIES = [
    DUTY_123,
    DUTY_12,
    DUTY_1,
    DUTY_NONE,
    make_duty({1: [A1, B1], 2: [C2, E2]}),
    make_duty({2: [C2], 3: [D3]}),
    make_duty({1: [B1], 3: [E2]}),
]
STATE_OF = {
    "requested": State.PAGING,
    "offered": State.OFFERED,
    "queued": State.QUEUED,
    "withdrawn": State.WITHDRAWN,
    "paged": State.PAGING,
    "unanswered": State.UNANSWERED,
    "acknowledged": State.ACKNOWLEDGED,
    "reminded": State.ACKNOWLEDGED,
    "closed": State.CLOSED,
}

duties = st.sampled_from(DUTIES)
users = st.sampled_from(USERS)
commands = st.one_of(
    st.builds(
        Timer,
        duty=duties,
        open_now=st.booleans(),
        opens_at=st.sampled_from([None, OPENS, OPENS + timedelta(days=1)]),
    ),
    st.builds(AckBy, user=users, via=st.sampled_from(VIAS)),
    st.builds(PassOnBy, user=users, duty=duties),
    st.builds(CloseBy, user=users, outcome=st.sampled_from(list(Outcome))),
    st.builds(QueueBy, user=users),
    st.builds(CallBy, user=users, requester_phone=st.sampled_from(["", "+46 70 000 00 00"])),
)
# When a command happens: at the consult's deadline, just before it, or some time later.
whens = st.one_of(
    st.just("deadline"),
    st.just("before"),
    st.integers(min_value=0, max_value=30 * 3600).map(lambda s: timedelta(seconds=s)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first_duty=duties,
    open_now=st.booleans(),
    script=st.lists(st.tuples(commands, whens), max_size=25),
)
def test_random_inputs_keep_the_invariants(
    first_duty: OnDuty, open_now: bool, script: list[tuple[Input, Any]]
) -> None:
    run = Run()
    now = T0
    run.do(request(first_duty, open_now=open_now, opens_at=OPENS), now)
    for command, when in script:
        c = run.c
        if when == "deadline":
            at = c.deadline or now
        elif when == "before":
            at = (c.deadline or now) - timedelta(seconds=1)
        else:
            at = now + when
        now = max(now, at)  # the clock never goes back
        events, effects = run.do(command, now)
        if any(isinstance(e, CreateRoom) for e in effects) and not run.c.room:
            run.room(at=now)

        # Effects and events agree: a PageLevel for every paged event, in the same step.
        paged_levels = [e.data["level"] for e in events if e.kind == "paged"]
        assert [e.level for e in effects if isinstance(e, PageLevel)] == paged_levels
        assert all(e.kind != "paged" for e in events) or run.c.state is State.PAGING

    log = run.log
    kinds = [e.kind for e in log]
    assert kinds[0] == "requested"
    assert kinds.count("requested") == 1
    # Never a page after an acknowledgement.
    if "acknowledged" in kinds:
        first_ack = kinds.index("acknowledged")
        assert "paged" not in kinds[first_ack:]
        assert kinds.count("acknowledged") == 1
    # Never the same level twice; levels only go up; skipped levels are never paged.
    levels = [int(e.data["level"]) for e in log if e.kind == "paged"]
    assert levels == sorted(set(levels))
    skipped = [int(e.data["level"]) for e in log if e.kind == "level_skipped"]
    assert not set(skipped) & set(levels)
    # Nobody is paged twice on the same page.
    for page in run.c.pages:
        assert len({p.user for p in page.people}) == len(page.people)
    # Nothing after a final close or a withdrawal changes the state.
    for final in ("closed", "withdrawn"):
        if final in kinds:
            assert all(k not in STATE_OF for k in kinds[kinds.index(final) + 1 :])
            assert kinds.count("closed") + kinds.count("withdrawn") == 1

    # The end state agrees with the last state-changing event.
    c = fold(log)
    assert c == run.c
    last = [k for k in kinds if k in STATE_OF][-1]
    assert c.state is STATE_OF[last]
    assert c.is_open == (c.state in {State.OFFERED, State.QUEUED, State.PAGING, State.ACKNOWLEDGED})
    assert (c.deadline is None) == (not c.is_open)
    assert c.level == (levels[-1] if levels else 0)
    if c.acked_by is not None:
        assert c.acked_by in c.paged_users
        ack_seconds = c.ack_seconds()
        assert ack_seconds is not None and ack_seconds >= 0
    if c.state is State.CLOSED:
        assert c.outcome is not None
        assert (c.outcome is Outcome.UNKNOWN) == (c.closed_by is None)
    if c.state is State.ACKNOWLEDGED:
        assert c.acked_at is not None
        assert c.deadline is not None and c.deadline > c.acked_at


# --------------------------------------------------------------------------------------------
# Rebuilding from the log: after a restart a consult is only what its log says


def stored(log: Sequence[Event]) -> list[Event]:
    """The log as a store gives it back: data through JSON, as the database keeps it."""
    return [Event(kind=e.kind, at=e.at, data=json.loads(json.dumps(e.data))) for e in log]


def check_every_field(rebuilt: Consult, expected: dict[str, Any]) -> None:
    # A new Consult field needs an expectation here, or a restart could silently lose it.
    assert {f.name for f in fields(Consult)} == set(expected)
    for name, value in expected.items():
        assert getattr(rebuilt, name) == value, name


def test_the_log_rebuilds_every_field_of_a_consult_that_ran_its_course() -> None:
    """Checked against the inputs, not against `apply`: the requester's room and event (where
    their notices go after a restart) must come back from the log like everything else."""
    run = started()
    escalate_at = T0 + ACK_TIMEOUT
    run.do(Timer(duty=DUTY_123), escalate_at)
    pass_at = escalate_at + MIN
    run.do(PassOnBy(user=C2, duty=DUTY_123), pass_at)
    ack_at = pass_at + MIN
    run.do(AckBy(user=D3, via=AckVia.MESSAGE), ack_at)
    run.poll(at=ack_at)
    run.do(CallBy(user=D3, requester_phone="0250-49 30 11"), ack_at + MIN)
    remind_at = ack_at + REMINDER_AFTER
    run.do(Timer(duty=DUTY_123), remind_at)
    close_at = remind_at + MIN
    run.do(CloseBy(user=D3, outcome=Outcome.ADVICE), close_at)

    check_every_field(
        fold(stored(run.log)),
        {
            "id": CONSULT,
            "requester": REQ,
            "service": SERVICE,
            "track": Track.HALVAKUT,
            "request_room": "!dm:region.se",
            "request_event": "$ask",
            "requested_at": T0,
            "state": State.CLOSED,
            "room": "!consult:region.se",
            "pages": (
                Page(level=1, people=people(A1), at=T0),
                Page(level=2, people=people(C2), at=escalate_at),
                Page(level=3, people=people(D3), at=pass_at),
            ),
            "skipped": (),
            "deadline": None,
            "opens_at": None,
            "acked_by": D3,
            "acked_at": ack_at,
            "outcome": Outcome.ADVICE,
            "closed_by": D3,
            "closed_at": close_at,
            "reminded": True,
            "passed_on": 1,
            "phone_contacts": 1,
            "language": "",
            "poll": "$poll",
            "services": (),
            "legs": (),
            "closing_deadline": None,
            "meeting_at": None,
            "meeting_remind_at": None,
            "meeting_reminded": None,
            "repeat_at": None,
            "repeated_at": None,
        },
    )


def test_the_log_rebuilds_a_queued_consult_with_its_opening_in_local_time() -> None:
    stockholm = ZoneInfo("Europe/Stockholm")
    opens = datetime(2026, 3, 3, 8, 0, tzinfo=stockholm)
    run = Run()
    run.do(request(DUTY_123, open_now=False, opens_at=opens, language="en"), T0)
    run.do(QueueBy(user=REQ), T0 + MIN)
    rebuilt = fold(stored(run.log))
    check_every_field(
        rebuilt,
        {
            "id": CONSULT,
            "requester": REQ,
            "service": SERVICE,
            "track": Track.HALVAKUT,
            "request_room": "!dm:region.se",
            "request_event": "$ask",
            "requested_at": T0,
            "state": State.QUEUED,
            "room": "",
            "pages": (),
            "skipped": (),
            "deadline": opens,
            "opens_at": opens,
            "acked_by": None,
            "acked_at": None,
            "outcome": None,
            "closed_by": None,
            "closed_at": None,
            "reminded": False,
            "passed_on": 0,
            "phone_contacts": 0,
            "language": "en",
            "poll": "",
            "services": (),
            "legs": (),
            "closing_deadline": None,
            "meeting_at": None,
            "meeting_remind_at": None,
            "meeting_reminded": None,
            "repeat_at": None,
            "repeated_at": None,
        },
    )
    # Not only the same moment: the opening is shown to the requester as local time.
    assert rebuilt.opens_at is not None and rebuilt.opens_at.isoformat() == opens.isoformat()
    assert rebuilt.deadline is not None and rebuilt.deadline.utcoffset() == timedelta(hours=1)

    run.do(Timer(duty=DUTY_NONE), opens)  # nobody on duty at the opening
    assert fold(stored(run.log)).skipped == (1,)
