"""How a service wants to be reached on each contact path (issue 22, the plan's "matrix"):
who may use the path, when, and a short routine — what to have ready, when to ring instead
of writing, when a referral is still the right way — with links to the boundary documents
(gränsdragning). A service's routines sit under its entry in the catalogue, one table per path:

    [[service]]
    id = "kardiologi"
    tracks = ["halvakut", "akut", "mdk"]
    ...
    [service.routine.halvakut]
    open_to = ["vårdcentral", "kommun"]          # requester kinds; default: everyone
    hours = "weekdays 08:00-16:00"               # default: the track's (tracks.NAME.hours)
    have_ready = ["EKG", "senaste Hb", "aktuell medicinlista"]
    call_when = "Pågående bröstsmärta: ring i stället för att skriva."
    refer_when = "Planerad utredning utan brådska: skriv remiss."
    documents = [{ label = "Gränsdragning hjärtsvikt", url = "https://…" }]

Everything is optional: a path without a routine is open to everyone at the track's hours.
Someone whose kind is unknown (not on the staff list) may use every path: the bot cannot tell
what they are, and refusing them would punish a gap in the staff list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from consultbot.domain.duty.hours import Hours, HoursFormatError
from consultbot.domain.files import validation
from consultbot.domain.types import RequesterKind, Track

KEY = "routine"

#: The kinds a path may be opened to, in the order they are listed.
KINDS: tuple[RequesterKind, ...] = tuple(k for k in RequesterKind if k is not RequesterKind.UNKNOWN)

#: The words a catalogue may use for a kind: the statistics' JSON keys and the Swedish names.
KIND_WORDS: Mapping[str, RequesterKind] = MappingProxyType(
    {
        **{k.value: k for k in KINDS},
        "vårdcentral": RequesterKind.PRIMARY_CARE,
        "vardcentral": RequesterKind.PRIMARY_CARE,
        "sjukhus": RequesterKind.HOSPITAL,
        "ambulans": RequesterKind.AMBULANCE,
        "kommun": RequesterKind.MUNICIPAL_CARE,
        "övrigt": RequesterKind.OTHER,
        "ovrigt": RequesterKind.OTHER,
    }
)

MAX_ITEMS = 12  # have_ready entries, documents
MAX_ITEM = 80  # characters of one have_ready entry or document label
MAX_TEXT = 400  # characters of call_when / refer_when
_FIELDS = ("open_to", "hours", "have_ready", "call_when", "refer_when", "documents")


@dataclass(frozen=True, kw_only=True)
class Document:
    """A boundary document (gränsdragning) or other guideline: its label and https address."""

    label: str
    url: str


@dataclass(frozen=True, kw_only=True)
class Routine:
    """How one service wants to be reached on one path."""

    track: Track
    open_to: tuple[RequesterKind, ...] = KINDS
    hours: Hours | None = None  # None: the track's hours
    have_ready: tuple[str, ...] = ()
    call_when: str = ""
    refer_when: str = ""
    documents: tuple[Document, ...] = ()

    def open_for(self, kind: RequesterKind) -> bool:
        """May a requester of `kind` use this path? Unknown requesters always may."""
        return kind is RequesterKind.UNKNOWN or kind in self.open_to

    @property
    def open_to_all(self) -> bool:
        """Open to every kind (the default)."""
        return set(self.open_to) == set(KINDS)


def to_dict(routine: Routine) -> dict[str, Any]:
    """A JSON-safe form of `routine` (how the SQL store keeps it)."""
    return {
        "track": routine.track.value,
        "open_to": [k.value for k in routine.open_to],
        "hours": str(routine.hours) if routine.hours else "",
        "have_ready": list(routine.have_ready),
        "call_when": routine.call_when,
        "refer_when": routine.refer_when,
        "documents": [{"label": d.label, "url": d.url} for d in routine.documents],
    }


def from_dict(data: Mapping[str, Any]) -> Routine:
    """The routine `to_dict` wrote."""
    return Routine(
        track=Track(data["track"]),
        open_to=tuple(RequesterKind(k) for k in data["open_to"]),
        hours=Hours.parse(data["hours"]) if data["hours"] else None,
        have_ready=tuple(data["have_ready"]),
        call_when=data["call_when"],
        refer_when=data["refer_when"],
        documents=tuple(Document(label=d["label"], url=d["url"]) for d in data["documents"]),
    )


# -- reading the catalogue ---------------------------------------------------------------------

_ROUTINE_HEADER = re.compile(r"""^\s*\[\[?\s*service\s*\.\s*routine\s*\.\s*["']?([^\]"'.\s]+)""")
_ANY_HEADER = re.compile(r"^\s*\[")
_KEY_LINE = re.compile(r"""^\s*["']?([A-Za-z0-9_-]+)["']?\s*=""")
_URL = re.compile(r"""\burl\s*=\s*["']([^"']*)["']""")


def routine_lines(lines: list[str], start: int, end: int) -> dict[tuple[str, str], int]:
    """Where a service's routines are, within its lines `start`..`end` (1-based, its header
    and the line before the next service): (path, "") → the path's header line, (path, key) →
    the line of the key, (path, "documents:URL") → the line of a document's address."""
    found: dict[tuple[str, str], int] = {}
    track = ""
    for n in range(start + 1, min(end, len(lines)) + 1):
        line = lines[n - 1]
        header = _ROUTINE_HEADER.match(line)
        if header:
            track = header.group(1)
            found.setdefault((track, ""), n)
            continue
        if _ANY_HEADER.match(line):
            track = ""
            continue
        key = _KEY_LINE.match(line)
        if track and key:
            found.setdefault((track, key.group(1)), n)
        for url in _URL.finditer(line) if track else ():
            found.setdefault((track, f"documents:{url.group(1)}"), n)
    return found


Bad = Callable[..., None]  # bad(line, code, **params): one problem at `line`


def parse_routines(
    value: Any, tracks: tuple[Track, ...], where: Mapping[tuple[str, str], int], bad: Bad
) -> tuple[Routine, ...]:
    """The routines of a service's `routine` table (`value`; None: none) for the paths it
    serves (`tracks`); every problem goes to `bad` at its line (`where`, else the service's:
    line None)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        bad(None, "bad_value", key=KEY, value=str(value))
        return ()
    routines: list[Routine] = []
    for key, table in value.items():
        line = where.get((key, ""))
        track = next((t for t in Track if t.value == key), None)
        if track is None:
            bad(line, "bad_track", value=str(key), allowed=", ".join(t.value for t in Track))
        elif track not in tracks:
            bad(line, "routine_not_served", track=key)
        elif not isinstance(table, dict):
            bad(line, "bad_value", key=f"{KEY}.{key}", value=str(table))
        else:
            routine = _routine(track, table, _line_finder(where, key, line), bad)
            if routine is not None:
                routines.append(routine)
    return tuple(sorted(routines, key=lambda r: list(Track).index(r.track)))


def _line_finder(
    where: Mapping[tuple[str, str], int], track: str, line: int | None
) -> Callable[[str], int | None]:
    """The line of a routine's field ("documents:URL" falls back to the documents key), else
    of its header."""

    def line_of(field: str) -> int | None:
        return where.get((track, field)) or where.get((track, field.split(":")[0])) or line

    return line_of


def _routine(
    track: Track, table: dict[str, Any], line_of: Callable[[str], int | None], bad: Bad
) -> Routine | None:
    problems = 0

    def fail(field: str, code: str, /, **params: str) -> None:
        nonlocal problems
        problems += 1
        bad(line_of(field), code, **params)

    name = f"{KEY}.{track.value}"
    for key in sorted(set(table) - set(_FIELDS)):
        fail(key, "unknown_key", key=f"{name}.{key}")
    open_to = _kinds(table.get("open_to"), lambda code, **p: fail("open_to", code, **p))
    hours: Hours | None = None
    if "hours" in table:
        text = table["hours"]
        if track is Track.MDK:
            fail("hours", "routine_mdk_hours")
        elif not isinstance(text, str):
            fail("hours", "bad_value", key=f"{name}.hours", value=str(text))
        else:
            try:
                hours = Hours.parse(text)
            except HoursFormatError:
                fail("hours", "bad_hours", value=text)
    have_ready = _texts(table.get("have_ready", []), "have_ready", fail)
    call_when, refer_when = (_text(table.get(k, ""), k, fail) for k in ("call_when", "refer_when"))
    documents = _documents(table.get("documents", []), fail)
    if problems:
        return None
    return Routine(
        track=track,
        open_to=open_to,
        hours=hours,
        have_ready=have_ready,
        call_when=call_when,
        refer_when=refer_when,
        documents=documents,
    )


def _kinds(value: Any, fail: Callable[..., None]) -> tuple[RequesterKind, ...]:
    if value is None:
        return KINDS
    allowed = ", ".join(w for w in KIND_WORDS if w not in ("vardcentral", "ovrigt"))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail("bad_value", key="open_to", value=str(value))
        return KINDS
    if not value:
        fail("routine_open_to_nobody")
        return KINDS
    kinds: list[RequesterKind] = []
    for word in value:
        kind = KIND_WORDS.get(word.strip().casefold())
        if kind is None:
            fail("unknown_requester_kind", value=word, allowed=allowed)
        elif kind not in kinds:
            kinds.append(kind)
    return tuple(k for k in KINDS if k in kinds)  # in the listed order, whatever the file's


def _text(value: Any, key: str, fail: Callable[..., None]) -> str:
    if not isinstance(value, str):
        fail(key, "bad_value", key=key, value=str(value))
        return ""
    # A long text may be written over several lines (a TOML multi-line string): one paragraph.
    text = " ".join(value.split())
    control = validation.control_character(key, text)
    if control is not None:
        fail(key, control[0], **control[1])
    elif len(text) > MAX_TEXT:
        fail(key, "routine_text_too_long", key=key, max=str(MAX_TEXT))
    return text


def _texts(value: Any, key: str, fail: Callable[..., None]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        fail(key, "bad_value", key=key, value=str(value))
        return ()
    if len(value) > MAX_ITEMS:
        fail(key, "routine_too_many", key=key, max=str(MAX_ITEMS))
    for item in value:
        if len(item.strip()) > MAX_ITEM:
            fail(key, "routine_text_too_long", key=key, max=str(MAX_ITEM))
    return tuple(_text(v, key, fail) for v in value)


def _documents(value: Any, fail: Callable[..., None]) -> tuple[Document, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        fail("documents", "bad_value", key="documents", value=str(value))
        return ()
    if len(value) > MAX_ITEMS:
        fail("documents", "routine_too_many", key="documents", max=str(MAX_ITEMS))
    documents = []
    for entry in value:
        for key in sorted(set(entry) - {"label", "url"}):
            fail("documents", "unknown_key", key=f"documents.{key}")
        label, url = entry.get("label"), entry.get("url")
        if not isinstance(label, str) or not label.strip():
            fail("documents", "missing_key", key="documents.label")
            continue
        label = _text(label, "documents", fail)
        if len(label) > MAX_ITEM:
            fail("documents", "routine_text_too_long", key="documents.label", max=str(MAX_ITEM))
        if not isinstance(url, str) or not is_https(url):
            fail(f"documents:{url}", "bad_document_url", label=label, value=str(url))
            continue
        documents.append(Document(label=label, url=url.strip()))
    return tuple(documents)


def is_https(url: str) -> bool:
    """An absolute https address with a host and nothing a chat link could be bent by (no
    spaces, quotes, angle brackets or control characters, no user name or password)."""
    text = url.strip()
    if not text.isprintable() or any(c in text for c in " \"'<>\\`"):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and len(text) <= 500
    )
