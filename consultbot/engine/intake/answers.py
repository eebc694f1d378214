"""The plain answers: `!statistik`, `!vem SERVICE`, `!rutin SERVICE` and `!status` (one outbox
entry each, queued by the stepper with the id of the message it answers; desk.py)."""

from __future__ import annotations

from consultbot.domain.chat import commands as cmd
from consultbot.domain.duty.catalogue import Service
from consultbot.domain.duty.matrix import path_hours
from consultbot.domain.types import Track
from consultbot.engine.intake.desk import Desk, language
from consultbot.ports import IncomingMessage, OutboxKind, Outgoing
from consultbot.text.render import chat_names
from consultbot.text.views import service_name


async def stats(desk: Desk, message: IncomingMessage, command: cmd.Stats) -> None:
    """`!statistik [YYYY-MM]`: admins get the month's report (table and chart) where they
    asked, made when it is sent; anyone else a refusal and no numbers."""
    if message.sender not in desk.config.bot.admins:
        await desk.answer(message, "stats_refused")
        return
    month = command.month or f"{desk.clock.now().astimezone(desk.tz):%Y-%m}"
    payload = {"month": month, "language": language(message), "monthly": False}
    outgoing = [Outgoing(kind=OutboxKind.REPORT, room=message.room, payload=payload)]
    await desk.stepper.queue(outgoing, handled=message.event_id)


async def who(desk: Desk, message: IncomingMessage, service: Service) -> None:
    """`!vem SERVICE`: who is on duty there now, level by level (numbers: a private reply)."""
    duty = await desk.data.on_duty(service.id, desk.clock.now())
    levels = [
        (level, [{"user": s.user, "name": s.name, "phone": s.phone} for s in shifts])
        for level, shifts in duty.levels
    ]
    await desk.private_reply(
        message, "who", service_name=service.name, levels=levels, switchboard=service.switchboard
    )


async def routine(desk: Desk, message: IncomingMessage, service: Service) -> None:
    """`!rutin SERVICE`: how the service wants to be reached on each of its paths — who may
    use it, when, what to have ready, when to ring instead, when to refer, its documents."""
    lang = language(message) or desk.renderer.language
    names = chat_names(lang)
    paths = []
    for track in (t for t in Track if t in service.tracks):
        routine = service.routine(track)
        hours = path_hours(service, track, desk.config.hours_of())
        paths.append(
            {
                "track": track.value,
                "name": names["track"][track.value],
                "command": names["track_command"][track.value],
                "hours": desk.renderer.chat.hours(hours, lang),
                "open_to": [] if routine.open_to_all else [k.value for k in routine.open_to],
                "have_ready": list(routine.have_ready),
                "call_when": routine.call_when,
                "refer_when": routine.refer_when,
                "documents": [{"label": d.label, "url": d.url} for d in routine.documents],
            }
        )
    await desk.answer(
        message,
        "routine",
        service_name=service.name,
        service_id=service.id,
        switchboard=service.switchboard,
        paths=paths,
    )


async def status(desk: Desk, message: IncomingMessage) -> None:
    """`!status`: the consults the sender asked for, with their state."""
    catalogue = await desk.data.catalogue()
    consults = [
        {
            "id": c.id,
            "service_name": ", ".join(
                service_name(catalogue, s) for s in (c.services or (c.service,))
            ),
            "state": c.state.value,
            "level": c.level,
        }
        for c in await desk.consults.consults_of(message.sender)
    ]
    await desk.answer(message, "status", consults=consults)
