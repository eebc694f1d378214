"""A bounded reader for the first sheet of an XLSX workbook: the cells it stores, nothing else.

General readers walk the sheet's whole used range: one stray cell at XFD1048576 makes that
17 billion cells (minutes with openpyxl; python-calamine allocates the whole range and aborts
the process). Here only stored `<c>` elements are read, streamed, and the workbook is refused
before reading when its parts unpack to more than `MAX_XLSX_BYTES` (a zip bomb) or the sheet
stores more than `MAX_CELLS` cells.

Values: shared and inline strings as text, numbers as float (a date is a number styled as a
date; the roster reader takes numbers in the date range as Excel serial dates), booleans as
int, formulas as their cached value. Columns past `MAX_COLUMNS` are ignored: no data file
has that many, and a stray cell far right must not make every row that wide.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO
from xml.etree.ElementTree import Element, XMLPullParser

MAX_XLSX_BYTES = 64 * 1024 * 1024
MAX_CELLS = 1_000_000
MAX_COLUMNS = 256
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_REF = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")
_CHUNK = 1 << 16

Value = str | float | int | None


class WorkbookProblem(Exception):
    """The workbook cannot be read; `code` and `params` make the message (no library text:
    it would be English, and it names no fix)."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def _column(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number - 1


def _events(handle: IO[bytes], tags: tuple[str, ...]) -> Iterator[Element]:
    parser: XMLPullParser[Element] = XMLPullParser(events=("end",))
    while True:
        chunk = handle.read(_CHUNK)
        if chunk:
            parser.feed(chunk)
        else:
            parser.close()
        for event in parser.read_events():
            element: object = event[-1]
            if isinstance(element, Element) and element.tag in tags:
                yield element
        if not chunk:
            return


def _first_sheet_path(archive: zipfile.ZipFile) -> str:
    with archive.open("xl/workbook.xml") as handle:
        sheet = next(_events(handle, (f"{_MAIN}sheet",)), None)
    if sheet is None:
        raise WorkbookProblem("xlsx_broken")
    rid = sheet.get(f"{_REL}id", "")
    target = "worksheets/sheet1.xml"
    if "xl/_rels/workbook.xml.rels" in archive.namelist():
        with archive.open("xl/_rels/workbook.xml.rels") as handle:
            for rel in _events(handle, (f"{_PKG_REL}Relationship",)):
                if rel.get("Id") == rid:
                    target = rel.get("Target", target)
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join("xl", target))


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    strings: list[str] = []
    with archive.open("xl/sharedStrings.xml") as handle:
        for item in _events(handle, (f"{_MAIN}si",)):
            strings.append("".join(t.text or "" for t in item.iter(f"{_MAIN}t")))
            item.clear()
    return strings


def _value(cell: Element, strings: list[str]) -> Value:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{_MAIN}t"))
    raw = cell.findtext(f"{_MAIN}v")
    if raw is None:
        return None
    if kind == "s":
        try:
            return strings[int(raw)]
        except (ValueError, IndexError):
            raise WorkbookProblem("xlsx_broken") from None
    if kind == "b":
        return int(raw == "1")
    if kind in ("str", "e", "d"):
        return str(raw)
    try:
        return float(raw)
    except ValueError:
        return str(raw)


def read_first_sheet(data: bytes) -> list[tuple[int, list[Value]]]:
    """(row number, values by column) of every row of the first sheet that stores a value."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise WorkbookProblem("xlsx_truncated") from None
    with archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_XLSX_BYTES:
            raise WorkbookProblem(
                "xlsx_too_large",
                size=str(unpacked // (1024 * 1024)),
                max=str(MAX_XLSX_BYTES // (1024 * 1024)),
            )
        try:
            return _read(archive)
        except WorkbookProblem:
            raise
        except (zipfile.BadZipFile, EOFError, zlib.error):
            # A member cut off or damaged (a download that stopped): the archive's fault.
            raise WorkbookProblem("xlsx_truncated") from None
        except (KeyError, ValueError, SyntaxError):
            # KeyError: a missing part; SyntaxError: ElementTree's ParseError.
            raise WorkbookProblem("xlsx_broken") from None


def _read(archive: zipfile.ZipFile) -> list[tuple[int, list[Value]]]:
    strings = _shared_strings(archive)
    rows: dict[int, dict[int, Value]] = {}
    cells = 0
    with archive.open(_first_sheet_path(archive)) as handle:
        row_number = 0
        column = -1
        for element in _events(handle, (f"{_MAIN}c", f"{_MAIN}row")):
            if element.tag == f"{_MAIN}row":
                element.clear()
                column = -1
                continue
            cells += 1
            if cells > MAX_CELLS:
                raise WorkbookProblem("xlsx_too_many_cells", max=str(MAX_CELLS))
            ref = _REF.match(element.get("r", ""))
            if ref is not None:
                column, row_number = _column(ref.group(1)), int(ref.group(2))
            else:
                column += 1
                row_number = max(row_number, 1)
            value = _value(element, strings)
            element.clear()
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if column < MAX_COLUMNS:
                rows.setdefault(row_number, {})[column] = value
    result: list[tuple[int, list[Value]]] = []
    for number in sorted(rows):
        by_column = rows[number]
        values: list[Value] = [None] * (max(by_column) + 1)
        for index, value in by_column.items():
            values[index] = value
        result.append((number, values))
    return result
