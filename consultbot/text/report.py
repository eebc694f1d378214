"""The follow-up report in its shapes: JSON, a table to paste, CSV for Swedish Excel, a chat
text table and a PNG chart (SPEC §7), each with the block "Planens mål" (text/goals.py).
Everything but `period_report`, `goals_chart` and `month_report` is pure formatting.

`month_report` is what `!statistik` and the monthly report in the admin room call: the month's
report, its chat text and its chart of the last 12 months, from the store.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from consultbot.domain.consult.goals import (
    goals,
    last_months,
    months_within,
    previous_period,
    report_values,
)
from consultbot.domain.consult.stats import (
    OUTCOME_KEYS,
    FactTable,
    Prepared,
    aggregate,
    between,
    only_kind,
    period_reports,
    prepare,
    table_of,
)
from consultbot.domain.types import Track
from consultbot.text.goals import (
    CHART_SIZE,
    GOAL_COLUMNS,
    columns,
    goals_chart_png,
    goals_csv_rows,
    group_name,
    period_label,
    report_goal_lines as _goal_lines,
    titles as _titles,
)
from consultbot.text.render import Messages

__all__ = ["CHART_SIZE", "MonthReport", "month_report", "period_report"]


class StatsSource(Protocol):
    """Where the report's facts come from (the SQLite store's `stats_table`)."""

    async def stats_table(self, start: datetime, end: datetime) -> FactTable: ...


TRACK_ORDER: tuple[str, ...] = tuple(t.value for t in Track)

# Rows of the table and columns of the CSV, in order (message keys).
MEASURES: tuple[str, ...] = (
    "consults",
    "acknowledged",
    "escalated",
    "unanswered",
    "mdk",
    "phone_contacts",
    "ack_median",
    "ack_p90",
    *OUTCOME_KEYS,
    "referrals_avoided",
    "closed_with_outcome",
    "closed_with_outcome_share",
)
DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("by_track", "track"),
    ("by_service", "service"),
    ("by_requester_unit", "requester_unit"),
    ("by_requester_kind", "requester_kind"),
)


_ACK = {"ack_median": "median", "ack_p90": "p90"}


def measure(group: Mapping[str, Any], key: str) -> int | float | None:
    if key in _ACK:
        return group["ack_seconds"][_ACK[key]]  # type: ignore[no-any-return]
    if key in OUTCOME_KEYS:
        return group["outcomes"][key]  # type: ignore[no-any-return]
    return group[key]  # type: ignore[no-any-return]


def number(value: int | float | None, decimal: str = ",") -> str:
    """A value as Swedish Excel and readers expect: decimal comma, share as percent; – if none."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}".replace(".", decimal)


def _shown(key: str, value: int | float | None, decimal: str = ",") -> str:
    if key == "closed_with_outcome_share" and value is not None:
        return number(round(value * 100, 1), decimal) + " %"
    return number(value, decimal)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def as_json(value: Any) -> str:
    """The report (SPEC §7 keys) as one JSON document: a line per key, and per group of a
    grouping (`by_service` …), each written by the C encoder (`indent` makes `json` fall back
    to its Python one: a fifth of a year's `stats` over a million consults)."""
    if not isinstance(value, dict):
        return _compact(value) + "\n"

    def entry(key: str, item: Any, pad: str) -> str:
        if isinstance(item, dict) and item and all(isinstance(v, dict) for v in item.values()):
            inner = ",\n".join(entry(k, v, pad + "  ") for k, v in item.items())
            return f"{pad}{_compact(key)}: {{\n{inner}\n{pad}}}"
        return f"{pad}{_compact(key)}: {_compact(item)}"

    return "{\n" + ",\n".join(entry(k, v, "  ") for k, v in value.items()) + "\n}\n"


def stats_csv(report: Mapping[str, Any], messages: Messages) -> str:
    """One row per group (total, each track, service, unit, requester kind), then a row per
    goal of the plan (total, then per requester kind) with its own columns: `;`, BOM, decimal
    comma; the first column is the period, so that months can be stacked."""
    period = period_label(report["from"], report["to"])
    header = [messages.text("stats", key) for key in ("period", "dimension", "group")]
    goal_header = [messages.text("stats", key) for key in GOAL_COLUMNS]
    rows = [header + [messages.text("stats", key) for key in MEASURES] + goal_header]
    no_goal = [""] * len(GOAL_COLUMNS)

    def row(dimension: str, name: str, group: Mapping[str, Any]) -> list[str]:
        values = []
        for key in MEASURES:
            value = measure(group, key)
            if key == "closed_with_outcome_share" and value is not None:
                values.append(f"{value:.3f}".replace(".", ","))
            else:
                values.append("" if value is None else number(value))
        return [period, messages.text("stats", dimension), name, *values, *no_goal]

    rows.append(row("all", messages.text("stats", "all"), report))
    for key, dimension in DIMENSIONS:
        rows.extend(
            row(dimension, group_name(key, name, messages), group)
            for name, group in report[key].items()
        )
    no_measure = [""] * len(MEASURES)
    # The period's goals, then (a period of more months) each month's, labelled by its period.
    for block in [report, *report.get("goals_by_month", ())]:
        if block.get("goals"):
            label = period_label(block["from"], block["to"])
            for dimension, goal, values in goals_csv_rows(block["goals"], messages):
                rows.append([label, dimension, goal, *no_measure, *values])
    return _excel_csv(rows)


