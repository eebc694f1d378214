"""Effects as the outbox stores them: one stored name per kind, in one table (effects.py)."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest

from consultbot.domain.consult import effects
from consultbot.domain.consult.codec import effect_from_dict, effect_to_dict
from consultbot.domain.consult.effects import (
    EFFECTS,
    AddWidget,
    AlertAdmins,
    CreateRoom,
    Direct,
    Effect,
    EffectKind,
    EndPoll,
    EscalationNotice,
    Invite,
    Notice,
    PageLevel,
    PostPoll,
    RepeatPage,
    Reply,
    UndeliveredReply,
)
from consultbot.domain.consult.events import Person
from consultbot.domain.types import UserId

A = UserId("@anna:localhost")

# One of every kind, with the name existing databases hold it under: these never change.
STORED: list[tuple[Effect, str]] = [
    (Reply(template="created"), "Reply"),
    (CreateRoom(invite=(A, UserId("@vera:localhost"))), "CreateRoom"),
    (
        PageLevel(level=2, people=(Person(user=A, name="Anna", phone="1"),), first=False),
        "PageLevel",
    ),
    (Notice(template="acknowledged", params={"user": A, "seconds": 1.5}), "Notice"),
    (AlertAdmins(template="admin_unanswered"), "AlertAdmins"),
    (Direct(user=A, template="handover", params={"n": 1}), "Direct"),
    (PostPoll(), "PostPoll"),
    (EndPoll(outcome="advice"), "EndPoll"),
    (AddWidget(url="https://meet.example/1", name="Möte K-000001"), "AddWidget"),
    (EscalationNotice(params={"level": 2, "from_level": 1}), "EscalationNotice"),
    (UndeliveredReply(params={"level": 1}), "UndeliveredReply"),
    (Invite(users=(UserId("@vera:localhost"),)), "Invite"),
    (
        RepeatPage(level=1, people=(Person(user=A, name="Anna", phone="1"),), service="bup"),
        "RepeatPage",
    ),
]


def test_the_table_names_every_kind_and_every_effect_class() -> None:
    assert set(EFFECTS) == set(EffectKind)
    assert set(EFFECTS.values()) == set(typing.get_args(effects.Effect))
    assert all(cls.KIND is kind for kind, cls in EFFECTS.items())
    assert {type(effect).KIND for effect, _ in STORED} == set(EffectKind)


def test_stored_names_are_unique() -> None:
    names = [kind.value for kind in EffectKind]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("effect", "name"), STORED)
def test_an_effect_is_stored_under_its_kind_and_read_back_unchanged(
    effect: Effect, name: str
) -> None:
    stored = json.loads(json.dumps(effect_to_dict(effect)))  # as the outbox row holds it
    assert stored["type"] == name
    assert effect_from_dict(stored) == effect


@pytest.mark.parametrize(("effect", "name"), STORED)
def test_renaming_a_class_changes_no_stored_data(effect: Effect, name: str) -> None:
    stored = effect_to_dict(effect)
    cls = type(effect)
    named = cls.__name__
    cls.__name__ = "Renamed"
    try:
        assert effect_to_dict(effect) == stored
        assert effect_from_dict(stored) == effect
    finally:
        cls.__name__ = named


@pytest.mark.parametrize(
    ("older", "now"),
    [
        pytest.param(
            {"type": "Notice", "template": "escalating", "params": {"level": 2, "from_level": 1}},
            EscalationNotice(params={"level": 2, "from_level": 1}),
            id="escalation-notice",
        ),
        pytest.param(
            {"type": "Reply", "template": "page_undelivered", "params": {"level": 1}},
            UndeliveredReply(params={"level": 1}),
            id="undelivered-warning",
        ),
    ],
)
def test_entries_queued_before_their_kind_existed_are_read_as_that_kind(
    older: dict[str, Any], now: Effect
) -> None:
    assert effect_from_dict(older) == now


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="Teleport"):
        effect_from_dict({"type": "Teleport"})
