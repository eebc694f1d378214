"""What the store keeps in English for the record (a data set version's summary, the admin
audit trail's action and detail), shown in the reader's language.

The stored texts are machine-written in a few fixed shapes (adapters/sql/datasets.py,
engine/admin/chat.py, engine/handovers.py, engine/feeds.py, cli/data.py, cli/export.py);
each known shape is rendered through templates/messages `[stored]`, anything else is shown
as it was stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from consultbot.domain.types import Dataset
from consultbot.text.render import Messages

_DATASETS = "|".join(d.value for d in Dataset)
Shape = tuple[re.Pattern[str], Callable[[Messages, re.Match[str]], str]]


def _what(messages: Messages, name: str) -> str:
    return messages.dataset(name)


_SUMMARIES: tuple[Shape, ...] = (
    (
        re.compile(r"(\d+) shifts, (\d+) services"),
        lambda m, x: m.text("stored", "shifts", shifts=x[1], services=x[2]),
    ),
    (re.compile(r"(\d+) services"), lambda m, x: m.text("stored", "services", count=x[1])),
    (re.compile(r"(\d+) people"), lambda m, x: m.text("stored", "people", count=x[1])),
    (re.compile(r"(\d+) entries"), lambda m, x: m.text("stored", "entries", count=x[1])),
)
_DETAILS: tuple[Shape, ...] = (
    (
        re.compile(rf"({_DATASETS}) version (\d+): (.*)"),
        lambda m, x: m.text("stored", "version_of", what=_what(m, x[1]), version=x[2], rest=x[3]),
    ),
    (
        re.compile(rf"({_DATASETS}): version (\d+) undone, version (\d+) active"),
        lambda m, x: m.text(
            "stored", "rolled_back", what=_what(m, x[1]), undone=x[2], version=x[3]
        ),
    ),
    (
        re.compile(rf"({_DATASETS}): (.*)"),
        lambda m, x: f"{_what(m, x[1])}: {x[2]}",
    ),
    (
        re.compile(r"feed (\d+): (service|person) (\S+)"),
        lambda m, x: m.text("stored", "feed", number=x[1], what=m.cli(f"feed_{x[2]}", target=x[3])),
    ),
    (
        re.compile(r"consults --with-people (\S+) – (\S+) \((\w+)\) to (.*)"),
        lambda m, x: m.text("stored", "export_people", start=x[1], end=x[2], fmt=x[3], to=x[4]),
    ),
)
_HANDOVER = re.compile(r"(\S+) level (\d+): (\S+) to (\S+) until (\S+)")
_CONFIRMED = " (confirmed anyway)"


def _shown(text: str, shapes: tuple[Shape, ...], messages: Messages) -> str:
    for pattern, render in shapes:
        found = pattern.fullmatch(text)
        if found:
            return render(messages, found)
    return text


def summary_text(summary: str, messages: Messages) -> str:
    """A data set version's summary ("69 services") in the reader's language."""
    return _shown(summary, _SUMMARIES, messages)


def action_text(action: str, messages: Messages) -> str:
    """An audit trail action ("import", "rollback", …) in the reader's language."""
    return (
        messages.text("stored", f"action_{action}")
        if messages.has("stored", f"action_{action}")
        else action
    )


def detail_text(detail: str, messages: Messages) -> str:
    """An audit trail detail in the reader's language."""
    confirmed = detail.endswith(_CONFIRMED)
    text = detail.removesuffix(_CONFIRMED)
    parts = text.split("; ")
    if parts and all(_HANDOVER.fullmatch(p) for p in parts):
        shown = "; ".join(
            messages.text(
                "stored", "handover", service=x[1], level=x[2], giver=x[3], taker=x[4], end=x[5]
            )
            for x in (_HANDOVER.fullmatch(p) for p in parts)
            if x is not None
        )
    else:
        shown = _shown(text, _DETAILS, messages)
    return shown + (messages.text("stored", "confirmed") if confirmed else "")
