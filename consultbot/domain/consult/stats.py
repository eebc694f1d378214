"""Follow-up statistics (SPEC §7): per-consult facts in, one report out.

Pure: no I/O, no clock. The store hands over one `ConsultFacts` per consult (or, for speed over
millions of consults, the same facts as columns in a `FactTable`); `aggregate` counts them per
period, track, service and requesting unit. The rules, in the domain's words:

- A consult belongs to the period of its request (local date of `requested`).
- `acknowledged`: a paged person acknowledged (also by closing, also after "unanswered").
- `escalated`: a level above the first was paged. `unanswered`: the chain ran out (the admins
  were told), even if someone acknowledged late.
- Time to acknowledge runs from the first page to the acknowledgement. Median: the middle
  value (mean of the two middle ones for an even count). p90: nearest rank, the smallest
  time that at least 90 % of the acknowledged consults were within. `null` with no data.
- Outcomes: every consult counts in exactly one of `advice` … `unknown` (closed) or `open`
  (no outcome yet, including unanswered consults nobody closed).
- `referrals_avoided`: the plan's "remiss undviken", the consults closed with `advice` on a
  specialist path (`SPECIALIST_TRACKS`: halvakut, akut, mdk), where a referral was the
  alternative; `outcomes.advice` stays the raw count of every path (docs/decisions.md).
- `closed_with_outcome`: closed with a real outcome (not `unknown`, not open); its share is
  of all the consults of the group.
- A conference (track `mdk`) counts once in the totals, in `by_track` and `by_requester_unit`,
  and once under each of its services in `by_service`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from consultbot.domain.consult.escalation import State, fold
from consultbot.domain.consult.events import Event
from consultbot.domain.types import Outcome, RequesterKind, Track

UNKNOWN_UNIT = "okänd"
# A purged consult's requester (docs/privacy.md): not a person any more, only their unit when
# the consult was purged. Matrix ids start with "@", so the two never meet.
FROZEN_PREFIX = "#unit:"


def frozen_unit(unit: str) -> str:
    """What stands for the requester of a purged consult: their unit at the purge."""
    return FROZEN_PREFIX + (unit or UNKNOWN_UNIT)


def unit_of(requester: str, units: Mapping[str, str]) -> str:
    """The requester's unit: a purged consult's frozen unit, else the staff list's (`units`:
    Matrix id → unit), else `okänd`."""
    if requester.startswith(FROZEN_PREFIX):
        return requester.removeprefix(FROZEN_PREFIX) or UNKNOWN_UNIT
    return units.get(requester) or UNKNOWN_UNIT


MDK_TRACK = "mdk"
# The paths where a consult stands in for a referral: only there does `advice` avoid one.
SPECIALIST_TRACKS: tuple[str, ...] = (Track.HALVAKUT.value, Track.AKUT.value, Track.MDK.value)

# Every outcome key, and the index each is stored under (a stored index never changes: the
# fourth path's outcomes came later and follow `open`). The plan's "remiss undviken"
# (advice) first.
OUTCOME_KEYS: tuple[str, ...] = (
    Outcome.ADVICE.value,
    Outcome.REFERRAL.value,
    Outcome.ADMISSION.value,
    Outcome.ED.value,
    Outcome.VISIT.value,
    Outcome.OTHER.value,
    Outcome.UNKNOWN.value,
    "open",
    Outcome.HOME.value,
    Outcome.PRIMARY_CARE.value,
    Outcome.HOME_VISIT.value,
)
OPEN = OUTCOME_KEYS.index("open")
REAL_OUTCOMES = frozenset(
    i for i, key in enumerate(OUTCOME_KEYS) if key not in (Outcome.UNKNOWN.value, "open")
)
# Requester kinds as JSON keys, in the order reports show them (`unknown` last).
REQUESTER_KINDS: tuple[str, ...] = tuple(k.value for k in RequesterKind)


def requester_kind_of(value: str) -> str:
    """A stored requester kind as a `REQUESTER_KINDS` key ("" or unknown text: `unknown`)."""
    return value if value in REQUESTER_KINDS else RequesterKind.UNKNOWN.value


# The counts of one group, in the order they appear in tables and CSV.
COUNT_KEYS: tuple[str, ...] = (
    "consults",
    "acknowledged",
    "escalated",
    "unanswered",
    "mdk",
    "phone_contacts",
)

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, kw_only=True)
class ConsultFacts:
    """What statistics need to know of one consult: metadata only."""

    track: str
    services: tuple[str, ...]
    unit: str = UNKNOWN_UNIT
    kind: str = RequesterKind.UNKNOWN.value  # the requester's kind, a `REQUESTER_KINDS` key
    outcome: str | None = None  # an `Outcome` value; None while open
    acknowledged: bool = False
    escalated: bool = False
    unanswered: bool = False
    phone_contacts: int = 0
    ack_seconds: float | None = None
    requested_ms: int = 0  # the request's instant, ms since the epoch (UTC)
    repeated: bool = False  # a page of it was repeated, unacknowledged (issue 24)


def _no_rows() -> Ints:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, kw_only=True)
class FactTable:
    """The facts of many consults as columns: one row per consult.

    `track`, `service`, `unit` and `kind` are indexes into `tracks`, `services`, `units` and
    `kinds`; `status`
    indexes `OUTCOME_KEYS`; `ack_ms` is -1 where there was no acknowledgement. A consult with
    more services (a conference) has a row for each: the first `primary`, the others counted
    only in `by_service`.
    """

    tracks: Sequence[str]
    services: Sequence[str]
    units: Sequence[str]
    track: Ints
    service: Ints
    unit: Ints
    kind: Ints
    status: Ints
    acknowledged: Bools
    escalated: Bools
    unanswered: Bools
    phone: Ints
    ack_ms: Ints
    primary: Bools
    kinds: Sequence[str] = REQUESTER_KINDS
    # Each row's request instant (ms since the epoch), so that one table of a long period can
    # be cut into months (`between`); empty when the source does not give it.
    requested_ms: Ints = field(default_factory=_no_rows)
    repeated: Bools | None = None  # a page of the consult was repeated (None: none was)


def _index(names: dict[str, int], name: str) -> int:
    return names.setdefault(name, len(names))


def table_of(facts: Iterable[ConsultFacts]) -> FactTable:
    tracks: dict[str, int] = {}
    services: dict[str, int] = {}
    units: dict[str, int] = {}
    names = (
        "track service unit kind status ack esc unans phone ack_ms primary requested_ms repeated"
    )
    cols: dict[str, list[int]] = {k: [] for k in names.split()}
    for f in facts:
        if not f.services:
            raise ValueError("a consult has at least one service")
        for position, service in enumerate(f.services):
            cols["primary"].append(position == 0)
            cols["service"].append(_index(services, service))
            cols["track"].append(_index(tracks, f.track))
            cols["unit"].append(_index(units, f.unit or UNKNOWN_UNIT))
            cols["kind"].append(REQUESTER_KINDS.index(requester_kind_of(f.kind)))
            cols["status"].append(OUTCOME_KEYS.index(f.outcome) if f.outcome else OPEN)
            cols["ack"].append(f.acknowledged)
            cols["esc"].append(f.escalated)
            cols["unans"].append(f.unanswered)
            cols["phone"].append(f.phone_contacts)
            cols["ack_ms"].append(-1 if f.ack_seconds is None else round(f.ack_seconds * 1000))
            cols["requested_ms"].append(f.requested_ms)
            cols["repeated"].append(f.repeated)

    def ints(key: str) -> Ints:
        return np.asarray(cols[key], dtype=np.int64)

    def bools(key: str) -> Bools:
        return np.asarray(cols[key], dtype=np.bool_)

    return FactTable(
        tracks=list(tracks),
        services=list(services),
        units=list(units),
        track=ints("track"),
        service=ints("service"),
        unit=ints("unit"),
        kind=ints("kind"),
        status=ints("status"),
        acknowledged=bools("ack"),
        escalated=bools("esc"),
        unanswered=bools("unans"),
        phone=ints("phone"),
        ack_ms=ints("ack_ms"),
        primary=bools("primary"),
        requested_ms=ints("requested_ms"),
        repeated=bools("repeated"),
    )


# --------------------------------------------------------------------------------------------
# Quantiles


def median(values: Sequence[float]) -> float | None:
    """The middle value; the mean of the two middle ones for an even count; None if empty."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def p90(values: Sequence[float]) -> float | None:
    """Nearest rank: the smallest value that at least 90 % of the values are ≤; None if empty."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    return ordered[(9 * n + 9) // 10 - 1]


def _grouped_quantiles(
    groups: Ints, values: Ints, n_groups: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], Ints]:
    """Per group: median and p90 (as `median`/`p90` above) of `values`, and the count.

    `values` must already be in ascending order: a stable sort by group then keeps each
    group's run in order (a linear radix sort for small group numbers).
    """
    key = groups.astype(np.uint16) if n_groups <= 1 << 16 else groups
    ordered = values[np.argsort(key, kind="stable")]
    counts = np.bincount(groups, minlength=n_groups).astype(np.int64)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    med = np.full(n_groups, np.nan)
    q90 = np.full(n_groups, np.nan)
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    med[has] = (ordered[lo] + ordered[hi]) / 2
    q90[has] = ordered[starts[has] + (9 * counts[has] + 9) // 10 - 1]
    return med, q90, counts


# --------------------------------------------------------------------------------------------
# Aggregation


def _seconds(ms: float) -> float | None:
    return None if np.isnan(ms) else round(float(ms) / 1000, 1)


@dataclass(frozen=True)
class Prepared:
    """What every grouping of one table shares: each row's cell and the rows by ack time."""

    cell: Ints  # status × 16 + acknowledged × 8 + escalated × 4 + unanswered × 2 + conference
    avoided: Ints  # 1 where the row is a referral avoided (advice on a specialist path)
    by_ack: Ints  # the rows with an acknowledgement, shortest time first
    ack_sorted: Ints


