"""Follow-up verb: `stats` (figures per service, the plan's goals, a chart); `consults` is in
cli/export.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from consultbot.cli.context import EXIT_OK, CliError, Context


def _month(ctx: Context, text: str) -> tuple[date, date]:
    """--month YYYY-MM: its first and last day."""
    from consultbot.domain.consult.stats import month_of

    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError(text)
        return month_of(date.fromisoformat(f"{text}-01"))
    except ValueError:
        raise CliError(ctx.messages.text("stats", "bad_month", value=text)) from None


def _period(ctx: Context) -> tuple[date, date]:
    """--month, or --from/--to as local dates, inclusive; by default the current month.

    Without --from the period starts on the first of --to's month (or of this month); without
    --to it ends on the last day of this month. A day whose local midnights cannot be computed
    (9999-12-31 has no day after; 0001-01-01 is before the year 1 in UTC) is one clear error,
    not a traceback.
    """
    from consultbot.domain.consult.stats import month_of
    from consultbot.text.report import local_bounds

    month = getattr(ctx.args, "month", None)
    if month and (ctx.args.start or ctx.args.end):
        raise CliError(ctx.messages.text("stats", "month_and_period"))
    today = datetime.now(UTC).astimezone(ctx.tz).date()
    if month:
        start, end = _month(ctx, month)
    else:
        given_end = ctx.day(ctx.args.end)
        start = ctx.day(ctx.args.start) or month_of(given_end or today)[0]
        end = given_end or month_of(today)[1]
    for value in (start, end):
        try:
            local_bounds(value, value, ctx.tz)
        except (OverflowError, ValueError):
            raise CliError(ctx.messages.text("stats", "out_of_range", value=value)) from None
    if start > end:
        raise CliError(ctx.messages.text("stats", "bad_period", start=start, end=end))
    return start, end


def _kind(ctx: Context) -> str | None:
    """--requester-kind: a JSON key (ambulance) or its name (ambulans); None when not given."""
    from consultbot.domain.consult.stats import REQUESTER_KINDS
    from consultbot.text.goals import kind_name, kind_of_name

    text = getattr(ctx.args, "requester_kind", None)
    if not text:
        return None
    kind = kind_of_name(text)
    if kind is None:
        names = (f"{k} ({kind_name(ctx.messages, k)})" for k in REQUESTER_KINDS)
        raise CliError(ctx.messages.text("stats", "bad_kind", value=text, allowed=", ".join(names)))
    return kind


async def cmd_stats(ctx: Context) -> int:
    from consultbot.text import report

    start, end = _period(ctx)
    kind = _kind(ctx)
    store = await ctx.store()
    result = await report.period_report(store, start, end, ctx.tz, kind)
    if ctx.args.chart:
        png = await report.goals_chart(store, end, ctx.tz, ctx.messages, kind)
        _write_chart(ctx, Path(ctx.args.chart), png)
    if ctx.args.format == "json":
        text = report.as_json(result)
    elif ctx.args.format == "csv":
        text = report.stats_csv(result, ctx.messages)
    else:
        text = report.stats_table(result, ctx.messages)
    ctx.write_output(text.encode("utf-8"))
    return EXIT_OK


def _write_chart(ctx: Context, path: Path, png: bytes) -> None:
    """The chart to `path` like every export: through a temporary file renamed into place
    (never half a PNG), owner-only."""
    from consultbot.cli.context import os_reason, replaced_atomically

    try:
        with replaced_atomically(path, private=True) as handle:
            handle.write(png)
    except OSError as exc:
        reason = os_reason(exc, ctx.messages)
        raise CliError(
            ctx.messages.text("stats", "chart_failed", file=path, reason=reason)
        ) from None
