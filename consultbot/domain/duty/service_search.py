"""Finding a service as a clinician types it: `!vc särna`, `!konsult hjärta`, `!vem mora`.

A service is found by its id, an alias, its municipality, its full name or any word of its
name, ignoring case and Swedish diacritics ("sarna" finds "Vårdcentralen Särna"). An exact id,
alias or full name wins outright; otherwise every service that matches is a candidate, and
when there are none the closest spelling is suggested.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.files.validation import fold
from consultbot.domain.types import Track

_WORD = re.compile(r"[^\W_]+")
_CLOSE_ENOUGH = 0.6


def _keys(service: Service) -> set[str]:
    """Every folded form under which `service` may be asked for."""
    keys = {fold(service.id), fold(service.name), *(fold(a) for a in service.aliases)}
    if service.municipality:
        keys.add(fold(service.municipality))
    keys.update(_WORD.findall(fold(service.name)))
    return keys


@dataclass(frozen=True, kw_only=True)
class Found:
    """What a typed service name found: one service, several to choose from, or a guess."""

    service: Service | None = None
    candidates: tuple[Service, ...] = ()
    suggestion: Service | None = None


def find_service(catalogue: Catalogue, typed: str, track: Track | None = None) -> Found:
    """The service `typed` names; among several, those that serve `track` are preferred.

    A unit that asks but is never paged (an ambulance or municipal care unit) is found only
    by its exact id, alias or name (the caller says it cannot be asked), never as a guess."""
    exact = catalogue.find(typed)
    if exact is not None:
        return Found(service=exact)
    wanted = fold(typed.strip(".,:;!?"))
    if not wanted:
        return Found()
    paged = [s for s in catalogue.services if not s.asks_only]
    matches = [s for s in paged if wanted in _keys(s)]
    if track is not None and any(track in s.tracks for s in matches):
        matches = [s for s in matches if track in s.tracks]
    if len(matches) == 1:
        return Found(service=matches[0])
    if matches:
        return Found(candidates=tuple(matches))
    return Found(suggestion=_closest(paged, wanted, track))


def _closest(services: Iterable[Service], wanted: str, track: Track | None) -> Service | None:
    by_key: dict[str, Service] = {}
    # Services of the asked track first, so that their spellings win a tie.
    for service in sorted(services, key=lambda s: track is None or track not in s.tracks):
        for key in sorted(_keys(service)):
            by_key.setdefault(key, service)
    close = difflib.get_close_matches(wanted, list(by_key), n=1, cutoff=_CLOSE_ENOUGH)
    return by_key[close[0]] if close else None
