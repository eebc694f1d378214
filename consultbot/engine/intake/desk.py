"""What every part of the inbox shares: the stores, the clock, the renderer, the stepper,
and the ways to queue a plain reply (one outbox entry, queued by the stepper with the id of
the event it answers).

Nothing is sent or written from here: the stepper (engine/stepper.py) records, the outbox
(delivery/outbox.py) sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from consultbot.config import Config
from consultbot.domain.chat import commands as cmd
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.service_search import find_service
from consultbot.domain.types import Track
from consultbot.engine.delivery.content import content_to_dict
from consultbot.engine.questions import Questions
from consultbot.engine.stepper import Stepper
from consultbot.ports import Clock, ConsultStore, DataSets, IncomingMessage, OutboxKind, Outgoing
from consultbot.text.views import ConsultRenderer


def typed_command(message: IncomingMessage) -> str:
    """The command word as the person wrote it (`vc`, `pc`, `who` …), for examples."""
    match = re.match(r"\s*!(\S+)", message.body)
    return match.group(1).casefold() if match else ""


def language(message: IncomingMessage) -> str:
    """English for someone who wrote an English alias; otherwise "" (the config's language)."""
    return "en" if cmd.written_in_english(message.body) else ""


@dataclass(kw_only=True, eq=False)
class Desk:
    """The inbox's shared stores and its plain replies (each one outbox entry)."""

    config: Config
    data: DataSets
    consults: ConsultStore
    clock: Clock
    renderer: ConsultRenderer
    questions: Questions
    stepper: Stepper

    @property
    def tz(self) -> ZoneInfo:
        """The bot's time zone."""
        return self.config.bot.timezone

    async def reply(
        self, room: str, template: str, *, handled: str | None, language: str = "", **params: Any
    ) -> None:
        """Answer in `room` with `template`."""
        payload = content_to_dict(self.renderer.render(template, language=language, **params))
        outgoing = [Outgoing(kind=OutboxKind.SEND, room=room, payload=payload)]
        await self.stepper.queue(outgoing, handled=handled)

    async def answer(self, message: IncomingMessage, template: str, **params: Any) -> None:
        """Answer `message` where it was written, in the language it was written in."""
        await self.reply(
            message.room, template, handled=message.event_id, language=language(message), **params
        )

    async def private_reply(self, message: IncomingMessage, template: str, **params: Any) -> None:
        """An answer with staff numbers. Whether the room may see them is decided when it is
        sent (outbox.py): if not, the answer goes to the asker's direct chat and the room gets
        it without the numbers, saying where they went."""
        lang = language(message)
        answer = self.renderer.render(template, language=lang, **params)
        withheld = self.renderer.render(template, language=lang, withheld="dm", **params)
        payload = content_to_dict(answer) | {
            "asker": message.sender,
            "numbers": True,
            "withheld": content_to_dict(withheld),
        }
        outgoing = [Outgoing(kind=OutboxKind.SEND, room=message.room, payload=payload)]
        await self.stepper.queue(outgoing, handled=message.event_id)

    async def lookup(
        self,
        message: IncomingMessage,
        typed: str,
        track: Track | None,
        catalogue: Catalogue | None = None,
    ) -> Service | None:
        """The service `typed` names in `catalogue` (else the active one); else answer (which
        of several, or the closest) and None."""
        found = find_service(
            await self.data.catalogue() if catalogue is None else catalogue, typed, track
        )
        if found.service is not None and found.service.asks_only:
            await self.answer(message, "asks_only_service", service_name=found.service.name)
            return None
        if found.service is not None:
            return found.service
        if found.candidates:
            await self.answer(
                message,
                "ambiguous_service",
                service=typed,
                candidates=found.candidates,
                command=typed_command(message),
            )
            return None
        await self.answer(message, "unknown_service", service=typed, suggestion=found.suggestion)
        return None
