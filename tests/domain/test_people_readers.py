"""The staff list and the contact directory, problem by problem (issue 20, item 3).

Each row names the exact problem a reader reports: its code, line, cell (XLSX) and values,
so a check whose code, place or words change fails here. Every table runs on a CSV file and
on the same rows in a workbook, where each problem must point at its own cell.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import openpyxl
import pytest

from consultbot.domain.duty.people import (
    DirectoryEntry,
    StaffMember,
    parse_directory,
    parse_staff,
)
from consultbot.domain.errors import Problem, Severity
from consultbot.domain.files.validation import FileRules
from consultbot.domain.types import ServiceId, UserId
from consultbot.text.render import Messages
from tests.support.catalogue import CATALOGUE

Values = Sequence[str | float | None]
# (line, column letter of the cell at fault, code, params, severity)
Expected = tuple[int, str, str, dict[str, str], Severity]

E, W = Severity.ERROR, Severity.WARNING
STAFF_HEADER = ["matrix_id", "name", "unit", "title", "phone"]
DIRECTORY_HEADER = ["unit", "name", "phone", "municipality", "notes"]
RULES = FileRules(servers=frozenset({"localhost", "region.se"}))


def csv_file(rows: Sequence[Values]) -> bytes:
    def cell(value: str | float | None) -> str:
        text = "" if value is None else str(value)
        return f'"{text}"' if "," in text else text

    return "".join(",".join(cell(v) for v in row) + "\n" for row in rows).encode()


def workbook(rows: Sequence[Values]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for values in rows:
        sheet.append(list(values))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def encode(kind: str, rows: Sequence[Values]) -> tuple[bytes, str]:
    return (csv_file(rows), "f.csv") if kind == "csv" else (workbook(rows), "f.xlsx")


def problems_as(kind: str, expected: Sequence[Expected]) -> list[Problem]:
    """The problems `expected` names, in the file `kind` (cells only in a workbook)."""
    file = "f.csv" if kind == "csv" else "f.xlsx"
    return [
        Problem(
            file=file,
            line=line,
            code=code,
            params=params,
            severity=severity,
            cell=f"{letter}{line}" if kind == "xlsx" and letter else "",
        )
        for line, letter, code, params, severity in expected
    ]


def member(user: str, name: str, title: str = "", phone: str = "") -> StaffMember:
    return StaffMember(
        user=UserId(user), name=name, unit=ServiceId("kardiologi"), title=title, phone=phone
    )


KINDS = pytest.mark.parametrize("kind", ["csv", "xlsx"])


# ---------------------------------------------------------------------------------------------
# The staff list

STAFF_CASES = [
    pytest.param(
        [["@anna:Localhost", "Anna Berg", "hjärta", "läkare", "070-123 45 67"]],
        [],
        [member("@anna:localhost", "Anna Berg", "läkare", "070-123 45 67")],
        id="valid-by-alias",
    ),
    pytest.param(
        [[None, "Anna", "kardiologi", None, None]],
        [(2, "A", "missing_value", {"column": "matrix_id"}, E)],
        [],
        id="no-matrix-id",
    ),
    pytest.param(
        [["anna", "Anna", "kardiologi", None, None]],
        [(2, "A", "bad_matrix_id", {"value": "anna"}, E)],
        [],
        id="malformed-matrix-id",
    ),
    pytest.param(
        [["@anna:evil.example", "Anna", "kardiologi", None, None]],
        [
            (
                2,
                "A",
                "server_not_allowed",
                {
                    "user": "@anna:evil.example",
                    "server": "evil.example",
                    "allowed": "localhost, region.se",
                },
                E,
            )
        ],
        [],
        id="server-not-allowed",
    ),
    pytest.param(
        [
            ["@anna:localhost", "Anna", "kardiologi", None, None],
            ["@anna:LOCALHOST", "Anna B", "radiologi", None, None],
        ],
        [(3, "A", "duplicate_person", {"user": "@anna:localhost", "first_line": "2"}, E)],
        [member("@anna:localhost", "Anna")],
        id="same-person-twice",
    ),
    pytest.param(
        [
            ["@anna:localhost", "Anna", "okänd", None, None],
            ["@anna:localhost", "Anna", "kardiologi", None, None],
        ],
        [(2, "C", "unknown_service", {"service": "okänd"}, E)],
        [member("@anna:localhost", "Anna")],
        id="a-refused-row-is-no-first-occurrence",
    ),
    pytest.param(
        [["@anna:localhost", None, "kardiologi", None, None]],
        [(2, "B", "missing_value", {"column": "name"}, E)],
        [],
        id="no-name",
    ),
    pytest.param(
        [["@anna:localhost", "Anna", None, None, None]],
        [(2, "C", "missing_value", {"column": "unit"}, E)],
        [],
        id="no-unit",
    ),
    pytest.param(
        [
            [None, None, None, "läkare", "070-123 45 67"],
            ["@bo:localhost", "Bo", "kardiologi", None, None],
        ],
        [
            (2, "A", "missing_value", {"column": "matrix_id"}, E),
            (2, "B", "missing_value", {"column": "name"}, E),
            (2, "C", "missing_value", {"column": "unit"}, E),
        ],
        [member("@bo:localhost", "Bo")],
        id="an-empty-row-then-a-good-one",
    ),
    pytest.param(
        [["@anna:localhost", "Anna", "kardiologi", "läkare", "7012"]],
        [(2, "E", "undialable_phone", {"value": "7012"}, W)],
        [member("@anna:localhost", "Anna", "läkare", "7012")],
        id="undialable-phone-is-a-warning",
    ),
    pytest.param(
        [["@anna:localhost", "Anna", "kardiologi", "läk\u2028are", None]],
        [(2, "D", "control_character", {"column": "title", "char": "U+2028"}, E)],
        [],
        id="control-character-in-title",
    ),
]


@KINDS
@pytest.mark.parametrize(("rows", "expected", "members"), STAFF_CASES)
def test_each_staff_problem_is_reported_at_its_cell(
    kind: str, rows: list[Values], expected: list[Expected], members: list[StaffMember]
) -> None:
    data, file = encode(kind, [STAFF_HEADER, *rows])
    found, problems = parse_staff(data, file, CATALOGUE, RULES)
    assert problems == problems_as(kind, expected)
    assert found == members


@KINDS
def test_staff_without_the_optional_columns_have_no_title_or_phone(kind: str) -> None:
    data, file = encode(
        kind, [["matrix_id", "name", "unit"], ["@anna:localhost", "Anna", "kardiologi"]]
    )
    assert parse_staff(data, file, CATALOGUE) == ([member("@anna:localhost", "Anna")], [])


def test_without_rules_a_staff_members_server_is_not_checked() -> None:
    data = csv_file([["matrix_id", "name", "unit"], ["@anna:evil.example", "Anna", "kardiologi"]])
    assert parse_staff(data, "f.csv", CATALOGUE) == ([member("@anna:evil.example", "Anna")], [])


def test_spreadsheet_numbers_in_text_cells_are_read_as_written() -> None:
    data = workbook([STAFF_HEADER, ["@anna:localhost", "  Anna  ", "kardiologi", 3.0, None]])
    members, problems = parse_staff(data, "f.xlsx", CATALOGUE)
    assert (members, problems) == ([member("@anna:localhost", "Anna", "3")], [])
    data = workbook([STAFF_HEADER, ["@anna:localhost", "Anna", "kardiologi", 2.5, None]])
    assert parse_staff(data, "f.xlsx", CATALOGUE)[0] == [member("@anna:localhost", "Anna", "2.5")]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        pytest.param(
            [["@a:localhost", "A", "kardiologi"], ["@a:localhost", "A", "kardiologi"]],
            "f.csv:3: @a:localhost finns redan (rad 2)",
            id="duplicate",
        ),
        pytest.param(
            [["a", "A", "kardiologi"]],
            "f.csv:2: ogiltigt Matrix-id a (@namn:server med små bokstäver väntades)",
            id="malformed",
        ),
        pytest.param(
            [["@a:localhost", "A", "okänd"]],
            "f.csv:2: okänd tjänst okänd (finns inte i katalogen)",
            id="unknown-unit",
        ),
        pytest.param(
            [["@a:localhost", "A", ""]],
            "f.csv:2: värde saknas i kolumnen enhet",
            id="no-unit",
        ),
    ],
)
def test_staff_problems_read_as_one_swedish_line(rows: list[Values], message: str) -> None:
    _, problems = parse_staff(csv_file([["matrix_id", "name", "unit"], *rows]), "f.csv", CATALOGUE)
    assert [Messages("sv").problem(p) for p in problems] == [message]


# ---------------------------------------------------------------------------------------------
# The contact directory

DIRECTORY_CASES = [
    pytest.param(
        [["Akuten", "Växel", "023-49 00 00", "Falun", "dygnet runt"]],
        [],
        [
            DirectoryEntry(
                unit="Akuten",
                name="Växel",
                phone="023-49 00 00",
                municipality="Falun",
                notes="dygnet runt",
            )
        ],
        id="valid",
    ),
    pytest.param(
        [[None, "Växel", "023-49 00 00", None, None]],
        [(2, "A", "missing_value", {"column": "unit"}, E)],
        [],
        id="no-unit",
    ),
    pytest.param(
        [["Akuten", None, "023-49 00 00", None, None]],
        [(2, "B", "missing_value", {"column": "name"}, E)],
        [],
        id="no-name",
    ),
    pytest.param(
        [["Akuten", "Växel", None, None, None]],
        [(2, "C", "missing_value", {"column": "phone"}, E)],
        [],
        id="no-phone",
    ),
    pytest.param(
        [[None, None, None, "Falun", "obs"], ["Akuten", "Växel", "023-49 00 00", None, None]],
        [
            (2, "A", "missing_value", {"column": "unit"}, E),
            (2, "B", "missing_value", {"column": "name"}, E),
            (2, "C", "missing_value", {"column": "phone"}, E),
        ],
        [DirectoryEntry(unit="Akuten", name="Växel", phone="023-49 00 00")],
        id="an-empty-row-then-a-good-one",
    ),
    pytest.param(
        [["Akuten", "Växel", "4900", None, None]],
        [(2, "C", "undialable_phone", {"value": "4900"}, W)],
        [DirectoryEntry(unit="Akuten", name="Växel", phone="4900")],
        id="undialable-phone-is-a-warning",
    ),
    pytest.param(
        [["Akuten", "Växel", "023-49 00 00", None, "ring\u2028först"]],
        [(2, "E", "control_character", {"column": "notes", "char": "U+2028"}, E)],
        [],
        id="control-character-in-notes",
    ),
]


@KINDS
@pytest.mark.parametrize(("rows", "expected", "entries"), DIRECTORY_CASES)
def test_each_directory_problem_is_reported_at_its_cell(
    kind: str, rows: list[Values], expected: list[Expected], entries: list[DirectoryEntry]
) -> None:
    data, file = encode(kind, [DIRECTORY_HEADER, *rows])
    found, problems = parse_directory(data, file)
    assert problems == problems_as(kind, expected)
    assert found == entries


@KINDS
def test_a_directory_without_the_optional_columns_has_no_municipality_or_notes(kind: str) -> None:
    data, file = encode(kind, [["unit", "name", "phone"], ["Akuten", "Växel", "023-49 00 00"]])
    expected = DirectoryEntry(unit="Akuten", name="Växel", phone="023-49 00 00")
    assert parse_directory(data, file) == ([expected], [])


def test_a_directory_problem_reads_as_one_swedish_line() -> None:
    data = csv_file([["unit", "name", "phone"], ["Akuten", "Växel", ""]])
    _, problems = parse_directory(data, "f.csv")
    assert [Messages("sv").problem(p) for p in problems] == [
        "f.csv:2: värde saknas i kolumnen telefon"
    ]


def test_a_csv_phone_that_lost_its_zero_is_told_how_to_write_it() -> None:
    # In a CSV file the number is text: Excel dropped the 0 when it saved, not in this cell.
    data = csv_file([STAFF_HEADER, ["@anna:localhost", "Anna", "kardiologi", "", "701234567"]])
    _, problems = parse_staff(data, "f.csv", CATALOGUE)
    assert [(p.code, p.params) for p in problems] == [
        ("phone_lost_zero", {"value": "701234567", "fixed": "0701234567"})
    ]
    data = csv_file([["unit", "name", "phone"], ["Akuten", "Växel", "23490000"]])
    _, problems = parse_directory(data, "f.csv")
    assert [p.code for p in problems] == ["phone_lost_zero"]


def test_a_file_level_problem_names_the_file() -> None:
    no_unit = csv_file([["matrix_id", "name"], ["@anna:localhost", "Anna"]])
    _, problems = parse_staff(no_unit, "personal.csv", CATALOGUE)
    assert [(p.file, p.line, p.code) for p in problems] == [("personal.csv", 1, "missing_columns")]
    no_phone = csv_file([["unit", "name"], ["Akuten", "Växel"]])
    _, problems = parse_directory(no_phone, "kontakter.csv")
    assert [(p.file, p.line, p.code) for p in problems] == [("kontakter.csv", 1, "missing_columns")]
