"""Write the data-file corpus (tests/datafiles/files/) and its manifest (manifest.toml).

Hostile but realistic files of the kinds regions produce: exports from scheduling systems,
hand-edited spreadsheets, merged calendars, truncated downloads, files from the wrong county,
DST edges, night shifts at period edges, shrinking files … each with the outcome it must have
against the active state the corpus test builds (`active/`: the example catalogue, staff list
and directory of rosters/, and the example roster moved by whole weeks to November–December
2030, so that every shift in it is still in the future when the tests run).

Run from the repository root after changing a case:
`.venv/bin/python tests/datafiles/make_corpus.py`.
The output is deterministic (spreadsheets get fixed time stamps), so an unchanged case gives
unchanged bytes. The manifest is generated from the cases below: edit here, not there.

Each case: a file, the data set it is (roster, catalogue, staff, directory), the outcome
(`read`: imported, exit 0; `refused`: exit 1 and nothing changed; `held`: nothing changed until
the admin confirms with `confirm`), substrings the output must contain (`{file}` is the path
given to the CLI), at most how many error lines (one per problem, not one per row), `who`
checks after a read, and `pending` when the outcome is not right yet.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "rosters"
FILES = HERE / "files"
ACTIVE = HERE / "active"

# The example roster starts on Monday 2026-11-16; the active state starts Monday 2030-11-18.
SHIFT = date(2030, 11, 18) - date(2026, 11, 16)
FIXED_STAMP = (2030, 11, 15, 9, 30, 0)
HEADER = ("service", "level", "start", "end", "matrix_id", "name", "phone")
SV_HEADER = ("tjänst", "nivå", "start", "slut", "matrix_id", "namn", "telefon")

Row = list[str]


@dataclass
class Case:
    name: str
    kind: str
    outcome: str
    what: str
    data: bytes
    expect: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    max_errors: int | None = None
    confirm: list[str] = field(default_factory=list)
    who: list[tuple[str, str, str]] = field(default_factory=list)
    pending: str = ""


CASES: list[Case] = []


def case(name: str, kind: str, outcome: str, what: str, data: bytes, **extra: object) -> None:
    if any(c.name == name for c in CASES):
        raise SystemExit(f"duplicate case {name}")
    CASES.append(Case(name, kind, outcome, what, data, **extra))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The active roster and slices of it


def _moved(text: str) -> str:
    return (datetime.strptime(text, "%Y-%m-%d %H:%M") + SHIFT).strftime("%Y-%m-%d %H:%M")


def active_rows() -> list[Row]:
    with (EXAMPLES / "roster-example.csv").open(encoding="utf-8", newline="") as source:
        rows = list(csv.reader(source))[1:]
    return [[r[0], r[1], _moved(r[2]), _moved(r[3]), *r[4:]] for r in rows]


ACTIVE_ROWS = active_rows()


def rows_of(service: str, first: str, last: str) -> list[Row]:
    """The active rows of `service` starting in [first, last) (local `YYYY-MM-DD HH:MM`)."""
    return [list(r) for r in ACTIVE_ROWS if r[0] == service and first <= r[2] < last]


def csv_text(
    rows: Iterable[Sequence[object]],
    header: Sequence[str] = HEADER,
    sep: str = ",",
    newline: str = "\n",
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def csv_bytes(rows: Iterable[Sequence[object]], **options: str) -> bytes:
    return csv_text(rows, **options).encode("utf-8")


def line_of(rows: Sequence[Row], index: int) -> int:
    """The file line of data row `index` (the header is line 1)."""
    return index + 2


def xlsx_bytes(
    rows: Iterable[Sequence[object]],
    header: Sequence[str] = HEADER,
    number_formats: dict[int, str] | None = None,
    extra: Callable[[openpyxl.worksheet.worksheet.Worksheet], None] | None = None,
) -> bytes:
    """A workbook as Excel writes one; fixed time stamps so the bytes are reproducible."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Schema"
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    for column, fmt in (number_formats or {}).items():
        for cells in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            for cell in cells:
                cell.number_format = fmt
    if extra is not None:
        extra(sheet)
    stamp = datetime(*FIXED_STAMP)
    workbook.properties.created = workbook.properties.modified = stamp
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _fixed_zip(buffer.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_STAMP)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps the time of saving, whatever the properties say.
                body = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2030-11-15T09:30:00Z", body
                )
            target.writestr(fixed, body)
    return out.getvalue()


def as_datetimes(rows: Iterable[Row]) -> list[list[object]]:
    return [
        [
            r[0],
            int(r[1]),
            datetime.strptime(r[2], "%Y-%m-%d %H:%M"),
            datetime.strptime(r[3], "%Y-%m-%d %H:%M"),
            *r[4:],
        ]
        for r in rows
    ]


def ics(*events: str, extra: str = "") -> bytes:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Region Dalarna//Jourschema//SV\r\n"
    body = "".join(events)
    return (head + extra + body + "END:VCALENDAR\r\n").encode("utf-8")


def vevent(
    uid: str,
    start: str,
    end: str,
    service: str,
    level: int,
    user: str,
    name: str,
    phone: str = "",
    more: str = "",
    tz: str = "Europe/Stockholm",
) -> str:
    def stamp(text: str) -> str:
        return datetime.strptime(text, "%Y-%m-%d %H:%M").strftime("%Y%m%dT%H%M%S")

    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}@jourschema.regiondalarna.se",
        "DTSTAMP:20301115T083000Z",
        f"DTSTART;TZID={tz}:{stamp(start)}",
        f"DTEND;TZID={tz}:{stamp(end)}",
        f"SUMMARY:{service} nivå {level}: {name}",
        f"X-CONSULTBOT-SERVICE:{service}",
        f"X-CONSULTBOT-LEVEL:{level}",
        f"X-CONSULTBOT-MATRIX-ID:{user}",
        f"X-CONSULTBOT-NAME:{name}",
    ]
    if phone:
        lines.append(f"X-CONSULTBOT-PHONE:{phone}")
    if more:
        lines.extend(more.strip().split("\n"))
    lines.append("END:VEVENT")
    return "\r\n".join(lines) + "\r\n"


def events_of(rows: Iterable[Row], prefix: str) -> list[str]:
    return [
        vevent(f"{prefix}-{i}", r[2], r[3], r[0], int(r[1]), r[4], r[5], r[6])
        for i, r in enumerate(rows)
    ]


# Week 48 of 2030 (Monday 2030-11-25) for kardiologi: 28 shifts, level 1 and 2 round the clock.
KARDIO_W48 = rows_of("kardiologi", "2030-11-25 00:00", "2030-12-02 00:00")
# Mora's health centre, weekdays 08–17, week 49.
VC_MORA_W49 = rows_of("vc-mora", "2030-12-02 00:00", "2030-12-09 00:00")
ORTO_W50 = rows_of("ortopedi", "2030-12-09 00:00", "2030-12-16 00:00")


def unchanged(service: str, rows: Sequence[Row]) -> str:
    return f"{service}: nya pass 0, ersätts 0, tas bort 0, oförändrade {len(rows)}"


def full_days(
    service: str,
    first: date,
    days: int,
    people: Sequence[tuple[str, str, str]],
    day_start: str = "08:00",
    night_start: str = "17:00",
) -> list[Row]:
    """A new period: for each day a day shift and a night shift at levels 1 and 2."""
    rows: list[Row] = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        nxt = day + timedelta(days=1)
        for level in (1, 2):
            a = people[(offset * 2 + level) % len(people)]
            b = people[(offset * 2 + level + 2) % len(people)]
            rows.append([service, str(level), f"{day} {day_start}", f"{day} {night_start}", *a])
            rows.append([service, str(level), f"{day} {night_start}", f"{nxt} {day_start}", *b])
    return rows


KARDIO_PEOPLE = [
    ("@kardiolog1:localhost", "Karin Kardiolog", "070-174 06 21"),
    ("@kardiolog2:localhost", "Bo Bakjour", "070-174 06 22"),
    ("@torbjorn.tallberg:localhost", "Torbjörn Tallberg", "070-174 06 24"),
    ("@markus.olsson:localhost", "Markus Olsson", "070-174 06 25"),
    ("@tove.aberg:localhost", "Tove Åberg", "070-174 06 26"),
    ("@jakob.jansson:localhost", "Jakob Jansson", "070-174 06 27"),
    ("@cecilia.lundgren:localhost", "Cecilia Lundgren", "070-174 06 28"),
]


def with_cell(rows: Sequence[Row], index: int, column: int, value: str) -> list[Row]:
    changed = [list(r) for r in rows]
    changed[index][column] = value
    return changed


# ---------------------------------------------------------------------------------------------
# Rosters that must be read


