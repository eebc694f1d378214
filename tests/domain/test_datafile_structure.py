"""A file whose structure is broken gets ONE message naming the cause and the fix, at the line
or cell of the original file where it shows (issue 20, item 4) — never a message per row.

The files are small versions of what regions really send: a scheduling-system export with a
byte-order mark, Excel's `;`-CSV in Windows-1252, two exports pasted together, a workbook cut
off by a stopped download, an old `.xls`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import datetime, time

import openpyxl
import pytest

from consultbot.domain.duty.people import parse_directory, parse_staff
from consultbot.domain.duty.roster import RosterCheck, check_roster
from consultbot.domain.errors import Problem, Severity
from consultbot.domain.files.tables import decode_text
from consultbot.text.render import Messages
from tests.support.catalogue import CATALOGUE, TZ

HEADER = "tjänst;nivå;start;slut;matrix_id;namn;telefon\r\n"
ROW_1 = (
    "kardiologi;1;2026-12-01 08:00;2026-12-01 17:00;@anna:localhost;Anna Åberg;070-123 45 67\r\n"
)
ROW_2 = "kardiologi;2;2026-12-01 08:00;2026-12-02 08:00;@bo:localhost;Bo Ärlig;\r\n"
ROW_3 = "hjärta;1;2026-12-01 17:00;2026-12-02 08:00;@cilla:localhost;Cilla Ek;\r\n"
BOM = b"\xef\xbb\xbf"


def check(name: str, data: bytes) -> RosterCheck:
    return check_roster([(name, data)], CATALOGUE, TZ)


def where(problems: Sequence[Problem]) -> list[tuple[int | None, str, str]]:
    return [(p.line, p.cell, p.code) for p in problems]


def workbook(rows: Sequence[Sequence[object]], extra: dict[str, object] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    for ref, value in (extra or {}).items():
        sheet[ref] = value
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


XLSX_HEADER = ["tjänst", "nivå", "start", "slut", "matrix_id", "namn", "telefon"]
XLSX_ROW = ["kardiologi", 1, datetime(2026, 12, 1, 8), datetime(2026, 12, 1, 17), "@a:localhost"]
GOOD_XLSX = workbook([XLSX_HEADER, [*XLSX_ROW, "Anna", "070-123 45 67"]])


@pytest.mark.parametrize(
    ("data", "line", "cell", "code"),
    [
        pytest.param(
            BOM + (HEADER + ROW_1).encode() + BOM + (HEADER + ROW_2).encode(),
            3,
            "",
            "bom_inside",
            id="bom-in-the-middle-two-exports-pasted",
        ),
        pytest.param(
            (HEADER + ROW_1 + HEADER + ROW_2 + ROW_3).encode(),
            3,
            "",
            "repeated_header",
            id="two-files-concatenated",
        ),
        pytest.param(
            (HEADER + ROW_1 + ROW_2.replace(";", ",") + ROW_3.replace(";", ",")).encode(),
            3,
            "",
            "mixed_delimiters",
            id="comma-rows-in-a-semicolon-file",
        ),
        pytest.param(
            ("Jourschema vecka 49\r\n" + HEADER + ROW_1).encode(),
            2,
            "",
            "header_not_first",
            id="title-above-the-header",
        ),
        pytest.param((ROW_1 + ROW_2).encode(), 1, "", "no_header", id="no-header"),
        pytest.param(
            (HEADER + ROW_1 + "\r\nVecka 50;;;;;;\r\n" + ROW_2).encode(),
            4,
            "",
            "block_title",
            id="blank-row-then-a-block-title",
        ),
        pytest.param(
            (HEADER + ROW_1 + "Vecka 50\r\n" + ROW_2).encode(),
            3,
            "",
            "lone_cell",
            id="a-row-of-one-value",
        ),
        pytest.param(
            (HEADER + ROW_1.rstrip() + ";;;;;;;;;;;;;;;;glömd\r\n" + ROW_2).encode(),
            2,
            "",
            "cell_outside_columns",
            id="stray-cell-far-right",
        ),
        pytest.param(
            (HEADER + ROW_1.replace("Anna", '"Anna') + ROW_2 + ROW_3).encode(),
            2,
            "",
            "csv_unclosed_quote",
            id="stray-quote-never-closed",
        ),
        pytest.param(
            (HEADER + ROW_1.replace("Anna", '"Anna') + ROW_2 + ROW_3.replace("Cilla", 'Ci"lla'))
            .replace('Ci"lla Ek;', 'Ci"lla Ek";')
            .encode(),
            2,
            "",
            "csv_quote_spans_lines",
            id="stray-quote-swallowing-lines",
        ),
        pytest.param(
            (HEADER + ROW_1.replace("Anna Åberg", '"Anna" Åberg')).encode(),
            2,
            "",
            "csv_stray_quote",
            id="quote-inside-a-cell",
        ),
        pytest.param(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000), None, "", "old_xls", id="old-xls"
        ),
        pytest.param(
            GOOD_XLSX[: len(GOOD_XLSX) // 2], None, "", "xlsx_truncated", id="truncated-xlsx"
        ),
        pytest.param(
            workbook([XLSX_HEADER, [*XLSX_ROW, "Anna", ""]], {"Z40": "glömd"}),
            40,
            "Z40",
            "cell_outside_columns",
            id="xlsx-stray-cell-at-z40",
        ),
        pytest.param(
            workbook([["Jourschema"], XLSX_HEADER, [*XLSX_ROW, "Anna", ""]]),
            2,
            "A2",
            "header_not_first",
            id="xlsx-title-row",
        ),
        pytest.param(
            "tjänst;nivå;start;slut;matrix_id;namn\r\n".encode("utf-16-le"),
            None,
            "",
            "utf16_without_bom",
            id="utf16-without-bom",
        ),
        pytest.param(
            # Line 1 ("tjänst") is Windows-1252, line 3 ("Ärlig") UTF-8.
            (HEADER + ROW_1).encode("cp1252") + ROW_2.encode("utf-8"),
            1,
            "",
            "mixed_encoding",
            id="cp1252-and-utf8-pasted",
        ),
    ],
)
def test_a_broken_structure_is_one_error_at_its_line(
    data: bytes, line: int | None, cell: str, code: str
) -> None:
    name = "schema.xlsx" if data.startswith(b"PK") else "schema.csv"
    result = check(name, data)
    assert where(result.errors) == [(line, cell, code)]
    assert result.shifts == ()
    # Said with its file and place, and every value the message needs (StrictUndefined).
    (problem,) = result.errors
    place = cell or line
    text = Messages("sv").problem(problem)
    assert text.startswith(f"{name}:{place}: " if place else f"{name}: "), text
    assert SAYS.get(id_of(code, cell), "") in text, text


def id_of(code: str, cell: str) -> str:
    return f"{code}@{cell}" if cell else code


# What each message must say about the file in the table above.
SAYS = {
    "mixed_delimiters": 'avgränsas med ",", inte som rubrikraden (2 sådana rader)',
    "header_not_first": "ta bort raderna ovanför (från rad 1)",
    "header_not_first@A2": "ta bort raderna ovanför (från rad 1)",
    "no_header": "kolumnerna tjänst, nivå, start, slut, matrix_id, namn",
    "block_title": "raden Vecka 50 efter en tomrad",
    "lone_cell": "bara ett värde (Vecka 50)",
    "cell_outside_columns": "värdet glömd står i en kolumn utan rubrik",
    "cell_outside_columns@Z40": "värdet glömd står i en kolumn utan rubrik",
    "csv_quote_spans_lines": "stängs först på rad 4",
    "mixed_encoding": "blandar UTF-8 (rad 3)",
}


def test_a_structural_problem_in_a_staff_list_or_directory_is_one_error_too() -> None:
    staff = "matrix_id;namn;enhet\r\n@a:localhost;A;kardiologi\r\nmatrix_id;namn;enhet\r\n"
    _, problems = parse_staff(staff.encode(), "personal.csv", CATALOGUE)
    assert [(p.line, p.code) for p in problems] == [(3, "repeated_header")]
    directory = "enhet,namn,telefon\r\nAkuten,Växel,023-49 00 00\r\n" + ";".join("xyzw") + "\r\n"
    _, problems = parse_directory(directory.encode(), "kontakter.csv")
    assert [(p.line, p.code) for p in problems] == [(3, "mixed_delimiters")]


def test_excel_semicolon_csv_in_windows_1252_is_read_with_a_warning() -> None:
    # Excel's plain "CSV (semikolonavgränsad)" on Swedish Windows.
    result = check("export.csv", (HEADER + ROW_1 + ROW_2).encode("cp1252"))
    assert result.ok, result.errors
    assert [s.name for s in result.shifts] == ["Anna Åberg", "Bo Ärlig"]
    assert [p.code for p in result.warnings] == ["read_as_cp1252"]


def test_a_scheduling_export_with_a_bom_and_crlf_is_read() -> None:
    result = check("export.csv", BOM + (HEADER + ROW_1 + ROW_2).encode())
    assert result.ok, result.errors
    assert len(result.shifts) == 2


def test_a_single_line_break_in_a_quoted_name_is_named_as_what_it_is() -> None:
    data = (HEADER + ROW_1.replace("Anna Åberg", '"Anna\nÅberg"')).encode()
    assert where(check("r.csv", data).errors) == [(2, "", "control_character")]


@pytest.mark.parametrize(
    ("start", "shown"),
    [
        pytest.param(time(8, 0), "08:00", id="xlsx-time-cell"),
        pytest.param(0.5, "12:00", id="xlsx-number-as-fraction-of-a-day"),
        pytest.param("08:00", "08:00", id="text-clock-time"),
    ],
)
def test_a_time_only_cell_is_reported_as_a_time_without_a_date(start: object, shown: str) -> None:
    data = workbook([XLSX_HEADER, ["kardiologi", 1, start, datetime(2026, 12, 1, 17), "@a:b", "A"]])
    (problem,) = check("r.xlsx", data).errors
    assert (problem.cell, problem.code, problem.params["value"]) == (
        "C2",
        "time_without_date",
        shown,
    )


def test_an_xlsx_cell_problem_points_at_its_cell() -> None:
    data = workbook([XLSX_HEADER, ["okänd", "x", *XLSX_ROW[2:], "A", ""]])
    assert sorted(where(check("r.xlsx", data).errors)) == [
        (2, "A2", "unknown_service"),
        (2, "B2", "bad_level"),
    ]
    rendered = [Messages("sv").problem(p) for p in check("r.xlsx", data).errors]
    assert rendered[0].startswith("r.xlsx:A2: ")


STRUCTURAL = [
    "bom_inside",
    "repeated_header",
    "mixed_delimiters",
    "header_not_first",
    "no_header",
    "block_title",
    "lone_cell",
    "cell_outside_columns",
    "csv_unclosed_quote",
    "csv_quote_spans_lines",
    "csv_stray_quote",
    "old_xls",
    "xlsx_truncated",
    "xlsx_broken",
    "not_a_workbook",
    "utf16_without_bom",
    "bad_utf16",
    "not_utf8",
    "mixed_encoding",
    "bad_ical",
    "ical_bad_line",
    "bad_recurrence",
]


@pytest.mark.parametrize("code", STRUCTURAL)
def test_each_structural_message_names_a_fix(code: str) -> None:
    # A fix is an instruction after the dash: "– spara …", "– ta bort …".
    params = {"other": ";", "count": "2", "first": "1", "columns": "tjänst", "value": "x"}
    params |= {"end": "9", "utf8": "3"}
    for language in ("sv", "en"):
        text = Messages(language).text("problem", code, **params)
        assert " – " in text, (language, text)
    assert Messages("sv").text("problem", code, **params) != Messages("en").text(
        "problem", code, **params
    )


def test_the_english_alias_gets_the_english_message_and_column_names() -> None:
    (problem,) = check("r.csv", (HEADER + ROW_1.replace("Anna Åberg", "")).encode()).errors
    assert Messages("sv").problem(problem) == "r.csv:2: värde saknas i kolumnen namn"
    assert Messages("en").problem(problem) == "r.csv:2: value missing in column name"


def zipped(**members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "line", "cell", "code", "says"),
    [
        pytest.param(
            "r.csv",
            ("Schema\r\ntjänst;nivå\r\n" + ROW_1).encode(),
            2,
            "",
            "header_not_first",
            "(från rad 1)",
            id="a-header-of-two-known-columns-is-still-a-header",
        ),
        pytest.param(
            "r.csv",
            (HEADER + ROW_1 + "tjänst;nivå;;;;;\r\n").encode(),
            3,
            "",
            "repeated_header",
            "",
            id="two-column-names-again-are-a-header",
        ),
        pytest.param(
            "r.csv",
            (HEADER + ROW_1 + ROW_2.replace(";", "\t")).encode(),
            3,
            "",
            "mixed_delimiters",
            'avgränsas med "tab"',
            id="tab-row-in-a-semicolon-file",
        ),
        pytest.param(
            "r.csv",
            (HEADER.rstrip() + ";\r\n" + ROW_1.rstrip() + ";glömd\r\n").encode(),
            2,
            "",
            "cell_outside_columns",
            "värdet glömd",
            id="a-value-under-an-empty-heading",
        ),
        pytest.param(
            "r.xlsx",
            workbook(
                [
                    ["tjänst", "nivå", None, "start", "slut", "matrix_id", "namn"],
                    ["kardiologi", 1, "glömd", *XLSX_ROW[2:], "A"],
                ]
            ),
            2,
            "C2",
            "cell_outside_columns",
            "värdet glömd",
            id="xlsx-value-under-an-empty-heading",
        ),
        pytest.param(
            "r.xlsx",
            workbook([XLSX_HEADER, [*XLSX_ROW, "A", ""], [None, "Vecka 50"]]),
            3,
            "B3",
            "lone_cell",
            "(Vecka 50)",
            id="xlsx-lone-cell-in-column-b",
        ),
        pytest.param(
            "r.xlsx",
            zipped(**{"word/document.xml": "<w/>", "[Content_Types].xml": "<x/>"}),
            None,
            "",
            "not_a_workbook",
            "inte en Excel-arbetsbok",
            id="a-zip-that-is-no-workbook",
        ),
        pytest.param(
            "r.csv",
            (HEADER + ROW_1.replace("Anna", '"Anna') + ROW_2 * 3000).encode(),
            2,
            "",
            "csv_unclosed_quote",
            "stängs aldrig",
            id="an-unclosed-quote-swallowing-a-big-file",
        ),
    ],
)
def test_edges_of_the_structure_checks(
    name: str, data: bytes, line: int | None, cell: str, code: str, says: str
) -> None:
    result = check(name, data)
    assert where(result.errors) == [(line, cell, code)]
    text = Messages("sv").problem(result.errors[0])
    assert text.startswith(f"{name}:{cell or line}: " if (cell or line) else f"{name}: ")
    assert says in text


def test_a_three_column_file_knows_a_lone_value_and_a_short_other_delimiter_row() -> None:
    directory = "enhet,namn,telefon\r\nAkuten,Växel,023-49 00 00\r\nVecka 50\r\n"
    _, problems = parse_directory(directory.encode(), "d.csv")
    assert [(p.line, p.code) for p in problems] == [(3, "lone_cell")]
    directory = "enhet,namn,telefon\r\nAkuten,Växel,023-49 00 00\r\nIVA;Jour;023\r\n"
    _, problems = parse_directory(directory.encode(), "d.csv")
    assert [(p.line, p.code) for p in problems] == [(3, "mixed_delimiters")]


def test_a_quote_that_swallows_a_whole_line_names_both_lines() -> None:
    directory = 'enhet,namn,telefon\r\nAkuten,"Växel\r\nIVA,Jour,023-49 00 01",023\r\n'
    _, problems = parse_directory(directory.encode(), "d.csv")
    assert [(p.line, p.code, p.params) for p in problems] == [
        (2, "csv_quote_spans_lines", {"end": "3"})
    ]


def test_other_delimiters_inside_a_full_row_are_just_text() -> None:
    text = HEADER.replace(";", ",") + ROW_1.replace(";", ",").replace("Anna Åberg", '"Å; B; C"')
    result = check("r.csv", text.encode())
    assert result.ok, result.errors
    assert [s.name for s in result.shifts] == ["Å; B; C"]


def test_one_column_name_in_a_data_row_does_not_make_it_a_header() -> None:
    row = ROW_1.replace("kardiologi", "start", 1)  # a mistyped service that is a column name
    assert where(check("r.csv", (HEADER + row).encode()).errors) == [(2, "", "unknown_service")]


@pytest.mark.parametrize(
    ("data", "code", "line"),
    [
        ("tjänst;namn\nkardiologi;Åsa Ö".encode()[:-1], "utf8_cut_off", 2),  # Ö is 2 bytes
        ("tjänst;namn\nkardiologi;100 €".encode()[:-2], "utf8_cut_off", 2),  # € is 3 bytes
        ("tjänst;namn\nkardiologi;René".encode("cp1252"), None, None),  # read as Windows-1252
        ("tjänst;namn\n".encode() + "Renée".encode("cp1252"), "mixed_encoding", 2),
    ],
)
def test_a_utf8_file_cut_inside_a_character_is_called_cut_off(
    data: bytes, code: str | None, line: int | None
) -> None:
    problems: list[Problem] = []
    text = decode_text(data, "schema.csv", problems)
    errors = [(p.code, p.line) for p in problems if p.severity is Severity.ERROR]
    if code is None:
        assert text is not None and errors == []
    else:
        assert text is None and errors == [(code, line)]
