"""Read tabular data files (CSV or XLSX) into rows of named cells, collecting problems.

CSV: delimiter `,`, `;` or tab (detected from the header line), UTF-8 with or without BOM,
or UTF-16 with a BOM (Excel's "Unicode text"). Excel's plain "CSV" export on Swedish Windows is
Windows-1252, not UTF-8; such a file is read as Windows-1252 with a warning rather than
refused, because that is what admins will upload. A file that mixes UTF-8 and Windows-1252
(two exports pasted together) is refused with the first line that differs: å, ä and ö would
otherwise come out wrong in some names. A file that is neither is refused at its first line
that is not UTF-8. A quote that is never closed is an error with the line where it opens
(without that, every row after it disappears into one cell).

XLSX: the first sheet, header in the first non-empty row. Read with a small streaming reader
of the cells the file stores (`xlsx.py`): a stray cell at XFD1048576 costs nothing, and a
workbook that unpacks to more than `MAX_XLSX_BYTES` (a zip bomb) is refused before reading.

A problem with the file's structure is ONE problem that names the cause and the fix, never a
problem per row it spoils: a byte-order mark inside the file or the header line again (two
files pasted together), rows with another delimiter than the header, a first row that is
not a header, a block title between blank rows, a cell outside the titled columns, a quote
that swallows the lines after it, a truncated or an old-format (.xls) workbook.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from itertools import islice
from types import MappingProxyType

from consultbot.domain.errors import Problem, Severity

Cell = str | int | float | datetime | date | time | None
# A file's non-blank lines (CSV) or rows (XLSX) as read: (line or row number, cells).
_Lines = list[tuple[int, list[Cell]]]


# An old Excel workbook (.xls, or an encrypted .xlsx): an OLE2 compound file.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
# The header is looked for in the first rows, to tell "the header is not first" from "no
# header at all".
HEADER_SEARCH_ROWS = 10


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its line (CSV) or row number (XLSX) and its cells by column name.

    `letters` (XLSX only, shared by all rows) gives each column's letter, for cell refs."""

    line: int
    cells: Mapping[str, Cell]
    letters: Mapping[str, str] | None = None

    def ref(self, column: str) -> str:
        """The spreadsheet cell of `column` in this row (`C12`), or "" for a text file."""
        if self.letters is None or column not in self.letters:
            return ""
        return f"{self.letters[column]}{self.line}"


def cell_text(value: Cell) -> str:
    """A cell as text, stripped; a whole number stored as a float without its ".0"."""
    if isinstance(value, str):  # nearly every cell
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def is_number(value: Cell) -> bool:
    """True for a cell stored as a number: a phone number in one has lost its leading 0."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def column_letters(index: int) -> str:
    """The spreadsheet name of a 0-based column: 0 → A, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(frozen=True, kw_only=True)
class Columns:
    """A file format's columns: canonical name → accepted header spellings."""

    required: Mapping[str, tuple[str, ...]]
    optional: Mapping[str, tuple[str, ...]]

    @cached_property
    def lookup(self) -> Mapping[str, str]:
        """Header spelling (case-folded) → canonical column name.

        Built once per format: every row of a file is looked at for a header again."""
        return MappingProxyType(
            {
                spelling.casefold(): canonical
                for canonical, spellings in {**self.required, **self.optional}.items()
                for spelling in (canonical, *spellings)
            }
        )


