"""Follow-up statistics (SPEC §7) from tables of plain per-consult facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, strategies as st

from consultbot.domain.consult.events import Event
from consultbot.domain.consult.stats import (
    OUTCOME_KEYS,
    ConsultFacts,
    _grouped_quantiles,
    aggregate,
    median,
    month_of,
    p90,
    summarise,
    table_of,
)

START, END = date(2026, 11, 1), date(2026, 11, 30)


def facts(
    track: str,
    services: str,
    unit: str,
    outcome: str | None,
    ack: float | None,
    escalated: bool = False,
    unanswered: bool = False,
    phone: int = 0,
) -> ConsultFacts:
    return ConsultFacts(
        track=track,
        services=tuple(services.split(",")),
        unit=unit,
        outcome=outcome,
        acknowledged=ack is not None,
        escalated=escalated,
        unanswered=unanswered,
        phone_contacts=phone,
        ack_seconds=ack,
    )


# track, services, unit, outcome, ack seconds, escalated, unanswered, phone contacts
TABLE = [
    facts("halvakut", "kardiologi", "vc-mora", "advice", 60.0, phone=1),
    facts("halvakut", "kardiologi", "vc-mora", "advice", 120.0),
    facts("halvakut", "kardiologi", "vc-falun", "referral", 300.0, escalated=True, phone=2),
    facts("halvakut", "neurologi", "vc-falun", "admission", 30.0),
    facts("akut", "kardiologi", "", "ed", 10.0),
    facts("halvakut", "neurologi", "vc-mora", None, None, escalated=True, unanswered=True),
    facts("halvakut", "neurologi", "vc-mora", "unknown", 90.0),
    facts("mdk", "kardiologi,neurologi", "vc-mora", "visit", 200.0, phone=1),
]


def test_totals_of_a_table() -> None:
    report = aggregate(table_of(TABLE), START, END, track_order=("halvakut", "akut", "mdk"))
    assert report["from"] == "2026-11-01" and report["to"] == "2026-11-30"
    assert report["consults"] == 8  # the conference once
    assert report["acknowledged"] == 7
    assert report["escalated"] == 2
    assert report["unanswered"] == 1
    assert report["mdk"] == 1
    assert report["phone_contacts"] == 4
    # acks: 10 30 60 90 120 200 300 → median 90, p90 = 7th of 7 (ceil 6.3) = 300
    assert report["ack_seconds"] == {"median": 90.0, "p90": 300.0}
    assert report["outcomes"] == {
        "advice": 2,
        "referral": 1,
        "admission": 1,
        "ed": 1,
        "visit": 1,
        "other": 0,
        "unknown": 1,
        "open": 1,
        "home": 0,
        "primary_care": 0,
        "home_visit": 0,
    }
    assert report["closed_with_outcome"] == 6
    assert report["closed_with_outcome_share"] == 0.75


def test_groups_by_track_service_and_unit() -> None:
    report = aggregate(table_of(TABLE), START, END, track_order=("halvakut", "akut", "mdk"))
    assert list(report["by_track"]) == ["halvakut", "akut", "mdk"]
    assert {k: v["consults"] for k, v in report["by_track"].items()} == {
        "halvakut": 6,
        "akut": 1,
        "mdk": 1,
    }
    halvakut = report["by_track"]["halvakut"]
    # 30 60 90 120 300 → median 90, p90 = 5th of 5
    assert halvakut["ack_seconds"] == {"median": 90.0, "p90": 300.0}
    assert halvakut["unanswered"] == 1 and halvakut["outcomes"]["open"] == 1
    # The conference counts under each of its services.
    services = report["by_service"]
    assert services["kardiologi"]["consults"] == 5 and services["kardiologi"]["mdk"] == 1
    assert services["neurologi"]["consults"] == 4 and services["neurologi"]["mdk"] == 1
    # kardiologi: 10 60 120 200 300 → median 120; neurologi: 30 90 200 → median 90
    assert services["kardiologi"]["ack_seconds"] == {"median": 120.0, "p90": 300.0}
    assert services["neurologi"]["ack_seconds"] == {"median": 90.0, "p90": 200.0}
    units = report["by_requester_unit"]
    assert list(units) == ["vc-falun", "vc-mora", "okänd"]
    assert units["okänd"]["consults"] == 1 and units["okänd"]["outcomes"]["ed"] == 1
    assert units["vc-mora"]["consults"] == 5
    assert units["vc-mora"]["phone_contacts"] == 2
    # vc-mora: 60 90 120 200 → median (90+120)/2
    assert units["vc-mora"]["ack_seconds"] == {"median": 105.0, "p90": 200.0}


def test_every_group_has_the_top_level_keys() -> None:
    report = aggregate(table_of(TABLE), START, END)
    dimensions = ("by_track", "by_service", "by_requester_unit", "by_requester_kind")
    keys = set(report) - {"from", "to", *dimensions}
    for dimension in dimensions:
        for group in report[dimension].values():
            assert set(group) == keys


def test_an_empty_period_has_zeros_and_no_times() -> None:
    report = aggregate(table_of([]), START, END)
    assert report["consults"] == 0
    assert report["ack_seconds"] == {"median": None, "p90": None}
    assert report["outcomes"] == dict.fromkeys(OUTCOME_KEYS, 0)
    assert report["closed_with_outcome_share"] is None
    assert report["by_track"] == report["by_service"] == report["by_requester_unit"] == {}


@pytest.mark.parametrize(
    ("values", "expected_median", "expected_p90"),
    [
        ([], None, None),
        ([5.0], 5.0, 5.0),
        ([2.0, 1.0], 1.5, 2.0),
        ([3.0, 1.0, 2.0], 2.0, 3.0),
        ([float(i) for i in range(1, 11)], 5.5, 9.0),
        ([float(i) for i in range(1, 12)], 6.0, 10.0),
        ([float(i) for i in range(1, 21)], 10.5, 18.0),
    ],
)
def test_median_and_nearest_rank_p90(
    values: list[float], expected_median: float | None, expected_p90: float | None
) -> None:
    assert median(values) == expected_median
    assert p90(values) == expected_p90


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 10_000)),
        max_size=60,
    )
)
def test_grouped_quantiles_equal_the_plain_definitions(pairs: list[tuple[int, int]]) -> None:
    pairs = sorted(pairs, key=lambda pair: pair[1])  # the caller passes values in order
    groups = np.array([g for g, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=np.int64)
    med, q90, counts = _grouped_quantiles(groups, values, 4)
    for g in range(4):
        mine = [float(v) for h, v in pairs if h == g]
        assert counts[g] == len(mine)
        if mine:
            assert med[g] == median(mine)
            assert q90[g] == p90(mine)
        else:
            assert np.isnan(med[g]) and np.isnan(q90[g])


def test_month_of() -> None:
    assert month_of(date(2026, 11, 26)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert month_of(date(2026, 12, 3)) == (date(2026, 12, 1), date(2026, 12, 31))
    assert month_of(date(2028, 2, 10)) == (date(2028, 2, 1), date(2028, 2, 29))


# --------------------------------------------------------------------------------------------
# A consult's summary from its event log

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def log(*entries: tuple[int, str, dict[str, Any]]) -> list[Event]:
    requested = {
        "consult": "K-000001",
        "requester": "@doc:x",
        "service": "kardiologi",
        "track": "halvakut",
        "request_room": "!r",
        "request_event": "$e",
    }
    events = [Event(kind="requested", at=T0, data=requested)]
    for minutes, kind, data in entries:
        events.append(Event(kind=kind, at=T0 + timedelta(minutes=minutes), data=data))
    return events


def paged(level: int, minutes: int) -> tuple[int, str, dict[str, Any]]:
    people = [{"user": f"@l{level}:x", "name": f"L{level}", "phone": ""}]
    deadline = (T0 + timedelta(minutes=minutes + 10)).isoformat()
    return (minutes, "paged", {"level": level, "people": people, "deadline": deadline})


def test_a_late_acknowledgement_after_unanswered_counts_both() -> None:
    summary = summarise(
        log(
            paged(1, 0),
            paged(2, 10),
            (20, "unanswered", {}),
            (25, "acknowledged", {"user": "@l2:x", "via": "command", "remind_at": None}),
            (26, "phone_contact", {"user": "@doc:x"}),
            (40, "closed", {"outcome": "admission", "user": "@l2:x"}),
        )
    )
    assert summary.counted and summary.escalated and summary.unanswered
    assert summary.levels == (1, 2)
    assert summary.ack_seconds == 25 * 60
    assert summary.outcome == "admission" and summary.phone_contacts == 1
    assert summary.closed_at == T0 + timedelta(minutes=40)
    assert summary.facts("").unit == "okänd"


def test_an_offer_out_of_hours_never_queued_is_not_counted() -> None:
    summary = summarise(
        log(
            (0, "offered", {"opens_at": (T0 + timedelta(hours=20)).isoformat()}),
            (60 * 20, "withdrawn", {}),
        )
    )
    assert not summary.counted
    queued = summarise(
        log((0, "offered", {"opens_at": (T0 + timedelta(hours=20)).isoformat()}), (1, "queued", {}))
    )
    assert queued.counted and queued.outcome is None


def test_a_conference_names_its_services_in_the_request() -> None:
    events = log(paged(1, 0))
    events[0] = Event(
        kind="requested",
        at=T0,
        data={**events[0].data, "track": "mdk", "services": ["kardiologi", "neurologi"]},
    )
    assert summarise(events).services == ("kardiologi", "neurologi")