def _excel_csv(rows: Iterable[Sequence[Any]]) -> str:
    """`;` between cells, a BOM and CRLF: what Swedish Excel opens as columns."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def stats_table(report: Mapping[str, Any], messages: Messages) -> str:
    """The report as text tables to paste: measures as rows, the groups as columns."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    sections = [
        (
            messages.text("stats", key),
            [(group_name(key, name, messages), group) for name, group in report[key].items()],
        )
        for key, _ in DIMENSIONS
    ]
    sections[0][1].insert(0, (messages.text("stats", "totals"), report))  # before the tracks
    width = 40 + 14 * max(len(groups) for _, groups in sections)
    console = Console(
        file=io.StringIO(), width=max(width, 80), color_system=None, force_terminal=False
    )
    for line in _titles(report, messages):
        console.print(line, markup=False, highlight=False)
    if not report["consults"]:
        console.print(messages.text("stats", "empty"))
    for block in [report, *report.get("goals_by_month", ())]:
        goal_lines = _goal_lines(block, messages)
        if goal_lines:
            console.print()
            console.print("\n".join(goal_lines), markup=False, highlight=False, soft_wrap=True)
            console.print()
    if not report["consults"]:
        return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]
    for title, groups in sections:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column(messages.text("stats", "measure"))
        for name, _ in groups:
            table.add_column(name, justify="right")
        for key in MEASURES:
            table.add_row(
                messages.text("stats", key), *(_shown(key, measure(g, key)) for _, g in groups)
            )
        console.print(table)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


# --------------------------------------------------------------------------------------------
# Chat: the goals and a compact table per track, service, unit and requester kind


CHAT_COLUMNS: tuple[str, ...] = (
    "consults",
    "acknowledged",
    "unanswered",
    "ack_median",
    "referrals_avoided",
    "open",
)
CHAT_ROWS = 8  # groups per section at most; the rest in one line (`stats` shows all)


def chat_text(report: Mapping[str, Any], messages: Messages) -> str:
    """Text for chat: the title, the plan's goals, then one compact table with a row per
    group (total, then each track, service, requesting unit and requester kind, the largest
    `CHAT_ROWS` of each)."""
    lines = _titles(report, messages)
    if not report["consults"]:
        lines.append(messages.text("stats", "empty"))
    goal_lines = _goal_lines(report, messages)
    if goal_lines:
        lines += ["", *goal_lines]
    if not report["consults"]:
        return "\n".join(lines)
    rows = [["", *(messages.text("stats", f"chat_{key}") for key in CHAT_COLUMNS)]]
    notes: dict[int, str] = {}

    def add(name: str, group: Mapping[str, Any]) -> None:
        rows.append([name, *(_shown(key, measure(group, key)) for key in CHAT_COLUMNS)])

    add(messages.text("stats", "totals"), report)
    for key, _ in DIMENSIONS:
        groups = list(report[key].items())
        if not groups:
            continue
        rows.append([messages.text("stats", key), *[""] * len(CHAT_COLUMNS)])
        largest = sorted(groups, key=lambda item: -int(item[1]["consults"]))[:CHAT_ROWS]
        for name, group in groups:
            if any(name == kept for kept, _ in largest):
                add("  " + group_name(key, name, messages), group)
        if len(groups) > CHAT_ROWS:
            notes[len(rows)] = "  " + messages.text(
                "stats", "chat_more", count=len(groups) - CHAT_ROWS
            )
    table = columns(rows)
    for at in sorted(notes, reverse=True):
        table.insert(at, notes[at])
    return "\n".join([*lines, "", *table])


