"""Follow-up verb: `stats` (figures per service); `consults` is in cli/export.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

from consultbot.cli.context import EXIT_OK, CliError, Context


def _period(ctx: Context) -> tuple[date, date]:
    """--from/--to as local dates, inclusive; by default the current month.

    Without --from the period starts on the first of --to's month (or of this month); without
    --to it ends on the last day of this month.
    """
    from consultbot.domain.consult.stats import month_of

    today = datetime.now(UTC).astimezone(ctx.tz).date()
    end = ctx.day(ctx.args.end)
    start = ctx.day(ctx.args.start) or month_of(end or today)[0]
    end = end or month_of(today)[1]
    if start > end:
        raise CliError(ctx.messages.text("stats", "bad_period", start=start, end=end))
    return start, end


async def cmd_stats(ctx: Context) -> int:
    from consultbot.text import report

    start, end = _period(ctx)
    result = await report.period_report(await ctx.store(), start, end, ctx.tz)
    if ctx.args.format == "json":
        text = report.as_json(result)
    elif ctx.args.format == "csv":
        text = report.stats_csv(result, ctx.messages)
    else:
        text = report.stats_table(result, ctx.messages)
    ctx.write_output(text.encode("utf-8"))
    return EXIT_OK
