"""The staff list (who belongs to which unit) and the contact directory (`!kontakt`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.errors import Problem, Severity
from consultbot.domain.files import validation
from consultbot.domain.files.formats import DIRECTORY_COLUMNS, STAFF_COLUMNS
from consultbot.domain.files.tables import Row, cell_text, is_number, read_rows
from consultbot.domain.files.validation import FileRules, fold
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


@dataclass
class _Reporter:
    """Adds a row's problems to `problems`, each at its cell (XLSX) or the row's line, and
    counts the errors among them."""

    file: str
    problems: list[Problem]
    errors: int = 0

    def __call__(self, row: Row, code: str, at: str = "", /, **params: str) -> None:
        severity = Severity.WARNING if code in validation.WARNING_CODES else Severity.ERROR
        self.errors += severity is Severity.ERROR
        self.problems.append(
            Problem(
                file=self.file,
                line=row.line,
                code=code,
                params=params,
                severity=severity,
                cell=row.ref(at),
            )
        )

    def found(self, row: Row, at: str, found: validation.Found | None) -> None:
        if found is not None:
            self(row, found[0], at, **found[1])


def _text_problems(row: Row, cells: dict[str, str], report: _Reporter) -> None:
    """Control characters in any text cell, and a phone number that lost its leading 0
    (an error) or cannot be dialled (a warning)."""
    for column, text in cells.items():
        report.found(row, column, validation.control_character(column, text))
    if cells.get("phone"):
        as_number = is_number(row.cells.get("phone"))
        report.found(row, "phone", validation.phone_check(cells["phone"], as_number))


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
        cells = {k: cell_text(v) for k, v in row.cells.items()}
        errors = report.errors
        written = cells.get("matrix_id", "")
        user = normalise_matrix_id(written) or ""
        if not written:
            report(row, "missing_value", "matrix_id", column="matrix_id")
        elif not user:
            report(row, "bad_matrix_id", "matrix_id", value=written)
        elif user in seen:
            report(row, "duplicate_person", "matrix_id", user=user, first_line=str(seen[user]))
        else:
            report.found(row, "matrix_id", validation.server_not_allowed(user, rules))
        if not cells.get("name"):
            report(row, "missing_value", "name", column="name")
        unit = cells.get("unit", "")
        service = catalogue.find(unit) if unit else None
        if not unit:
            report(row, "missing_value", "unit", column="unit")
        elif service is None:
            report(row, "unknown_service", "unit", service=unit)
        _text_problems(row, cells, report)
        if report.errors > errors or service is None:
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
    problems: list[Problem] = []
    report = _Reporter(file, problems)
    entries: list[DirectoryEntry] = []
    for row in read_rows(data, file, DIRECTORY_COLUMNS, problems):
        cells = {k: cell_text(v) for k, v in row.cells.items()}
        errors = report.errors
        for column in ("unit", "name", "phone"):
            if not cells.get(column):
                report(row, "missing_value", column, column=column)
        _text_problems(row, cells, report)
        if report.errors == errors:
            entries.append(DirectoryEntry(**cells))  # its fields are the columns of the file
    return entries, problems


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