def rosters_read() -> None:
    w48 = KARDIO_W48
    case(
        "roster/kardiologi-v48-export.csv",
        "roster",
        "read",
        "a week re-exported unchanged from the scheduling system",
        csv_bytes(w48),
        expect=[unchanged("kardiologi", w48)],
        absent=["varning"],
    )
    sv = csv_text(w48, header=SV_HEADER, sep=";", newline="\r\n")
    case(
        "roster/kardiologi-v48-excel-sv.csv",
        "roster",
        "read",
        "Excel on Swedish Windows: ';', Windows-1252, CRLF, Swedish headers",
        sv.encode("cp1252"),
        expect=["läst som Windows-1252", unchanged("kardiologi", w48)],
    )
    case(
        "roster/kardiologi-v48-bom.csv",
        "roster",
        "read",
        "Excel 'CSV UTF-8': byte-order mark and CRLF",
        codecs.BOM_UTF8 + csv_text(w48, newline="\r\n").encode("utf-8"),
        expect=[unchanged("kardiologi", w48)],
        absent=["varning"],
    )
    case(
        "roster/kardiologi-v48-unicode.txt",
        "roster",
        "read",
        "Excel 'Unicode text': UTF-16 with byte-order mark, tab-separated",
        csv_text(w48, header=SV_HEADER, sep="\t", newline="\r\n").encode("utf-16"),
        expect=[unchanged("kardiologi", w48)],
    )
    case(
        "roster/kardiologi-v48-tab.tsv",
        "roster",
        "read",
        "tab-separated UTF-8",
        csv_bytes(w48, sep="\t"),
        expect=[unchanged("kardiologi", w48)],
    )
    case(
        "roster/kardiologi-v48-semicolon-utf8.csv",
        "roster",
        "read",
        "';' as delimiter in UTF-8",
        csv_bytes(w48, sep=";"),
        expect=[unchanged("kardiologi", w48)],
    )
    night = next(i for i, r in enumerate(w48) if r[1] == "1" and r[2].endswith("17:00"))
    swapped = [list(r) for r in w48]
    swapped[night][4:7] = ["@nina.ny:localhost", "Nina Ny", "070-174 06 99"]
    case(
        "roster/kardiologi-v48-swap-night.csv",
        "roster",
        "read",
        "one night shift handed to a colleague",
        csv_bytes(swapped),
        expect=["kardiologi: nya pass 1, ersätts 1, tas bort 0, oförändrade 27"],
        who=[("kardiologi", _plus_hours(w48[night][2], 3), "Nina Ny")],
    )
    words = [[r[0], {"1": "jour", "2": "Bakjour"}[r[1]], *r[2:]] for r in w48]
    case(
        "roster/kardiologi-v48-level-words.csv",
        "roster",
        "read",
        "levels written as words (jour, Bakjour)",
        csv_bytes(words),
        expect=[unchanged("kardiologi", w48)],
    )
    offset = [[*r[:2], _iso(r[2]), _iso(r[3]), *r[4:]] for r in w48]
    case(
        "roster/kardiologi-v48-iso-offset.csv",
        "roster",
        "read",
        "ISO 8601 times with UTC offset, as an API export writes them",
        csv_bytes(offset),
        expect=[unchanged("kardiologi", w48)],
    )
    tsep = [
        [*r[:2], r[2].replace(" ", "T") + ":00", r[3].replace(" ", "T") + ":00", *r[4:]]
        for r in w48
    ]
    case(
        "roster/kardiologi-v48-seconds.csv",
        "roster",
        "read",
        "times with seconds and a T",
        csv_bytes(tsep),
        expect=[unchanged("kardiologi", w48)],
    )
    dots = [[*r[:2], r[2].replace(":", "."), r[3].replace(":", "."), *r[4:]] for r in w48]
    case(
        "roster/kardiologi-v48-dots.csv",
        "roster",
        "read",
        "clock times written 08.00 (Swedish style)",
        csv_bytes(dots),
        expect=[unchanged("kardiologi", w48)],
    )
    reordered = [[r[5], r[4], r[0], r[1], r[2], r[3], r[6]] for r in w48]
    case(
        "roster/kardiologi-v48-column-order.csv",
        "roster",
        "read",
        "columns in another order, headers in mixed case",
        csv_bytes(
            reordered, header=("Namn", "Matrix-ID", "Tjänst", "Nivå", "Start", "Slut", "Telefon")
        ),
        expect=[unchanged("kardiologi", w48)],
    )
    extra = [[*r, "byte" if i == 3 else ""] for i, r in enumerate(w48)]
    case(
        "roster/kardiologi-v48-comment-column.csv",
        "roster",
        "read",
        "an extra comment column the system adds",
        csv_bytes(extra, header=(*HEADER, "kommentar")),
        expect=["okänd kolumn kommentar ignoreras", unchanged("kardiologi", w48)],
    )
    alias = [["Hjärta" if i % 2 else "kardio", *r[1:]] for i, r in enumerate(w48)]
    case(
        "roster/kardiologi-v48-aliases.csv",
        "roster",
        "read",
        "the service by its aliases, in any case",
        csv_bytes(alias),
        expect=[unchanged("kardiologi", w48)],
    )
    full = [["Kardiologi, Falu lasarett", *r[1:]] for r in w48]
    case(
        "roster/kardiologi-v48-full-name.csv",
        "roster",
        "read",
        "the service by its full name, as staffing systems write it",
        csv_bytes(full),
        expect=[unchanged("kardiologi", w48)],
    )
    upper = [[*r[:4], r[4].replace(":localhost", ":LocalHost"), *r[5:]] for r in w48]
    case(
        "roster/kardiologi-v48-server-case.csv",
        "roster",
        "read",
        "server names in mixed case (DNS is case-blind)",
        csv_bytes(upper),
        expect=[unchanged("kardiologi", w48)],
    )
    trailing = csv_text(w48) + ",,,,,,\n" * 40 + "\n\n"
    case(
        "roster/kardiologi-v48-excel-trailing.csv",
        "roster",
        "read",
        "Excel's trailing rows of empty cells",
        trailing.encode("utf-8"),
        expect=[unchanged("kardiologi", w48)],
    )
    two = [list(r) for r in w48]
    nineteen = next(i for i, r in enumerate(w48) if r[1] == "1" and r[2].endswith("08:00"))
    two.append(
        [
            "kardiologi",
            "1",
            w48[nineteen][2],
            w48[nineteen][3],
            "@nina.ny:localhost",
            "Nina Ny (AT-läkare)",
            "070-174 06 99",
        ]
    )
    case(
        "roster/kardiologi-v48-two-on-level1.csv",
        "roster",
        "read",
        "two people share level 1 (both are paged)",
        csv_bytes(two),
        expect=["kardiologi: nya pass 1, ersätts 0, tas bort 0, oförändrade 28"],
        who=[("kardiologi", _plus_hours(w48[nineteen][2], 2), "Nina Ny")],
    )
    quoted = [[*r[:5], f"{r[5].split()[-1]}, {r[5].split()[0]}", r[6]] for r in w48]
    case(
        "roster/kardiologi-v48-quoted-names.csv",
        "roster",
        "read",
        "names written 'Efternamn, Förnamn' (quoted, with the delimiter inside)",
        csv_bytes(quoted),
        expect=["kardiologi: nya pass 28, ersätts 28"],
    )
    intl = [
        [*r[:6], "+46 " + r[6][1:] if i % 2 else "0046" + r[6][1:].replace(" ", "")]
        for i, r in enumerate(w48)
    ]
    case(
        "roster/kardiologi-v48-international-phones.csv",
        "roster",
        "read",
        "phone numbers as +46 and 0046",
        csv_bytes(intl),
        expect=["kardiologi: nya pass 28, ersätts 28"],
        absent=["varning"],
    )
    nophone = [[*r[:6], ""] for r in w48]
    case(
        "roster/kardiologi-v48-no-phones.csv",
        "roster",
        "read",
        "the optional phone column empty",
        csv_bytes(nophone),
        expect=["kardiologi: nya pass 28, ersätts 28"],
    )
    both = KARDIO_W48 + rows_of("internmedicin", "2030-11-25 00:00", "2030-12-02 00:00")
    case(
        "roster/medicin-och-kardiologi-v48.csv",
        "roster",
        "read",
        "two services in one export",
        csv_bytes(both),
        expect=[unchanged("kardiologi", KARDIO_W48), "internmedicin: nya pass 0"],
    )
    vc = VC_MORA_W49
    case(
        "roster/vc-mora-v49.csv",
        "roster",
        "read",
        "a health centre's weekdays 08–17",
        csv_bytes(vc),
        expect=[unchanged("vc-mora", vc)],
    )
    # Small hospitals put one doctor on two services at once on purpose: a warning only.
    wednesday = rows_of("kardiologi", "2030-12-04 00:00", "2030-12-05 00:00")
    day = next(r for r in wednesday if r[1] == "1" and r[2].endswith("08:00"))
    dual = [list(r) for r in VC_MORA_W49]
    dual[2][4:7] = day[4:7]
    case(
        "roster/vc-mora-kardiologi-shared-doctor.csv",
        "roster",
        "read",
        "a doctor on two services at once (small hospital)",
        csv_bytes(wednesday + dual),
        expect=[
            "samtidigt i tjänst i kardiologi",
            "vc-mora: nya pass 1, ersätts 1",
            unchanged("kardiologi", wednesday),
        ],
    )


def _plus_hours(local: str, hours: int) -> str:
    return (datetime.strptime(local, "%Y-%m-%d %H:%M") + timedelta(hours=hours)).strftime(
        "%Y-%m-%d %H:%M"
    )


def _iso(local: str) -> str:
    # November–December: CET, +01:00.
    return datetime.strptime(local, "%Y-%m-%d %H:%M").strftime("%Y-%m-%dT%H:%M:00+01:00")


