"""The text of a consult's question: held in memory only, never in the database.

The inbox remembers the text when a consult is asked; the outbox reads it for the page. After a
restart the memory is empty and the text is read again from the requester's own message (which
Matrix keeps, end-to-end encrypted); when that fails the page says the question is unavailable.
"""

from __future__ import annotations

from collections.abc import Iterable

from consultbot.domain.chat import commands as cmd
from consultbot.domain.consult import escalation as esc
from consultbot.domain.types import ConsultId
from consultbot.ports import Messenger


class Questions:
    """Question texts by consult: memory first, then the requester's message."""

    def __init__(self, messenger: Messenger) -> None:
        self._messenger = messenger
        self._texts: dict[ConsultId, str] = {}

    def remember(self, consult: ConsultId, text: str) -> None:
        self._texts[consult] = text

    def keep_only(self, consults: Iterable[ConsultId]) -> int:
        """Forget every text but those of `consults` (the open ones); how many were forgotten.
        A text still needed later is read again from the requester's message."""
        keep = set(consults)
        gone = [c for c in self._texts if c not in keep]
        for consult in gone:
            del self._texts[consult]
        return len(gone)

    async def text(self, consult: esc.Consult) -> str | None:
        """The question's text: from memory, else read again from the requester's message."""
        text = self._texts.get(consult.id)
        if text is not None:
            return text
        body = await self._messenger.message_text(consult.request_room, consult.request_event)
        parsed = cmd.parse_command(body) if body else None
        if isinstance(parsed, cmd.Ask | cmd.Conference):
            self._texts[consult.id] = parsed.text
            return parsed.text
        return None
