"""The follow-up report in its shapes: JSON, a table to paste, CSV for Swedish Excel, a chat
text table and a PNG chart (SPEC §7). Everything but `month_report` is pure formatting.

`month_report` is what `!statistik` and the monthly report in the admin room call: the month's
report, its chat text and its chart, from the store.
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

from consultbot.domain.consult.stats import (
    OUTCOME_KEYS,
    ConsultSummary,
    FactTable,
    aggregate,
    month_of,
)
from consultbot.domain.types import Track
from consultbot.text.render import Messages


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
    "closed_with_outcome",
    "closed_with_outcome_share",
)
DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("by_track", "track"),
    ("by_service", "service"),
    ("by_requester_unit", "requester_unit"),
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


def as_json(value: Any) -> str:
    """The report (SPEC §7 keys) or the consults' records as one JSON document."""
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def stats_csv(report: Mapping[str, Any], messages: Messages) -> str:
    """One row per group (total, each track, service, unit): `;`, BOM, decimal comma."""
    header = [messages.text("stats", "dimension"), messages.text("stats", "group")]
    rows = [header + [messages.text("stats", key) for key in MEASURES]]

    def row(dimension: str, name: str, group: Mapping[str, Any]) -> list[str]:
        values = []
        for key in MEASURES:
            value = measure(group, key)
            if key == "closed_with_outcome_share" and value is not None:
                values.append(f"{value:.3f}".replace(".", ","))
            else:
                values.append("" if value is None else number(value))
        return [messages.text("stats", dimension), name, *values]

    rows.append(row("all", messages.text("stats", "all"), report))
    for key, dimension in DIMENSIONS:
        rows.extend(row(dimension, name, group) for name, group in report[key].items())
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

    sections = [(messages.text("stats", key), [*report[key].items()]) for key, _ in DIMENSIONS]
    sections[0][1].insert(0, (messages.text("stats", "totals"), report))  # before the tracks
    width = 40 + 14 * max(len(groups) for _, groups in sections)
    console = Console(
        file=io.StringIO(), width=max(width, 80), color_system=None, force_terminal=False
    )
    console.print(messages.text("stats", "title", start=report["from"], end=report["to"]))
    if not report["consults"]:
        console.print(messages.text("stats", "empty"))
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
# One row per consult


CONSULT_FIELDS: tuple[str, ...] = (
    "number",
    "track",
    "services",
    "requester_unit",
    "requested_at",
    "acknowledged_at",
    "closed_at",
    "levels_paged",
    "escalated",
    "unanswered",
    "phone_contacts",
    "outcome",
)


def consult_records(
    rows: Iterable[tuple[ConsultSummary, str]], tz: ZoneInfo
) -> list[dict[str, Any]]:
    """One record per consult: metadata only, local times as `YYYY-MM-DD HH:MM:SS`."""

    def local(instant: datetime | None) -> str | None:
        return f"{instant.astimezone(tz):%Y-%m-%d %H:%M:%S}" if instant else None

    return [
        {
            "number": s.consult,
            "track": s.track,
            "services": list(s.services),
            "requester_unit": unit,
            "requested_at": local(s.requested_at),
            "acknowledged_at": local(s.acknowledged_at),
            "closed_at": local(s.closed_at),
            "levels_paged": list(s.levels),
            "escalated": s.escalated,
            "unanswered": s.unanswered,
            "phone_contacts": s.phone_contacts,
            "outcome": s.outcome or "open",
        }
        for s, unit in rows
    ]


def consults_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """The consults for Swedish Excel: `;`, BOM, lists joined by `,`, yes/no as 1/0."""
    cells = ([_consult_cell(record[key]) for key in CONSULT_FIELDS] for record in records)
    return _excel_csv([CONSULT_FIELDS, *cells])


def _consult_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


# --------------------------------------------------------------------------------------------
# Chat: a text table and a chart


