"""Answers that are not consult steps: `!vem`, `!status` and `!statistik`."""

from __future__ import annotations

from consultbot.domain.chat import commands as cmd
from consultbot.domain.duty.catalogue import Service
from consultbot.engine.intake.desk import Desk, language
from consultbot.ports import IncomingMessage, OutboxKind, Outgoing
from consultbot.text.views import service_name


class Answers:
    """Who is on duty, one's own consults, and the month's report for admins."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    async def stats(self, message: IncomingMessage, command: cmd.Stats) -> None:
        """`!statistik [YYYY-MM]`: admins get the month's report (table and chart) where they
        asked, made when it is sent; anyone else a refusal and no numbers."""
        desk = self._desk
        if message.sender not in desk.config.bot.admins:
            await desk.answer(message, "stats_refused")
            return
        month = command.month or f"{desk.clock.now().astimezone(desk.tz):%Y-%m}"
        payload = {"month": month, "language": language(message), "monthly": False}
        outgoing = [Outgoing(kind=OutboxKind.REPORT, room=message.room, payload=payload)]
        await desk.stepper.queue(outgoing, handled=message.event_id)

    async def who(self, message: IncomingMessage, service: Service) -> None:
        """`!vem SERVICE`: who is on duty there now, level by level (numbers: a private reply)."""
        duty = await self._desk.data.on_duty(service.id, self._desk.clock.now())
        levels = [
            (level, [{"user": s.user, "name": s.name, "phone": s.phone} for s in shifts])
            for level, shifts in duty.levels
        ]
        await self._desk.private_reply(
            message,
            "who",
            service_name=service.name,
            levels=levels,
            switchboard=service.switchboard,
        )

    async def status(self, message: IncomingMessage) -> None:
        """`!status`: the consults the sender asked for, with their state."""
        catalogue = await self._desk.data.catalogue()
        consults = [
            {
                "id": c.id,
                "service_name": ", ".join(
                    service_name(catalogue, s) for s in (c.services or (c.service,))
                ),
                "state": c.state.value,
                "level": c.level,
            }
            for c in await self._desk.consults.consults_of(message.sender)
        ]
        await self._desk.answer(message, "status", consults=consults)
