"""What the chat templates may say about a consult: metadata only, never a question's text.

`ConsultRenderer` is the one place that looks up the names, units and numbers a message shows
(catalogue, staff list, track settings) and renders templates/chat with them. The outbox
(outbox.py) asks it for a message's content; the inbox (inbox.py) for its plain replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from consultbot.domain.consult import escalation as esc
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.matrix import path_hours
from consultbot.domain.duty.outcomes import by_set
from consultbot.domain.types import Outcome, ServiceId, Track
from consultbot.ports import Content, DataStore
from consultbot.text.render import ChatRenderer, chat_names


def room_name(consult: esc.Consult) -> str:
    """The consult room's name: number and service id, never anything about the patient."""
    return f"{consult.id} {consult.track.value if consult.is_conference else consult.service}"


def service_name(catalogue: Catalogue, service: ServiceId | str) -> str:
    """The service's full name, or what was given when the catalogue does not know it."""
    found = catalogue.find(service)
    return found.name if found else str(service)


class ConsultRenderer:
    """Renders chat messages; `view` is what a template may know about a consult."""

    def __init__(
        self,
        *,
        chat: ChatRenderer,
        data: DataStore,
        hours: Mapping[Track, Hours],
        meeting_url: str,
        meeting_reminder_seconds: int,
    ) -> None:
        # Settings come as values, not as the Config: text sits below config.py (whose
        # error messages come from the message catalogue here).
        self.chat = chat
        self._data = data
        self._hours = hours
        self._meeting_url = meeting_url
        self._meeting_reminder_minutes = meeting_reminder_seconds // 60

    @property
    def language(self) -> str:
        """The config's language: the default of every message."""
        return self.chat.language

    def render(self, template: str, /, *, language: str = "", **params: Any) -> Content:
        """A chat message from templates/chat, in `language` (default the config's)."""
        return self.chat.render(template, language=language, **params)

    async def outcomes(self, consult: esc.Consult) -> tuple[Outcome, ...]:
        """The outcomes the consult's path offers in the active catalogue, in poll order."""
        return (await self._data.catalogue()).outcomes(consult.track)

    async def outcome_paths(self) -> list[dict[str, list[str]]]:
        """Every path's outcomes (the active catalogue's), paths with one set together: what
        help and usage texts list when no consult is at hand."""
        sets = (await self._data.catalogue()).outcome_sets
        return [
            {"tracks": [t.value for t in tracks], "outcomes": [o.value for o in outcomes]}
            for tracks, outcomes in by_set(sets)
        ]

    def outcome_name(self, outcome: str, language: str = "") -> str:
        """An outcome's name for people ("råd – remiss undviken")."""
        return str(chat_names(language or self.language)["outcome"].get(outcome, outcome))

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
        conference = self._conference(consult, catalogue)
        if consult.is_conference:
            conference["service_name"] = ", ".join(conference["service_names"].values())
        return {
            "id": consult.id,
            "service_id": consult.service,
            "service_name": service.name if service else consult.service,
            "switchboard": service.switchboard if service else "",
            "track": consult.track.value,
            "track_name": chat_names(language)["track"][consult.track.value],
            # The outcomes the consult's path offers (the active catalogue's), as keys.
            "outcomes": [o.value for o in catalogue.outcomes(consult.track)],
            "hours": self.chat.hours(path_hours(service, consult.track, self._hours), language),
            # What the service's routine asks the requester to have ready (the active
            # catalogue's): the confirmation lists it, the page says it was shown.
            "have_ready": list(service.routine(consult.track).have_ready) if service else [],
            "room_name": room_name(consult),
            "requester": consult.requester,
            "requester_name": member.name if member else consult.requester,
            "requester_unit": service_name(catalogue, member.unit) if member else "",
            "requester_phone": member.phone if member else "",
            "levels": consult.level,
            "levels_tried": [page.level for page in consult.pages],
            "requested_at": consult.requested_at,
            # The people paged last, with the phones from their shifts: acute questions are
            # best called, so `!akut` puts these first.
            "on_duty": [
                {"user": p.user, "name": p.name, "phone": p.phone}
                for p in (consult.pages[-1].people if consult.pages else ())
            ],
            **conference,
        }

    def meeting_url(self, consult: esc.Consult) -> str:
        """The conference's meeting link (`tracks.mdk.meeting_url`, `{consult}` filled in)."""
        return self._meeting_url.replace("{consult}", consult.id)

    def _conference(self, consult: esc.Consult, catalogue: Catalogue) -> dict[str, Any]:
        """What a conference's templates show per service: who was paged, who acknowledged."""
        legs = []
        for leg in consult.legs:
            acker = leg.person(leg.acked_by) if leg.acked_by else None
            found = catalogue.find(leg.service)
            legs.append(
                {
                    "id": leg.service,
                    "name": service_name(catalogue, leg.service),
                    "switchboard": found.switchboard if found else "",
                    "have_ready": list(found.routine(Track.MDK).have_ready) if found else [],
                    "level": leg.level,
                    "people": [asdict(p) for p in (leg.pages[-1].people if leg.pages else ())],
                    "acked_by": asdict(acker) if acker else None,
                    "unanswered": leg.unanswered,
                }
            )
        meeting = consult.meeting_at.isoformat() if consult.meeting_at else ""
        return {
            "legs": legs,
            "service_names": {leg["id"]: leg["name"] for leg in legs},
            "meeting_url": self.meeting_url(consult) if consult.is_conference else "",
            "meeting_at": meeting,
            "meeting_reminder_minutes": self._meeting_reminder_minutes,
        }
