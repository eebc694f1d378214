"""A page read late is repeated before the level times out (issue 24 item 1), driven with plain
values: the repeat is due at `repeat_share` of the timeout after the page went out, goes to the
people of the current level once, and never after the level acknowledged, passed on, escalated
or the consult closed; a conference repeats per service, only a service still waiting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest

from consultbot.domain.consult.escalation import (
    AckBy,
    AckVia,
    CloseBy,
    Consult,
    Delivered,
    Effect,
    Event,
    EventKind,
    Input,
    PageLevel,
    PassOnBy,
    Policy,
    RepeatPage,
    RoomReady,
    Timer,
    apply,
    fold,
    step,
)
from consultbot.domain.consult.events import Person
from consultbot.domain.consult.stats import summarise
from consultbot.domain.types import Outcome, ServiceId
from tests.domain import test_conference as conf, test_escalation as one

TIMEOUT = one.ACK_TIMEOUT  # 10 minutes
HALF = Policy(ack_timeout=TIMEOUT, repeat_share=0.5)
T0, MIN = one.T0, one.MIN
A1, C2, REQ = one.A1, one.C2, one.REQ
DUTY = one.DUTY_123


def stored(log: Sequence[Event]) -> list[Event]:
    return [Event(kind=e.kind, at=e.at, data=json.loads(json.dumps(e.data))) for e in log]


@dataclass
class Run:
    """One consult (or conference) stepped with `policy`; its pages go out at once."""

    policy: Policy = HALF
    log: list[Event] = field(default_factory=list)
    c: Consult | None = None

    def do(self, command: Input, at: datetime) -> list[Effect]:
        events, effects = step(self.c, command, at, self.policy)
        self._add(events)
        for effect in effects:
            if isinstance(effect, PageLevel):
                if effect.first:
                    self._add(step(self.c, RoomReady(room="!room:region.se"), at, self.policy)[0])
                delivered = Delivered(level=effect.level, service=effect.service)
                self._add(step(self.c, delivered, at, self.policy)[0])
        assert fold(stored(self.log)) == self.c  # a restart rebuilds the same consult
        return effects

    def _add(self, events: list[Event]) -> None:
        for event in events:
            self.c = apply(self.c, event)
        self.log += events

    @property
    def consult(self) -> Consult:
        assert self.c is not None
        return self.c

    def repeats(self) -> list[Event]:
        return [e for e in self.log if e.kind is EventKind.REPEATED]


def repeats(effects: Sequence[Effect]) -> list[RepeatPage]:
    return [e for e in effects if isinstance(e, RepeatPage)]


def timer() -> Timer:
    return Timer(duty=DUTY)


# --------------------------------------------------------------------------------------------
# A consult of one service


def test_the_repeat_is_due_at_the_share_of_the_timeout_after_the_page_went_out() -> None:
    run = Run()
    run.do(one.request(DUTY), T0)
    assert run.consult.repeat_at == T0 + TIMEOUT / 2
    assert run.consult.due == T0 + TIMEOUT / 2  # the timer fires for it, before the deadline
    assert run.do(timer(), T0 + TIMEOUT / 2 - timedelta(seconds=1)) == []  # early: nothing
    effects = run.do(timer(), T0 + TIMEOUT / 2)
    assert effects == [RepeatPage(level=1, people=one.people(A1))]
    assert [(e.kind, e.data) for e in run.repeats()] == [("repeated", {"level": 1})]
    # Once: the timer now waits for the deadline, which escalates as before.
    assert run.consult.repeat_at is None and run.consult.due == T0 + TIMEOUT
    assert run.do(timer(), T0 + TIMEOUT / 2 + MIN) == []
    run.do(timer(), T0 + TIMEOUT)
    assert run.consult.level == 2 and len(run.repeats()) == 1


def test_a_page_held_up_is_repeated_counted_from_when_it_went_out() -> None:
    run = Run()
    events, _ = step(None, one.request(DUTY), T0, HALF)
    run._add(events)
    run._add(step(run.c, RoomReady(room="!r:region.se"), T0, HALF)[0])
    assert run.consult.repeat_at is None  # not out yet: nothing to repeat
    run._add(step(run.c, Delivered(level=1), T0 + 3 * MIN, HALF)[0])
    assert run.consult.repeat_at == T0 + 3 * MIN + TIMEOUT / 2


def test_the_next_level_is_repeated_too_and_only_its_people() -> None:
    run = Run()
    run.do(one.request(DUTY), T0)
    run.do(timer(), T0 + TIMEOUT)  # no repeat was fired: the deadline came first
    assert run.repeats() == [] and run.consult.level == 2
    effects = run.do(timer(), T0 + TIMEOUT + TIMEOUT / 2)
    assert effects == [RepeatPage(level=2, people=one.people(C2))]


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(AckBy(user=A1, via=AckVia.REACTION), id="acknowledged"),
        pytest.param(PassOnBy(user=A1, duty=DUTY), id="passed-on"),
        pytest.param(CloseBy(user=REQ, outcome=Outcome.ADVICE), id="closed"),
    ],
)
def test_no_repeat_once_the_level_acknowledged_passed_on_or_the_consult_closed(
    before: Input,
) -> None:
    run = Run()
    run.do(one.request(DUTY), T0)
    run.do(before, T0 + MIN)
    assert repeats(run.do(timer(), T0 + TIMEOUT / 2)) == []
    assert run.repeats() == []
    if isinstance(before, PassOnBy):
        # Level 2 was paged at once: its own repeat is due half its timeout later, to C2 only.
        effects = run.do(timer(), T0 + MIN + TIMEOUT / 2)
        assert repeats(effects) == [RepeatPage(level=2, people=one.people(C2))]


def test_a_level_that_timed_out_escalates_instead_of_repeating() -> None:
    """Down through both instants: the deadline wins, the old level is not repeated."""
    run = Run()
    run.do(one.request(DUTY), T0)
    effects = run.do(timer(), T0 + TIMEOUT + MIN)
    assert repeats(effects) == [] and run.consult.level == 2


def test_a_share_of_zero_never_repeats() -> None:
    run = Run(policy=replace(HALF, repeat_share=0.0))
    run.do(one.request(DUTY), T0)
    assert run.consult.repeat_at is None and run.consult.due == T0 + TIMEOUT
    for minute in range(1, 10):
        assert run.do(timer(), T0 + minute * MIN) == []
    assert run.repeats() == []


def test_a_consult_acknowledged_after_a_repeat_is_counted() -> None:
    run = Run()
    run.do(one.request(DUTY), T0)
    run.do(timer(), T0 + TIMEOUT / 2)
    run.do(AckBy(user=A1, via=AckVia.COMMAND), T0 + TIMEOUT / 2 + MIN)
    summary = summarise(stored(run.log))
    assert summary.repeated and summary.acknowledged_at is not None
    assert summary.facts("").repeated


def test_a_consult_acknowledged_before_its_repeat_is_not_counted() -> None:
    run = Run()
    run.do(one.request(DUTY), T0)
    run.do(AckBy(user=A1, via=AckVia.COMMAND), T0 + MIN)
    run.do(timer(), T0 + TIMEOUT / 2)
    assert not summarise(stored(run.log)).repeated


# --------------------------------------------------------------------------------------------
# A conference: per service


KARD, NEURO = conf.KARD, conf.NEURO
CONF_POLICY = replace(conf.POLICY, repeat_share=0.5)
CONF_TIMEOUT = conf.TIMEOUT


def test_a_conference_repeats_each_waiting_service_to_its_people_only() -> None:
    run = Run(policy=CONF_POLICY)
    run.do(conf.request(KARD, NEURO), T0)
    run.do(AckBy(user=conf.A1, via=AckVia.REACTION), T0 + MIN)  # kardiologi acknowledged
    effects = run.do(conf.timer(), T0 + CONF_TIMEOUT / 2)
    assert repeats(effects) == [
        RepeatPage(level=1, people=(conf_person(NEURO),), service=NEURO),
    ]
    assert [e.data for e in run.repeats()] == [{"level": 1, "service": "neurologi"}]
    # Once; the service still waiting escalates at its deadline, and repeats its level 2.
    assert repeats(run.do(conf.timer(), T0 + CONF_TIMEOUT / 2 + MIN)) == []
    run.do(conf.timer(), T0 + CONF_TIMEOUT)
    leg = run.consult.leg(NEURO)
    assert leg is not None and leg.level == 2
    effects = run.do(conf.timer(), T0 + CONF_TIMEOUT + CONF_TIMEOUT / 2)
    assert [(r.service, r.level, [p.user for p in r.people]) for r in repeats(effects)] == [
        (NEURO, 2, [conf.E2])
    ]


def test_a_conference_with_every_service_acknowledged_repeats_nothing() -> None:
    run = Run(policy=CONF_POLICY)
    run.do(conf.request(KARD, NEURO), T0)
    run.do(AckBy(user=conf.A1, via=AckVia.REACTION), T0 + MIN)
    run.do(AckBy(user=conf.B1, via=AckVia.REACTION), T0 + MIN)
    assert run.consult.due != T0 + CONF_TIMEOUT / 2
    assert repeats(run.do(conf.timer(), T0 + CONF_TIMEOUT / 2)) == []
    assert run.repeats() == []


def test_both_services_due_at_once_are_repeated_each_with_its_own_entry() -> None:
    run = Run(policy=CONF_POLICY)
    run.do(conf.request(KARD, NEURO), T0)
    effects = run.do(conf.timer(), T0 + CONF_TIMEOUT / 2)
    assert {(r.service, r.people[0].user) for r in repeats(effects)} == {
        (KARD, conf.A1),
        (NEURO, conf.B1),
    }
    assert len(run.repeats()) == 2
    run.do(AckBy(user=conf.B1, via=AckVia.COMMAND), T0 + CONF_TIMEOUT / 2 + MIN)
    run.do(AckBy(user=conf.A1, via=AckVia.COMMAND), T0 + CONF_TIMEOUT / 2 + MIN)
    assert summarise(stored(run.log)).repeated


def conf_person(service: ServiceId) -> Person:
    _, shifts = conf.DUTIES[service].levels[0]
    return Person(user=shifts[0].user, name=shifts[0].name, phone=shifts[0].phone)
