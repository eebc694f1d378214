"""The outcome poll: what Element shows, and votes in every shape clients send."""

from __future__ import annotations

from typing import Any

import pytest

from consultbot.domain.consult.polls import (
    POLL_END,
    POLL_OUTCOMES,
    POLL_START,
    poll_end,
    poll_start,
    poll_vote,
)
from consultbot.domain.types import Outcome

START = "$poll-start"


def _reference(**extra: Any) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.reference", "event_id": START}, **extra}


def test_poll_start_offers_every_typed_outcome_once_with_a_text_fallback() -> None:
    answers = [(o, f"svar {o.value}") for o in POLL_OUTCOMES]
    content = poll_start("Utfall?", answers)
    poll = content[POLL_START]
    assert poll["max_selections"] == 1
    assert poll["question"] == {"org.matrix.msc1767.text": "Utfall?"}
    assert [a["id"] for a in poll["answers"]] == [o.value for o in POLL_OUTCOMES]
    assert Outcome.UNKNOWN not in POLL_OUTCOMES
    assert content["body"].splitlines() == [
        "Utfall?",
        *(f"{i}. svar {o.value}" for i, o in enumerate(POLL_OUTCOMES, 1)),
    ]


def test_poll_end_refers_to_its_poll() -> None:
    content = poll_end(START, "Avslutad: råd")
    assert content["m.relates_to"] == {"rel_type": "m.reference", "event_id": START}
    assert POLL_END in content and content["body"] == "Avslutad: råd"


@pytest.mark.parametrize(
    ("event_type", "content"),
    [
        (
            "org.matrix.msc3381.poll.response",
            _reference(**{"org.matrix.msc3381.poll.response": {"answers": ["advice"]}}),
        ),
        ("m.poll.response", _reference(**{"m.selections": ["advice"]})),
        ("m.poll.response", _reference(**{"org.matrix.msc3381.v2.selections": ["advice"]})),
    ],
)
def test_a_vote_in_the_unstable_and_stable_shapes_names_its_poll_and_outcome(
    event_type: str, content: dict[str, Any]
) -> None:
    vote = poll_vote(event_type, content)
    assert vote is not None
    assert vote.poll == START
    assert vote.outcome is Outcome.ADVICE


@pytest.mark.parametrize(
    ("event_type", "content"),
    [
        ("m.room.message", _reference(**{"m.selections": ["advice"]})),
        ("m.poll.response", {"m.selections": ["advice"]}),
        (
            "m.poll.response",
            {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": START},
                "m.selections": ["advice"],
            },
        ),
        ("m.poll.response", _reference(**{"m.selections": "advice"})),
        (
            "m.poll.response",
            {
                "m.relates_to": {"rel_type": "m.reference", "event_id": 7},
                "m.selections": ["advice"],
            },
        ),
        (
            "org.matrix.msc3381.poll.response",
            _reference(**{"org.matrix.msc3381.poll.response": "advice"}),
        ),
    ],
)
def test_malformed_votes_are_not_votes(event_type: str, content: dict[str, Any]) -> None:
    assert poll_vote(event_type, content) is None


@pytest.mark.parametrize("answers", [[], ["unknown"], ["pizza"], [3]])
def test_a_vote_that_names_no_offered_outcome_chooses_nothing(answers: list[Any]) -> None:
    vote = poll_vote("m.poll.response", _reference(**{"m.selections": answers}))
    assert vote is not None
    assert vote.outcome is None
