"""The outcome poll (MSC3381): what the bot posts after an acknowledgement, and reading votes.

Element sends and shows the unstable event types (`org.matrix.msc3381.poll.*`); the stable
`m.poll.response` is accepted too, in both of its published shapes. In encrypted rooms all of
these arrive as encrypted events, so the caller passes the decrypted type and content.

The answers are the consult's path's outcomes; their ids are the outcome values (`advice`,
`home`, …), so a vote names an outcome directly; the answer texts come from the templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consultbot.domain.duty.outcomes import OFFERABLE
from consultbot.domain.types import Outcome

POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
POLL_RESPONSE_TYPES = frozenset({"org.matrix.msc3381.poll.response", "m.poll.response"})
#: A poll anyone starts: Element's unstable type and the stable one (Matrix 1.7).
POLL_START_TYPES = frozenset({POLL_START, "m.poll.start"})
_TEXT = "org.matrix.msc1767.text"
_SELECTION_KEYS = ("m.selections", "org.matrix.msc3381.v2.selections")

#: The outcomes a poll may offer: the consult's path's set (`Catalogue.outcomes`), taken from
#: the catalogue version active when the poll is posted.
POLL_OUTCOMES: tuple[Outcome, ...] = OFFERABLE
_ANSWER_IDS = frozenset(o.value for o in POLL_OUTCOMES)


@dataclass(frozen=True, kw_only=True)
class PollVote:
    """One response to a poll: which poll, and the answer ids chosen."""

    poll: str
    answers: tuple[str, ...]

    @property
    def outcome(self) -> Outcome | None:
        """The outcome chosen, or None when the vote names no outcome a poll may offer. Whether
        the consult's path offers it is checked when the vote closes the consult."""
        for answer in self.answers:
            if answer in _ANSWER_IDS:
                return Outcome(answer)
        return None


def poll_start(question: str, answers: Sequence[tuple[Outcome, str]]) -> dict[str, Any]:
    """The content of a poll start event: one choice, results shown, with a text fallback."""
    fallback = "\n".join([question, *(f"{i}. {text}" for i, (_, text) in enumerate(answers, 1))])
    return {
        POLL_START: {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "question": {_TEXT: question},
            "answers": [{"id": outcome.value, _TEXT: text} for outcome, text in answers],
        },
        _TEXT: fallback,
        "body": fallback,
    }


def poll_end(poll: str, text: str) -> dict[str, Any]:
    """The content of the event that ends poll `poll`, with `text` as what clients show."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
        POLL_END: {},
        _TEXT: text,
        "body": text,
    }


def poll_vote(event_type: str, content: Mapping[str, Any]) -> PollVote | None:
    """A vote read from a (decrypted) event, or None when the event is not a well-formed vote."""
    if event_type not in POLL_RESPONSE_TYPES or not isinstance(content, Mapping):
        return None
    relates = content.get("m.relates_to")
    if not isinstance(relates, Mapping) or relates.get("rel_type") != "m.reference":
        return None
    poll = relates.get("event_id")
    if not isinstance(poll, str) or not poll:
        return None
    chosen: Any = None
    unstable = content.get("org.matrix.msc3381.poll.response")
    if isinstance(unstable, Mapping):
        chosen = unstable.get("answers")
    for key in _SELECTION_KEYS:
        if chosen is None and key in content:
            chosen = content[key]
    if not isinstance(chosen, list):
        return None
    return PollVote(poll=poll, answers=tuple(a for a in chosen if isinstance(a, str)))
