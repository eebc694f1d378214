"""Reading a table file: encodings, header, delimiter and CSV rows (issue 20, item 3).

Each row names the exact outcome: the text or rows read, or the one problem with its line
and values, so a check whose code, place or words change fails here.
"""

from __future__ import annotations

import codecs
import io
import zipfile

import openpyxl
import pytest

from consultbot.domain.errors import Problem, Severity
from consultbot.domain.files.formats import STAFF_COLUMNS
from consultbot.domain.files.tables import Row, decode_text, is_xlsx, read_rows
from consultbot.text.render import Messages

W = Severity.WARNING


def zip_of(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, "x")
    return buffer.getvalue()


def decoded(data: bytes) -> tuple[str | None, list[tuple[int | None, str, dict[str, str]]]]:
    problems: list[Problem] = []
    text = decode_text(data, "f.csv", problems)
    assert all(p.file == "f.csv" for p in problems)
    return text, [(p.line, p.code, p.params) for p in problems]


@pytest.mark.parametrize(
    ("data", "text", "problems"),
    [
        pytest.param("åa,b\n".encode("utf-16"), "åa,b\n", [], id="utf16-with-bom"),
        pytest.param(codecs.BOM_UTF16_BE + "ö".encode("utf-16-be"), "ö", [], id="utf16-be"),
        pytest.param(codecs.BOM_UTF16_LE + b"a", None, [(None, "bad_utf16", {})], id="utf16-cut"),
        pytest.param(b"", None, [(None, "empty_file", {})], id="empty"),
        pytest.param(b" \r\n\n", None, [(None, "empty_file", {})], id="only-blank-lines"),
        pytest.param(b"PK\x03\x04cut", None, [(None, "xlsx_truncated", {})], id="zip-cut"),
        pytest.param(zip_of("a.txt"), None, [(None, "not_a_workbook", {})], id="zip-not-book"),
        pytest.param(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 8,
            None,
            [(None, "old_xls", {})],
            id="old-xls",
        ),
        pytest.param(
            "a,b\n".encode("utf-16-le"), None, [(None, "utf16_without_bom", {})], id="utf16-le"
        ),
        pytest.param(
            "a,b\n".encode("utf-16-be"), None, [(None, "utf16_without_bom", {})], id="utf16-be"
        ),
        # Zeros in exactly a quarter of the bytes: more than that is UTF-16.
        pytest.param(b"abc\x00abc\x00", None, [(None, "binary_file", {})], id="binary"),
        pytest.param(b"\x00abc\x00abc", None, [(None, "binary_file", {})], id="binary-even"),
        pytest.param(b"a" * 65535 + b"\x00", None, [(None, "binary_file", {})], id="late-zero"),
        pytest.param(b"a" * 65536 + b"\x00", "a" * 65536 + "\x00", [], id="zero-past-the-check"),
        pytest.param("\ufeffåäö\n".encode(), "åäö\n", [], id="utf8-bom-dropped"),
        pytest.param("åäö\n".encode(), "åäö\n", [], id="utf8"),
        pytest.param(
            b"a\n" + "å".encode() + b"\nb\n" + "ä".encode("cp1252") + b"\n",
            None,
            [(4, "mixed_encoding", {"utf8": "2"})],
            id="utf8-then-cp1252",
        ),
        pytest.param(
            "ä".encode("cp1252") + b"\n" + "å".encode() + b"\n",
            None,
            [(1, "mixed_encoding", {"utf8": "2"})],
            id="cp1252-then-utf8",
        ),
        pytest.param(
            b"ok\n" + "Åsa".encode("cp1252") + b"\n",
            "ok\nÅsa\n",
            [(None, "read_as_cp1252", {})],
            id="cp1252",
        ),
        pytest.param(b"ok\nok\n\x81\n", None, [(3, "not_utf8", {})], id="neither"),
    ],
)
def test_a_text_file_is_decoded_or_refused_with_its_reason(
    data: bytes, text: str | None, problems: list[tuple[int | None, str, dict[str, str]]]
) -> None:
    assert decoded(data) == (text, problems)


def test_only_a_file_read_as_windows_1252_is_a_warning() -> None:
    found: list[Problem] = []
    decode_text("Åsa\n".encode("cp1252"), "f.csv", found)
    assert [p.severity for p in found] == [W]
    found = []
    decode_text(b"\x81", "f.csv", found)
    assert [p.is_error for p in found] == [True]


# ---------------------------------------------------------------------------------------------
# Header, delimiter and rows

Outcome = tuple[
    list[tuple[int, dict[str, str | None]]], list[tuple[int | None, str, dict[str, str]]]
]


def read(text: str) -> Outcome:
    problems: list[Problem] = []
    data = text.encode()
    if text.startswith("\ufeff"):
        data = codecs.BOM_UTF8 + data  # the file's own mark, then one more
    rows = read_rows(data, "f.csv", STAFF_COLUMNS, problems)
    assert all(p.file == "f.csv" for p in problems)
    assert all(isinstance(row, Row) and row.letters is None for row in rows)
    cells = [
        (row.line, {k: v for k, v in row.cells.items() if isinstance(v, str | None)})
        for row in rows
    ]
    return cells, [(p.line, p.code, p.params) for p in problems]


