"""The region's plan, goal by goal (issue 23, SPEC §7): "Planens mål" of a period against the
period before. Pure: two `aggregate` reports in, one JSON-ready block out.

The goals the bot can see, each a row with the period's value, the previous period's and the
change (`GOAL_KEYS`):

- `referrals_avoided`: consults closed with `advice` on a specialist path (halvakut, akut, mdk);
  advice on the fourth path avoids no referral and is not counted (docs/decisions.md).
- `referrals`: closed with `referral` (remiss), every path.
- `phone_contacts`: `!ring` contacts.
- `admissions`: direct admissions (`admission`), every path.
- `ed`: consults ending at the emergency department (`ed`), every path.
- `ambulance_requests`: consults asked by an ambulance crew (requester kind `ambulance`).
- `ambulance_home`, `ambulance_primary_care`: of those, finished on site (`home`) and steered to
  a vårdcentral (`primary_care`), as a count and as a share of the ambulance requests (`share`
  is None with no ambulance request: never a division by zero).
- `ack_median`: time to acknowledge, median seconds (None without acknowledgements).
- `unanswered_share`: unanswered consults as a share of all (None without consults).

`change` is value minus previous, None when either is None. The goals the bot cannot see
(`NOT_VISIBLE`: hospital stays, vårdtillfällen) are named with where the analyst starts: the
per-consult export, joined with the region's own data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from consultbot.domain.consult.stats import REQUESTER_KINDS, month_of
from consultbot.domain.types import Outcome, RequesterKind

AMBULANCE = RequesterKind.AMBULANCE.value
GOAL_KEYS: tuple[str, ...] = (
    "referrals_avoided",
    "referrals",
    "phone_contacts",
    "admissions",
    "ed",
    "ambulance_requests",
    "ambulance_home",
    "ambulance_primary_care",
    "ack_median",
    "unanswered_share",
)
# Goals with a share of the ambulance requests beside the count.
SHARE_GOALS: tuple[str, ...] = ("ambulance_home", "ambulance_primary_care")
# Goals the bot cannot see, and what the analyst joins with the region's data.
NOT_VISIBLE: Mapping[str, str] = {"hospital_stays": "consultbot consults"}

Value = int | float | None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def goal_values(group: Mapping[str, Any], ambulance: Mapping[str, Any] | None) -> dict[str, Any]:
    """The goals' values of one group of a report (the whole report, or one requester kind's
    part); `ambulance` is the group's ambulance requests (None: there were none)."""
    outcomes = group.get("outcomes") or {}
    amb_outcomes = (ambulance or {}).get("outcomes") or {}
    amb_total = int((ambulance or {}).get("consults", 0))
    values: dict[str, Any] = {
        "referrals_avoided": int(group.get("referrals_avoided", 0)),
        "referrals": int(outcomes.get(Outcome.REFERRAL.value, 0)),
        "phone_contacts": int(group.get("phone_contacts", 0)),
        "admissions": int(outcomes.get(Outcome.ADMISSION.value, 0)),
        "ed": int(outcomes.get(Outcome.ED.value, 0)),
        "ambulance_requests": amb_total,
        "ambulance_home": int(amb_outcomes.get(Outcome.HOME.value, 0)),
        "ambulance_primary_care": int(amb_outcomes.get(Outcome.PRIMARY_CARE.value, 0)),
        "ack_median": (group.get("ack_seconds") or {}).get("median"),
        "unanswered_share": _share(int(group.get("unanswered", 0)), int(group.get("consults", 0))),
    }
    for key in SHARE_GOALS:
        values[f"{key}_share"] = _share(values[key], amb_total)
    return values


def _change(now: Value, before: Value, digits: int) -> Value:
    if now is None or before is None:
        return None
    if isinstance(now, int) and isinstance(before, int):
        return now - before
    return round(now - before, digits)


def _rows(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, dict[str, Value]]:
    rows: dict[str, dict[str, Value]] = {}
    for key in GOAL_KEYS:
        digits = 3 if key.endswith("share") else 1
        row: dict[str, Value] = {
            "value": now[key],
            "previous": before[key],
            "change": _change(now[key], before[key], digits),
        }
        if key in SHARE_GOALS:
            share, previous = now[f"{key}_share"], before[f"{key}_share"]
            row.update(
                share=share, previous_share=previous, share_change=_change(share, previous, 3)
            )
        rows[key] = row
    return rows


def kind_values(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The goals' values of each requester kind in `report` (`by_requester_kind`)."""
    return {
        kind: goal_values(group, group if kind == AMBULANCE else None)
        for kind, group in (report.get("by_requester_kind") or {}).items()
    }


def report_values(report: Mapping[str, Any]) -> dict[str, Any]:
    """The goals' values of a whole report."""
    return goal_values(report, (report.get("by_requester_kind") or {}).get(AMBULANCE))


def goals(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """The block "Planens mål" of `current` against `previous` (both `aggregate` reports):
    a row per goal in total and per requester kind seen in either period."""
    now_kinds, before_kinds = kind_values(current), kind_values(previous)
    empty = goal_values({}, None)
    return {
        "previous": {"from": previous.get("from"), "to": previous.get("to")},
        "rows": _rows(report_values(current), report_values(previous)),
        "by_requester_kind": {
            kind: _rows(now_kinds.get(kind, empty), before_kinds.get(kind, empty))
            for kind in REQUESTER_KINDS
            if kind in now_kinds or kind in before_kinds
        },
        "not_visible": {key: {"source": source} for key, source in NOT_VISIBLE.items()},
    }


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period before [start, end]: as many whole months before when it is whole months,
    else as many days before. Raises OverflowError before year 1."""
    first, _ = month_of(start)
    _, last = month_of(end)
    if start == first and end == last:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        index = start.year * 12 + start.month - 1 - months
        if index < 12:
            raise OverflowError("date value out of range")
        before = date(index // 12, index % 12 + 1, 1)
        return before, start - timedelta(days=1)
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def last_months(end: date, count: int = 12) -> list[tuple[date, date]]:
    """The first and last day of the `count` months up to `end`'s month, oldest first."""
    months: list[tuple[date, date]] = []
    first = month_of(end)[0]
    for _ in range(count):
        months.append(month_of(first))
        if first.year == 1 and first.month == 1:
            break
        first = month_of(first - timedelta(days=1))[0]
    return months[::-1]


def months_within(start: date, end: date) -> list[tuple[date, date]]:
    """The calendar months [start, end] touches, each cut to the period, oldest first."""
    months: list[tuple[date, date]] = []
    first = start
    while first <= end:
        _, last = month_of(first)
        months.append((first, min(last, end)))
        if last >= end:
            break
        first = last + timedelta(days=1)
    return months
