"""The staff list (who belongs to which unit) and the contact directory (`!kontakt`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.errors import Problem, Severity
from consultbot.domain.files import phones, validation
from consultbot.domain.files.formats import DIRECTORY_COLUMNS, STAFF_COLUMNS
from consultbot.domain.files.tables import Cell, Row, read_rows
from consultbot.domain.files.validation import FileRules
from consultbot.domain.types import ServiceId, UserId


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


class _Reporter:
    """Adds a row's problems to `problems`, each at its cell (XLSX) or the row's line."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def __call__(self, row: Row, code: str, at: str = "", /, **params: str) -> None:
        severity = Severity.WARNING if code == "undialable_phone" else Severity.ERROR
        self.problems.append(
            Problem(
                file=self.file,
                line=row.line,
                code=code,
                params=params,
                severity=severity,
                cell=row.ref(at) if at else "",
            )
        )


def _text_problems(row: Row, cells: dict[str, str], report: _Reporter) -> None:
    """Control characters in any text cell, and a phone number that lost its leading 0
    (an error) or cannot be dialled (a warning)."""
    for column, text in cells.items():
        control = validation.control_character(column, text)
        if control is not None:
            report(row, control[0], column, **control[1])
    phone = cells.get("phone", "")
    if not phone:
        return
    value = row.cells.get("phone")
    as_number = isinstance(value, int | float) and not isinstance(value, bool)
    lost = validation.phone_problem(phone, as_number)
    if lost is not None:
        report(row, lost[0], "phone", **lost[1])
    elif not phones.dialable(phone):
        report(row, "undialable_phone", "phone", value=phone)


def parse_staff(
    data: bytes, file: str, catalogue: Catalogue, rules: FileRules | None = None
) -> tuple[list[StaffMember], list[Problem]]:
    """Parse and validate a staff list; units must be services of `catalogue`, and with
    `rules` Matrix ids must be on allowed servers."""
    rules = rules or FileRules()
    problems: list[Problem] = []
    report = _Reporter(file, problems)
    members: list[StaffMember] = []
    seen: dict[str, int] = {}
    for row in read_rows(data, file, STAFF_COLUMNS, problems):
        cells = {k: _s(v) for k, v in row.cells.items()}
        errors = len([p for p in problems if p.is_error])
        written = cells.get("matrix_id", "")
        user = normalise_matrix_id(written) or ""
        if not written:
            report(row, "missing_value", "matrix_id", column="matrix_id")
        elif not user:
            report(row, "bad_matrix_id", "matrix_id", value=written)
        elif user in seen:
            report(row, "duplicate_person", "matrix_id", user=user, first_line=str(seen[user]))
        else:
            foreign = validation.server_not_allowed(user, rules)
            if foreign is not None:
                report(row, foreign[0], "matrix_id", **foreign[1])
        if not cells.get("name"):
            report(row, "missing_value", "name", column="name")
        unit = cells.get("unit", "")
        service = catalogue.find(unit) if unit else None
        if not unit:
            report(row, "missing_value", "unit", column="unit")
        elif service is None:
            report(row, "unknown_service", "unit", service=unit)
        _text_problems(row, cells, report)
        if len([p for p in problems if p.is_error]) > errors or service is None:
            continue
        seen[user] = row.line
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
    report = _Reporter(file, problems)
    entries: list[DirectoryEntry] = []
    for row in read_rows(data, file, DIRECTORY_COLUMNS, problems):
        cells = {k: _s(v) for k, v in row.cells.items()}
        errors = len([p for p in problems if p.is_error])
        for column in ("unit", "name", "phone"):
            if not cells.get(column):
                report(row, "missing_value", column, column=column)
        _text_problems(row, cells, report)
        if len([p for p in problems if p.is_error]) > errors:
            continue
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