ANNA = {"matrix_id": "@a:b", "name": "Anna", "unit": "kardiologi"}


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        pytest.param("matrix_id,name,unit\n@a:b,Anna,kardiologi\n", ([(2, ANNA)], []), id="comma"),
        pytest.param(
            "matrix_id;name;unit\n@a:b;Anna;kardiologi\n", ([(2, ANNA)], []), id="semicolon"
        ),
        pytest.param(
            "matrix_id\tname\tunit\n@a:b\tAnna\tkardiologi\n", ([(2, ANNA)], []), id="tab"
        ),
        pytest.param(
            '"Matrix-ID";" Namn ";"ENHET"\n@a:b;Anna;kardiologi\n',
            ([(2, ANNA)], []),
            id="quoted-spellings",
        ),
        pytest.param(
            "matrix_id,name,unit\n\n@a:b, Anna ,kardiologi\n",
            ([(3, ANNA)], []),
            id="blank-line-counted-cells-trimmed",
        ),
        pytest.param(
            'matrix_id,name,unit\n@a:b,"Anna\nBerg",kardiologi\n@a:b,Anna,kardiologi\n',
            ([(2, {**ANNA, "name": "Anna\nBerg"}), (4, ANNA)], []),
            id="a-cell-over-two-lines",
        ),
        pytest.param(
            "matrix_id,,name,unit\n@a:b,,Anna,kardiologi\n",
            ([(2, ANNA)], []),
            id="untitled-column",
        ),
        pytest.param(
            "matrix_id,name,unit,title\n@a:b,Anna,kardiologi\n",
            ([(2, {**ANNA, "title": None})], []),
            id="short-row",
        ),
        pytest.param(
            "matrix_id,name,unit, Rum \n@a:b,Anna,kardiologi,3\n",
            ([(2, ANNA)], [(1, "unknown_column", {"column": "Rum"})]),
            id="unknown-column-warned",
        ),
        pytest.param(
            "matrix_id,namn,name,unit\n@a:b,A,Anna,kardiologi\n",
            ([], [(1, "duplicate_column", {"column": "name"})]),
            id="duplicate-column",
        ),
        pytest.param(
            "matrix_id,Namn,titel\n@a:b,Anna,läkare\n",
            ([], [(1, "missing_columns", {"columns": "unit", "found": "matrix_id, Namn, titel"})]),
            id="missing-column",
        ),
        pytest.param(
            "matrix_id;vem;var\n1;2;3\n",
            (
                [],
                [
                    (1, "unknown_column", {"column": "vem"}),
                    (1, "unknown_column", {"column": "var"}),
                    (
                        1,
                        "missing_columns",
                        {"columns": "name, unit", "found": "matrix_id, vem, var"},
                    ),
                ],
            ),
            id="one-known-column-most-frequent-delimiter",
        ),
        pytest.param(
            "matrix_id\tvem;var\tnär\n1\t2\t3\n",
            (
                [],
                [
                    (1, "unknown_column", {"column": "vem;var"}),
                    (1, "unknown_column", {"column": "när"}),
                    (
                        1,
                        "missing_columns",
                        {"columns": "name, unit", "found": "matrix_id, vem;var, när"},
                    ),
                ],
            ),
            id="one-known-column-tab-wins",
        ),
        pytest.param(
            "matrix_id,vem,var;x\n1,2,3\n",
            (
                [],
                [
                    (1, "unknown_column", {"column": "vem"}),
                    (1, "unknown_column", {"column": "var;x"}),
                    (
                        1,
                        "missing_columns",
                        {"columns": "name, unit", "found": "matrix_id, vem, var;x"},
                    ),
                ],
            ),
            id="one-known-column-comma-most-frequent",
        ),
        pytest.param(
            "matrix_id\n1\n",
            ([], [(1, "missing_columns", {"columns": "name, unit", "found": "matrix_id"})]),
            id="no-delimiter-at-all",
        ),
        pytest.param(
            "Personal\nmatrix_id;name;unit\n@a:b;A;k\n",
            ([], [(2, "header_not_first", {"first": "1"})]),
            id="delimiter-of-a-header-under-a-title",
        ),
        pytest.param(
            "matrix_id,name,unit\n@a:b,Anna,kardiologi\n\ufeffmatrix_id,name,unit\n",
            ([], [(3, "bom_inside", {})]),
            id="bom-inside",
        ),
        pytest.param(
            'matrix_id,name,unit\n@a:b,Anna,kardiologi\n@a:b,"Anna,kardiologi\n',
            ([], [(3, "csv_unclosed_quote", {})]),
            id="unclosed-quote",
        ),
        pytest.param(
            "matrix_id,vem;var;när\n1,2;3;4\n",
            ([], [(1, "no_header", {"columns": "matrix_id, name, unit"})]),
            id="one-name-does-not-decide-the-delimiter",
        ),
        pytest.param(
            "matrix_id;vem;var\nx,y,z,w\n",
            (
                [],
                [
                    (1, "unknown_column", {"column": "vem"}),
                    (1, "unknown_column", {"column": "var"}),
                    (
                        1,
                        "missing_columns",
                        {"columns": "name, unit", "found": "matrix_id, vem, var"},
                    ),
                ],
            ),
            id="fallback-reads-the-first-line",
        ),
        pytest.param(
            "matrix_id,name,unit,a;b;c;d;e\n@a:b,Anna,kardiologi,1\n",
            ([(2, ANNA)], [(1, "unknown_column", {"column": "a;b;c;d;e"})]),
            id="names-decide-over-counts-comma",
        ),
        pytest.param(
            "matrix_id\tname\tunit\ta;b;c;d\n@a:b\tAnna\tkardiologi\t1\n",
            ([(2, ANNA)], [(1, "unknown_column", {"column": "a;b;c;d"})]),
            id="names-decide-over-counts-tab",
        ),
        pytest.param(
            '"matrix_id";"name";"unit";"a,b,c,d"\n@a:b;Anna;kardiologi;1\n',
            ([(2, ANNA)], [(1, "unknown_column", {"column": "a,b,c,d"})]),
            id="quoted-names-decide-over-counts",
        ),
        pytest.param(
            "matrix_id,,titel\n1,,2\n",
            ([], [(1, "missing_columns", {"columns": "name, unit", "found": "matrix_id, titel"})]),
            id="found-leaves-out-empty-titles",
        ),
        pytest.param(
            'matrix_id,name,unit\n@a:b,"Anna,kardiologi\n@c:d,B,k\n@e:f,C",kardiologi\n',
            ([], [(2, "csv_quote_spans_lines", {"end": "4"})]),
            id="quote-swallows-lines",
        ),
        pytest.param(
            "\ufeffmatrix_id,name,unit\n", ([], [(1, "bom_inside", {})]), id="second-bom-at-start"
        ),
        pytest.param(
            "\nmatrix_id,name,unit\n\ufeffx\n\ufeffy\n",
            ([], [(3, "bom_inside", {})]),
            id="first-bom-inside-after-a-blank-line",
        ),
        pytest.param(
            'matrix_id,name,unit\r\n@a:b,"Anna\r\nBerg",kardiologi\r\n',
            ([(2, {**ANNA, "name": "Anna\r\nBerg"})], []),
            id="a-cells-line-break-kept-as-written",
        ),
        pytest.param(
            'matrix_id,name,unit\n@a:b,An"na",kardiologi\n',
            ([(2, {**ANNA, "name": 'An"na"'})], []),
            id="quote-inside-a-cell-is-text",
        ),
        pytest.param(
            'matrix_id,name,unit\n@a:b,"Anna" B,kardiologi\n',
            ([], [(2, "csv_stray_quote", {})]),
            id="text-after-a-closing-quote",
        ),
    ],
)
def test_a_csv_table_is_read_row_by_row(text: str, outcome: Outcome) -> None:
    assert read(text) == outcome