_FLAGS = 16


def prepare(table: FactTable) -> Prepared:
    mdk_index = list(table.tracks).index(MDK_TRACK) if MDK_TRACK in table.tracks else -1
    cell = (
        table.status * _FLAGS
        + table.acknowledged * 8
        + table.escalated * 4
        + table.unanswered * 2
        + (table.track == mdk_index)
    )
    specialist = [i for i, name in enumerate(table.tracks) if name in SPECIALIST_TRACKS]
    advice = OUTCOME_KEYS.index(Outcome.ADVICE.value)
    avoided = ((table.status == advice) & np.isin(table.track, specialist)).astype(np.int64)
    timed = np.flatnonzero(table.ack_ms >= 0)
    by_ack = timed[np.argsort(table.ack_ms[timed], kind="stable")]
    return Prepared(cell=cell, avoided=avoided, by_ack=by_ack, ack_sorted=table.ack_ms[by_ack])


def _after_repeat(table: FactTable, row_group: Ints, n: int) -> Ints:
    """Per group: the consults acknowledged after a page of theirs was repeated (a repeat goes
    out only while nobody has acknowledged, so a repeated consult acknowledged counts)."""
    if table.repeated is None:
        return np.zeros(n, dtype=np.int64)
    rows = (row_group >= 0) & table.repeated & table.acknowledged
    return np.bincount(row_group[rows], minlength=n).astype(np.int64)


