"""What the outbox holds and the keys it remembers rooms under: a message in a JSON-safe form,
the meeting widget of a conference room, the bot-state keys of the private, admin and unfit
rooms, and which templates show staff numbers (checked when sent)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from consultbot.domain.consult import escalation as esc
from consultbot.domain.types import UserId
from consultbot.ports import Content, OutboxItem

#: Messages that show a staff member's own number (roster, staff list, directory): checked
#: when sent (`PrivateRooms.send_checked`). A service's switchboard is a public number: not here.
NUMBER_TEMPLATES = frozenset(
    {"created", "late_acknowledged", "acknowledged", "mdk_acknowledged", "call", "who", "contact"}
)


def content_to_dict(content: Content) -> dict[str, Any]:
    """A JSON-safe form of a message for the outbox."""
    return asdict(content)


def content_from_dict(data: dict[str, Any]) -> Content:
    """The message the outbox holds."""
    return Content(
        text=data["text"],
        html=data["html"],
        mentions=tuple(UserId(u) for u in data.get("mentions", ())),
        notice=bool(data.get("notice", True)),
    )


WIDGET_TYPE = "im.vector.modular.widgets"
WIDGET_ID = "konsultbot-mote"


def widget(effect: esc.AddWidget, creator: str) -> dict[str, Any]:
    """A room widget Element shows (state key `WIDGET_ID`): the meeting link, no patient data."""
    return {
        "id": WIDGET_ID,
        "type": "m.custom",
        "url": effect.url,
        "name": effect.name,
        "data": {"title": effect.name},
        "creatorUserId": creator,
    }


def unfit_key(room: str, user: str = "") -> str:
    """The bot-state key recording that `user` was told `room` is not answered (or, without a
    user, that the bot left it and told the admins)."""
    return f"unfit-{hashlib.sha256(f'{room} {user}'.encode()).hexdigest()[:16]}"


def stored_withheld(item: OutboxItem) -> Callable[[], Awaitable[Content]] | None:
    """The stored form of a plain answer without its staff numbers, if it has one."""
    stored = item.payload.get("withheld")
    if not isinstance(stored, dict):
        return None

    async def withheld() -> Content:
        return content_from_dict(stored)

    return withheld


def direct_key(user: str) -> str:
    """The bot-state key under which the private room with `user` is remembered."""
    return f"direct-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


def admin_key(user: str) -> str:
    """The bot-state key the private admin room with `user` is remembered under."""
    return f"admin-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


#: The shape of the keys of the private and admin rooms (`direct_key`, `admin_key`).
PRIVATE_KEY = re.compile(r"(direct|admin)-[0-9a-f]{12}")
