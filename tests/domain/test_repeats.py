"""A request again: the same as one moments ago while that one is open; else new or limited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consultbot.domain.consult.repeats import Earlier, Limited, Limits, New, Repeat, judge
from consultbot.domain.types import ConsultId, ServiceId, Track

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KARDIO = ServiceId("kardiologi")
LIMITS = Limits(repeat_window=timedelta(seconds=60), limit=3, limit_window=timedelta(minutes=10))


def earlier(seconds_ago: int, *, text: str = "Fråga om AF", open_: bool = True) -> Earlier:
    return Earlier(
        ConsultId(f"K-{seconds_ago:06d}"),
        KARDIO,
        Track.HALVAKUT,
        NOW - timedelta(seconds=seconds_ago),
        text,
        open_,
    )


def verdict(*before: Earlier, text: str = "fråga  om af") -> object:
    return judge(
        list(before), service=KARDIO, track=Track.HALVAKUT, text=text, now=NOW, limits=LIMITS
    )


def test_the_same_text_moments_ago_while_that_consult_is_open_is_a_repeat() -> None:
    assert verdict(earlier(5)) == Repeat(ConsultId("K-000005"))


def test_asking_again_after_the_consult_closed_or_went_unanswered_is_new() -> None:
    assert verdict(earlier(5, open_=False)) == New()


def test_another_question_or_an_older_one_is_new() -> None:
    assert verdict(earlier(5, text="Annan fråga")) == New()
    assert verdict(earlier(61)) == New()


def test_the_limit_counts_closed_consults_too() -> None:
    before = [earlier(100 + n, text=f"fråga {n}", open_=False) for n in range(3)]
    assert verdict(*before) == Limited(3)


NEURO = ServiceId("neurologi")
CONFERENCE = frozenset({KARDIO, NEURO})


def conference(seconds_ago: int, services: frozenset[ServiceId] = CONFERENCE) -> Earlier:
    first = sorted(services)[0]
    return Earlier(
        ConsultId(f"K-{seconds_ago:06d}"),
        first,
        Track.MDK,
        NOW - timedelta(seconds=seconds_ago),
        "Fråga om AF",
        True,
        services,
    )


def conference_verdict(*before: Earlier, first: ServiceId = NEURO) -> object:
    return judge(
        list(before),
        service=first,
        track=Track.MDK,
        text="fråga om af",
        now=NOW,
        limits=LIMITS,
        services=CONFERENCE,
    )


def test_a_conference_of_the_same_services_in_any_order_is_a_repeat() -> None:
    assert conference_verdict(conference(5)) == Repeat(ConsultId("K-000005"))
    assert conference_verdict(conference(5), first=KARDIO) == Repeat(ConsultId("K-000005"))


def test_a_conference_of_other_services_or_a_consult_is_not_its_repeat() -> None:
    assert conference_verdict(conference(5, frozenset({KARDIO}))) == New()
    assert conference_verdict(earlier(5)) == New()


def test_consults_and_conferences_count_against_one_limit() -> None:
    before = [earlier(100, text="a"), conference(200), earlier(300, text="b")]
    assert conference_verdict(*before) == Limited(3)
    assert verdict(*before, text="c") == Limited(3)