def _group_stats(
    table: FactTable, pre: Prepared, row_group: Ints, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The statistics of each group: `row_group` names each row's group (-1: not counted)."""
    n = len(names)
    k = len(OUTCOME_KEYS)
    counted = row_group >= 0
    groups = row_group[counted]
    # One histogram per group over the cells instead of a pass per count.
    cells = np.bincount(
        groups * (k * _FLAGS) + pre.cell[counted], minlength=n * k * _FLAGS
    ).reshape(n, k, _FLAGS)
    flags = cells.sum(axis=1)
    bit = np.arange(_FLAGS)
    consults = flags.sum(axis=1)
    acknowledged = flags[:, (bit & 8) > 0].sum(axis=1)
    escalated = flags[:, (bit & 4) > 0].sum(axis=1)
    unanswered = flags[:, (bit & 2) > 0].sum(axis=1)
    mdk = flags[:, (bit & 1) > 0].sum(axis=1)
    outcomes = cells.sum(axis=2)
    phone = np.bincount(groups, weights=table.phone[counted], minlength=n).round().astype(np.int64)
    avoided = np.bincount(groups, weights=pre.avoided[counted], minlength=n).round()
    timed_groups = row_group[pre.by_ack]
    keep = timed_groups >= 0
    med, q90, _ = _grouped_quantiles(timed_groups[keep], pre.ack_sorted[keep], n)
    after_repeat = _after_repeat(table, row_group, n)
    result: dict[str, dict[str, Any]] = {}
    real = sorted(REAL_OUTCOMES)
    for g in (int(i) for i in np.flatnonzero(consults)):
        total = int(consults[g])
        with_outcome = int(outcomes[g, real].sum())
        result[names[g]] = {
            "consults": total,
            "acknowledged": int(acknowledged[g]),
            "escalated": int(escalated[g]),
            "unanswered": int(unanswered[g]),
            "mdk": int(mdk[g]),
            "phone_contacts": int(phone[g]),
            "acknowledged_after_repeat": int(after_repeat[g]),
            "ack_seconds": {"median": _seconds(med[g]), "p90": _seconds(q90[g])},
            "outcomes": {key: int(outcomes[g, i]) for i, key in enumerate(OUTCOME_KEYS)},
            "referrals_avoided": int(avoided[g]),
            "closed_with_outcome": with_outcome,
            "closed_with_outcome_share": round(with_outcome / total, 3),
        }
    return result


def _empty() -> dict[str, Any]:
    return {
        **dict.fromkeys(COUNT_KEYS, 0),
        "acknowledged_after_repeat": 0,
        "ack_seconds": {"median": None, "p90": None},
        "outcomes": dict.fromkeys(OUTCOME_KEYS, 0),
        "referrals_avoided": 0,
        "closed_with_outcome": 0,
        "closed_with_outcome_share": None,
    }


def _sorted(groups: Mapping[str, dict[str, Any]], first: Sequence[str] = ()) -> dict[str, Any]:
    """Groups in a stable order: the known ones in `first` order, then by name, `okänd` last."""
    rank = {name: i for i, name in enumerate(first)}
    return {
        name: groups[name]
        for name in sorted(
            groups, key=lambda k: (k == UNKNOWN_UNIT, rank.get(k, len(rank)), k.casefold())
        )
    }


def aggregate(
    table: FactTable,
    start: date,
    end: date,
    *,
    track_order: Sequence[str] = (),
    goals_only: bool = False,
    rows: Bools | None = None,
    prepared: Prepared | None = None,
) -> dict[str, Any]:
    """The SPEC §7 report of the consults in `table` (only those where `rows` is true, when
    given), which were requested in [start, end]. `goals_only`: the totals and
    `by_requester_kind` alone (what the plan's goals read), the other groupings empty.
    `prepared`: `prepare(table)`, when the caller has it already."""
    pre = prepared or prepare(table)
    others = np.int64(-1)
    primary_rows = table.primary if rows is None else table.primary & rows

    def primary(column: Ints) -> Ints:
        return np.where(primary_rows, column, others)

    totals = _group_stats(table, pre, primary(np.zeros_like(table.track)), ["all"])
    report: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
    report.update(totals.get("all", _empty()))
    report["by_track"] = report["by_service"] = report["by_requester_unit"] = {}
    if not goals_only:
        report["by_track"] = _sorted(
            _group_stats(table, pre, primary(table.track), table.tracks), track_order
        )
        service = table.service if rows is None else np.where(rows, table.service, others)
        report["by_service"] = _sorted(_group_stats(table, pre, service, table.services))
        report["by_requester_unit"] = _sorted(
            _group_stats(table, pre, primary(table.unit), table.units)
        )
    by_kind = _group_stats(table, pre, primary(table.kind), table.kinds)
    report["by_requester_kind"] = {k: by_kind[k] for k in table.kinds if k in by_kind}
    return report


def period_reports(
    table: FactTable,
    group: Ints,
    periods: Sequence[tuple[date, date]],
    prepared: Prepared | None = None,
) -> list[dict[str, Any]]:
    """For each of `periods` (disjoint), what `aggregate(…, goals_only=True)` gives for its
    rows: `group` names each row's period (an index into `periods`, -1: none). One pass over
    the table for all of them (a year's months: two groupings, not twelve reports)."""
    pre = prepared or prepare(table)
    n, k = len(periods), len(table.kinds)
    counted = table.primary & (group >= 0)
    totals = _group_stats(table, pre, np.where(counted, group, -1), [str(i) for i in range(n)])
    names = [f"{i}|{kind}" for i in range(n) for kind in table.kinds]
    by_kind = _group_stats(table, pre, np.where(counted, group * k + table.kind, -1), names)
    reports = []
    for i, (start, end) in enumerate(periods):
        report: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
        report.update(totals.get(str(i), _empty()))
        report["by_track"] = report["by_service"] = report["by_requester_unit"] = {}
        report["by_requester_kind"] = {
            kind: by_kind[f"{i}|{kind}"] for kind in table.kinds if f"{i}|{kind}" in by_kind
        }
        reports.append(report)
    return reports


_ROW_COLUMNS = (
    "track",
    "service",
    "unit",
    "kind",
    "status",
    "acknowledged",
    "escalated",
    "unanswered",
    "phone",
    "ack_ms",
    "primary",
)


def _rows(table: FactTable, keep: Bools) -> FactTable:
    """The rows of `table` where `keep` is true."""
    columns = {name: getattr(table, name)[keep] for name in _ROW_COLUMNS}
    if len(table.requested_ms):
        columns["requested_ms"] = table.requested_ms[keep]
    if table.repeated is not None:
        columns["repeated"] = table.repeated[keep]
    return replace(table, **columns)


def only_kind(table: FactTable, kind: str) -> FactTable:
    """The rows of `table` whose requester was of `kind` (a `REQUESTER_KINDS` key)."""
    return _rows(table, table.kind == list(table.kinds).index(kind))


def between(table: FactTable, start: datetime, end: datetime) -> FactTable:
    """The rows of `table` (which has `requested_ms`) requested in [start, end)."""
    low, high = round(start.timestamp() * 1000), round(end.timestamp() * 1000)
    return _rows(table, (table.requested_ms >= low) & (table.requested_ms < high))


def month_of(day: date) -> tuple[date, date]:
    """The first and last day of `day`'s month."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


# --------------------------------------------------------------------------------------------
# One consult's summary, from its event log


@dataclass(frozen=True, kw_only=True)
class ConsultSummary:
    """One consult as the follow-up sees it: metadata only, derived from its event log."""

    consult: str
    requester: str
    track: str
    services: tuple[str, ...]
    requested_at: datetime
    counted: bool  # False for an out-of-hours offer that was never queued
    first_page_at: datetime | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    levels: tuple[int, ...]  # the levels paged, in order
    escalated: bool
    unanswered: bool
    phone_contacts: int
    # Frozen at request time (the `requested` entry): the requester's unit ("" when they were
    # not on the staff list) and kind (a `REQUESTER_KINDS` key).
    unit: str = ""
    requester_kind: str = RequesterKind.UNKNOWN.value
    repeated: bool = False  # a page of it was repeated, unacknowledged (issue 24)

    @property
    def ack_seconds(self) -> float | None:
        """Seconds from the first page to the acknowledgement."""
        if self.acknowledged_at is None or self.first_page_at is None:
            return None
        return (self.acknowledged_at - self.first_page_at).total_seconds()

    def facts(self, unit: str) -> ConsultFacts:
        """The facts statistics count, with the requester's unit (`okänd` when unknown)."""
        return ConsultFacts(
            track=self.track,
            services=self.services,
            unit=unit or UNKNOWN_UNIT,
            kind=requester_kind_of(self.requester_kind),
            outcome=self.outcome,
            acknowledged=self.acknowledged_at is not None,
            escalated=self.escalated,
            unanswered=self.unanswered,
            phone_contacts=self.phone_contacts,
            repeated=self.repeated,
            ack_seconds=self.ack_seconds,
            requested_ms=round(self.requested_at.timestamp() * 1000),
        )


def summarise(events: Sequence[Event]) -> ConsultSummary:
    """The summary of one consult's whole event log (which starts with `requested`).

    A conference names its services in `services` of the `requested` event; an ordinary
    consult has the one `service`.
    """
    consult = fold(events)
    first = events[0].data
    services = tuple(first.get("services") or (first["service"],))
    unanswered = any(e.kind == "unanswered" for e in events)
    paged = any(e.kind == "paged" for e in events)
    counted = paged or unanswered or consult.state is State.QUEUED
    return ConsultSummary(
        consult=consult.id,
        requester=consult.requester,
        track=consult.track.value,
        services=services,
        requested_at=consult.requested_at,
        counted=counted,
        first_page_at=consult.pages[0].at if consult.pages else None,
        acknowledged_at=consult.acked_at,
        closed_at=consult.closed_at,
        outcome=consult.outcome.value if consult.outcome else None,
        levels=tuple(p.level for p in consult.pages),
        escalated=consult.escalated,
        unanswered=unanswered,
        phone_contacts=consult.phone_contacts,
        unit=str(first.get("unit") or ""),
        requester_kind=requester_kind_of(str(first.get("requester_kind") or "")),
        repeated=consult.repeated,
    )