def local_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight starting `start` and ending `end` (inclusive)."""
    after = end + timedelta(days=1)
    return (
        datetime(start.year, start.month, start.day, tzinfo=tz).astimezone(UTC),
        datetime(after.year, after.month, after.day, tzinfo=tz).astimezone(UTC),
    )


async def _table(
    store: StatsSource, start: date, end: date, tz: ZoneInfo, kind: str | None
) -> FactTable:
    """The facts of [start, end] (local dates), of requester kind `kind` only when given."""
    try:
        low, high = local_bounds(start, end, tz)
    except (OverflowError, ValueError):  # the edge of the calendar (9999-12-31, 0001-01-01)
        return table_of([])  # in local time: no consult can have been requested then
    table = await store.stats_table(low, high)
    return only_kind(table, kind) if kind else table


async def _aggregate(
    store: StatsSource,
    start: date,
    end: date,
    tz: ZoneInfo,
    kind: str | None,
    *,
    goals_only: bool = False,
) -> dict[str, Any]:
    table = await _table(store, start, end, tz, kind)
    return aggregate(table, start, end, track_order=TRACK_ORDER, goals_only=goals_only)


async def period_report(
    store: StatsSource, start: date, end: date, tz: ZoneInfo, kind: str | None = None
) -> dict[str, Any]:
    """The SPEC §7 report of the consults requested in [start, end] (local dates), with the
    plan's goals against the period before (`goals.previous_period`); only the consults of
    requester kind `kind` when it is given (the report then names it: `requester_kind`). A
    period of more than one month has the goals of each month too (`goals_by_month`)."""
    months = months_within(start, end)
    by_month: list[dict[str, Any]] = []
    if len(months) > 1:
        # One read of the period and the month before it, cut by each row's request instant.
        try:
            first = previous_period(*months[0])[0]
        except OverflowError:
            first = start
        wide = await _table(store, first, end, tz, kind)
        prepared = prepare(wide)  # sorted once for the period's report and its months
        low, high = (round(t.timestamp() * 1000) for t in local_bounds(start, end, tz))
        rows = (wide.requested_ms >= low) & (wide.requested_ms < high)
        report = aggregate(wide, start, end, track_order=TRACK_ORDER, rows=rows, prepared=prepared)
        by_month = _goals_by_month(wide, months, tz, prepared)
    else:
        report = await _aggregate(store, start, end, tz, kind)
    try:
        before = previous_period(start, end)
    except OverflowError:  # before the year 1: nothing to compare with
        previous: dict[str, Any] = {}
    else:
        previous = await _aggregate(store, *before, tz, kind, goals_only=True)
    if kind:
        report["requester_kind"] = kind
    report["goals"] = goals(report, previous)
    if by_month:
        report["goals_by_month"] = by_month
    return report


def _goals_by_month(
    table: FactTable, months: list[tuple[date, date]], tz: ZoneInfo, prepared: Prepared
) -> list[dict[str, Any]]:
    """The plan's goals of each month (cut to the period) against the period before it: the
    months and the period before the first counted in one pass (`period_reports`)."""
    try:
        first = previous_period(*months[0])
    except OverflowError:  # before the year 1: nothing before the first month
        periods = list(months)
    else:
        periods = [first, *months]
    group = np.full(len(table.requested_ms), -1, dtype=np.int64)
    for index, period in enumerate(periods):
        low, high = (round(t.timestamp() * 1000) for t in local_bounds(*period, tz))
        group[(table.requested_ms >= low) & (table.requested_ms < high)] = index
    found = period_reports(table, group, periods, prepared)
    reports = dict(zip(periods, found, strict=True))
    blocks = []
    for month in months:
        try:
            before_period = previous_period(*month)
        except OverflowError:
            before: dict[str, Any] = {}
        else:
            before = reports.get(before_period) or aggregate(
                between(table, *local_bounds(*before_period, tz)), *before_period, goals_only=True
            )  # the period before a month cut short at the end overlaps the month before
        current = reports[month]
        blocks.append(
            {"from": current["from"], "to": current["to"], "goals": goals(current, before)}
        )
    return blocks


async def _months(
    store: StatsSource, month: date, tz: ZoneInfo, kind: str | None
) -> list[tuple[date, dict[str, Any]]]:
    """The reports of the 12 months up to `month`'s, oldest first."""
    return [
        (first, await _aggregate(store, first, last, tz, kind, goals_only=True))
        for first, last in last_months(month)
    ]


def _chart(months: list[tuple[date, dict[str, Any]]], messages: Messages) -> bytes:
    return goals_chart_png([(first, report_values(r)) for first, r in months], messages)


async def goals_chart(
    store: StatsSource, month: date, tz: ZoneInfo, messages: Messages, kind: str | None = None
) -> bytes:
    """The chart (PNG) of the plan's goals over the 12 months up to `month`'s."""
    months = await _months(store, month, tz, kind)
    return await asyncio.to_thread(_chart, months, messages)


@dataclass(frozen=True, kw_only=True)
class MonthReport:
    """What `!statistik` and the monthly report post: the numbers, a text table, a chart."""

    report: Mapping[str, Any]
    text: str
    png: bytes


async def month_report(
    store: StatsSource, month: date, tz: ZoneInfo, messages: Messages
) -> MonthReport:
    """The report of `month`'s consults with the plan's goals against the month before, its
    chat text and the chart of the goals over the 12 months up to it."""
    months = await _months(store, month, tz, None)
    report = await _aggregate(store, *last_months(month, 1)[0], tz, None)  # every grouping
    report["goals"] = goals(report, months[-2][1] if len(months) > 1 else {})
    # Drawing takes a while (and importing matplotlib the first time longer): not on the event
    # loop, where it would hold up pages.
    png = await asyncio.to_thread(_chart, months, messages)
    return MonthReport(report=report, text=chat_text(report, messages), png=png)
