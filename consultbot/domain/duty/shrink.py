"""Shrink guard: a new version that removes much of the active one waits for a confirmation.

A staff list of one person replacing 249, a directory cut off after the first page, a
catalogue missing most services, a roster that drops most of the shifts it replaces: each is
almost always a wrong or truncated file. A new version that removes more than a share
(`bot.shrink_guard_share`) of the active one's people, entries, services or shifts is held
with a change summary until the admin confirms it (issue 20). Fewer than `MIN_REMOVED`
removed items never hold a version: rosters are edited a day at a time, and taking one
colleague's shift or entry out of a short list is an everyday change, not a wrong file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_SHARE = 0.2
MIN_REMOVED = 10
EXAMPLES = 5
"""How many of the removed items a change summary names."""


class Kind(StrEnum):
    """What a data set is counted in; the values are message fields."""

    PEOPLE = "people"
    ENTRIES = "entries"
    SERVICES = "services"
    SHIFTS = "shifts"


@dataclass(frozen=True, kw_only=True)
class Shrink:
    """How much a new version removes: `removed` of `before`, with a few `examples` named."""

    kind: Kind
    before: int
    removed: int
    examples: tuple[str, ...]

    @property
    def percent(self) -> int:
        """The share removed, in whole per cent (rounded)."""
        return round(100 * self.removed / self.before)


def shrinkage(kind: Kind, before: int, removed: Iterable[str], share: float) -> Shrink | None:
    """The shrink of a new version, or None when it removes no more than `share` of `before`
    (or fewer than MIN_REMOVED items).

    `removed` names each removed item (a name, or a service per removed shift); names that
    recur are counted, the most frequent first ("kardiologi (87)"), else in `removed`'s order."""
    counted = Counter(removed)
    total = sum(counted.values())
    if before <= 0 or total < MIN_REMOVED or total <= share * before:
        return None
    # Most frequent first; otherwise in the active version's order (stable sort).
    ranked = sorted(counted.items(), key=lambda item: -item[1])[:EXAMPLES]
    examples = tuple(name if count == 1 else f"{name} ({count})" for name, count in ranked)
    return Shrink(kind=kind, before=before, removed=total, examples=examples)
