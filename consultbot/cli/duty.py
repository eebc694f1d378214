"""Verbs that read the duty roster: `who` (the chain on duty) and `roster export`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from consultbot.cli.context import EXIT_OK, Context
from consultbot.domain.types import ServiceId
from consultbot.text.render import Messages

if TYPE_CHECKING:
    from consultbot.domain.duty.catalogue import Service
    from consultbot.domain.duty.oncall import OnDuty
    from consultbot.domain.duty.roster import Shift


def format_who(
    service: Service, duty: OnDuty, tz: ZoneInfo, messages: Messages, closed_note: str = ""
) -> list[str]:
    """The escalation chain on duty, one line per person, with the switchboard last."""
    at = duty.at.astimezone(tz)
    lines = [
        messages.cli("who_title", name=service.name, service=service.id, at=f"{at:%Y-%m-%d %H:%M}")
    ]
    if closed_note:
        lines.append(closed_note)
    if duty.empty:
        lines.append(messages.cli("who_nobody"))
    for level, shifts in duty.levels:
        lines.append(messages.cli("who_level", level=level) + ":")
        for shift in shifts:
            until = shift.end.astimezone(tz)
            until_text = (
                f"{until:%H:%M}" if until.date() == at.date() else f"{until:%Y-%m-%d %H:%M}"
            )
            parts = [f"  {shift.name}", shift.user]
            if shift.phone:
                parts.append(shift.phone)
            parts.append(messages.cli("who_until", until=until_text))
            lines.append("  ".join(parts))
    if service.switchboard:
        lines.append(messages.cli("switchboard", phone=service.switchboard))
    return lines


def local_time_text(instant: datetime, tz: ZoneInfo) -> str:
    """`YYYY-MM-DD HH:MM` in `tz`; in the repeated autumn hour with its offset
    (`YYYY-MM-DDTHH:MM+02:00`), so that reading it back gives the same instant."""
    local = instant.astimezone(tz)
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        return local.isoformat(timespec="minutes")
    return f"{local:%Y-%m-%d %H:%M}"


def shifts_to_csv(shifts: Iterable[Shift], tz: ZoneInfo) -> str:
    """Shifts as a roster CSV in the import format, local times. Free text that a spreadsheet
    would run as a formula is escaped (and unescaped again on import)."""
    import csv
    import io

    from consultbot.domain.duty.roster import escape_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["service", "level", "start", "end", "matrix_id", "name", "phone"])
    for s in shifts:
        times = local_time_text(s.start, tz), local_time_text(s.end, tz)
        writer.writerow(
            [s.service, s.level, *times, s.user, escape_cell(s.name), escape_cell(s.phone)]
        )
    return buffer.getvalue()


async def _service(ctx: Context, name: str) -> Service:
    catalogue = await (await ctx.store()).catalogue()
    if not len(catalogue):
        raise ctx.fail("no_catalogue")
    service = catalogue.find(name)
    if service is None:
        raise ctx.fail("unknown_service", service=name)
    return service


async def cmd_who(ctx: Context) -> int:
    from consultbot.domain.duty.roster import InstantParser

    tz = ctx.tz
    if ctx.args.at:
        try:
            # `YYYY-MM-DD HH:MM` in `tz` (or ISO 8601 with an offset); a TimeProblem names the
            # DST change's own words: "occurs twice" or "does not exist", not "invalid".
            at = InstantParser(tz)(ctx.args.at)
        except ValueError as error:
            code = {"ambiguous_time": "at_ambiguous", "nonexistent_time": "at_nonexistent"}
            raise ctx.fail(code.get(str(error), "bad_at"), value=ctx.args.at) from None
    else:
        at = datetime.now(UTC).replace(microsecond=0)
    service = await _service(ctx, ctx.args.service)
    duty = await (await ctx.store()).on_duty(ServiceId(service.id), at)
    notes = []
    for track in service.tracks:
        hours = ctx.config.tracks[track].hours
        if not hours.is_open(at, tz):
            opens = f"{hours.next_opening(at, tz):%Y-%m-%d %H:%M}"
            fields = {"track": track.value, "hours": str(hours), "opens": opens}
            notes.append(ctx.messages.cli("closed_now", **fields))
    ctx.print(*format_who(service, duty, tz, ctx.messages, "\n".join(notes)))
    return EXIT_OK


def _date(ctx: Context, text: str | None) -> datetime | None:
    """The start of a --from/--to day in the local time zone, as UTC."""
    from consultbot.domain.duty.roster import YEARS

    day = ctx.day(text)
    if day is None:
        return None
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise ctx.fail("bad_year", value=text, first=YEARS[0], last=YEARS[1])
    return datetime(day.year, day.month, day.day, tzinfo=ctx.tz).astimezone(UTC)


async def cmd_export(ctx: Context) -> int:
    from consultbot.domain.duty.ical import shifts_to_ical

    service = await _service(ctx, ctx.args.service)
    start = _date(ctx, ctx.args.start)
    end = _date(ctx, ctx.args.end)
    if end is not None:
        end += timedelta(days=1)
    shifts = await (await ctx.store()).shifts(ServiceId(service.id), start, end)
    if ctx.args.format == "ics":
        data = shifts_to_ical(shifts, service.name, {service.id: service.name}, datetime.now(UTC))
    else:
        data = shifts_to_csv(shifts, ctx.tz).encode("utf-8")
    ctx.write_output(data)
    if not shifts:
        ctx.warn(ctx.messages.cli("no_shifts", service=service.id))
    return EXIT_OK
