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
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from consultbot.domain.errors import Problem, Severity

Cell = str | int | float | datetime | date | time | None


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its line (CSV) or row number (XLSX) and its cells by column name."""

    line: int
    cells: Mapping[str, Cell]


@dataclass(frozen=True, kw_only=True)
class Columns:
    """A file format's columns: canonical name → accepted header spellings."""

    required: Mapping[str, tuple[str, ...]]
    optional: Mapping[str, tuple[str, ...]]

    def lookup(self) -> dict[str, str]:
        """Header spelling (case-folded) → canonical column name."""
        names: dict[str, str] = {}
        for canonical, spellings in {**self.required, **self.optional}.items():
            for spelling in (canonical, *spellings):
                names[spelling.casefold()] = canonical
        return names


def is_xlsx(data: bytes) -> bool:
    """True when `data` looks like an Office Open XML workbook."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def decode_text(data: bytes, file: str, problems: list[Problem]) -> str | None:
    """Decode a text data file; None (with a problem added) for binary or empty files."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            problems.append(Problem(file=file, line=None, code="bad_utf16"))
            return None
    if not data.strip():
        problems.append(Problem(file=file, line=None, code="empty_file"))
        return None
    if data.startswith(b"PK\x03\x04"):
        problems.append(Problem(file=file, line=None, code="not_a_workbook"))
        return None
    if b"\x00" in data[:65536]:
        # UTF-16 without a byte-order mark: every other byte of ASCII text is zero.
        head = data[:4096]
        if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4:
            problems.append(Problem(file=file, line=None, code="utf16_without_bom"))
        else:
            problems.append(Problem(file=file, line=None, code="binary_file"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    bad_line, utf8_line = _first_non_utf8_line(data)
    if utf8_line is not None:
        problems.append(
            Problem(
                file=file, line=bad_line, code="mixed_encoding", params={"utf8": str(utf8_line)}
            )
        )
        return None
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        # Neither encoding (another code page, or a UTF-8 file cut inside a character).
        problems.append(Problem(file=file, line=bad_line, code="not_utf8"))
        return None
    problems.append(Problem(file=file, line=None, code="read_as_cp1252", severity=Severity.WARNING))
    return text


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

    Problems (missing columns, unreadable file, …) are appended to `problems`; a file with a
    fatal problem yields no rows.
    """
    if is_xlsx(data):
        raw = _xlsx_rows(data, file, problems)
    else:
        text = decode_text(data, file, problems)
        raw = _csv_rows(text, file, problems) if text is not None else []
    if not raw:
        if not any(p.is_error for p in problems):
            problems.append(Problem(file=file, line=None, code="empty_file"))
        return []
    header_line, header = raw[0]
    mapping = _map_header(header, header_line, file, columns, problems)
    if mapping is None:
        return []
    rows: list[Row] = []
    for line, values in raw[1:]:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        cells: dict[str, Cell] = {}
        for index, name in mapping.items():
            value = values[index] if index < len(values) else None
            cells[name] = value.strip() if isinstance(value, str) else value
        rows.append(Row(line, cells))
    if not rows:
        problems.append(Problem(file=file, line=header_line, code="no_rows"))
    return rows


def _map_header(
    header: Sequence[Cell], line: int, file: str, columns: Columns, problems: list[Problem]
) -> dict[int, str] | None:
    names = columns.lookup()
    mapping: dict[int, str] = {}
    for index, cell in enumerate(header):
        title = str(cell).strip().casefold() if cell is not None else ""
        if not title:
            continue
        canonical = names.get(title)
        if canonical is None:
            problems.append(
                Problem(
                    file=file,
                    line=line,
                    code="unknown_column",
                    params={"column": str(cell).strip()},
                    severity=Severity.WARNING,
                )
            )
        elif canonical in mapping.values():
            problems.append(
                Problem(file=file, line=line, code="duplicate_column", params={"column": canonical})
            )
            return None
        else:
            mapping[index] = canonical
    missing = [c for c in columns.required if c not in mapping.values()]
    if missing:
        problems.append(
            Problem(
                file=file,
                line=line,
                code="missing_columns",
                params={
                    "columns": ", ".join(missing),
                    "found": ", ".join(
                        str(h).strip() for h in header if h is not None and str(h).strip()
                    ),
                },
            )
        )
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


def _csv_rows(text: str, file: str, problems: list[Problem]) -> list[tuple[int, list[Cell]]]:
    first = next((line for line in _lines(text) if line.strip()), "")
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    delimiter = max(counts, key=lambda sep: counts[sep])
    if not counts[delimiter]:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[Cell]]] = []
    start = 1
    try:
        for values in reader:
            if values and any(v.strip() for v in values):
                rows.append((start, list(values)))
            start = reader.line_num + 1
    except csv.Error as exc:
        unclosed = "unexpected end of data" in str(exc)
        problems.append(
            Problem(
                file=file,
                line=start,
                code="csv_unclosed_quote" if unclosed else "csv_syntax",
                params={} if unclosed else {"detail": str(exc)},
            )
        )
        return []
    return rows


def _xlsx_rows(data: bytes, file: str, problems: list[Problem]) -> list[tuple[int, list[Cell]]]:
    from consultbot.domain.xlsx import WorkbookProblem, read_first_sheet

    try:
        return [(number, list[Cell](values)) for number, values in read_first_sheet(data)]
    except WorkbookProblem as exc:
        problems.append(Problem(file=file, line=None, code=exc.code, params=exc.params))
        return []
