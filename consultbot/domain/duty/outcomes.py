"""The outcomes each contact path offers (SPEC §6: outcomes are per path, versioned with the
catalogue), and reading the catalogue's optional `[outcomes]` section.

The specialist paths (halvakut, akut, mdk) end in advice, referral, direct admission, the
emergency department, a visit, or other; the fourth path (primarvard, asked by ambulances,
municipal care and hospitals) in home (finished on site), the vårdcentral, a home visit, the
emergency department, direct admission, or other. A catalogue may name other sets, from the
same vocabulary (every `Outcome` but `unknown`, which only the bot sets), in poll order:

    [outcomes]
    primarvard = ["home", "primary_care", "home_visit", "ed", "admission", "other"]

A path the section leaves out (or a file without it) has its default set below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from consultbot.domain.errors import Problem
from consultbot.domain.types import Outcome, Track

SECTION = "outcomes"

#: Every outcome a person may choose, in the order the vocabulary is listed.
OFFERABLE: tuple[Outcome, ...] = tuple(o for o in Outcome if o is not Outcome.UNKNOWN)

SPECIALIST_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.ADVICE,
    Outcome.REFERRAL,
    Outcome.ADMISSION,
    Outcome.ED,
    Outcome.VISIT,
    Outcome.OTHER,
)
PRIMARY_CARE_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.HOME,
    Outcome.PRIMARY_CARE,
    Outcome.HOME_VISIT,
    Outcome.ED,
    Outcome.ADMISSION,
    Outcome.OTHER,
)

#: The sets of a catalogue that names none (SPEC §6), in poll order.
DEFAULT_OUTCOMES: Mapping[Track, tuple[Outcome, ...]] = MappingProxyType(
    {
        Track.HALVAKUT: SPECIALIST_OUTCOMES,
        Track.AKUT: SPECIALIST_OUTCOMES,
        Track.PRIMARVARD: PRIMARY_CARE_OUTCOMES,
        Track.MDK: SPECIALIST_OUTCOMES,
    }
)

#: Every path's set, as the catalogue holds it: hashable, in `Track` order.
OutcomeSets = tuple[tuple[Track, tuple[Outcome, ...]], ...]
DEFAULT_SETS: OutcomeSets = tuple((t, DEFAULT_OUTCOMES[t]) for t in Track)


def complete_sets(named: Mapping[Track, tuple[Outcome, ...]]) -> OutcomeSets:
    """Every path's set: the one `named`, else the default."""
    return tuple((t, named.get(t) or DEFAULT_OUTCOMES[t]) for t in Track)


def outcomes_of(sets: OutcomeSets, track: Track) -> tuple[Outcome, ...]:
    """The outcomes path `track` offers, in poll order."""
    for t, outcomes in sets:
        if t is track:
            return outcomes
    return DEFAULT_OUTCOMES[track]


def by_set(sets: OutcomeSets) -> list[tuple[tuple[Track, ...], tuple[Outcome, ...]]]:
    """The paths grouped by the set they offer, in `Track` order: what help texts list
    ("!konsult, !akut, !mdk: råd | remiss | …; !vc: hemma | …")."""
    groups: dict[tuple[Outcome, ...], list[Track]] = {}
    for track, outcomes in sets:
        groups.setdefault(outcomes, []).append(track)
    return [(tuple(tracks), outcomes) for outcomes, tracks in groups.items()]


_SECTION_HEADER = re.compile(r"^\s*\[\s*outcomes\s*\]\s*(#.*)?$")
_INLINE = re.compile(r"^\s*outcomes\s*=")
_ANY_HEADER = re.compile(r"^\s*\[")


def _lines(text: str) -> tuple[int | None, dict[str, int]]:
    """Where the section is (its header line) and the line of each key in it."""
    header: int | None = None
    keys: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if header is None:
            if _SECTION_HEADER.match(line) or _INLINE.match(line):
                header = n
            continue
        if _ANY_HEADER.match(line):
            break
        match = re.match(r"""^\s*["']?([A-Za-z0-9_-]+)["']?\s*=""", line)
        if match:
            keys.setdefault(match.group(1), n)
    return header, keys


def parse_outcome_sets(
    value: Any, text: str, file: str
) -> tuple[dict[Track, tuple[Outcome, ...]], list[Problem]]:
    """The sets the catalogue's `[outcomes]` section names (`value`; None: no section), with
    every problem: an unknown path or outcome, a list that is empty or names one twice."""
    if value is None:
        return {}, []
    header, key_lines = _lines(text)
    problems: list[Problem] = []

    def bad(line: int | None, code: str, **params: str) -> None:
        problems.append(Problem(file=file, line=line, code=code, params=params))

    if not isinstance(value, dict):
        bad(header, "bad_value", key=SECTION, value=str(value))
        return {}, problems
    named: dict[Track, tuple[Outcome, ...]] = {}
    allowed = ", ".join(o.value for o in OFFERABLE)
    for key, items in value.items():
        line = key_lines.get(key, header)
        track = next((t for t in Track if t.value == key), None)
        if track is None:
            bad(line, "bad_track", value=str(key), allowed=", ".join(t.value for t in Track))
            continue
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            bad(line, "bad_value", key=f"{SECTION}.{key}", value=str(items))
            continue
        if not items:
            bad(line, "no_outcomes", track=key)
            continue
        before = len(problems)
        chosen: list[Outcome] = []
        for item in items:
            outcome = next((o for o in OFFERABLE if o.value == item), None)
            if outcome is None:
                bad(line, "unknown_outcome", value=item, track=key, allowed=allowed)
            elif outcome in chosen:
                bad(line, "duplicate_outcome", value=item, track=key)
            else:
                chosen.append(outcome)
        if len(problems) == before:
            named[track] = tuple(chosen)
    return named, problems
