"""Who may use the bot, and what is removed before anything else: a personnummer is redacted
even from someone who may not use the bot; someone on a server not allowed gets one notice per
room per hour; a room the bot may not answer in (domain/audience.py) gets nothing."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from consultbot.domain.chat import audience
from consultbot.domain.files.validation import servers_of
from consultbot.engine.delivery.content import content_to_dict
from consultbot.engine.intake.desk import Desk
from consultbot.ports import IncomingMessage, OutboxKind, Outgoing

log = logging.getLogger(__name__)

REFUSAL_INTERVAL = timedelta(hours=1)  # one notice per room to users on servers not allowed


class Guard:
    """Authorises senders and rooms, and redacts personnummer."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk
        self._refused: dict[str, datetime] = {}  # room → when someone not allowed was answered

    def allowed(self, user: str) -> bool:
        """True for users on one of `bot.allowed_servers` (SPEC §4: requesters must be on
        these), server names read as the room checks read them: case-insensitive, with a port."""
        return audience.on_allowed_server(user, self._servers)

    @functools.cached_property
    def _servers(self) -> frozenset[str]:
        return servers_of(self._desk.config.bot.allowed_servers)

    async def refuse_server(self, message: IncomingMessage) -> None:
        """Someone on a server not allowed: one notice per room per hour (SPEC §6), the other
        lines only marked handled, so nobody can make the bot answer line for line. Kept in
        memory: a restart may give one more notice, which is harmless."""
        now = self._desk.clock.now()
        last = self._refused.get(message.room)
        if last is not None and now - last < REFUSAL_INTERVAL:
            await self._desk.stepper.queue((), handled=message.event_id)
            return
        for room, at in list(self._refused.items()):  # only the last hour's rooms are kept
            if now - at >= REFUSAL_INTERVAL:
                del self._refused[room]
        self._refused[message.room] = now
        servers = ", ".join(self._desk.config.bot.allowed_servers)
        await self._desk.reply(
            message.room, "refused_server", handled=message.event_id, servers=servers
        )

    async def unfit_room(self, message: IncomingMessage) -> None:
        """A message in a room a user opened that the bot may not answer in (domain/audience.py):
        nothing is answered; the outbox tells the asker once and leaves a room unfit for good."""
        log.info("not answering in %s: %s", message.room, ", ".join(message.unfit))
        asker = message.sender if self.allowed(message.sender) else ""
        payload = {"asker": asker, "faults": [str(f) for f in message.unfit]}
        outgoing = [Outgoing(kind=OutboxKind.UNFIT, room=message.room, payload=payload)]
        await self._desk.stepper.queue(outgoing, handled=message.event_id)

    async def redact_personal_number(self, room: str, event_id: str, *, tell: bool = True) -> None:
        """Redact the event; with `tell`, say why in the room."""
        outgoing = [Outgoing(kind=OutboxKind.REDACT, room=room, payload={"event_id": event_id})]
        if tell:
            content = self._desk.renderer.render("pnr_redacted")
            outgoing.append(
                Outgoing(kind=OutboxKind.SEND, room=room, payload=content_to_dict(content))
            )
        await self._desk.stepper.queue(outgoing, handled=event_id)
