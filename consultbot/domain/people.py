"""The staff list (who belongs to which unit) and the contact directory (`!kontakt`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consultbot.domain import phones
from consultbot.domain.catalogue import Catalogue
from consultbot.domain.errors import Problem
from consultbot.domain.matrix_ids import normalise_matrix_id
from consultbot.domain.tables import Cell, Columns, read_rows
from consultbot.domain.types import ServiceId, UserId

STAFF_COLUMNS = Columns(
    required={"matrix_id": ("matrix-id", "matrix id"), "name": ("namn",), "unit": ("enhet",)},
    optional={"title": ("titel",), "phone": ("telefon", "tel")},
)
DIRECTORY_COLUMNS = Columns(
    required={"unit": ("enhet",), "name": ("namn",), "phone": ("telefon", "tel")},
    optional={"municipality": ("kommun",), "notes": ("anteckningar", "anteckning", "kommentar")},
)


@dataclass(frozen=True, kw_only=True)
class StaffMember:
    """A member of staff: their Matrix id, unit (a service id) and callback number."""

    user: UserId
    name: str
    unit: ServiceId
    title: str = ""
    phone: str = ""


@dataclass(frozen=True, kw_only=True)
class DirectoryEntry:
    """One row of the county's phone directory."""

    unit: str
    name: str
    phone: str
    municipality: str = ""
    notes: str = ""


def _s(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_staff(
    data: bytes, file: str, catalogue: Catalogue
) -> tuple[list[StaffMember], list[Problem]]:
    """Parse and validate a staff list; units must be services of `catalogue`."""
    problems: list[Problem] = []
    members: list[StaffMember] = []
    seen: dict[str, int] = {}
    for row in read_rows(data, file, STAFF_COLUMNS, problems):
        cells = {k: _s(v) for k, v in row.cells.items()}
        before = len(problems)

        def bad(code: str, row_line: int = row.line, **params: str) -> None:
            problems.append(Problem(file=file, line=row_line, code=code, params=params))

        written = cells.get("matrix_id", "")
        user = normalise_matrix_id(written) or ""
        if not written:
            bad("missing_value", column="matrix_id")
        elif not user:
            bad("bad_matrix_id", value=written)
        elif user in seen:
            bad("duplicate_person", user=user, first_line=str(seen[user]))
        if not cells.get("name"):
            bad("missing_value", column="name")
        unit = cells.get("unit", "")
        service = catalogue.find(unit) if unit else None
        if not unit:
            bad("missing_value", column="unit")
        elif service is None:
            bad("unknown_service", service=unit)
        if len(problems) > before or service is None:
            continue
        seen[user] = row.line
        if cells.get("phone") and not phones.dialable(cells["phone"]):
            problems.append(phones.undialable(file, row.line, cells["phone"]))
        members.append(
            StaffMember(
                user=UserId(user),
                name=cells["name"],
                unit=service.id,
                title=cells.get("title", ""),
                phone=cells.get("phone", ""),
            )
        )
    return members, problems


def parse_directory(data: bytes, file: str) -> tuple[list[DirectoryEntry], list[Problem]]:
    """Parse and validate the contact directory."""
    problems: list[Problem] = []
    entries: list[DirectoryEntry] = []
    for row in read_rows(data, file, DIRECTORY_COLUMNS, problems):
        cells = {k: _s(v) for k, v in row.cells.items()}
        missing = [c for c in ("unit", "name", "phone") if not cells.get(c)]
        for column in missing:
            problems.append(
                Problem(file=file, line=row.line, code="missing_value", params={"column": column})
            )
        if missing:
            continue
        if not phones.dialable(cells["phone"]):
            problems.append(phones.undialable(file, row.line, cells["phone"]))
        entries.append(
            DirectoryEntry(
                unit=cells["unit"],
                name=cells["name"],
                phone=cells["phone"],
                municipality=cells.get("municipality", ""),
                notes=cells.get("notes", ""),
            )
        )
    return entries, problems


def fold(text: str) -> str:
    """Case- and accent-insensitive form for searching: "Älvdalen" → "alvdalen"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


MAX_QUERY_WORDS = 8
"""A directory search reads at most this many distinct words of the query."""


def search_directory(
    entries: Iterable[DirectoryEntry], query: str, limit: int = 10
) -> Sequence[DirectoryEntry]:
    """Entries where every word of `query` occurs in unit, name, municipality or notes."""
    # Each distinct word once, and only the first few: more words only narrow the search,
    # and a pasted wall of words would otherwise cost entries × words.
    words = list(dict.fromkeys(fold(query).split()))[:MAX_QUERY_WORDS]
    if not words:
        return []
    found: list[DirectoryEntry] = []
    for entry in entries:
        haystack = fold(" ".join((entry.unit, entry.name, entry.municipality, entry.notes)))
        if all(word in haystack for word in words):
            found.append(entry)
            if len(found) >= limit:
                break
    return found
