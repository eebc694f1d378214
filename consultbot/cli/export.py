"""The analyst's and the admin's consult verbs: `consults` (one row per consult, streamed:
docs/followup.md) and `open-consults` (what is not closed now)."""

from __future__ import annotations

from datetime import UTC, datetime

from consultbot.cli.context import EXIT_OK, Context
from consultbot.cli.data import record as audit_record


async def cmd_consults(ctx: Context) -> int:
    from consultbot.cli.stats import _period
    from consultbot.text import consult_export, report

    start, end = _period(ctx)
    low, high = report.local_bounds(start, end, ctx.tz)
    people = bool(ctx.args.with_people)
    store = await ctx.store()
    tz = ctx.tz
    # The paths' outcome sets of the active catalogue (they are versioned with it).
    catalogue = await store.catalogue()
    sets = {track.value: tuple(o.value for o in outs) for track, outs in catalogue.outcome_sets}
    if people:
        # Who asked and who was paged leave the pseudonymous export: the audit trail says who
        # took them, when, for which period and where to.
        where = ctx.args.output or "stdout"
        detail = f"consults --with-people {start} – {end} ({ctx.args.format}) to {where}"
        await audit_record(ctx, "export_people", detail, datetime.now(UTC))
    with ctx.output() as stream:
        writer = consult_export.Writer(stream, ctx.args.format, ctx.messages, tz, people=people)
        writer.begin()
        async for batch in store.consult_export(low, high, people=people):
            writer.rows(
                consult_export.as_record(
                    row.summary,
                    row.unit,
                    tz,
                    (row.paged, row.acknowledged_by) if people else None,
                    sets,
                )
                for row in batch
            )
        writer.end()
    return EXIT_OK


async def cmd_open(ctx: Context) -> int:
    """The consults not closed, oldest first: number, requested, track, services, state."""
    from consultbot.text.render import chat_names

    consults = await (await ctx.store()).open_consults()
    states = chat_names(ctx.config.bot.language).get("state", {})
    if not consults:
        ctx.print(ctx.messages.cli("open_none"))
    for c in sorted(consults, key=lambda c: c.requested_at):
        ctx.print(
            ctx.messages.cli(
                "open_line",
                number=c.id,
                at=f"{c.requested_at.astimezone(ctx.tz):%Y-%m-%d %H:%M}",
                track=c.track.value,
                services=",".join(c.services or (c.service,)),
                state=states.get(c.state.value, c.state.value),
                unit="",
            )
        )
    return EXIT_OK