def is_xlsx(data: bytes) -> bool:
    if not data.startswith(ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def decode_text(data: bytes, file: str, problems: list[Problem]) -> str | None:
    """Decode a text data file; None (with a problem added) for binary or empty files."""

    def refuse(code: str, line: int | None = None, **params: str) -> str | None:
        problems.append(Problem(file=file, line=line, code=code, params=params))
        return None  # the file is not read

    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return refuse("bad_utf16")
    if not data.strip():
        return refuse("empty_file")
    if data.startswith(ZIP_MAGIC):
        return refuse(_zip_problem(data))
    if data.startswith(OLE2_MAGIC):
        return refuse("old_xls")
    if b"\x00" in data[:65536]:
        # UTF-16 without a byte-order mark: every other byte of ASCII text is zero.
        head = data[:4096]
        if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4:
            return refuse("utf16_without_bom")
        return refuse("binary_file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if _cut_inside_a_character(data, error):
            return refuse("utf8_cut_off", data.count(b"\n", 0, error.start) + 1)
    bad_line, utf8_line = _first_non_utf8_line(data)
    if utf8_line is not None:
        return refuse("mixed_encoding", bad_line, utf8=str(utf8_line))
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        # Neither encoding (another code page, or a UTF-8 file cut inside a character).
        return refuse("not_utf8", bad_line)
    problems.append(Problem(file=file, line=None, code="read_as_cp1252", severity=Severity.WARNING))
    return text


def _cut_inside_a_character(data: bytes, error: UnicodeDecodeError) -> bool:
    """True for a UTF-8 file that is valid up to its last bytes, which begin a character the
    file ends before: a download or copy cut off (not another encoding)."""
    if error.reason != "unexpected end of data" or len(data) - error.start > 3:
        return False
    try:
        data[: error.start].decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    # Only a file with UTF-8 letters before the cut says it is UTF-8: an ASCII file ending in
    # one Windows-1252 letter ("René" on the last line) is read as Windows-1252, as before.
    return not data[: error.start].isascii()


def _zip_problem(data: bytes) -> str:
    """Why a ZIP file is no workbook: cut off (a broken archive) or another kind of file."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, EOFError, ValueError):
        return "xlsx_truncated"
    return "not_a_workbook"


def _first_non_utf8_line(data: bytes) -> tuple[int, int | None]:
    """(first line that is not UTF-8, first line that is UTF-8 with non-ASCII letters or
    None) for `data` that does not decode as UTF-8."""
    utf8_line = bad_line = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad_line = bad_line or number
        else:
            utf8_line = utf8_line or number
        if utf8_line and bad_line:
            return bad_line, utf8_line
    return bad_line or 1, None


def read_rows(data: bytes, file: str, columns: Columns, problems: list[Problem]) -> list[Row]:
    """Read CSV or XLSX `data` into rows keyed by canonical column names.

    Problems (missing columns, unreadable file, a broken structure …) are appended to
    `problems`; a file with a fatal problem yields no rows.
    """
    sheet = is_xlsx(data)
    if sheet:
        raw = _xlsx_rows(data, file, problems)
    else:
        text = decode_text(data, file, problems)
        raw = _csv_rows(text, file, problems, columns) if text is not None else []
    if not raw:
        if not any(p.is_error for p in problems):
            problems.append(Problem(file=file, line=None, code="empty_file"))
        return []
    if not _header_first(raw, file, columns, problems, sheet):
        return []
    header_line, header = raw[0]
    mapping = _map_header(header, header_line, file, columns, problems)
    if mapping is None:
        return []
    body = raw[1:]
    if not sheet and _mixed_delimiters(body, len(header), file, problems):
        return []
    if _structure_broken(header_line, body, header, file, problems, sheet, columns):
        return []
    letters = {name: column_letters(index) for index, name in mapping.items()} if sheet else None
    rows: list[Row] = []
    for line, values in body:
        if _blank(values):
            continue
        cells: dict[str, Cell] = {}
        for index, name in mapping.items():
            value = values[index] if index < len(values) else None
            cells[name] = value.strip() if isinstance(value, str) else value
        rows.append(Row(line, cells, letters))
    if not rows:
        problems.append(Problem(file=file, line=header_line, code="no_rows"))
    return rows


def _blank(values: Sequence[Cell]) -> bool:
    first = values[0] if values else None
    if isinstance(first, str) and first and not first.isspace():
        return False  # the common case, decided by the first cell
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _known(values: Sequence[Cell], columns: Columns) -> int:
    """How many cells of a row are column names of this format."""
    names = columns.lookup
    return sum(1 for v in values if v is not None and _cell_name(v) in names)


def _header_first(
    raw: _Lines, file: str, columns: Columns, problems: list[Problem], sheet: bool
) -> bool:
    """False (with one problem) when the first row is not a header: the header comes later
    (a title above it), or there is none (the file starts with data)."""
    if _known(raw[0][1], columns):
        return True
    first = raw[0][0]
    for line, values in raw[1:HEADER_SEARCH_ROWS]:
        if _known(values, columns) >= 2:
            params = {"first": str(first)}
            cell = f"A{line}" if sheet else ""
            problems.append(
                Problem(file=file, line=line, code="header_not_first", params=params, cell=cell)
            )
            return False
    params = {"columns": ", ".join(columns.required)}
    problems.append(Problem(file=file, line=first, code="no_header", params=params))
    return False


def _mixed_delimiters(body: _Lines, width: int, file: str, problems: list[Problem]) -> bool:
    """One problem for rows written with another delimiter than the header (two exports,
    one with `,` and one with `;`, pasted together): each is one cell holding a whole row."""
    if width < 2:
        return False
    short = (
        (line, "".join(str(v) for v in values)) for line, values in body if len(values) < width
    )
    odd = [(line, other) for line, text in short if (other := _other_delimiter(text))]
    if not odd:
        return False
    line, other = odd[0]
    params = {"other": "tab" if other == "\t" else other, "count": str(len(odd))}
    problems.append(Problem(file=file, line=line, code="mixed_delimiters", params=params))
    return True


def _other_delimiter(text: str) -> str:
    return next((sep for sep in (";", ",", "\t") if text.count(sep) >= 2), "")


def _structure_broken(
    header_line: int,
    body: _Lines,
    header: Sequence[Cell],
    file: str,
    problems: list[Problem],
    sheet: bool,
    columns: Columns,
) -> bool:
    """One problem for the first row that breaks the table's shape (see the module doc)."""
    titled = frozenset(i for i, cell in enumerate(header) if _filled(cell))
    names = columns.lookup
    previous = header_line
    for line, values in body:
        filled = [i for i, value in enumerate(values) if _filled(value)]
        if not filled:
            continue
        # Blank rows are not kept; a jump in the numbering shows where they were.
        after_blank = line > previous + 1
        previous = line
        found = _shape_problem(line, values, filled, titled, names, sheet, after_blank)
        if found is not None:
            code, params, cell = found
            problems.append(Problem(file=file, line=line, code=code, params=params, cell=cell))
            return True
    return False


def _filled(value: Cell) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def _shape_problem(
    line: int,
    values: Sequence[Cell],
    filled: list[int],
    titled: frozenset[int],
    names: Mapping[str, str],
    sheet: bool,
    after_blank: bool,
) -> tuple[str, dict[str, str], str] | None:
    """What is wrong with the shape of one non-blank row, or None (the usual case: cheap)."""
    # A header again: its first cells are column names (a data row's never are; checking
    # only those keeps the usual row cheap).
    leading = any(_cell_name(values[i]) in names for i in filled[:3])
    if leading and sum(1 for i in filled if _cell_name(values[i]) in names) >= 2:
        return "repeated_header", {}, ""
    at = next((i for i in filled if i not in titled), None)
    if at is not None:
        code = "cell_outside_columns"
    elif len(filled) == 1 and len(titled) >= 3:
        code, at = "block_title" if after_blank else "lone_cell", filled[0]
    else:
        return None
    cell = f"{column_letters(at)}{line}" if sheet else ""
    return code, {"value": _clip(str(values[at]))}, cell


def _cell_name(value: Cell) -> str:
    return str(value).strip().casefold()


def _clip(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _map_header(
    header: Sequence[Cell], line: int, file: str, columns: Columns, problems: list[Problem]
) -> dict[int, str] | None:
    mapping: dict[int, str] = {}
    titles = [(i, str(cell).strip()) for i, cell in enumerate(header) if cell is not None]
    for index, title in titles:
        if not title:
            continue
        canonical = columns.lookup.get(title.casefold())
        if canonical is None:
            params = {"column": title}
            problems.append(
                Problem(
                    file=file,
                    line=line,
                    code="unknown_column",
                    params=params,
                    severity=Severity.WARNING,
                )
            )
        elif canonical in mapping.values():
            params = {"column": canonical}
            problems.append(Problem(file=file, line=line, code="duplicate_column", params=params))
            return None
        else:
            mapping[index] = canonical
    missing = [c for c in columns.required if c not in mapping.values()]
    if missing:
        found = ", ".join(title for _, title in titles if title)
        params = {"columns": ", ".join(missing), "found": found}
        problems.append(Problem(file=file, line=line, code="missing_columns", params=params))
        return None
    return mapping


def _lines(text: str) -> Iterator[str]:
    """Lines one at a time (a national roster is 200 MB: no list of them all)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield text[start:end]
        start = end + 1


def _delimiter(text: str, columns: Columns) -> str:
    """The header's delimiter: the one that splits one of the first lines into column names
    (the header may come after a title line), else the first line's most frequent one."""
    head = list(islice((line for line in _lines(text) if line.strip()), HEADER_SEARCH_ROWS))
    names = columns.lookup
    for line in head:
        for sep in (",", ";", "\t"):
            cells = [c.strip().strip('"').strip().casefold() for c in line.split(sep)]
            if sum(1 for c in cells if c in names) >= 2:
                return sep
    first = head[0] if head else ""
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    delimiter = max(counts, key=lambda sep: counts[sep])
    return delimiter if counts[delimiter] else ","


def _csv_rows(text: str, file: str, problems: list[Problem], columns: Columns) -> _Lines:
    bom = text.find("\ufeff")
    if bom >= 0:
        # A byte-order mark belongs at the very start; inside, it is where a second file
        # was pasted on (or the file was saved twice into one).
        line = text.count("\n", 0, bom) + 1
        problems.append(Problem(file=file, line=line, code="bom_inside"))
        return []
    delimiter = _delimiter(text, columns)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: _Lines = []
    start = 1
    try:
        for values in reader:
            joined = "".join(values)  # one string per row: these tests run at C speed
            if joined.strip():
                # Only a cell with a line break can have swallowed lines; most rows have none.
                if not joined.isprintable() and any(_swallowed(v, delimiter) for v in values):
                    # A quote opened here swallowed the lines up to the next quote.
                    params = {"end": str(reader.line_num)}
                    problems.append(
                        Problem(file=file, line=start, code="csv_quote_spans_lines", params=params)
                    )
                    return []
                rows.append((start, list(values)))
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(_quote_problem(str(exc), file, start, reader.line_num))
        return []
    return rows


def _quote_problem(error: str, file: str, start: int, end: int) -> Problem:
    """What a CSV syntax error means to the admin. A quote never closed ends the file inside
    a cell (or makes a cell too large); one closed by a stray quote lines later swallowed
    the lines between; otherwise a quote stands inside a cell."""
    if "unexpected end of data" in error or "field larger" in error:
        return Problem(file=file, line=start, code="csv_unclosed_quote")
    if end > start:
        params = {"end": str(end)}
        return Problem(file=file, line=start, code="csv_quote_spans_lines", params=params)
    return Problem(file=file, line=start, code="csv_stray_quote")


def _swallowed(value: str, delimiter: str) -> bool:
    """True when a cell holds whole lines of the table: a line break followed by a line with
    delimiters (a single line break in a name is reported by validation, as what it is)."""
    if value.isprintable():  # no line break of any kind: the common case, at C speed
        return False
    lines = value.splitlines()
    return any(line.count(delimiter) >= 2 for line in lines[1:])


def _xlsx_rows(data: bytes, file: str, problems: list[Problem]) -> _Lines:
    from consultbot.domain.files.xlsx import WorkbookProblem, read_first_sheet

    try:
        return [(number, list[Cell](values)) for number, values in read_first_sheet(data)]
    except WorkbookProblem as exc:
        problems.append(Problem(file=file, line=None, code=exc.code, params=exc.params))
        return []
