"""Consult effects ↔ JSON-safe dicts, for the outbox. Pure: no I/O."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from consultbot.domain.consult.escalation import (
    AddWidget,
    AlertAdmins,
    CreateRoom,
    Direct,
    Effect,
    EndPoll,
    Notice,
    PageLevel,
    PostPoll,
    Reply,
)
from consultbot.domain.consult.events import Person
from consultbot.domain.types import UserId

_EFFECTS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Reply,
        CreateRoom,
        PageLevel,
        Notice,
        AlertAdmins,
        Direct,
        PostPoll,
        EndPoll,
        AddWidget,
    )
}


def effect_to_dict(effect: Effect) -> dict[str, Any]:
    """A JSON-safe dict naming the effect's type."""
    return {"type": type(effect).__name__, **asdict(effect)}


def effect_from_dict(data: dict[str, Any]) -> Effect:
    """The effect a dict from `effect_to_dict` describes."""
    fields = dict(data)
    kind = fields.pop("type")
    if kind == "CreateRoom":
        return CreateRoom(invite=tuple(UserId(u) for u in fields["invite"]))
    if kind == "Direct":
        return Direct(
            user=UserId(fields["user"]), template=fields["template"], params=fields["params"]
        )
    if kind == "PageLevel":
        people = tuple(Person(**p) for p in fields["people"])
        return PageLevel(
            level=int(fields["level"]),
            people=people,
            first=bool(fields["first"]),
            service=str(fields.get("service", "")),
        )
    cls = _EFFECTS[kind]
    effect: Effect = cls(**fields)
    return effect
