"""Consult effects ↔ JSON-safe dicts, for the outbox. Pure: no I/O.

An effect is stored under its kind's stored name (`effects.EffectKind`), never its class
name. Entries queued before the escalation notice and the undelivered warning had kinds of
their own are read as those kinds (`_OLDER`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from consultbot.domain.consult.effects import (
    EFFECTS,
    CreateRoom,
    Direct,
    Effect,
    EffectKind,
    Invite,
    PageLevel,
    RepeatPage,
)
from consultbot.domain.consult.events import Person
from consultbot.domain.types import UserId

#: (stored kind, template) of older entries → the kind they are now.
_OLDER = {
    (EffectKind.NOTICE, "escalating"): EffectKind.ESCALATION_NOTICE,
    (EffectKind.REPLY, "page_undelivered"): EffectKind.UNDELIVERED_REPLY,
}


def effect_to_dict(effect: Effect) -> dict[str, Any]:
    """A JSON-safe dict naming the effect's kind."""
    return {"type": effect.KIND.value, **asdict(effect)}


def stored_kind(data: dict[str, Any]) -> EffectKind:
    """The kind of effect a dict from `effect_to_dict` describes; ValueError if unknown."""
    kind = EffectKind(str(data.get("type")))
    return _OLDER.get((kind, data.get("template", "")), kind)


def effect_from_dict(data: dict[str, Any]) -> Effect:
    """The effect a dict from `effect_to_dict` describes."""
    fields = dict(data)
    fields.pop("type")
    match stored_kind(data):
        case EffectKind.CREATE_ROOM:
            return CreateRoom(invite=tuple(UserId(u) for u in fields["invite"]))
        case EffectKind.INVITE:
            return Invite(users=tuple(UserId(u) for u in fields["users"]))
        case EffectKind.DIRECT:
            return Direct(
                user=UserId(fields["user"]), template=fields["template"], params=fields["params"]
            )
        case EffectKind.PAGE_LEVEL:
            return PageLevel(
                level=int(fields["level"]),
                people=tuple(Person(**p) for p in fields["people"]),
                first=bool(fields["first"]),
                service=str(fields.get("service", "")),
            )
        case EffectKind.REPEAT_PAGE:
            return RepeatPage(
                level=int(fields["level"]),
                people=tuple(Person(**p) for p in fields["people"]),
                service=str(fields.get("service", "")),
            )
        case kind:
            effect: Effect = EFFECTS[kind](**fields)
            return effect
