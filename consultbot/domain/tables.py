"""Read tabular data files (CSV or XLSX) into rows of named cells, collecting problems.

CSV: delimiter `,` or `;` (detected from the header line), UTF-8 with or without BOM. Excel's
plain "CSV" export on Swedish Windows is Windows-1252, not UTF-8; such a file is read as
Windows-1252 with a warning rather than refused, because that is what admins will upload.
XLSX: the first sheet, header in the first non-empty row.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

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
    if not data.strip():
        problems.append(Problem(file=file, line=None, code="empty_file"))
        return None
    if b"\x00" in data[:65536] or data.startswith(b"PK\x03\x04"):
        problems.append(Problem(file=file, line=None, code="binary_file"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        problems.append(Problem(file=file, line=None, code="not_utf8"))
        return None
    problems.append(Problem(file=file, line=None, code="read_as_cp1252", severity=Severity.WARNING))
    return text


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
                params={"columns": ", ".join(missing), "found": ", ".join(str(h) for h in header)},
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
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[Cell]]] = []
    start = 1
    try:
        for values in reader:
            if values and any(v.strip() for v in values):
                rows.append((start, list(values)))
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(
            Problem(file=file, line=start, code="csv_syntax", params={"detail": str(exc)})
        )
        return []
    return rows


def _xlsx_rows(data: bytes, file: str, problems: list[Problem]) -> list[tuple[int, list[Cell]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for broken workbooks
        problems.append(Problem(file=file, line=None, code="bad_xlsx", params={"detail": str(exc)}))
        return []
    try:
        sheet: Any = book.worksheets[0]
        rows: list[tuple[int, list[Cell]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
            cells = list(values)
            if any(v is not None and str(v).strip() for v in cells):
                rows.append((number, cells))
        return rows
    finally:
        book.close()
