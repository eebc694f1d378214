"""The block "Planens mål" (domain/consult/goals.py) as text lines, CSV rows and a chart of the
last months (one small panel per goal). Pure formatting."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from consultbot.domain.consult.goals import GOAL_KEYS, SHARE_GOALS
from consultbot.domain.consult.stats import REQUESTER_KINDS, month_of
from consultbot.text.render import Messages

Value = int | float | None
PERCENT_GOALS = ("unanswered_share",)


def kind_name(messages: Messages, kind: str) -> str:
    """A requester kind's name in the messages' language (vårdcentral, ambulans …)."""
    return messages.text("stats", f"kind_{kind}")


def kind_of_name(text: str) -> str | None:
    """The `REQUESTER_KINDS` key a user wrote: the key itself or its Swedish or English name."""
    wanted = text.strip().casefold()
    for kind in REQUESTER_KINDS:
        names = {kind, *(kind_name(Messages(lang), kind).casefold() for lang in ("sv", "en"))}
        if wanted in names:
            return kind
    return None


def group_name(dimension: str, name: str, messages: Messages) -> str:
    """A group as shown: a requester kind by its name (vårdcentral …), the others as they are."""
    return kind_name(messages, name) if dimension == "by_requester_kind" else name


def period_label(start: str, end: str) -> str:
    """`2026-11` for a whole month, else `2026-11-03 – 2026-11-09`."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if (first, last) == month_of(first):
        return f"{first:%Y-%m}"
    return f"{start} – {end}"


def titles(report: Mapping[str, Any], messages: Messages) -> list[str]:
    lines = [messages.text("stats", "title", start=report["from"], end=report["to"])]
    if report.get("requester_kind"):
        kind = kind_name(messages, report["requester_kind"])
        lines.append(messages.text("stats", "title_kind", kind=kind))
    return lines


def report_goal_lines(report: Mapping[str, Any], messages: Messages) -> list[str]:
    block = report.get("goals")
    if not block:
        return []
    before = block["previous"]
    previous = period_label(before["from"], before["to"]) if before.get("from") else "–"
    return goals_lines(block, period_label(report["from"], report["to"]), previous, messages)


def _num(value: float, decimals: int = 1) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def cell(key: str, value: Value) -> str:
    """One goal's value: a share in percent, seconds with a decimal; – when there is none."""
    if value is None:
        return "–"
    if key.endswith("share"):
        return _num(value * 100) + " %"
    if isinstance(value, float):
        return _num(value)
    return str(value)


def change_cell(key: str, value: Value, messages: Messages) -> str:
    """A change with its sign (shares in percentage points); – when there is none."""
    if value is None:
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    size = abs(value)
    if key.endswith("share"):
        return f"{sign}{_num(size * 100)} {messages.text('stats', 'points')}"
    return f"{sign}{_num(size) if isinstance(size, float) else size}"


def _value_cell(key: str, row: Mapping[str, Value], which: str) -> str:
    """`which` is "value" or "previous"; a goal with a share shows both: `3 (25,0 %)`."""
    text = cell(key, row[which])
    if key in SHARE_GOALS:
        share = row["share" if which == "value" else "previous_share"]
        text += f" ({cell('share', share)})"
    return text


def _change(key: str, row: Mapping[str, Value], messages: Messages) -> str:
    text = change_cell(key, row["change"], messages)
    if key in SHARE_GOALS:
        text += f" ({change_cell('share', row['share_change'], messages)})"
    return text


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Monospaced lines: the first column left, the others right, two spaces between."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _kind_cell(key: str, row: Mapping[str, Value], messages: Messages) -> str:
    return f"{_value_cell(key, row, 'value')} {change_cell(key, row['change'], messages)}"


def goals_lines(
    block: Mapping[str, Any], month: str, previous: str, messages: Messages
) -> list[str]:
    """The block as monospaced lines: a row per goal (the period, the one before, the change),
    the note on referrals avoided, the goals the bot cannot see, and the split by kind."""
    label = messages.text("stats", "goals")
    header = [label, month, previous, messages.text("stats", "change")]
    rows = [header]
    for key in GOAL_KEYS:
        row = block["rows"][key]
        rows.append(
            [
                messages.text("stats", f"goal_{key}"),
                _value_cell(key, row, "value"),
                _value_cell(key, row, "previous"),
                _change(key, row, messages),
            ]
        )
    lines = columns(rows)
    lines.append(messages.text("stats", "goals_avoided_note"))
    for key, hidden in block["not_visible"].items():
        goal = messages.text("stats", f"goal_{key}")
        lines.append(messages.text("stats", "goals_not_visible", goal=goal, **hidden))
    kinds = block["by_requester_kind"]
    if kinds:
        lines += ["", messages.text("stats", "goals_by_kind", month=month)]
        table = [["", *(kind_name(messages, k) for k in kinds)]]
        for key in GOAL_KEYS:
            table.append(
                [messages.text("stats", f"goal_{key}")]
                + [_kind_cell(key, g[key], messages) for g in kinds.values()]
            )
        lines += columns(table)
    return lines


