"""The service catalogue: which services exist, what they are called, which tracks they serve."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consultbot.domain.duty import outcomes as per_path, routines as paths
from consultbot.domain.duty.routines import Routine
from consultbot.domain.errors import Problem, UnknownService
from consultbot.domain.files import validation
from consultbot.domain.files.validation import FileRules, fold
from consultbot.domain.types import Outcome, ServiceId, ServiceKind, Track

# Kinds of unit that ask (the fourth path: ambulance crews, municipal nurses) but are never
# paged: no tracks, no shifts, not offered where a service to ask is chosen (docs/decisions.md).
ASKS_ONLY = frozenset({ServiceKind.AMBULANCE, ServiceKind.MUNICIPAL_CARE})
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_KEYS = {"id", "name", "kind", "tracks", "aliases", "switchboard", "municipality", paths.KEY}
_TOML_PLACE = re.compile(r"at line (\d+), column (\d+)")
# A folded name → (the name as written, its service, its line) of each service that used it.
_Seen = dict[str, list[tuple[str, str, int | None]]]


@dataclass(frozen=True, kw_only=True)
class Service:
    """One service (a hospital specialty, a vårdcentral, …) that people can be asked through."""

    id: ServiceId
    name: str
    kind: ServiceKind
    tracks: tuple[Track, ...] = ()
    aliases: tuple[str, ...] = ()
    switchboard: str = ""
    municipality: str = ""
    # How it wants to be reached on the paths it serves (duty/routines.py); a path without
    # one is open to everyone at the track's hours.
    routines: tuple[Routine, ...] = ()

    @property
    def asks_only(self) -> bool:
        """A unit that asks but is never paged (`ASKS_ONLY`)."""
        return self.kind in ASKS_ONLY

    def routine(self, track: Track) -> Routine:
        """The service's routine for path `track`: the catalogue's, else the default."""
        return next((r for r in self.routines if r.track is track), Routine(track=track))


def normalise(name: str) -> str:
    """The form used to compare service names and aliases: composed (NFC: "ö" typed on a Mac
    is one letter too), case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


@dataclass(frozen=True)
class Catalogue:
    """All services of one catalogue version, with lookup by id or alias."""

    services: tuple[Service, ...] = ()
    # The outcomes each path offers (`[outcomes]`, else the defaults): duty/outcomes.py.
    outcome_sets: per_path.OutcomeSets = per_path.DEFAULT_SETS
    _index: Mapping[str, Service] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Service] = {}
        for service in self.services:
            for key in (service.id, *service.aliases):
                index.setdefault(normalise(key), service)
        # Full names too ("Kardiologi, Falu lasarett"): rosters exported from staffing systems
        # often carry the name, not the id. Ids and aliases win over names.
        for service in self.services:
            index.setdefault(normalise(service.name), service)
        object.__setattr__(self, "_index", index)

    def find(self, name: str) -> Service | None:
        """The service whose id, alias or full name is `name` (case-insensitive), or None."""
        # Rosters repeat the id as written in the catalogue: found without normalising.
        return self._index.get(name) or self._index.get(normalise(name))

    def get(self, name: str) -> Service:
        """Like `find`, but raise UnknownService."""
        service = self.find(name)
        if service is None:
            raise UnknownService(name)
        return service

    def outcomes(self, track: Track) -> tuple[Outcome, ...]:
        """The outcomes path `track` offers in this catalogue version, in poll order."""
        return per_path.outcomes_of(self.outcome_sets, track)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalise(name) in self._index

    def __len__(self) -> int:
        return len(self.services)


_HEADER = re.compile(r"^\s*\[\[\s*service\s*\]\]")


def parse_catalogue(
    text: str, file: str, rules: FileRules | None = None
) -> tuple[Catalogue, list[Problem]]:
    """Parse and validate a catalogue TOML text; return it with every problem found.

    Names (ids, aliases, full names) must differ ignoring case and diacritics, since that is
    how clinicians search; with `rules`, a municipality must be one of the county's."""
    rules = rules or FileRules()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The parser's own text is English: only its place is kept.
        match = _TOML_PLACE.search(str(exc))
        line = int(match.group(1)) if match else None
        column = match.group(2) if match else "?"
        return Catalogue(), [Problem(file=file, line=line, code="toml", params={"column": column})]
    problems: list[Problem] = []
    extra = ", ".join(sorted(set(data) - {"service", per_path.SECTION}))
    if extra:
        problems.append(Problem(file=file, line=None, code="unknown_key", params={"key": extra}))
    named, found = per_path.parse_outcome_sets(data.get(per_path.SECTION), text, file)
    entries = data.get("service", [])
    if not isinstance(entries, list) or not entries:
        problems.append(Problem(file=file, line=None, code="no_services"))
        return Catalogue(), problems + found
    all_lines = text.splitlines()
    lines = [n for n, line in enumerate(all_lines, 1) if _HEADER.match(line)]
    services: list[Service] = []
    placed: list[tuple[Service, int | None]] = []
    seen: _Seen = {}
    for n, entry in enumerate(entries):
        line = lines[n] if n < len(lines) else None
        end = lines[n + 1] - 1 if n + 1 < len(lines) else len(all_lines)
        where = paths.routine_lines(all_lines, line, end) if line else {}
        service = _service(entry, file, (line, where), problems, rules)
        if service is None:
            continue
        for key in (service.id, *service.aliases):
            problem = _name_taken(key, service.id, seen, file, line)
            if problem is not None:
                problems.append(problem)
            else:
                seen.setdefault(fold(key), []).append((key, service.id, line))
        services.append(service)
        placed.append((service, line))
    problems.extend(_name_clashes(placed, file))
    problems.extend(found)
    return Catalogue(tuple(services), per_path.complete_sets(named)), problems