def test_the_unknown_column_is_only_a_warning() -> None:
    problems: list[Problem] = []
    read_rows(b"matrix_id,name,unit,rum\n@a:b,A,k\n", "f.csv", STAFF_COLUMNS, problems)
    assert [p.severity for p in problems] == [W]


def test_a_header_problem_reads_as_swedish() -> None:
    problems: list[Problem] = []
    read_rows(b"matrix_id,namn,name,unit\n@a:b,A,B,k\n", "f.csv", STAFF_COLUMNS, problems)
    assert [Messages("sv").problem(p) for p in problems] == [
        "f.csv:1: kolumnen namn finns två gånger"
    ]


def test_a_zip_that_is_no_archive_is_no_workbook() -> None:
    assert not is_xlsx(b"PK\x03\x04cut")
    assert is_xlsx(zip_of("xl/workbook.xml"))


def workbook(rows: list[list[str | None]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for values in rows:
        sheet.append(values)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_workbook_problem_names_the_file() -> None:
    problems: list[Problem] = []
    assert read_rows(zip_of("xl/workbook.xml"), "f.xlsx", STAFF_COLUMNS, problems) == []
    assert [(p.file, p.line, p.code) for p in problems] == [("f.xlsx", None, "xlsx_broken")]


def test_a_workbook_reads_past_an_untitled_column_and_a_blank_row() -> None:
    header: list[str | None] = ["matrix_id", None, "name", "unit"]
    data = workbook(
        [header, ["@a:b", None, "A", "k"], [" ", None, None, None], ["@c:d", None, "C", "k"]]
    )
    problems: list[Problem] = []
    rows = read_rows(data, "f.xlsx", STAFF_COLUMNS, problems)
    assert problems == []
    assert [(row.line, dict(row.cells)) for row in rows] == [
        (2, {"matrix_id": "@a:b", "name": "A", "unit": "k"}),
        (4, {"matrix_id": "@c:d", "name": "C", "unit": "k"}),
    ]
