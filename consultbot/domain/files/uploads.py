"""Files admins send to the bot: which data set a file is, and how long an upload waits.

An admin sends a roster (CSV, XLSX or iCalendar), the catalogue (TOML), the staff list or the
directory (CSV) in a chat. The bot tells which it is from the file's name and, for CSV, from
the columns of its header that tell the formats apart (a roster has service and level, a
staff list Matrix ids and units, a directory units); the check then names any other column
the file lacks.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from consultbot.domain.files.formats import DIRECTORY_COLUMNS, ROSTER_COLUMNS, STAFF_COLUMNS
from consultbot.domain.files.tables import OLE2_MAGIC, ZIP_MAGIC, Columns
from consultbot.domain.types import Dataset, UserId

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""Larger files are refused before they are downloaded (a national roster as CSV is smaller)."""

UPLOAD_LIFETIME = timedelta(hours=24)
"""An upload nobody activates within this time expires."""

_HEADER_SPLIT = re.compile(r"[,;\t]")
# The columns that tell the formats apart; a file with them but without another required
# column is still that format, and its check then names the missing column.
_BY_HEADER: tuple[tuple[Dataset, Columns, frozenset[str]], ...] = (
    (Dataset.ROSTER, ROSTER_COLUMNS, frozenset({"service", "level"})),
    (Dataset.STAFF, STAFF_COLUMNS, frozenset({"matrix_id", "unit"})),
    (Dataset.DIRECTORY, DIRECTORY_COLUMNS, frozenset({"unit"})),
)


@dataclass(frozen=True, kw_only=True)
class PendingUpload:
    """A checked file waiting for its admin's `!aktivera` (or `!avbryt`)."""

    admin: UserId
    room: str
    dataset: Dataset
    name: str
    data: bytes
    uploaded_at: datetime

    def expired(self, now: datetime) -> bool:
        """True once the upload is older than UPLOAD_LIFETIME."""
        return now - self.uploaded_at > UPLOAD_LIFETIME


_SUFFIXES = frozenset(
    {"toml", "ics", "ical", "ifb", "xlsx", "xlsm", "xls", "csv", "txt", "tsv", ""}
)


def _suffix(name: str) -> str:
    return name.rsplit(".", 1)[-1].casefold() if "." in name else ""


def known_file_name(name: str) -> bool:
    """False for a file whose name says it is none of the data sets (a PDF, a picture …)."""
    return _suffix(name) in _SUFFIXES


def detect_dataset(name: str, data: bytes) -> Dataset | None:
    """The data set a file holds, or None when it is none of them."""
    suffix = _suffix(name)
    if suffix == "toml":
        return Dataset.CATALOGUE
    calendar = data.lstrip(codecs.BOM_UTF8).startswith(b"BEGIN:VCALENDAR")
    if suffix in ("ics", "ical", "ifb") or calendar:
        return Dataset.ROSTER
    if data.startswith((ZIP_MAGIC, OLE2_MAGIC)):
        # A workbook is a roster; a cut-off or old-format one too, so that its check says
        # what is wrong with it (truncated, .xls) instead of "not a data file".
        return Dataset.ROSTER
    if suffix not in ("csv", "txt", "tsv", ""):
        return None
    header = _header(data)
    if header is None:
        return None
    for dataset, columns, telling in _BY_HEADER:
        lookup = columns.lookup
        present = {lookup[cell] for cell in header if cell in lookup}
        if telling <= present:
            return dataset
    return None


def _header(data: bytes) -> set[str] | None:
    """The first non-empty line's cells, case-folded; None for a file that is not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    else:
        if b"\x00" in data[:65536]:
            return None
        head = data.lstrip(codecs.BOM_UTF8).lstrip(b"\r\n \t")[:65536].split(b"\n", 1)[0]
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = head.decode("cp1252", errors="replace")
    line = next((line for line in text.splitlines() if line.strip()), None)
    if line is None:
        return None
    return {cell.strip().strip('"').strip().casefold() for cell in _HEADER_SPLIT.split(line)}