def _name_taken(key: str, service: str, seen: _Seen, file: str, line: int | None) -> Problem | None:
    """A problem when `key` is a name already used: written the same (case aside), or by
    another service ignoring diacritics too ("önh" and "onh" may both name one service)."""
    earlier = seen.get(fold(key), [])
    for other, _, first in earlier:
        if normalise(other) == normalise(key):
            params = {"name": key, "first_line": str(first or "?")}
            return Problem(file=file, line=line, code="duplicate_name", params=params)
    for other, owner, first in earlier:
        if owner != service:
            params = {"name": key, "other": other, "first_line": str(first or "?")}
            return Problem(file=file, line=line, code="similar_name", params=params)
    return None


def _name_clashes(placed: list[tuple[Service, int | None]], file: str) -> list[Problem]:
    """A full name may also be used to name a service (rosters carry names), so it must not
    be another service's id, alias or name: the roster row would reach the wrong service."""
    owners: dict[str, str] = {}
    for service, _ in placed:
        for key in (service.id, *service.aliases):
            owners.setdefault(fold(key), service.id)  # a clash here is reported already
    named: dict[str, tuple[str, int | None]] = {}
    problems = []
    for service, line in placed:
        norm = fold(service.name)
        owner = owners.get(norm, service.id)
        first = named.setdefault(norm, (service.id, line))
        if owner != service.id or first[0] != service.id:
            params = {"name": service.name, "first_line": str(first[1] or "?")}
            problems.append(Problem(file=file, line=line, code="duplicate_name", params=params))
    return problems


def _service(
    entry: Any,
    file: str,
    place: tuple[int | None, dict[tuple[str, str], int]],
    problems: list[Problem],
    rules: FileRules,
) -> Service | None:
    """One `[[service]]` entry, at `place`: its header line and where its routines are."""
    line, where = place

    def bad(code: str, **params: str) -> None:
        problems.append(Problem(file=file, line=line, code=code, params=params))

    def bad_at(at: int | None, code: str, /, **params: str) -> None:
        problems.append(Problem(file=file, line=at or line, code=code, params=params))

    if not isinstance(entry, dict):
        bad("not_a_table")
        return None
    before = len(problems)
    for key in sorted(set(entry) - _KEYS):
        bad("unknown_key", key=key)
    for key in ("id", "name", "kind"):
        if key not in entry:
            bad("missing_key", key=key)
    if len(problems) > before and any(k not in entry for k in ("id", "name", "kind")):
        return None
    sid, name, kind_text = entry["id"], entry["name"], entry["kind"]
    if not isinstance(sid, str) or not _SLUG.match(sid):
        bad("bad_service_id", value=str(sid))
    if not isinstance(name, str) or not name.strip():
        bad("bad_value", key="name", value=str(name))
    kind = next((k for k in ServiceKind if k.value == kind_text), None)
    if kind is None:
        bad("bad_kind", value=str(kind_text), allowed=", ".join(k.value for k in ServiceKind))
    tracks = _string_list(entry.get("tracks", []), "tracks", bad)
    parsed_tracks: list[Track] = []
    for t in tracks:
        track = next((x for x in Track if x.value == t), None)
        if track is None:
            bad("bad_track", value=t, allowed=", ".join(x.value for x in Track))
        else:
            parsed_tracks.append(track)
    aliases = _string_list(entry.get("aliases", []), "aliases", bad)
    for alias in aliases:
        if not alias.strip():
            bad("bad_value", key="aliases", value=alias)
    switchboard = entry.get("switchboard", "")
    municipality = entry.get("municipality", "")
    for key, value in (("switchboard", switchboard), ("municipality", municipality)):
        if not isinstance(value, str):
            bad("bad_value", key=key, value=str(value))
    texts = [("id", sid), ("name", name), ("switchboard", switchboard)]
    texts += [("municipality", municipality), *(("aliases", a) for a in aliases)]
    for key, text in texts:
        control = validation.control_character(key, text) if isinstance(text, str) else None
        if control is not None:
            bad(control[0], **control[1])
    if isinstance(municipality, str) and municipality.strip():
        outside = validation.municipality_problem(municipality.strip(), rules)
        if outside is not None:
            bad(outside[0], **outside[1])
    if kind in ASKS_ONLY and tracks:
        bad("asks_only_tracks", kind=kind_text)
    if tracks and isinstance(switchboard, str) and not switchboard.strip():
        bad("missing_switchboard")
    if kind is ServiceKind.PRIMARY_CARE and not municipality:
        bad("missing_key", key="municipality")
    served = tuple(dict.fromkeys(parsed_tracks))
    routines = paths.parse_routines(entry.get(paths.KEY), served, where, bad_at)
    if len(problems) > before:
        return None
    return Service(
        id=ServiceId(sid),
        name=name.strip(),
        kind=kind or ServiceKind.OTHER,
        tracks=served,
        aliases=tuple(a.strip() for a in aliases),
        switchboard=switchboard.strip(),
        municipality=municipality.strip(),
        routines=routines,
    )


def _string_list(value: Any, key: str, bad: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad("bad_value", key=key, value=str(value))
        return []
    return list(value)
