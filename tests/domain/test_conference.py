"""The multidisciplinary conference (`!mdk`, `!möte`), driven with plain values (SPEC §6).

Each service of a conference escalates on its own. The tables run inputs through `step`,
check every result against `fold` of the stored log, and state what each service went
through; the properties check that no service is paged after it acknowledged and that no
service's level is paged twice, whatever happens in between.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from consultbot.domain.consult.conference import Leg, convene, escalate
from consultbot.domain.consult.escalation import (
    AckBy,
    AckVia,
    AddWidget,
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
    MeetingBy,
    Notice,
    Page,
    PageLevel,
    PassOnBy,
    Policy,
    PollSent,
    PostPoll,
    QueueBy,
    Reply,
    Request,
    RoomReady,
    State,
    Timer,
    apply,
    fold,
    step,
)
from consultbot.domain.consult.events import LevelSkipped, Paged, ServiceUnanswered
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.oncall import OnDuty, on_duty
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ConsultId, Outcome, ServiceId, ServiceKind, Track, UserId

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
TIMEOUT = timedelta(minutes=60)
POLICY = Policy(
    ack_timeout=TIMEOUT,
    reminder_after=timedelta(hours=4),
    auto_close_after=timedelta(hours=24),
    meeting_reminder_before=timedelta(minutes=15),
)
CONSULT = ConsultId("K-000007")
KARD, NEURO, ONK, GERI = (
    ServiceId("kardiologi"),
    ServiceId("neurologi"),
    ServiceId("onkologi"),
    ServiceId("geriatrik"),
)

REQ = UserId("@req:region.se")
A1 = UserId("@anna:region.se")  # kardiologi level 1
C2 = UserId("@cia:region.se")  # kardiologi level 2
B1 = UserId("@bo:region.se")  # neurologi level 1
E2 = UserId("@eva:region.se")  # neurologi level 2
D2 = UserId("@dan:region.se")  # onkologi level 2 (nobody at level 1)
F3 = UserId("@fia:region.se")  # onkologi level 3
STRANGER = UserId("@ulf:region.se")
PEOPLE = (A1, C2, B1, E2, D2, F3)


def duty(service: ServiceId, levels: Mapping[int, Sequence[UserId]]) -> OnDuty:
    shifts = [
        Shift(
            service=service,
            level=level,
            start=T0 - timedelta(days=1),
            end=T0 + timedelta(days=30),
            user=user,
            name=user[1:].split(":")[0].title(),
            phone="070-123 45 67",
        )
        for level, users in levels.items()
        for user in users
    ]
    return on_duty(service, T0, shifts)


DUTIES: dict[ServiceId, OnDuty] = {
    KARD: duty(KARD, {1: [A1], 2: [C2]}),
    NEURO: duty(NEURO, {1: [B1], 2: [E2]}),
    ONK: duty(ONK, {2: [D2], 3: [F3]}),
    GERI: duty(GERI, {}),
}


def request(*services: ServiceId, url: str = "") -> Request:
    return Request(
        consult_id=CONSULT,
        requester=REQ,
        service=services[0],
        track=Track.MDK,
        request_room="!dm:region.se",
        request_event="$mdk",
        duty=DUTIES[services[0]],
        open_now=True,
        services=services,
        duties=DUTIES,
        meeting_url=url,
    )


def timer() -> Timer:
    return Timer(duty=DUTIES[KARD], duties=DUTIES)


def stored(log: Sequence[Event]) -> list[Event]:
    return [Event(kind=e.kind, at=e.at, data=json.loads(json.dumps(e.data))) for e in log]


@dataclass
class Run:
    """A conference driven step by step; every step checked against its folded log."""

    log: list[Event] = field(default_factory=list)
    effects: list[list[Effect]] = field(default_factory=list)
    c: Consult | None = None

    def do(self, command: Input, at: datetime, *, send: bool = True) -> list[Effect]:
        """One step; with `send`, its pages then go out at once (as the outbox reports)."""
        events, effects = step(self.c, command, at, POLICY)
        for event in events:
            self.c = apply(self.c, event)
        self.log += events
        if any(isinstance(e, CreateRoom) for e in effects):
            self.report(RoomReady(room="!mdk:region.se"), at)  # the outbox made the room
        for effect in effects if send else ():
            if isinstance(effect, PageLevel):
                self.report(Delivered(level=effect.level, service=effect.service), at)
        assert self.c is not None
        assert fold(stored(self.log)) == self.c
        self.effects.append(effects)
        return effects

    def report(self, report: Input, at: datetime) -> None:
        """What the outbox reports, stepped like any input: it asks for nothing more."""
        events, effects = step(self.c, report, at, POLICY)
        assert effects == []
        for event in events:
            self.c = apply(self.c, event)
        self.log += events

    @property
    def consult(self) -> Consult:
        assert self.c is not None
        return self.c

    def levels(self, service: ServiceId) -> list[int]:
        leg = self.consult.leg(service)
        assert leg is not None
        return [page.level for page in leg.pages]

    def acked(self, service: ServiceId) -> UserId | None:
        leg = self.consult.leg(service)
        assert leg is not None
        return leg.acked_by


def templates(effects: Sequence[Effect]) -> list[str]:
    return [e.template for e in effects if isinstance(e, Notice | Reply | AlertAdmins)]


# --------------------------------------------------------------------------------------------
# Convening


def test_one_room_one_page_for_the_first_level_of_every_service() -> None:
    run = Run()
    effects = run.do(request(KARD, NEURO, ONK), T0)
    c = run.consult
    assert c.track is Track.MDK and c.services == (KARD, NEURO, ONK) and c.service == KARD
    create = [e for e in effects if isinstance(e, CreateRoom)]
    pages = [e for e in effects if isinstance(e, PageLevel)]
    # The paged are invited with the room; the requester right after the page.
    assert len(create) == 1 and set(create[0].invite) == {A1, B1, D2}
    invites = [n for n, e in enumerate(effects) if isinstance(e, Invite)]
    assert invites == [effects.index(pages[0]) + 1] and effects[invites[0]] == Invite(users=(REQ,))
    # One page mentions everyone; an empty level 1 (onkologi) is skipped at once.
    assert len(pages) == 1 and pages[0].first
    assert {p.user for p in pages[0].people} == {A1, B1, D2}
    assert run.levels(KARD) == [1] and run.levels(NEURO) == [1] and run.levels(ONK) == [2]
    onk = c.leg(ONK)
    assert onk is not None and onk.skipped == (1,)
    assert c.state is State.PAGING and c.deadline == T0 + TIMEOUT
    assert templates(effects) == ["mdk_created"]
    # The log keeps metadata: the services, who was paged, never the question.
    requested = run.log[0].payload()
    assert getattr(requested, "services", None) == (KARD, NEURO, ONK)


def test_a_service_with_nobody_gets_its_switchboard_posted_and_the_admins_told() -> None:
    run = Run()
    effects = run.do(request(KARD, GERI), T0)
    geri = run.consult.leg(GERI)
    assert geri is not None and geri.unanswered and geri.pages == ()
    assert Notice(template="mdk_service_unanswered", params={"service": GERI}) in effects
    assert AlertAdmins(template="admin_mdk_unanswered", params={"service": GERI}) in effects
    assert run.consult.state is State.PAGING  # kardiologi is still being paged


def test_nobody_in_any_service_answers_the_requester_without_a_room() -> None:
    run = Run()
    effects = run.do(request(GERI, GERI2 := ServiceId("ortopedi")), T0)
    assert GERI2 in run.consult.services
    assert not any(isinstance(e, CreateRoom | PageLevel) for e in effects)
    assert run.consult.state is State.UNANSWERED and run.consult.deadline is None
    assert templates(effects) == ["mdk_unanswered", "admin_mdk_unanswered"]


def test_the_meeting_link_becomes_a_widget_and_a_message() -> None:
    url = "https://meet.region.se/mdk-K-000007"
    effects = Run().do(request(KARD, NEURO, url=url), T0)
    assert AddWidget(url=url, name="Möte K-000007") in effects
    assert "meeting_link" in templates(effects)
    assert not any(isinstance(e, AddWidget) for e in Run().do(request(KARD, NEURO), T0))


# --------------------------------------------------------------------------------------------
# One service's next step: (levels on duty, level paged last) → what is recorded


def _leg_at(level: int) -> Leg:
    pages = (Page(level=level, people=(), at=T0),) if level else ()
    return Leg(service=NEURO, pages=pages)


ESCALATE_CASES: list[tuple[dict[int, list[UserId]], int, list[object]]] = [
    ({1: [B1], 2: [E2]}, 0, [("paged", 1, [B1])]),
    ({2: [E2]}, 0, [("skipped", 1), ("paged", 2, [E2])]),
    ({1: [B1], 3: [F3]}, 1, [("skipped", 2), ("paged", 3, [F3])]),
    ({1: [B1], 2: [E2, C2]}, 1, [("paged", 2, [C2, E2])]),  # by name
    ({1: [B1], 2: [E2]}, 2, [("unanswered",)]),
    ({}, 0, [("skipped", 1), ("unanswered",)]),
]


@pytest.mark.parametrize(("levels", "current", "expected"), ESCALATE_CASES)
def test_escalate_one_service(
    levels: dict[int, list[UserId]], current: int, expected: list[object]
) -> None:
    found: list[object] = []
    for payload in escalate(_leg_at(current), duty(NEURO, levels), T0 + TIMEOUT):
        assert getattr(payload, "service", None) == NEURO
        match payload:
            case LevelSkipped():
                found.append(("skipped", payload.level))
            case Paged():
                assert payload.deadline is None  # set once the page has gone out
                assert payload.alarm_at == T0 + TIMEOUT  # … if it has not gone out by then
                found.append(("paged", payload.level, [p.user for p in payload.people]))
            case ServiceUnanswered():
                found.append(("unanswered",))
    assert found == expected


# --------------------------------------------------------------------------------------------
# Each service on its own: (inputs at minutes after T0) → levels paged, who acknowledged


Step = tuple[int, Input]

ESCALATION_CASES: list[tuple[str, list[Step], dict[ServiceId, tuple[list[int], UserId | None]]]] = [
    (
        "kardiologi acknowledges; neurologi escalates alone to level 2",
        [(5, AckBy(user=A1, via=AckVia.REACTION)), (60, timer())],
        {KARD: ([1], A1), NEURO: ([1, 2], None), ONK: ([2, 3], None)},
    ),
    (
        "a message acknowledges only its writer's service",
        [(5, AckBy(user=B1, via=AckVia.MESSAGE))],
        {KARD: ([1], None), NEURO: ([1], B1), ONK: ([2], None)},
    ),
    (
        "the requester's chat acknowledges nothing",
        [(5, AckBy(user=REQ, via=AckVia.MESSAGE)), (6, AckBy(user=STRANGER, via=AckVia.REACTION))],
        {KARD: ([1], None), NEURO: ([1], None), ONK: ([2], None)},
    ),
    (
        "!vidare escalates the passer's service at once, the others wait",
        [(3, PassOnBy(user=B1, duty=DUTIES[NEURO], duties=DUTIES))],
        {KARD: ([1], None), NEURO: ([1, 2], None), ONK: ([2], None)},
    ),
    (
        "the second level acknowledges after its own escalation",
        [(60, timer()), (61, AckBy(user=E2, via=AckVia.COMMAND))],
        {KARD: ([1, 2], None), NEURO: ([1, 2], E2), ONK: ([2, 3], None)},
    ),
    (
        "a first-level ack after the escalation still counts",
        [(60, timer()), (70, AckBy(user=B1, via=AckVia.REACTION))],
        {KARD: ([1, 2], None), NEURO: ([1, 2], B1), ONK: ([2, 3], None)},
    ),
    (
        "an early timer pages nobody",
        [(59, timer())],
        {KARD: ([1], None), NEURO: ([1], None), ONK: ([2], None)},
    ),
]


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [pytest.param(i, e, id=name) for name, i, e in ESCALATION_CASES],
)
def test_each_service_escalates_and_acknowledges_on_its_own(
    inputs: list[Step], expected: dict[ServiceId, tuple[list[int], UserId | None]]
) -> None:
    run = Run()
    run.do(request(KARD, NEURO, ONK), T0)
    for minutes, command in inputs:
        run.do(command, T0 + minutes * MIN)
    for service, (levels, acked) in expected.items():
        assert (run.levels(service), run.acked(service)) == (levels, acked), service


def test_an_escalation_pages_only_the_service_it_concerns() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0 + MIN)
    effects = run.do(timer(), T0 + TIMEOUT + MIN)
    pages = [e for e in effects if isinstance(e, PageLevel)]
    assert pages == [PageLevel(level=2, people=pages[0].people, first=False, service=NEURO)]
    assert [p.user for p in pages[0].people] == [E2]
    assert EscalationNotice(params={"level": 2, "from_level": 1, "service": NEURO}) in effects


def test_the_conference_is_acknowledged_when_every_service_has() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    effects = run.do(AckBy(user=A1, via=AckVia.REACTION), T0 + MIN)
    assert templates(effects) == ["mdk_acknowledged"]
    assert run.consult.state is State.PAGING
    assert run.consult.deadline == T0 + TIMEOUT  # neurologi's next level
    run.do(AckBy(user=B1, via=AckVia.COMMAND), T0 + 2 * MIN)
    c = run.consult
    assert c.state is State.ACKNOWLEDGED and c.acked_by == B1 and c.acked_at == T0 + 2 * MIN
    assert c.deadline == T0 + 2 * MIN + POLICY.reminder_after
    assert run.log[-1].kind is EventKind.CONFERENCE_ACKNOWLEDGED


def test_a_service_that_runs_out_of_levels_does_not_hold_up_the_others() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0 + MIN)
    run.do(timer(), T0 + TIMEOUT)
    effects = run.do(timer(), T0 + 2 * TIMEOUT)
    neuro = run.consult.leg(NEURO)
    assert neuro is not None and neuro.unanswered
    assert "mdk_service_unanswered" in templates(effects)
    assert run.consult.state is State.ACKNOWLEDGED


def test_nobody_acknowledging_anywhere_leaves_the_conference_unanswered() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(timer(), T0 + TIMEOUT)
    effects = run.do(timer(), T0 + 2 * TIMEOUT)
    assert run.consult.state is State.UNANSWERED
    assert templates(effects).count("mdk_service_unanswered") == 2
    assert "mdk_unanswered" in templates(effects)
    # A late answer still counts, as for a consult.
    run.do(AckBy(user=C2, via=AckVia.MESSAGE), T0 + 2 * TIMEOUT + MIN)
    assert run.consult.state is State.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("user", "template"),
    [(A1, "already_acknowledged"), (STRANGER, "not_paged"), (REQ, "not_paged")],
)
def test_kvittera_that_changes_nothing_is_explained(user: UserId, template: str) -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0 + MIN)
    effects = run.do(AckBy(user=user, via=AckVia.COMMAND), T0 + 2 * MIN)
    assert templates(effects) == [template]


def test_closing_works_as_for_a_consult() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    assert templates(run.do(CloseBy(user=STRANGER, outcome=Outcome.ADVICE), T0)) == ["not_a_party"]
    effects = run.do(CloseBy(user=B1, outcome=Outcome.REFERRAL), T0 + MIN)
    c = run.consult
    assert c.state is State.CLOSED and c.outcome is Outcome.REFERRAL and c.deadline is None
    assert run.acked(NEURO) == B1 and run.acked(KARD) is None
    assert templates(effects) == ["closed", "closed_reply"]
    assert run.do(timer(), T0 + 10 * TIMEOUT) == []


def test_the_outcome_poll_of_a_conference_is_recorded_once_and_ended_at_the_close() -> None:
    """Once every service has acknowledged, the outcome poll goes up; it is the conference's
    poll (a vote there closes it) and the close ends it, so nobody votes on a closed one."""
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0)
    assert PostPoll() in run.do(AckBy(user=B1, via=AckVia.REACTION), T0 + MIN)
    run.report(PollSent(event_id="$poll"), T0 + 2 * MIN)
    run.report(PollSent(event_id="$again"), T0 + 3 * MIN)  # a retried report changes nothing
    assert run.consult.poll == "$poll"
    assert [e.kind for e in run.log].count(EventKind.POLL_POSTED) == 1
    effects = run.do(CloseBy(user=B1, outcome=Outcome.ADVICE), T0 + 4 * MIN)
    assert EndPoll(outcome=Outcome.ADVICE.value) in effects


def test_an_acknowledged_conference_is_reminded_then_closed_as_unknown() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0)
    run.do(AckBy(user=B1, via=AckVia.REACTION), T0)
    assert templates(run.do(timer(), T0 + POLICY.reminder_after)) == ["reminder"]
    assert templates(run.do(timer(), T0 + POLICY.auto_close_after)) == ["auto_closed"]
    assert run.consult.outcome is Outcome.UNKNOWN


def test_ring_gives_the_requester_each_service_s_number() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0)
    effects = run.do(CallBy(user=REQ), T0 + MIN)
    notice = effects[0]
    assert isinstance(notice, Notice) and notice.template == "call"
    assert len(notice.params["numbers"]) == 2 and run.consult.phone_contacts == 1
    assert templates(run.do(QueueBy(user=REQ), T0)) == ["nothing_to_queue"]


# --------------------------------------------------------------------------------------------
# !möte

MEETING = T0 + timedelta(hours=2)


def convened() -> Run:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0 + MIN)
    run.do(AckBy(user=B1, via=AckVia.REACTION), T0 + MIN)
    return run


def test_a_meeting_is_confirmed_and_reminded_once_fifteen_minutes_before() -> None:
    run = convened()
    effects = run.do(MeetingBy(user=REQ, meeting=MEETING), T0 + 2 * MIN)
    assert effects == [
        Notice(template="meeting_set", params={"meeting": MEETING.isoformat(), "reminder": True})
    ]
    due = MEETING - timedelta(minutes=15)
    assert run.consult.deadline == due
    assert run.do(timer(), due - MIN) == []
    effects = run.do(timer(), due)
    assert effects == [
        Notice(
            template="meeting_reminder",
            params={"meeting": MEETING.isoformat(), "notice": False, "mentions": [A1, B1, REQ]},
        )
    ]
    assert run.do(timer(), due + MIN) == []  # never twice
    # Set again to the same time: no second reminder; to a new time: one for that time.
    run.do(MeetingBy(user=A1, meeting=MEETING), due + MIN)
    assert run.consult.deadline == T0 + MIN + POLICY.reminder_after
    later = MEETING + timedelta(hours=1)
    run.do(MeetingBy(user=A1, meeting=later), due + 2 * MIN)
    assert run.consult.deadline == later - timedelta(minutes=15)
    assert templates(run.do(timer(), later - timedelta(minutes=15))) == ["meeting_reminder"]


def test_a_meeting_too_near_for_a_reminder_is_only_confirmed() -> None:
    run = convened()
    effects = run.do(MeetingBy(user=B1, meeting=T0 + 10 * MIN), T0 + 2 * MIN)
    assert effects[0] == Notice(
        template="meeting_set", params={"meeting": (T0 + 10 * MIN).isoformat(), "reminder": False}
    )
    assert run.consult.meeting_remind_at is None


@pytest.mark.parametrize(
    ("user", "meeting", "template"),
    [
        (STRANGER, MEETING, "not_a_party"),
        (REQ, T0, "meeting_past"),
    ],
)
def test_a_meeting_refused(user: UserId, meeting: datetime, template: str) -> None:
    run = convened()
    assert templates(run.do(MeetingBy(user=user, meeting=meeting), T0 + 2 * MIN)) == [template]
    assert run.consult.meeting_at is None


def test_a_closed_conference_reminds_of_no_meeting() -> None:
    run = convened()
    run.do(MeetingBy(user=REQ, meeting=MEETING), T0 + 2 * MIN)
    run.do(CloseBy(user=REQ, outcome=Outcome.ADVICE), T0 + 3 * MIN)
    assert run.consult.deadline is None
    assert run.do(timer(), MEETING) == []


def test_a_meeting_in_a_plain_consult_is_explained() -> None:
    consult = Request(
        consult_id=CONSULT,
        requester=REQ,
        service=KARD,
        track=Track.HALVAKUT,
        request_room="!dm",
        request_event="$a",
        duty=DUTIES[KARD],
        open_now=True,
    )
    events, _ = step(None, consult, T0, POLICY)
    c = fold(events)
    assert step(c, MeetingBy(user=REQ, meeting=MEETING), T0, POLICY) == (
        [],
        [Notice(template="meeting_conference_only")],
    )


# --------------------------------------------------------------------------------------------
# Properties over any sequence of inputs

USERS = st.sampled_from([*PEOPLE, REQ, STRANGER])
INPUTS = st.one_of(
    st.builds(lambda u, v: AckBy(user=u, via=v), USERS, st.sampled_from(list(AckVia))),
    st.builds(lambda u: PassOnBy(user=u, duty=DUTIES[KARD], duties=DUTIES), USERS),
    st.just(timer()),
    st.builds(lambda u, o: CloseBy(user=u, outcome=o), USERS, st.sampled_from(list(Outcome))),
    st.builds(lambda u, m: MeetingBy(user=u, meeting=T0 + m * MIN), USERS, st.integers(0, 600)),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    services=st.lists(
        st.sampled_from([KARD, NEURO, ONK, GERI]), min_size=2, max_size=4, unique=True
    ),
    steps=st.lists(st.tuples(st.integers(0, 90), INPUTS), max_size=25),
)
def test_no_page_after_a_service_acknowledged_and_never_a_level_twice(
    services: list[ServiceId], steps: list[tuple[int, Input]]
) -> None:
    run = Run()
    run.do(request(*services), T0)
    at = T0
    for minutes, command in steps:
        at += minutes * MIN
        run.do(command, at)
    acked: set[ServiceId] = set()
    paged: dict[ServiceId, list[int]] = {s: [] for s in services}
    for event in run.log:
        payload = event.payload()
        if event.kind is EventKind.ACKNOWLEDGED:
            acked.add(getattr(payload, "service"))  # noqa: B009
        if isinstance(payload, Paged):
            assert payload.service is not None
            assert payload.service not in acked, "paged after the service acknowledged"
            paged[payload.service].append(payload.level)
    for levels in paged.values():
        assert levels == sorted(set(levels)), "a level paged twice or out of order"
    # Something is always due while a service waits; nothing once closed.
    c = run.consult
    if c.state is State.PAGING:
        assert c.deadline is not None
    if c.state is State.CLOSED:
        assert c.deadline is None


# --------------------------------------------------------------------------------------------
# Which services a !mdk names


def test_the_named_services_are_checked_against_the_catalogue() -> None:
    def svc(sid: str, *tracks: Track, aliases: tuple[str, ...] = ()) -> Service:
        return Service(
            id=ServiceId(sid),
            name=sid.title(),
            kind=ServiceKind.SPECIALTY,
            tracks=tracks,
            aliases=aliases,
        )

    kard = svc("kardiologi", Track.HALVAKUT, Track.MDK, aliases=("hjärta",))
    onk = svc("onkologi", Track.MDK)
    vc = svc("vc-mora", Track.PRIMARVARD)
    catalogue = Catalogue(services=(kard, onk, vc))
    ok = convene(catalogue, ["Kardiologi", "onkologi"])
    assert ok.ok and ok.services == (kard, onk) and ok.available == (kard, onk)
    same = convene(catalogue, ["kardiologi", "hjärta"])
    assert not same.ok and same.services == (kard,) and not same.unknown
    bad = convene(catalogue, ["kardiologi", "vc-mora", "tandvård"])
    assert not bad.ok and bad.unknown == ("tandvård",) and bad.without_mdk == (vc,)


# --------------------------------------------------------------------------------------------
# A level's time starts when its page went out


def deadlines(run: Run) -> dict[ServiceId, datetime | None]:
    return {leg.service: leg.deadline for leg in run.consult.legs}


def test_the_first_page_going_out_starts_every_service_s_time() -> None:
    run = Run()
    run.do(request(KARD, NEURO, ONK), T0, send=False)
    assert all(not leg.pages[-1].sent for leg in run.consult.legs)  # decided, not yet out
    # Not out one timeout later: reported once for the page, every service still waiting.
    effects = run.do(timer(), T0 + TIMEOUT)
    assert [e.kind for e in run.log[-3:]] == ["page_undelivered"] * 3
    assert [e.KIND for e in effects] == [EffectKind.UNDELIVERED_REPLY, EffectKind.ALERT_ADMINS]
    assert run.consult.state is State.PAGING and run.consult.deadline is None
    out = T0 + TIMEOUT + 4 * MIN
    run.do(Delivered(level=1), out)
    # onkologi's first page was its level 2 (nobody at 1): the same page, the same time
    assert deadlines(run) == {KARD: out + TIMEOUT, NEURO: out + TIMEOUT, ONK: out + TIMEOUT}
    assert run.do(Delivered(level=1), out + MIN) == [] and run.log[-1].at == out  # once


def test_a_service_s_next_level_runs_from_its_own_page() -> None:
    run = Run()
    run.do(request(KARD, NEURO), T0)
    run.do(AckBy(user=A1, via=AckVia.REACTION), T0 + MIN)
    run.do(timer(), T0 + TIMEOUT, send=False)  # neurologi's level 2 decided
    assert deadlines(run) == {KARD: None, NEURO: T0 + 2 * TIMEOUT}  # when it is reported
    effects = run.do(timer(), T0 + 2 * TIMEOUT)  # not out yet: reported, not unanswered
    assert [e.KIND for e in effects] == [EffectKind.UNDELIVERED_REPLY, EffectKind.ALERT_ADMINS]
    assert deadlines(run) == {KARD: None, NEURO: None}
    out = T0 + 2 * TIMEOUT + 5 * MIN
    run.do(Delivered(level=1, service=NEURO), out)  # a page of a level passed by: nothing
    assert deadlines(run)[NEURO] is None
    run.do(Delivered(level=2, service=NEURO), out)
    assert deadlines(run) == {KARD: None, NEURO: out + TIMEOUT}
    run.do(AckBy(user=E2, via=AckVia.REACTION), out + MIN)
    assert run.consult.state is State.ACKNOWLEDGED