def chat_text(report: Mapping[str, Any], messages: Messages) -> str:
    """A monospaced table for chat: the measures, total and each track."""
    groups = [(messages.text("stats", "totals"), report), *report["by_track"].items()]
    title = messages.text("stats", "title", start=report["from"], end=report["to"])
    if not report["consults"]:
        return f"{title}\n{messages.text('stats', 'empty')}"
    labels = [messages.text("stats", key) for key in MEASURES]
    label_width = max(len(label) for label in labels)
    cells = [[_shown(key, measure(g, key)) for _, g in groups] for key in MEASURES]
    widths = [max(len(name), *(len(row[i]) for row in cells)) for i, (name, _) in enumerate(groups)]

    def line(label: str, row: Sequence[str]) -> str:
        right = "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        return f"{label.ljust(label_width)}  {right}".rstrip()

    header = line("", [name for name, _ in groups])
    return "\n".join([title, "", header, *map(line, labels, cells)])


@dataclass(frozen=True, kw_only=True)
class Week:
    """The consults of one week (or the part of it inside the month) by track."""

    label: str
    by_track: Mapping[str, int]


CHART_SIZE = (1000, 450)  # pixels
_DPI = 100


def chart_png(weeks: Sequence[Week], outcomes: Mapping[str, int], messages: Messages) -> bytes:
    """A PNG of `CHART_SIZE`: consults per week by track, and the share of each outcome."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(CHART_SIZE[0] / _DPI, CHART_SIZE[1] / _DPI), dpi=_DPI)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    labels = [w.label for w in weeks]
    bottom = [0] * len(weeks)
    for track in TRACK_ORDER:
        heights = [w.by_track.get(track, 0) for w in weeks]
        if any(heights):
            left.bar(labels, heights, bottom=bottom, label=track)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_title(messages.text("stats", "chart_weekly"))
    if any(bottom):
        left.legend(loc="upper left", fontsize="small")
    total = sum(outcomes.values())
    names = [messages.text("stats", key) for key in OUTCOME_KEYS]
    shares = [100 * outcomes.get(key, 0) / total if total else 0 for key in OUTCOME_KEYS]
    right.barh(names[::-1], shares[::-1])
    right.set_xlim(0, 100)
    right.set_xlabel("%")
    right.set_title(messages.text("stats", "chart_outcomes"))
    right.tick_params(axis="y", labelsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def local_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight starting `start` and ending `end` (inclusive)."""
    after = end + timedelta(days=1)
    return (
        datetime(start.year, start.month, start.day, tzinfo=tz).astimezone(UTC),
        datetime(after.year, after.month, after.day, tzinfo=tz).astimezone(UTC),
    )


async def period_report(store: StatsSource, start: date, end: date, tz: ZoneInfo) -> dict[str, Any]:
    """The SPEC §7 report of the consults requested in [start, end] (local dates)."""
    low, high = local_bounds(start, end, tz)
    table = await store.stats_table(low, high)
    return aggregate(table, start, end, track_order=TRACK_ORDER)


@dataclass(frozen=True, kw_only=True)
class MonthReport:
    """What `!statistik` and the monthly report post: the numbers, a text table, a chart."""

    report: Mapping[str, Any]
    weeks: Sequence[Week]
    text: str
    png: bytes


async def month_report(
    store: StatsSource, month: date, tz: ZoneInfo, messages: Messages
) -> MonthReport:
    """The report of `month`'s consults with its chat text and chart (weeks clipped to it)."""
    first, last = month_of(month)
    report = await period_report(store, first, last, tz)
    weeks: list[Week] = []
    day = first
    while day <= last:
        week_end = min(last, day + timedelta(days=6 - day.weekday()))
        part = await period_report(store, day, week_end, tz)
        weeks.append(
            Week(
                label=messages.text("stats", "week", number=day.isocalendar().week),
                by_track={k: v["consults"] for k, v in part["by_track"].items()},
            )
        )
        day = week_end + timedelta(days=1)
    # Drawing takes a while (and importing matplotlib the first time longer): not on the event
    # loop, where it would hold up pages.
    png = await asyncio.to_thread(chart_png, weeks, report["outcomes"], messages)
    return MonthReport(report=report, weeks=weeks, text=chat_text(report, messages), png=png)