def rosters_spreadsheets() -> None:
    w48 = KARDIO_W48
    case(
        "roster/kardiologi-v48.xlsx",
        "roster",
        "read",
        "an XLSX export with real date-time cells",
        xlsx_bytes(
            as_datetimes(w48), number_formats={3: "yyyy-mm-dd hh:mm", 4: "yyyy-mm-dd hh:mm"}
        ),
        expect=[unchanged("kardiologi", w48)],
    )
    serial = [[r[0], int(r[1]), _serial(r[2]), _serial(r[3]), *r[4:]] for r in w48]
    case(
        "roster/kardiologi-v48-general.xlsx",
        "roster",
        "read",
        "date-times stored as plain numbers (cells formatted General)",
        xlsx_bytes(serial),
        expect=[unchanged("kardiologi", w48)],
    )
    case(
        "roster/kardiologi-v48-text.xlsx",
        "roster",
        "read",
        "a hand-made sheet with times typed as text",
        xlsx_bytes(w48),
        expect=[unchanged("kardiologi", w48)],
    )
    sv = xlsx_bytes(as_datetimes(w48), header=SV_HEADER)
    case(
        "roster/kardiologi-v48-sv.xlsx",
        "roster",
        "read",
        "XLSX with Swedish headers",
        sv,
        expect=[unchanged("kardiologi", w48)],
    )

    def title_rows(sheet: openpyxl.worksheet.worksheet.Worksheet) -> None:
        sheet.insert_rows(1, 3)
        sheet["A1"] = "Jourschema kardiologi vecka 48"

    case(
        "roster/kardiologi-v48-title-rows.xlsx",
        "roster",
        "refused",
        "a title and blank rows above the header",
        xlsx_bytes(as_datetimes(w48), extra=title_rows),
        expect=["{file}:A4: rubrikraden står här, inte först"],
        max_errors=1,
    )

    def stray(sheet: openpyxl.worksheet.worksheet.Worksheet) -> None:
        sheet["AZ40"] = "OBS! byt med Bo v. 50"

    case(
        "roster/kardiologi-v48-stray-note.xlsx",
        "roster",
        "refused",
        "a stray note far to the right, under no header",
        xlsx_bytes(as_datetimes(w48), extra=stray),
        expect=["{file}:AZ40:", "kolumn utan rubrik"],
        max_errors=1,
    )

    def stray_far(sheet: openpyxl.worksheet.worksheet.Worksheet) -> None:
        sheet["XFD1048576"] = "x"

    case(
        "roster/kardiologi-v48-stray-last-cell.xlsx",
        "roster",
        "read",
        "a stray cell at the last cell of the sheet (XFD1048576): past the columns read",
        xlsx_bytes(as_datetimes(w48), extra=stray_far),
        expect=[unchanged("kardiologi", w48)],
    )
    phone_numbers = [
        [*r[:6], int(r[6].replace("-", "").replace(" ", ""))] for r in as_datetimes(w48)
    ]
    case(
        "roster/kardiologi-v48-phone-as-number.xlsx",
        "roster",
        "refused",
        "phone numbers stored as numbers: the leading 0 is gone",
        xlsx_bytes(phone_numbers),
        expect=["{file}:G2:", "tappat sin inledande nolla"],
    )
    time_only = [list(r) for r in as_datetimes(w48)]
    time_only[4][2] = time(17, 0)
    case(
        "roster/kardiologi-v48-time-only.xlsx",
        "roster",
        "refused",
        "a start cell with a clock time only (the date was lost)",
        xlsx_bytes(time_only),
        expect=["{file}:C6:", "bara ett klockslag", "inget datum"],
        max_errors=1,
    )
    whole = xlsx_bytes(as_datetimes(w48))
    case(
        "roster/kardiologi-v48-truncated.xlsx",
        "roster",
        "refused",
        "an XLSX download cut off half-way",
        whole[: len(whole) // 2],
        expect=["Excel-filen är avklippt eller skadad"],
        max_errors=1,
    )
    case(
        "roster/kardiologi-v48.xls",
        "roster",
        "refused",
        "an old Excel 97–2003 workbook (.xls)",
        _old_xls(),
        expect=["gammal Excel-fil (.xls)"],
        max_errors=1,
    )
    case(
        "roster/kardiologi-v48-not-a-workbook.xlsx",
        "roster",
        "refused",
        "a ZIP archive that is no workbook (the wrong attachment)",
        _zip_of_pdfs(),
        expect=["ZIP-arkiv men inte en Excel-arbetsbok"],
        max_errors=1,
    )


def _serial(local: str) -> float:
    moment = datetime.strptime(local, "%Y-%m-%d %H:%M")
    return (moment - datetime(1899, 12, 30)).total_seconds() / 86400


def _damaged(workbook: bytes, member: str) -> bytes:
    """`workbook` with the first byte of `member`'s compressed data that makes inflating it
    fail (zlib.error, not only a wrong checksum) flipped: a bad sector, a broken transfer."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for at in range(start + 8, start + info.compress_size):
        damaged = workbook[:at] + bytes([workbook[at] ^ 0xFF]) + workbook[at + 1 :]
        try:
            with zipfile.ZipFile(io.BytesIO(damaged)) as archive:
                archive.read(member)
        except zlib.error:
            return damaged
        except zipfile.BadZipFile:
            continue
    raise SystemExit(f"no damaging byte found in {member}")


def _old_xls() -> bytes:
    """The start of an OLE2 compound file, as Excel 97–2003 writes it."""
    header = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(16) + bytes.fromhex("3e000300feff0900")
    header += bytes.fromhex("0600") + bytes(10) + bytes.fromhex("01000000") + bytes(8)
    body = "Workbook".encode("utf-16-le") + b"\x00" * 40 + b"\x09\x08\x10\x00\x00\x06\x05\x00"
    return (header + bytes(512 - len(header)) + body).ljust(4096, b"\x00")


def _zip_of_pdfs() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("jourschema-v48.pdf", date_time=FIXED_STAMP)
        archive.writestr(info, b"%PDF-1.4\n% not a roster\n")
    return out.getvalue()


def rosters_calendars() -> None:
    w48 = KARDIO_W48
    case(
        "roster/kardiologi-v48.ics",
        "roster",
        "read",
        "a calendar export, one event per shift (TZID Europe/Stockholm)",
        ics(*events_of(w48, "k48")),
        expect=[unchanged("kardiologi", w48)],
    )
    utc = [
        vevent(f"u{i}", r[2], r[3], r[0], int(r[1]), r[4], r[5], r[6])
        .replace(f"DTSTART;TZID=Europe/Stockholm:{_stamp(r[2])}", f"DTSTART:{_utc(r[2])}")
        .replace(f"DTEND;TZID=Europe/Stockholm:{_stamp(r[3])}", f"DTEND:{_utc(r[3])}")
        for i, r in enumerate(w48)
    ]
    case(
        "roster/kardiologi-v48-utc.ics",
        "roster",
        "read",
        "calendar times in UTC (Z)",
        ics(*utc),
        expect=[unchanged("kardiologi", w48)],
    )
    first = VC_MORA_W49[0]
    weekly = vevent(
        "vc49",
        first[2],
        first[3],
        "vc-mora",
        1,
        first[4],
        first[5],
        first[6],
        more="RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=5",
    )
    case(
        "roster/vc-mora-v49-recurring.ics",
        "roster",
        "read",
        "a recurring event: weekdays, five times",
        ics(weekly),
        expect=[unchanged("vc-mora", VC_MORA_W49)],
    )
    cancelled = [
        *events_of(VC_MORA_W49, "vc"),
        vevent(
            "vc-x",
            "2030-12-04 08:00",
            "2030-12-04 17:00",
            "vc-mora",
            1,
            "@nina.ny:localhost",
            "Nina Ny",
            more="STATUS:CANCELLED",
        ),
    ]
    case(
        "roster/vc-mora-v49-cancelled.ics",
        "roster",
        "read",
        "a cancelled event is no shift",
        ics(*cancelled),
        expect=[unchanged("vc-mora", VC_MORA_W49)],
        absent=["Nina Ny"],
    )
    attendee = [
        vevent(f"a{i}", r[2], r[3], r[0], int(r[1]), r[4], r[5], r[6]).replace(
            f"X-CONSULTBOT-MATRIX-ID:{r[4]}\r\n", f"ATTENDEE;CN={r[5]}:matrix:u/{r[4][1:]}\r\n"
        )
        for i, r in enumerate(VC_MORA_W49)
    ]
    case(
        "roster/vc-mora-v49-attendees.ics",
        "roster",
        "read",
        "people as ATTENDEE;CN=…:matrix:u/…",
        ics(*attendee),
        expect=[unchanged("vc-mora", VC_MORA_W49)],
    )
    case(
        "roster/kardiologi-v48-unknown-tz.ics",
        "roster",
        "refused",
        "a TZID nobody knows (Outlook's own names)",
        ics(
            *[
                e.replace("TZID=Europe/Stockholm", "TZID=W. Europe Standard Time X")
                for e in events_of(w48[:2], "tz")
            ]
        ),
        expect=["okänd tidszon W. Europe Standard Time X"],
    )
    endless = vevent(
        "e", first[2], first[3], "vc-mora", 1, first[4], first[5], more="RRULE:FREQ=DAILY"
    )
    case(
        "roster/vc-mora-endless.ics",
        "roster",
        "refused",
        "a recurring event with no end",
        ics(endless),
        expect=["utan slut"],
        max_errors=1,
    )
    allday = (
        "BEGIN:VEVENT\r\nUID:ad@x\r\nDTSTAMP:20301115T083000Z\r\n"
        "DTSTART;VALUE=DATE:20301203\r\nDTEND;VALUE=DATE:20301204\r\n"
        "X-CONSULTBOT-SERVICE:vc-mora\r\nX-CONSULTBOT-LEVEL:1\r\n"
        "X-CONSULTBOT-MATRIX-ID:@doktor.vc:localhost\r\nX-CONSULTBOT-NAME:Anna Demo\r\n"
        "END:VEVENT\r\n"
    )
    case(
        "roster/vc-mora-all-day.ics",
        "roster",
        "refused",
        "an all-day event",
        ics(allday),
        expect=["{file}:7: heldagshändelse 2030-12-03"],
    )
    mailto = vevent("m", first[2], first[3], "vc-mora", 1, first[4], first[5]).replace(
        f"X-CONSULTBOT-MATRIX-ID:{first[4]}\r\n",
        "ATTENDEE;CN=Anna Demo:mailto:anna.demo@regiondalarna.se\r\n",
    )
    case(
        "roster/vc-mora-mailto.ics",
        "roster",
        "refused",
        "an attendee with an e-mail address only (cannot be paged)",
        ics(mailto),
        expect=["mailto:anna.demo@regiondalarna.se", "inget Matrix-id"],
    )
    whole = ics(*events_of(w48, "k48")).decode()
    cut = whole[: whole.index("BEGIN:VEVENT", len(whole) // 2) + 60]
    case(
        "roster/kardiologi-v48-truncated.ics",
        "roster",
        "refused",
        "a calendar download cut off inside an event",
        cut.encode(),
        expect=["avslutas aldrig"],
        max_errors=1,
    )
    bad = events_of(w48, "b")
    monday = next(i for i, r in enumerate(w48) if r[2] == "2030-11-25 08:00")
    bad[monday] = bad[monday].replace(
        "DTSTART;TZID=Europe/Stockholm:20301125T080000",
        "DTSTART;TZID=Europe/Stockholm:20301325T080000",
    )
    case(
        "roster/kardiologi-bad-dtstart.ics",
        "roster",
        "refused",
        "a mistyped DTSTART: the line number is the property's own",
        ics(*bad),
        expect=["{file}:" + str(_ics_line(ics(*bad), "20301325T080000")) + ":"],
        max_errors=1,
    )
    two = ics(*events_of(w48[:14], "a")) + ics(*events_of(w48[14:], "b"))
    case(
        "roster/kardiologi-v48-merged-calendars.ics",
        "roster",
        "refused",
        "two calendars merged by concatenation (two VCALENDARs in one file)",
        two,
        expect=["iCalendar"],
        absent=["Found multiple"],
        max_errors=1,
    )


def _stamp(local: str) -> str:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").strftime("%Y%m%dT%H%M%S")


def _utc(local: str) -> str:
    return (datetime.strptime(local, "%Y-%m-%d %H:%M") - timedelta(hours=1)).strftime(
        "%Y%m%dT%H%M%SZ"
    )


def _ics_line(data: bytes, marker: str) -> int:
    text = data.decode()
    return text[: text.index(marker)].count("\n") + 1


# ---------------------------------------------------------------------------------------------
# Rosters that must be refused


def rosters_refused() -> None:
    w48 = KARDIO_W48
    typo = with_cell(w48, 5, 0, "kardiolgi")
    case(
        "roster/kardiologi-v48-typo-service.csv",
        "roster",
        "refused",
        "a mistyped service",
        csv_bytes(typo),
        expect=["{file}:7: okänd tjänst kardiolgi"],
        max_errors=1,
    )
    uppsala = [
        [
            r[0].replace("kardiologi", "kardiologi-akademiska"),
            r[1],
            r[2],
            r[3],
            r[4].replace(":localhost", ":regionuppsala.se"),
            r[5],
            r[6],
        ]
        for r in w48
    ]
    case(
        "roster/uppsala-kardiologi-v48.csv",
        "roster",
        "refused",
        "a roster from the wrong county (Region Uppsala's services and server)",
        csv_bytes(uppsala),
        expect=["okänd tjänst kardiologi-akademiska"],
    )
    foreign = with_cell(w48, 3, 4, "@kardiolog1:matrix.org")
    case(
        "roster/kardiologi-v48-foreign-server.csv",
        "roster",
        "refused",
        "a person on a Matrix server that is not allowed (a stranger on duty)",
        csv_bytes(foreign),
        expect=["{file}:5:", "servern matrix.org, som inte är tillåten"],
        max_errors=1,
    )
    name_in_id = with_cell(w48, 2, 4, "Karin Kardiolog")
    case(
        "roster/kardiologi-v48-name-as-id.csv",
        "roster",
        "refused",
        "a name in the Matrix id column",
        csv_bytes(name_in_id),
        expect=["{file}:4: ogiltigt Matrix-id Karin Kardiolog"],
        max_errors=1,
    )
    capital = with_cell(w48, 2, 4, "@Karin.Kardiolog:localhost")
    case(
        "roster/kardiologi-v48-capital-id.csv",
        "roster",
        "refused",
        "an upper-case Matrix localpart",
        csv_bytes(capital),
        expect=["{file}:4: ogiltigt Matrix-id @Karin.Kardiolog:localhost"],
        max_errors=1,
    )
    night = next(i for i, r in enumerate(w48) if r[2].endswith("17:00"))
    same_day = with_cell(w48, night, 3, w48[night][2][:10] + " 08:00")
    case(
        "roster/kardiologi-v48-night-same-date.csv",
        "roster",
        "refused",
        "a night shift typed with the same date as its start",
        csv_bytes(same_day),
        expect=[f"{{file}}:{night + 2}: slut", "är inte efter start"],
        max_errors=1,
    )
    dmy = [[*r[:2], _dmy(r[2]), _dmy(r[3]), *r[4:]] for r in w48]
    case(
        "roster/kardiologi-v48-dmy-dates.csv",
        "roster",
        "refused",
        "dates as 25/11/2030 (a regional setting)",
        csv_bytes(dmy),
        expect=["{file}:2: ogiltig tid i start: 25/11/2030", "ÅÅÅÅ-MM-DD TT:MM väntades"],
    )
    impossible = with_cell(w48, 10, 2, "2030-11-31 08:00")
    case(
        "roster/kardiologi-v48-november-31.csv",
        "roster",
        "refused",
        "a date that does not exist",
        csv_bytes(impossible),
        expect=["{file}:12: tiden i start finns inte: 2030-11-31 08:00"],
    )
    year = with_cell(w48, 20, 2, "2003-11-29 08:00")
    year = with_cell(year, 20, 3, "2003-11-29 17:00")
    case(
        "roster/kardiologi-v48-year-typo.csv",
        "roster",
        "refused",
        "one row with a mistyped year (would wipe everything between)",
        csv_bytes(year),
        expect=["kardiologi: filens pass spänner över mer än 400 dagar"],
    )
    month = with_cell(w48, 20, 3, "2030-12-29 17:00")
    case(
        "roster/kardiologi-v48-month-long-shift.csv",
        "roster",
        "refused",
        "a shift ending a month later (typo in the month)",
        csv_bytes(month),
        expect=["{file}:22: passet är längre än 14 dagar"],
    )
    far = with_cell(w48, 20, 2, "2130-11-29 08:00")
    case(
        "roster/kardiologi-v48-year-2130.csv",
        "roster",
        "refused",
        "a year far outside the plausible range",
        csv_bytes(far),
        expect=["{file}:22: året i start är orimligt"],
    )
    twice = [list(r) for r in w48] + [[w48[2][0], "2", w48[2][2], w48[2][3], *w48[0][4:]]]
    twice[-1][4:7] = w48[2][4:7]
    case(
        "roster/kardiologi-v48-same-person-twice.csv",
        "roster",
        "refused",
        "the same person on level 1 and level 2 at once",
        csv_bytes(twice),
        expect=["har redan ett pass i kardiologi samtidigt"],
    )
    case(
        "roster/kardiologi-v48-no-matrix-column.csv",
        "roster",
        "refused",
        "the Matrix id column left out of the export",
        csv_bytes(
            [[*r[:4], *r[5:]] for r in w48],
            header=("service", "level", "start", "end", "name", "phone"),
        ),
        expect=["{file}:1: kolumner saknas: matrix_id"],
        max_errors=1,
    )
    case(
        "roster/kardiologi-v48-two-name-columns.csv",
        "roster",
        "refused",
        "two columns both called namn",
        csv_bytes([[*r, r[5]] for r in w48], header=(*SV_HEADER, "namn")),
        expect=["{file}:1: kolumnen namn finns två gånger"],
        max_errors=1,
    )
    case(
        "roster/kardiologi-v48-header-only.csv",
        "roster",
        "refused",
        "a header and nothing else",
        csv_bytes([]),
        expect=["{file}:1: inga datarader"],
        max_errors=1,
    )
    case(
        "roster/empty.csv",
        "roster",
        "refused",
        "an empty file (a failed download)",
        b"",
        expect=["filen är tom"],
        max_errors=1,
    )
    case(
        "roster/whitespace.csv",
        "roster",
        "refused",
        "only blank lines",
        b"\r\n\r\n  \r\n",
        expect=["filen är tom"],
        max_errors=1,
    )
    noname = with_cell(w48, 8, 5, "")
    case(
        "roster/kardiologi-v48-missing-name.csv",
        "roster",
        "refused",
        "a row without a name",
        csv_bytes(noname),
        expect=["{file}:10: värde saknas i kolumnen namn"],
        max_errors=1,
    )
    level = with_cell(w48, 8, 1, "3a")
    case(
        "roster/kardiologi-v48-bad-level.csv",
        "roster",
        "refused",
        "a level of 3a",
        csv_bytes(level),
        expect=["{file}:10: ogiltig nivå 3a"],
        max_errors=1,
    )
    zero = with_cell(w48, 9, 1, "0")
    case(
        "roster/kardiologi-v48-level-zero.csv",
        "roster",
        "refused",
        "level 0",
        csv_bytes(zero),
        expect=["{file}:11: ogiltig nivå 0"],
        max_errors=1,
    )
    karin = [i for i, r in enumerate(w48) if r[5] == "Karin Kardiolog"]
    text = csv_text(w48).splitlines(keepends=True)
    text[karin[1] + 1] = text[karin[1] + 1].replace("Karin Kardiolog", '"Karin Kardiolog')
    case(
        "roster/kardiologi-v48-unclosed-quote.csv",
        "roster",
        "refused",
        "a quote opened and never closed",
        "".join(text).encode(),
        expect=[f"{{file}}:{karin[1] + 2}: ett citattecken"],
        max_errors=1,
    )
    stray = csv_text(w48).splitlines(keepends=True)
    stray[karin[0] + 1] = stray[karin[0] + 1].replace("Karin Kardiolog", 'Karin "Kajsa" Kardiolog')
    case(
        "roster/kardiologi-v48-stray-quote.csv",
        "roster",
        "read",
        "a nickname in quotes inside an unquoted cell",
        "".join(stray).encode(),
        expect=["kardiologi: nya pass 1, ersätts 1"],
    )
    value_error = with_cell(w48, 12, 3, "#VÄRDEFEL!")
    case(
        "roster/kardiologi-v48-excel-error.csv",
        "roster",
        "refused",
        "an Excel error value exported as text",
        csv_bytes(value_error),
        expect=["{file}:14: ogiltig tid i slut: #VÄRDEFEL!"],
        max_errors=1,
    )
    lost = [[*r[:6], r[6][1:].replace("-", "").replace(" ", "")] for r in w48]
    case(
        "roster/kardiologi-v48-phone-lost-zero.csv",
        "roster",
        "refused",
        "phone numbers that lost their leading 0 in a spreadsheet",
        csv_bytes(lost),
        expect=["{file}:2: telefonnumret 701740621 saknar sin inledande nolla"],
    )
    kept = [
        [
            "kardiologi",
            "1",
            "2030-11-24 20:00",
            "2030-11-25 08:00",
            "@cecilia.lundgren:localhost",
            "Cecilia Lundgren",
            "070-174 06 28",
        ]
    ]
    case(
        "roster/kardiologi-overlaps-kept.csv",
        "roster",
        "refused",
        "a shift overlapping, for the same person, a kept shift from the previous roster",
        csv_bytes(kept),
        expect=[
            "{file}:2: @cecilia.lundgren:localhost har redan ett pass i kardiologi som pågår då"
            " (2030-11-24 17:00–2030-11-25 08:00, från ett tidigare schema)"
        ],
        max_errors=1,
    )
    newline = [list(r) for r in w48]
    newline[6][5] = "Karin\nKardiolog"
    case(
        "roster/kardiologi-v48-newline-in-name.csv",
        "roster",
        "refused",
        "a line break inside a quoted name",
        csv_bytes(newline),
        expect=["{file}:8:", "styrtecken"],
        max_errors=1,
    )
    control = with_cell(w48, 6, 5, "Karin\x07Kardiolog")
    case(
        "roster/kardiologi-v48-control-char.csv",
        "roster",
        "refused",
        "a control character in a name",
        csv_bytes(control),
        expect=["{file}:8:", "styrtecken"],
        max_errors=1,
    )


def _dmy(local: str) -> str:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").strftime("%d/%m/%Y %H:%M")


# ---------------------------------------------------------------------------------------------
# Structural problems: one message each, not one per row


def rosters_structure() -> None:
    w48 = KARDIO_W48
    utf8 = csv_text(w48[:14]).encode("utf-8")
    cp = csv_text(w48[14:]).split("\n", 1)[1].encode("cp1252")
    case(
        "roster/kardiologi-v48-two-encodings.csv",
        "roster",
        "refused",
        "two exports pasted together: UTF-8, then Windows-1252",
        utf8 + cp,
        expect=["blandar UTF-8"],
        max_errors=1,
    )
    case(
        "roster/kardiologi-v48-utf16-no-bom.csv",
        "roster",
        "refused",
        "UTF-16 without a byte-order mark",
        csv_text(w48).encode("utf-16-le"),
        expect=["UTF-16 utan byte-order-märke"],
        max_errors=1,
    )
    case(
        "roster/kardiologi-v48-png.csv",
        "roster",
        "refused",
        "a screenshot saved as .csv",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        expect=["inte en textfil"],
        max_errors=1,
    )
    mac = csv_text(w48).encode("mac_roman")
    case(
        "roster/kardiologi-v48-mac-roman.csv",
        "roster",
        "refused",
        "an old Mac export (Mac Roman): Å is no Windows-1252 letter",
        mac,
        expect=["{file}:4: filen är inte UTF-8"],
        max_errors=1,
    )
    second_bom = csv_text(w48[:14]).encode() + codecs.BOM_UTF8 + csv_text(w48[14:]).encode()
    case(
        "roster/kardiologi-v48-mid-bom.csv",
        "roster",
        "refused",
        "two files concatenated, the second with its byte-order mark",
        second_bom,
        expect=["{file}:16: ett byte-order-märke (BOM) mitt i filen"],
        max_errors=1,
    )
    concat = csv_text(w48[:14]) + csv_text(w48[14:])
    case(
        "roster/kardiologi-v48-concatenated.csv",
        "roster",
        "refused",
        "two exports concatenated (the header again in the middle)",
        concat.encode(),
        expect=["{file}:16: rubrikraden kommer igen här"],
        max_errors=1,
    )
    mixed = csv_text(w48[:14]) + csv_text(w48[14:], sep=";").split("\n", 1)[1]
    case(
        "roster/kardiologi-v48-mixed-delimiters.csv",
        "roster",
        "refused",
        "rows pasted from another export with ';' instead of ','",
        mixed.encode(),
        expect=["{file}:16: raden avgränsas med"],
        max_errors=1,
    )
    blocks = (
        csv_text(w48[:14]) + "\n,,,,,,\n\nVecka 48 forts.\n" + csv_text(w48[14:], header=SV_HEADER)
    )
    case(
        "roster/kardiologi-v48-blocks.csv",
        "roster",
        "refused",
        "blank rows, a title and a second header between two blocks",
        blocks.encode(),
        expect=["{file}:19:", "nytt block"],
        max_errors=1,
    )
    far = [[*r, *([""] * 20), "OBS"] if i == 7 else r for i, r in enumerate(w48)]
    case(
        "roster/kardiologi-v48-stray-far-cell.csv",
        "roster",
        "refused",
        "a stray note in a cell far to the right of one row",
        csv_bytes(far),
        expect=["{file}:9:", "OBS", "kolumn utan rubrik"],
        max_errors=1,
    )
    whole = csv_text(w48)
    cut = whole[: whole.rindex("\n", 0, len(whole) - 20) + 30]
    case(
        "roster/kardiologi-v48-cut-off.csv",
        "roster",
        "refused",
        "a download cut off in the middle of the last row",
        cut.encode(),
        expect=[f"{{file}}:{len(w48) + 1}: värde saknas"],
        max_errors=3,
    )
    utf8_cut = csv_text(w48).encode()
    index = utf8_cut.rindex("ö".encode()) + 1
    case(
        "roster/kardiologi-v48-cut-in-letter.csv",
        "roster",
        "refused",
        "a UTF-8 download cut off inside a letter (ö)",
        utf8_cut[:index],
        expect=["avklippt"],
        max_errors=1,
        pending="open: a UTF-8 file cut inside a letter is reported as mixed encodings",
    )


# ---------------------------------------------------------------------------------------------
# DST, period edges, coverage


def rosters_time_edges() -> None:
    spring = full_days("kardiologi", date(2031, 3, 29), 2, KARDIO_PEOPLE)
    case(
        "roster/kardiologi-2031-spring-forward.csv",
        "roster",
        "read",
        "night shifts across the spring DST change (the night is an hour shorter)",
        csv_bytes(spring),
        expect=["kardiologi: nya pass 8, ersätts 0"],
        who=[("kardiologi", "2031-03-30 03:30", spring[3][5])],
    )
    autumn = full_days("kardiologi", date(2030, 10, 26), 2, KARDIO_PEOPLE)
    case(
        "roster/kardiologi-2030-fall-back.csv",
        "roster",
        "read",
        "night shifts across the autumn DST change (the night is an hour longer)",
        csv_bytes(autumn),
        expect=["kardiologi: nya pass 8, ersätts 0"],
        who=[("kardiologi", "2030-10-27 04:00", autumn[3][5])],
    )
    # Row 1 (line 3) is level 1's night into Sunday; it is split at 02:30 (lines 3 and 4).
    gap = split_night(spring, 1, "2031-03-30 02:30")
    case(
        "roster/kardiologi-2031-nonexistent-time.csv",
        "roster",
        "refused",
        "a change of shift at 02:30 on the night clocks skip it",
        csv_bytes(gap),
        expect=[
            "{file}:3: tiden i slut finns inte (sommartid börjar",
            "{file}:4: tiden i start finns inte (sommartid börjar",
        ],
    )
    twice = split_night(autumn, 1, "2030-10-27 02:30")
    case(
        "roster/kardiologi-2030-ambiguous-time.csv",
        "roster",
        "refused",
        "a change of shift at 02:30 on the night that hour occurs twice",
        csv_bytes(twice),
        expect=["{file}:3:", "finns två gånger (sommartid slutar)"],
    )
    offset = split_night(autumn, 1, "2030-10-27T02:30:00+01:00")
    case(
        "roster/kardiologi-2030-ambiguous-with-offset.csv",
        "roster",
        "read",
        "the repeated hour made unambiguous with an offset",
        csv_bytes(offset),
        expect=["kardiologi: nya pass 9"],
        who=[("kardiologi", "2030-10-27 04:00", "Nina Ny")],
    )
    end_24 = [
        [*r[:3], _to_24(r[3]), *r[4:]]
        for r in full_days(
            "kirurgi", date(2031, 1, 6), 2, KARDIO_PEOPLE, day_start="00:00", night_start="12:00"
        )
    ]
    case(
        "roster/kirurgi-2031-24-00.csv",
        "roster",
        "read",
        "shifts ending 24:00 (a new period in January 2031)",
        csv_bytes(end_24),
        expect=["kirurgi: nya pass 8, ersätts 0"],
    )
    # The night at the period's edge: the file gives Tuesday 2030-11-26 in whole dates; it
    # replaces the night from Tuesday 17:00 to Wednesday 08:00, and ends at midnight.
    tuesday = [
        ["kardiologi", str(level), f"2030-11-26 {a}", f"2030-11-26 {b}", *person]
        for (a, b), level, person in [
            (("08:00", "17:00"), 1, KARDIO_PEOPLE[0]),
            (("08:00", "17:00"), 2, KARDIO_PEOPLE[1]),
            (("17:00", "24:00"), 1, KARDIO_PEOPLE[5]),
            (("17:00", "24:00"), 2, KARDIO_PEOPLE[2]),
        ]
    ]
    case(
        "roster/kardiologi-2030-11-26-whole-day.csv",
        "roster",
        "held",
        "a day given in whole dates: the night running into Wednesday is cut at midnight",
        csv_bytes(tuesday),
        expect=[
            "kardiologi nivå 1: ingen i tjänst 2030-11-27 00:00–08:00, inom öppettiderna",
            "kardiologi nivå 2: ingen i tjänst 2030-11-27 00:00–08:00",
            "Importen väntar – ingenting har ändrats",
        ],
        confirm=["--allow-gaps"],
    )
    no_backup = [r for r in KARDIO_W48 if not (r[1] == "2" and r[2] == "2030-11-27 17:00")]
    case(
        "roster/kardiologi-v48-no-bakjour-wednesday.csv",
        "roster",
        "read",
        "bakjour (level 2) missing for a night: listed, not stopped",
        csv_bytes(no_backup),
        expect=["kardiologi nivå 2: ingen i tjänst 2030-11-27 17:00–2030-11-28 08:00"],
        absent=["nivå 1: ingen"],
    )
    no_jour = [r for r in KARDIO_W48 if not (r[1] == "1" and r[2] == "2030-11-27 17:00")]
    case(
        "roster/kardiologi-v48-no-jour-wednesday.csv",
        "roster",
        "held",
        "level 1 missing for a night: a new hole inside opening hours",
        csv_bytes(no_jour),
        expect=[
            "kardiologi nivå 1: ingen i tjänst 2030-11-27 17:00–2030-11-28 08:00, inom",
            "--allow-gaps",
        ],
        confirm=["--allow-gaps"],
    )
    vc = [r for r in VC_MORA_W49 if not r[2].startswith("2030-12-04")]
    case(
        "roster/vc-mora-v49-wednesday-missing.csv",
        "roster",
        "held",
        "a health centre's Wednesday left out",
        csv_bytes(vc),
        expect=["vc-mora nivå 1: ingen i tjänst 2030-12-04 08:00–17:00, inom öppettiderna"],
        confirm=["--allow-gaps"],
    )
    shrink = [r for r in KARDIO_W48 if r[1] == "1" and r[2].endswith("08:00")]
    case(
        "roster/kardiologi-v48-shrunk.csv",
        "roster",
        "held",
        "a week's roster replaced by its level-1 day shifts only (a filtered export)",
        csv_bytes(shrink),
        expect=[
            # The file's period runs Monday 08:00 – Sunday 17:00: 26 shifts start in it.
            "Den nya versionen tar bort 19 av 26 pass",
            "kardiologi nivå 2: ingen i tjänst 2030-11-25 08:00–2030-12-01 17:00",
            "--allow-gaps och --allow-shrink",
        ],
        confirm=["--allow-gaps", "--allow-shrink"],
    )
    mon = rows_of("kardiologi", "2030-11-25 00:00", "2030-11-26 00:00")
    case(
        "roster/kardiologi-2030-11-25-monday.csv",
        "roster",
        "read",
        "one day re-exported, its night running into Tuesday (nothing lost at the edge)",
        csv_bytes(mon),
        expect=[unchanged("kardiologi", mon)],
    )
    weekend = rows_of("ortopedi", "2030-12-14 00:00", "2030-12-16 00:00")
    case(
        "roster/ortopedi-v50-weekend.csv",
        "roster",
        "read",
        "a weekend of an orthopaedics roster",
        csv_bytes(weekend),
        expect=[unchanged("ortopedi", weekend)],
    )
    spring = full_days("kardiologi", date(2031, 3, 29), 2, KARDIO_PEOPLE)
    case(
        "roster/kardiologi-2031-spring-forward.ics",
        "roster",
        "read",
        "a calendar with night shifts across the spring DST change",
        ics(*events_of(spring, "dst")),
        expect=["kardiologi: nya pass 8, ersätts 0"],
        who=[("kardiologi", "2031-03-30 03:30", spring[1][5])],
    )
    wednesday = rows_of("kardiologi", "2030-11-27 00:00", "2030-11-28 00:00")
    case(
        "roster/kardiologi-v48-wednesday-twice.csv",
        "roster",
        "refused",
        "an export with Wednesday pasted twice",
        csv_bytes(KARDIO_W48 + wednesday),
        expect=["har redan ett pass i kardiologi samtidigt"],
    )
    only_time = [
        [*r[:2], r[2][11:], r[3][11:], *r[4:]] if i == 3 else r for i, r in enumerate(KARDIO_W48)
    ]
    case(
        "roster/kardiologi-v48-time-only.csv",
        "roster",
        "refused",
        "a row with clock times only (the dates lost in a hand-edited sheet)",
        csv_bytes(only_time),
        expect=["{file}:5:", "ÅÅÅÅ-MM-DD TT:MM"],
        max_errors=2,
    )


def split_night(rows: Sequence[Row], index: int, at: str) -> list[Row]:
    """`rows` with shift `index` handed over at `at` to someone on no other shift."""
    out = [list(r) for r in rows]
    first = out[index]
    second = [*first[:2], at, first[3], "@nina.ny:localhost", "Nina Ny", "070-174 06 99"]
    first[3] = at
    out.insert(index + 1, second)
    return out


def _to_24(local: str) -> str:
    if local.endswith(" 00:00"):
        day = datetime.strptime(local, "%Y-%m-%d %H:%M") - timedelta(days=1)
        return f"{day:%Y-%m-%d} 24:00"
    return local


# ---------------------------------------------------------------------------------------------
# Staff lists


def staff_rows() -> tuple[list[str], list[list[str]]]:
    with (EXAMPLES / "staff.csv").open(encoding="utf-8", newline="") as source:
        rows = list(csv.reader(source))
    return rows[0], rows[1:]


def staff_cases() -> None:
    header, rows = staff_rows()
    count = len(rows)
    units = len({r[2] for r in rows})
    summary = f"{count} personer på {units} enheter"
    case(
        "staff/personal-export.csv",
        "staff",
        "read",
        "the staff list re-exported",
        csv_bytes(rows, header=header),
        expect=[summary],
    )
    case(
        "staff/personal-excel-sv.csv",
        "staff",
        "read",
        "Excel on Swedish Windows: ';', Windows-1252, Swedish headers",
        csv_text(
            rows, header=("matrix_id", "namn", "enhet", "titel", "telefon"), sep=";", newline="\r\n"
        ).encode("cp1252"),
        expect=["Windows-1252", summary],
    )
    case(
        "staff/personal.xlsx",
        "staff",
        "read",
        "the staff list as XLSX",
        xlsx_bytes(rows, header=header),
        expect=[summary],
    )
    case(
        "staff/personal-skadad.xlsx",
        "staff",
        "refused",
        "an XLSX with one byte damaged inside the sheet's compressed data",
        _damaged(xlsx_bytes(rows, header=header), "xl/worksheets/sheet1.xml"),
        expect=["Excel-filen"],
        max_errors=1,
    )
    case(
        "staff/personal-en-person.csv",
        "staff",
        "held",
        "one person replacing a list of 249 (a filtered export)",
        csv_bytes(rows[:1], header=header),
        expect=[f"Den nya versionen tar bort {count - 1} av {count} personer", "--allow-shrink"],
        confirm=["--allow-shrink"],
    )
    unknown = [list(r) for r in rows]
    unknown[10][2] = "kardiologi-mora"
    case(
        "staff/personal-okand-enhet.csv",
        "staff",
        "refused",
        "a unit not in the catalogue",
        csv_bytes(unknown, header=header),
        expect=["{file}:12: okänd tjänst kardiologi-mora"],
        max_errors=1,
    )
    dup = [list(r) for r in rows] + [list(rows[3])]
    case(
        "staff/personal-dubblett.csv",
        "staff",
        "refused",
        "a person listed twice",
        csv_bytes(dup, header=header),
        expect=[f"{{file}}:{count + 2}: {rows[3][0]} finns redan (rad 5)"],
        max_errors=1,
    )
    bad = [list(r) for r in rows]
    bad[20][0] = "anna.svensson@regiondalarna.se"
    case(
        "staff/personal-epost.csv",
        "staff",
        "refused",
        "an e-mail address as Matrix id",
        csv_bytes(bad, header=header),
        expect=["{file}:22: ogiltigt Matrix-id anna.svensson@regiondalarna.se"],
        max_errors=1,
    )
    foreign = [list(r) for r in rows]
    foreign[30][0] = foreign[30][0].replace(":localhost", ":evil.example")
    case(
        "staff/personal-frammande-server.csv",
        "staff",
        "refused",
        "a person on a server that is not allowed",
        csv_bytes(foreign, header=header),
        expect=["{file}:32:", "evil.example"],
        max_errors=1,
    )
    newline = [list(r) for r in rows]
    newline[40][1] = "Anna\nSvensson"
    case(
        "staff/personal-radbrytning.csv",
        "staff",
        "refused",
        "a line break in a name",
        csv_bytes(newline, header=header),
        expect=["{file}:42:"],
        max_errors=1,
    )
    case(
        "staff/personal-utan-enhet.csv",
        "staff",
        "refused",
        "the unit column left out",
        csv_bytes(
            [[r[0], r[1], r[3], r[4]] for r in rows], header=("matrix_id", "name", "title", "phone")
        ),
        expect=["{file}:1: kolumner saknas: enhet"],
        max_errors=1,
    )
    uppsala = [
        [r[0].replace(":localhost", ":regionuppsala.se"), r[1], "akademiska-" + r[2], r[3], r[4]]
        for r in rows[:40]
    ]
    case(
        "staff/personal-uppsala.csv",
        "staff",
        "refused",
        "another county's staff list",
        csv_bytes(uppsala, header=header),
        expect=["okänd tjänst akademiska-"],
    )
    numbers = [[*r[:4], int(r[4].replace("-", "").replace(" ", "")) if r[4] else ""] for r in rows]
    case(
        "staff/personal-telefon-som-tal.xlsx",
        "staff",
        "refused",
        "phone numbers stored as numbers (the leading 0 lost)",
        xlsx_bytes(numbers, header=header),
        expect=["{file}:E2"],
    )
    semi = (
        csv_text(rows[:100], header=header)
        + csv_text(rows[100:], header=header, sep=";").split("\n", 1)[1]
    )
    case(
        "staff/personal-blandade-avgransare.csv",
        "staff",
        "refused",
        "half the rows pasted with ';'",
        semi.encode(),
        expect=["{file}:102:"],
        max_errors=1,
    )
    case(
        "staff/personal-bom-mitt-i.csv",
        "staff",
        "refused",
        "two files concatenated, a byte-order mark in the middle",
        codecs.BOM_UTF8
        + csv_text(rows[:100], header=header).encode()
        + codecs.BOM_UTF8
        + csv_text(rows[100:], header=header).encode(),
        expect=["{file}:102:"],
        max_errors=1,
    )
    case(
        "staff/personal-tom.csv",
        "staff",
        "refused",
        "an empty download",
        b"",
        expect=["filen är tom"],
        max_errors=1,
    )
    titles = [list(r) for r in rows]
    titles[5][3] = "ST-läkare"
    case(
        "staff/personal-ny-titel.csv",
        "staff",
        "read",
        "one title changed",
        csv_bytes(titles, header=header),
        expect=[summary],
    )
    twice = [list(r) for r in rows]
    twice.append([rows[0][0].replace(":localhost", ":LOCALHOST"), *rows[0][1:]])
    case(
        "staff/personal-samma-id-versaler.csv",
        "staff",
        "refused",
        "the same person twice, the server written in capitals the second time",
        csv_bytes(twice, header=header),
        expect=[f"{{file}}:{count + 2}: {rows[0][0]} finns redan (rad 2)"],
        max_errors=1,
    )
    zero = [list(r) for r in rows]
    zero[8][4] = zero[8][4][1:].replace("-", "").replace(" ", "")
    case(
        "staff/personal-nolla-borta.csv",
        "staff",
        "refused",
        "a phone number that lost its leading 0",
        csv_bytes(zero, header=header),
        expect=["{file}:10:", "saknar sin inledande nolla"],
        max_errors=1,
    )


# ---------------------------------------------------------------------------------------------
# Directories


def directory_cases() -> None:
    with (EXAMPLES / "directory.csv").open(encoding="utf-8", newline="") as source:
        table = list(csv.reader(source))
    header, rows = table[0], table[1:]
    summary = f"{len(rows)} poster"
    case(
        "directory/kontakter-export.csv",
        "directory",
        "read",
        "the directory re-exported",
        csv_bytes(rows, header=header),
        expect=[summary],
    )
    case(
        "directory/kontakter-excel-sv.csv",
        "directory",
        "read",
        "Swedish Excel: ';', Windows-1252, Swedish headers",
        csv_text(
            rows,
            header=("enhet", "namn", "telefon", "kommun", "anteckningar"),
            sep=";",
            newline="\r\n",
        ).encode("cp1252"),
        expect=["Windows-1252", summary],
    )
    case(
        "directory/kontakter.xlsx",
        "directory",
        "read",
        "the directory as XLSX",
        xlsx_bytes(rows, header=header),
        expect=[summary],
    )
    case(
        "directory/kontakter-tre-poster.csv",
        "directory",
        "held",
        "three entries replacing the whole directory",
        csv_bytes(rows[:3], header=header),
        expect=[f"Den nya versionen tar bort {len(rows) - 3} av {len(rows)} poster"],
        confirm=["--allow-shrink"],
    )
    case(
        "directory/kontakter-utan-telefon.csv",
        "directory",
        "refused",
        "the phone column left out",
        csv_bytes(
            [[r[0], r[1], r[3], r[4]] for r in rows],
            header=("unit", "name", "municipality", "notes"),
        ),
        expect=["{file}:1: kolumner saknas: telefon"],
        max_errors=1,
    )
    empty_phone = [list(r) for r in rows]
    empty_phone[7][2] = ""
    case(
        "directory/kontakter-tomt-nummer.csv",
        "directory",
        "refused",
        "an entry without a number",
        csv_bytes(empty_phone, header=header),
        expect=["{file}:9: värde saknas i kolumnen telefon"],
        max_errors=1,
    )
    letters = [list(r) for r in rows]
    letters[11][2] = "växeln"
    case(
        "directory/kontakter-ord-som-nummer.csv",
        "directory",
        "read",
        "a word where the number should be: a warning with the line",
        csv_bytes(letters, header=header),
        expect=["{file}:13: telefonnumret växeln går inte att ringa"],
    )
    numbers = [[r[0], r[1], int("".join(c for c in r[2] if c.isdigit())), r[3], r[4]] for r in rows]
    case(
        "directory/kontakter-nummer-som-tal.xlsx",
        "directory",
        "refused",
        "numbers stored as numbers: the leading 0 lost",
        xlsx_bytes(numbers, header=header),
        expect=["{file}:C2"],
    )
    newline = [list(r) for r in rows]
    newline[3][1] = "Avesta lasarett,\nväxel"
    case(
        "directory/kontakter-radbrytning.csv",
        "directory",
        "refused",
        "a line break inside a name",
        csv_bytes(newline, header=header),
        expect=["{file}:5:"],
        max_errors=1,
    )
    extra = [[*r, ""] for r in rows]
    extra[2][5] = "ring före 16"
    case(
        "directory/kontakter-extra-kolumn.csv",
        "directory",
        "read",
        "an extra column with notes",
        csv_bytes(extra, header=(*header, "övrigt")),
        expect=["okänd kolumn övrigt ignoreras", summary],
    )
    case(
        "directory/kontakter-cut.csv",
        "directory",
        "refused",
        "a download cut inside a quoted name",
        csv_text(rows, header=header).encode()[:-20] + ',"Mora vård'.encode(),
        expect=["citattecken"],
        absent=["expected"],
        max_errors=1,
    )
    case(
        "directory/kontakter-dubbletter.csv",
        "directory",
        "read",
        "the same entries twice (two exports appended without a header)",
        csv_bytes(rows + rows[:10], header=header),
        expect=[f"{len(rows) + 10} poster"],
    )


# ---------------------------------------------------------------------------------------------
# Catalogues


def catalogue_cases() -> None:
    text = (EXAMPLES / "services.toml").read_text(encoding="utf-8")
    services = sum(1 for line in text.splitlines() if line.startswith("[[service]]"))
    case(
        "catalogue/tjanster-export.toml",
        "catalogue",
        "read",
        "the catalogue unchanged",
        text.encode(),
        expect=[f"{services} tjänster"],
    )
    case(
        "catalogue/tjanster-bom.toml",
        "catalogue",
        "read",
        "saved by Notepad: byte-order mark and CRLF",
        codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode(),
        expect=[f"{services} tjänster"],
    )
    case(
        "catalogue/tjanster-alias-versaler.toml",
        "catalogue",
        "refused",
        "two services share an alias that differs only in case",
        text.replace('aliases = ["ortoped", ', 'aliases = ["Hjärta", "ortoped", ').encode(),
        expect=["{file}:50: namnet Hjärta används redan (rad 26)"],
        max_errors=1,
    )
    case(
        "catalogue/tjanster-alias-diakrit.toml",
        "catalogue",
        "refused",
        "two services share an alias that differs only in its å/ä/ö",
        text.replace('aliases = ["ortoped", ', 'aliases = ["hjarta", "ortoped", ').encode(),
        expect=["hjarta", "går inte att skilja från"],
        max_errors=1,
    )
    case(
        "catalogue/tjanster-alias-mellanslag.toml",
        "catalogue",
        "read",
        "an alias of two words (found as typed, spaces normalised)",
        text.replace(
            'aliases = ["ortoped", ', 'aliases = ["ortopedisk kirurgi", "ortoped", '
        ).encode(),
        expect=["69 tjänster"],
    )
    case(
        "catalogue/tjanster-fel-kommun.toml",
        "catalogue",
        "refused",
        "a health centre in a municipality outside the county",
        text.replace('municipality = "Mora"', 'municipality = "Uppsala"').encode(),
        expect=["kommunen Uppsala ligger inte i länet"],
        max_errors=1,
    )
    case(
        "catalogue/tjanster-trasig.toml",
        "catalogue",
        "refused",
        "a missing quote (hand-edited)",
        text.replace(
            'name = "Kardiologi, Falu lasarett"', 'name = "Kardiologi, Falu lasarett'
        ).encode(),
        expect=["inte giltig TOML"],
        max_errors=1,
    )
    case(
        "catalogue/tjanster-alias-nyckel.toml",
        "catalogue",
        "refused",
        "a misspelt key (alias for aliases)",
        text.replace('aliases = ["ortoped", ', 'alias = ["ortoped", ').encode(),
        expect=["okänd nyckel alias"],
        max_errors=1,
        absent=["saknas i den nya katalogen"],
    )
    case(
        "catalogue/tjanster-fel-kind.toml",
        "catalogue",
        "refused",
        "an unknown kind",
        text.replace('kind = "specialty"', 'kind = "specialitet"', 1).encode(),
        expect=["okänd kind specialitet"],
        max_errors=1,
        absent=["saknas i den nya katalogen"],
    )
    case(
        "catalogue/tjanster-fel-spar.toml",
        "catalogue",
        "refused",
        "an unknown track",
        text.replace(
            'tracks = ["halvakut", "akut", "mdk"]',
            'tracks = ["halvakut", "akut", "mdk", "subakut"]',
            1,
        ).encode(),
        expect=["okänt spår subakut"],
        max_errors=1,
        absent=["saknas i den nya katalogen"],
    )
    case(
        "catalogue/tjanster-utan-vaxel.toml",
        "catalogue",
        "refused",
        "a service without a switchboard number",
        text.replace('switchboard = "023-49 00 00"\n', "", 1).encode(),
        expect=["växelnummer (switchboard) saknas"],
        max_errors=1,
        absent=["saknas i den nya katalogen"],
    )
    case(
        "catalogue/tjanster-versalt-id.toml",
        "catalogue",
        "refused",
        "an id in upper case",
        text.replace('id = "geriatrik"', 'id = "Geriatrik"').encode(),
        expect=["ogiltigt id Geriatrik"],
    )
    case(
        "catalogue/tom.toml",
        "catalogue",
        "refused",
        "an empty file",
        b"",
        expect=["filen är tom"],
        max_errors=1,
    )
    uppsala = (
        '[[service]]\nid = "kardiologi-akademiska"\nname = "Kardiologi, Akademiska"\n'
        'kind = "specialty"\ntracks = ["akut"]\nswitchboard = "018-611 00 00"\n'
    )
    case(
        "catalogue/uppsala.toml",
        "catalogue",
        "refused",
        "another county's catalogue (every service with shifts would go)",
        uppsala.encode(),
        expect=["tjänsten kardiologi saknas i den nya katalogen men har 142 kommande pass"],
    )
    case(
        "catalogue/tjanster-word.docx",
        "catalogue",
        "refused",
        "a Word document instead of the catalogue",
        _docx(),
        expect=["ZIP-arkiv"],
        max_errors=1,
    )
    case(
        "catalogue/tjanster-utf16.toml",
        "catalogue",
        "read",
        "saved as Unicode (UTF-16 with byte-order mark)",
        text.encode("utf-16"),
        expect=[f"{services} tjänster"],
    )
    renamed = text.replace('id = "geriatrik"', 'id = "geriatrisk-medicin"')
    case(
        "catalogue/tjanster-omdopt-id.toml",
        "catalogue",
        "refused",
        "a service id renamed while its roster still names the old id",
        renamed.encode(),
        expect=["geriatrik"],
        max_errors=1,
    )
    blocks = text.split("\n[[service]]")
    kept = [b for b in blocks if 'kind = "other"' not in b]
    case(
        "catalogue/tjanster-utan-kommunal-vard.toml",
        "catalogue",
        "held",
        "the municipal services left out (a filtered export): many services go",
        "\n[[service]]".join(kept).encode(),
        expect=[f"Den nya versionen tar bort {len(blocks) - len(kept)} av {services} tjänster"],
        confirm=["--allow-shrink"],
    )


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in (
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
        ):
            archive.writestr(zipfile.ZipInfo(name, date_time=FIXED_STAMP), body)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Output


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(toml_string(i) for i in items) + "]"


def manifest(cases: Sequence[Case]) -> str:
    lines = [
        "# The data-file corpus: one [[file]] per file in files/, with the outcome it must have.",
        "# GENERATED by make_corpus.py – edit the cases there and run it again.",
        "# outcome: read (imported, exit 0) | refused (exit 1, nothing changed) |",
        "#          held (nothing changed until confirmed with `confirm`)",
        "# expect: substrings of the CLI's output ({file} is the path given to it)",
        "# max_errors: at most this many error lines (one per problem, not one per row)",
        "# who: (service, local time, a name `consultbot who` must show) after a read",
        "# pending: why the outcome is not right yet (the test expects it to fail, strictly)",
        "",
    ]
    for c in cases:
        lines.append("[[file]]")
        lines.append(f"name = {toml_string(c.name)}")
        lines.append(f"kind = {toml_string(c.kind)}")
        lines.append(f"outcome = {toml_string(c.outcome)}")
        lines.append(f"what = {toml_string(c.what)}")
        lines.append(f"expect = {toml_list(c.expect)}")
        if c.absent:
            lines.append(f"absent = {toml_list(c.absent)}")
        if c.max_errors is not None:
            lines.append(f"max_errors = {c.max_errors}")
        if c.confirm:
            lines.append(f"confirm = {toml_list(c.confirm)}")
        if c.who:
            lines.append("who = [" + ", ".join(toml_list(w) for w in c.who) + "]")
        if c.pending:
            lines.append(f"pending = {toml_string(c.pending)}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    rosters_read()
    rosters_spreadsheets()
    rosters_calendars()
    rosters_refused()
    rosters_structure()
    rosters_time_edges()
    staff_cases()
    directory_cases()
    catalogue_cases()
    for old in FILES.rglob("*"):
        if old.is_file():
            old.unlink()
    for c in CASES:
        path = FILES / c.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(c.data)
    (HERE / "manifest.toml").write_text(manifest(CASES), encoding="utf-8")
    ACTIVE.mkdir(exist_ok=True)
    (ACTIVE / "roster-2030.csv").write_text(csv_text(ACTIVE_ROWS), encoding="utf-8")
    print(f"{len(CASES)} files in {FILES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