GOAL_COLUMNS: tuple[str, ...] = (
    "goal_value",
    "goal_previous",
    "goal_change",
    "goal_share",
    "goal_previous_share",
    "goal_share_change",
)


def _csv_value(value: Value, decimals: int) -> str:
    """A share with three decimals (as `closed_with_outcome_share`), seconds with one."""
    if value is None:
        return ""
    if isinstance(value, float):
        return _num(value, decimals)
    return str(value)


def goals_csv_rows(
    block: Mapping[str, Any], messages: Messages
) -> list[tuple[str, str, list[str]]]:
    """The block as CSV rows: (dimension, goal, values of `GOAL_COLUMNS`); total first, then
    each requester kind."""
    parts = [(messages.text("stats", "goal_dimension"), block["rows"])]
    for kind, rows in block["by_requester_kind"].items():
        name = kind_name(messages, kind)
        parts.append((messages.text("stats", "goal_dimension_kind", kind=name), rows))
    result = []
    for dimension, rows in parts:
        for key in GOAL_KEYS:
            row = rows[key]
            values = [row["value"], row["previous"], row["change"]]
            shares = [row.get(k) for k in ("share", "previous_share", "share_change")]
            decimals = 3 if key.endswith("share") else 1
            cells = [_csv_value(v, decimals) for v in values] + [_csv_value(v, 3) for v in shares]
            result.append((dimension, messages.text("stats", f"goal_{key}"), cells))
    return result


# --------------------------------------------------------------------------------------------
# The chart


# The panels, in order: the goals over the months (the ambulance's as shares).
PANELS: tuple[str, ...] = (
    "referrals_avoided",
    "referrals",
    "phone_contacts",
    "admissions",
    "ed",
    "ambulance_home_share",
    "ambulance_primary_care_share",
    "ack_median",
    "unanswered_share",
)
CHART_SIZE = (1200, 900)  # pixels
_DPI = 100


def _panel_title(key: str, messages: Messages) -> str:
    if key.endswith("_share") and key.removesuffix("_share") in SHARE_GOALS:
        goal = messages.text("stats", f"goal_{key.removesuffix('_share')}")
        return messages.text("stats", "chart_share", goal=goal)
    if key in PERCENT_GOALS:
        return messages.text("stats", "chart_percent", goal=messages.text("stats", f"goal_{key}"))
    return messages.text("stats", f"goal_{key}")


def goals_chart_png(
    months: Sequence[tuple[date, Mapping[str, Value]]], messages: Messages
) -> bytes:
    """A PNG of `CHART_SIZE`: one small panel per goal, a point per month (`months`: the first
    day of each month and its goals' values, oldest first; a month without a value is a gap)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = messages.text("stats", "month_names").split()
    labels = [names[first.month - 1] for first, _ in months]
    figure = Figure(figsize=(CHART_SIZE[0] / _DPI, CHART_SIZE[1] / _DPI), dpi=_DPI)
    axes = figure.subplots(3, 3).flatten()
    x = list(range(len(months)))
    for panel, key in zip(axes, PANELS, strict=True):
        raw = [values.get(key) for _, values in months]
        scale = 100 if key.endswith("share") else 1
        ys = [float("nan") if v is None else v * scale for v in raw]
        highest = max((v for v in ys if v == v), default=0.0)  # NaN != NaN: the gaps
        if key.endswith("share") or key == "ack_median":
            panel.plot(x, ys, marker="o", linewidth=1.5)
            panel.set_ylim(0, 100 if key.endswith("share") else max(highest * 1.15, 1.0))
        else:
            panel.bar(x, [0 if v is None else v for v in ys])
            panel.set_ylim(0, max(highest * 1.15, 1.0))
            panel.yaxis.set_major_locator(MaxNLocator(integer=True))
        panel.set_xlim(-0.6, len(months) - 0.4)
        panel.set_title(_panel_title(key, messages), fontsize="small")
        panel.set_xticks(x, labels, fontsize="x-small")
        panel.tick_params(axis="y", labelsize="x-small")
        panel.grid(axis="y", alpha=0.3)
    if months:
        start, end = months[0][0], months[-1][0]
        figure.suptitle(
            messages.text("stats", "chart_title", start=f"{start:%Y-%m}", end=f"{end:%Y-%m}")
        )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()
