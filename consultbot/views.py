"""What the chat templates may say about a consult: metadata only, never a question's text.

`ConsultRenderer` is the one place that looks up the names, units and numbers a message shows
(catalogue, staff list, track settings) and renders templates/chat with them. The outbox
(outbox.py) asks it for a message's content; the inbox (inbox.py) for its plain replies.
"""

from __future__ import annotations

from typing import Any

from consultbot.config import Config
from consultbot.domain import escalation as esc
from consultbot.domain.catalogue import Catalogue
from consultbot.domain.types import ServiceId
from consultbot.ports import Content, DataStore
from consultbot.render import ChatRenderer, chat_names


def room_name(consult: esc.Consult) -> str:
    """The consult room's name: number and service id, never anything about the patient."""
    return f"{consult.id} {consult.service}"


def service_name(catalogue: Catalogue, service: ServiceId | str) -> str:
    """The service's full name, or what was given when the catalogue does not know it."""
    found = catalogue.find(service)
    return found.name if found else str(service)


class ConsultRenderer:
    """Renders chat messages; `view` is what a template may know about a consult."""

    def __init__(self, *, config: Config, data: DataStore) -> None:
        self._config = config
        self._data = data
        self.chat = ChatRenderer(config.bot.timezone, config.bot.language)

    @property
    def language(self) -> str:
        """The config's language: the default of every message."""
        return self.chat.language

    def render(self, template: str, /, *, language: str = "", **params: Any) -> Content:
        """A chat message from templates/chat, in `language` (default the config's)."""
        content: Content = self.chat.render(template, language=language, **params)
        return content

    async def render_about(
        self, consult: esc.Consult, template: str, /, *, language: str = "", **params: Any
    ) -> Content:
        """A chat message about `consult` (the template sees its view as `c`)."""
        view = await self.view(consult, language)
        return self.render(template, language=language, c=view, **params)

    async def view(self, consult: esc.Consult, language: str = "") -> dict[str, Any]:
        """What the chat templates may say about a consult: metadata only."""
        language = language or self.language
        catalogue = await self._data.catalogue()
        service = catalogue.find(consult.service)
        member = await self._data.staff_member(consult.requester)
        unit = service_name(catalogue, member.unit) if member else ""
        track_name = chat_names(language)["track"][consult.track.value]
        hours = self._config.tracks[consult.track].hours
        return {
            "id": consult.id,
            "service_id": consult.service,
            "service_name": service.name if service else consult.service,
            "switchboard": service.switchboard if service else "",
            "track": consult.track.value,
            "track_name": track_name,
            "hours": self.chat.hours(hours, language),
            "room_name": room_name(consult),
            "requester": consult.requester,
            "requester_name": member.name if member else consult.requester,
            "requester_unit": unit,
            "requester_phone": member.phone if member else "",
            "levels": consult.level,
            # The people paged last, with the phones from their shifts: acute questions are
            # best called, so `!akut` puts these first.
            "on_duty": [
                {"user": p.user, "name": p.name, "phone": p.phone}
                for p in (consult.pages[-1].people if consult.pages else ())
            ],
        }
