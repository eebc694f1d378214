"""Reading and validating roster files: CSV, XLSX and iCalendar, and every problem they can have."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import icalendar
import openpyxl
import pytest

from consultbot.domain.duty.ical import shifts_to_ical
from consultbot.domain.duty.roster import RosterCheck, Shift, check_roster
from consultbot.domain.errors import Problem, Severity
from consultbot.domain.types import ServiceId, UserId
from tests.support.catalogue import CATALOGUE, HOURS, TZ


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def check(*files: tuple[str, bytes], hours: bool = False) -> RosterCheck:
    return check_roster(list(files), CATALOGUE, TZ, HOURS if hours else None)


def codes(problems: Sequence[Problem]) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.line, p.code) for p in problems]


# The same two shifts, written in every supported way.
EXPECTED = (
    Shift(
        service=ServiceId("kardiologi"),
        level=1,
        start=utc(2026, 3, 2, 7),
        end=utc(2026, 3, 2, 16),
        user=UserId("@asa.oberg:localhost"),
        name="Åsa Öberg",
        phone="070-174 06 21",
    ),
    Shift(
        service=ServiceId("kardiologi"),
        level=2,
        start=utc(2026, 3, 2, 7),
        end=utc(2026, 3, 3, 7),
        user=UserId("@bo.arlig:localhost"),
        name="Bo Ärlig",
        phone="",
    ),
)

ENGLISH = "service,level,start,end,matrix_id,name,phone"
ROWS = [
    "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@asa.oberg:localhost,Åsa Öberg,070-174 06 21",
    "hjärta,2,2026-03-02 08:00,2026-03-03 08:00,@bo.arlig:localhost,Bo Ärlig,",
]


def csv_text(header: str, rows: Sequence[str], sep: str = ",", newline: str = "\n") -> str:
    lines = [header.replace(",", sep)] + [r.replace(",", sep) for r in rows]
    return newline.join(lines) + newline


def reorder(header: str, rows: Sequence[str], order: Sequence[int]) -> tuple[str, list[str]]:
    def pick(line: str) -> str:
        cells = line.split(",")
        return ",".join(cells[i] for i in order)

    return pick(header), [pick(r) for r in rows]


SWEDISH_ANY_ORDER = reorder(
    "TJÄNST,Nivå,Start,SLUT,Matrix_ID,Namn,TELEFON", ROWS, [5, 3, 6, 0, 4, 2, 1]
)
ENGLISH_ANY_ORDER = reorder(ENGLISH.upper(), ROWS, [6, 4, 5, 1, 0, 3, 2])


@pytest.mark.parametrize(
    ("data", "warnings"),
    [
        pytest.param(csv_text(ENGLISH, ROWS).encode(), [], id="comma-utf8"),
        pytest.param(csv_text(ENGLISH, ROWS, ";").encode(), [], id="semicolon-utf8"),
        pytest.param(csv_text(ENGLISH, ROWS).encode("utf-8-sig"), [], id="comma-bom"),
        pytest.param(csv_text(ENGLISH, ROWS, ";").encode("utf-8-sig"), [], id="semicolon-bom"),
        pytest.param(csv_text(ENGLISH, ROWS, ",", "\r\n").encode(), [], id="crlf"),
        pytest.param(
            csv_text(ENGLISH, ROWS, ";", "\r\n").encode("utf-8-sig"), [], id="semicolon-bom-crlf"
        ),
        pytest.param(
            csv_text("tjänst,nivå,start,slut,matrix_id,namn,telefon", ROWS).encode(),
            [],
            id="swedish-headers",
        ),
        pytest.param(
            csv_text(*SWEDISH_ANY_ORDER, ";").encode(),
            [],
            id="swedish-headers-any-order-and-case",
        ),
        pytest.param(
            csv_text(*ENGLISH_ANY_ORDER).encode(),
            [],
            id="english-headers-any-order-upper-case",
        ),
        pytest.param(
            csv_text("tjänst;nivå;start;slut;matrix_id;namn;telefon", ROWS, ";", "\r\n").encode(
                "cp1252"
            ),
            ["read_as_cp1252"],
            id="windows-1252",
        ),
    ],
)
def test_csv_variants_read_the_same_shifts(data: bytes, warnings: list[str]) -> None:
    result = check(("roster.csv", data))
    assert result.ok, result.problems
    assert result.shifts == EXPECTED
    assert [p.code for p in result.problems] == warnings
    assert all(p.severity is Severity.WARNING for p in result.problems)


def test_windows_1252_warning_names_the_file() -> None:
    data = csv_text(ENGLISH, ROWS).encode("cp1252")
    result = check(("vecka10.csv", data))
    assert codes(result.warnings) == [("vecka10.csv", None, "read_as_cp1252")]
    assert {s.name for s in result.shifts} == {"Åsa Öberg", "Bo Ärlig"}


def test_a_file_neither_utf8_nor_windows_1252_is_refused_at_its_first_bad_line() -> None:
    # A UTF-8 export cut off inside a character: two of the three bytes of 址 arrived, and
    # 0x9D is no Windows-1252 character either. The admin needs the line, not just "not UTF-8".
    head = csv_text(ENGLISH, [ROWS[0].replace("Åsa Öberg", "Asa Oberg")]).encode()
    cut = "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@li:localhost,Li 址".encode()[:-1]
    result = check(("r.csv", head + cut))
    assert codes(result.errors) == [("r.csv", 3, "not_utf8")]
    assert not result.shifts


def test_quoted_cells_spanning_lines_keep_physical_line_numbers() -> None:
    text = (
        "service,level,start,end,matrix_id,name,phone\n"
        'kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,"Berg, Anna\növerläkare",\n'
        "\n"
        "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,not-a-matrix-id,Bo,\n"
    )
    result = check(("r.csv", text.encode()))
    # The line break inside the name is refused (issue 20), at the line the row starts on.
    assert codes(result.errors) == [
        ("r.csv", 2, "control_character"),
        ("r.csv", 5, "bad_matrix_id"),
    ]


def test_times_with_offset_and_24_00_are_accepted() -> None:
    text = csv_text(
        ENGLISH,
        [
            "kardiologi,1,2026-03-02T08:00+01:00,2026-03-02T16:00Z,@a:localhost,A,",
            "kardiologi,1,2026-03-02 17:00,2026-03-02 24:00,@b:localhost,B,",
            "kardiologi,1,2026-03-15T08:00,2026-03-15 17.00,@c:localhost,C,",
        ],
    )
    result = check(("r.csv", text.encode()))
    assert result.ok, result.problems
    assert [(s.start, s.end) for s in result.shifts] == [
        (utc(2026, 3, 2, 7), utc(2026, 3, 2, 16)),
        (utc(2026, 3, 2, 16), utc(2026, 3, 2, 23)),
        (utc(2026, 3, 15, 7), utc(2026, 3, 15, 16)),
    ]


def test_service_alias_in_any_case_resolves_to_the_id() -> None:
    text = csv_text(ENGLISH, ["HJÄRTA,1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,"])
    (shift,) = check(("r.csv", text.encode())).shifts
    assert shift.service == "kardiologi"


# ---------------------------------------------------------------------------------------------
# XLSX


def xlsx(rows: Sequence[Sequence[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(
            [
                ["service", "level", "start", "end", "matrix_id", "name", "phone"],
                [
                    "kardiologi",
                    1,
                    datetime(2026, 3, 2, 8),
                    datetime(2026, 3, 2, 17),
                    "@asa.oberg:localhost",
                    "Åsa Öberg",
                    "070-174 06 21",
                ],
                [
                    "hjärta",
                    2.0,
                    datetime(2026, 3, 2, 8),
                    datetime(2026, 3, 3, 8),
                    "@bo.arlig:localhost",
                    "Bo Ärlig",
                    None,
                ],
            ],
            id="datetime-cells",
        ),
        pytest.param(
            [
                ["Tjänst", "Nivå", "Start", "Slut", "Matrix_id", "Namn", "Telefon"],
                [
                    "kardiologi",
                    1.0,
                    "2026-03-02 08:00",
                    "2026-03-02 17:00",
                    "@asa.oberg:localhost",
                    "Åsa Öberg",
                    "070-174 06 21",
                ],
                [
                    "hjärta",
                    "2",
                    "2026-03-02 08:00",
                    "2026-03-03 08:00",
                    "@bo.arlig:localhost",
                    "Bo Ärlig",
                    "",
                ],
            ],
            id="string-cells-swedish-headers",
        ),
    ],
)
def test_xlsx_reads_the_same_shifts(rows: list[list[object]]) -> None:
    result = check(("roster.xlsx", xlsx(rows)))
    assert result.ok, result.problems
    assert result.problems == ()
    assert result.shifts == EXPECTED


def test_xlsx_problems_carry_the_sheet_row_number() -> None:
    rows = [
        ["service", "level", "start", "end", "matrix_id", "name"],
        ["kardiologi", 1, datetime(2026, 3, 2, 8), datetime(2026, 3, 2, 17), "@a:localhost", "A"],
        ["kardiologi", 0, datetime(2026, 3, 2, 8), datetime(2026, 3, 2, 17), "@b:localhost", "B"],
        ["ortopedi", 1, datetime(2026, 3, 2, 8), datetime(2026, 3, 2, 17), "@c:localhost", "C"],
    ]
    result = check(("roster.xlsx", xlsx(rows)))
    assert codes(result.errors) == [
        ("roster.xlsx", 3, "bad_level"),
        ("roster.xlsx", 4, "unknown_service"),
    ]


def test_xlsx_empty_time_cell_is_a_missing_value() -> None:
    rows = [
        ["service", "level", "start", "end", "matrix_id", "name"],
        ["kardiologi", 1, None, datetime(2026, 3, 2, 17), "@a:localhost", "A"],
    ]
    result = check(("roster.xlsx", xlsx(rows)))
    assert codes(result.errors) == [("roster.xlsx", 2, "missing_value")]


def test_xlsx_nonexistent_datetime_cell_is_an_error() -> None:
    rows = [
        ["service", "level", "start", "end", "matrix_id", "name"],
        ["kardiologi", 1, datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 8), "@a:x", "A"],
    ]
    result = check(("roster.xlsx", xlsx(rows)))
    assert codes(result.errors) == [("roster.xlsx", 2, "nonexistent_time")]


# ---------------------------------------------------------------------------------------------
# iCalendar


def ical(events: Sequence[dict[str, object]], with_timezones: bool = False) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//test//roster//SV")
    calendar.add("version", "2.0")
    for number, props in enumerate(events):
        event = icalendar.Event()
        event.add("uid", f"shift-{number}@test")
        event.add("dtstamp", utc(2026, 1, 1))
        for key, value in props.items():
            event.add(key, value)
        calendar.add_component(event)
    if with_timezones:
        calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def _events(start1: object, end1: object, start2: object, end2: object) -> list[dict[str, object]]:
    return [
        {
            "dtstart": start1,
            "dtend": end1,
            "x-consultbot-service": "kardiologi",
            "x-consultbot-level": "1",
            "x-consultbot-matrix-id": "@asa.oberg:localhost",
            "x-consultbot-name": "Åsa Öberg",
            "x-consultbot-phone": "070-174 06 21",
        },
        {
            "dtstart": start2,
            "dtend": end2,
            "x-consultbot-service": "hjärta",
            "x-consultbot-level": "2",
            "x-consultbot-matrix-id": "@bo.arlig:localhost",
            "x-consultbot-name": "Bo Ärlig",
        },
    ]


def _sthlm(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("events", "with_timezones"),
    [
        pytest.param(
            _events(
                _sthlm(2026, 3, 2, 8),
                _sthlm(2026, 3, 2, 17),
                _sthlm(2026, 3, 2, 8),
                _sthlm(2026, 3, 3, 8),
            ),
            False,
            id="tzid",
        ),
        pytest.param(
            _events(
                _sthlm(2026, 3, 2, 8),
                _sthlm(2026, 3, 2, 17),
                _sthlm(2026, 3, 2, 8),
                _sthlm(2026, 3, 3, 8),
            ),
            True,
            id="tzid-with-vtimezone",
        ),
        pytest.param(
            _events(
                utc(2026, 3, 2, 7), utc(2026, 3, 2, 16), utc(2026, 3, 2, 7), utc(2026, 3, 3, 7)
            ),
            False,
            id="utc",
        ),
        pytest.param(
            _events(
                datetime(2026, 3, 2, 8),
                datetime(2026, 3, 2, 17),
                datetime(2026, 3, 2, 8),
                datetime(2026, 3, 3, 8),
            ),
            False,
            id="floating",
        ),
    ],
)
def test_ical_reads_the_same_shifts(events: list[dict[str, object]], with_timezones: bool) -> None:
    result = check(("roster.ics", ical(events, with_timezones)))
    assert result.ok, result.problems
    assert result.problems == ()
    assert result.shifts == EXPECTED


def test_ical_attendee_gives_matrix_id_and_name() -> None:
    attendee = icalendar.vCalAddress("matrix:u/asa.oberg:localhost")
    attendee.params["CN"] = icalendar.vText("Åsa Öberg")
    data = ical(
        [
            {
                "dtstart": _sthlm(2026, 3, 2, 8),
                "dtend": _sthlm(2026, 3, 2, 17),
                "x-consultbot-service": "kardiologi",
                "x-consultbot-level": "1",
                "attendee": attendee,
            }
        ]
    )
    (shift,) = check(("roster.ics", data)).shifts
    assert (shift.user, shift.name) == ("@asa.oberg:localhost", "Åsa Öberg")


def test_ical_problems_carry_the_line_of_their_own_property() -> None:
    events = _events(
        _sthlm(2026, 3, 2, 8), _sthlm(2026, 3, 2, 17), _sthlm(2026, 3, 2, 8), _sthlm(2026, 3, 3, 8)
    )
    events[1]["x-consultbot-service"] = "ortopedi"
    events[1]["x-consultbot-level"] = "x"
    data = ical(events)
    lines = data.decode().splitlines()
    second = [n for n, line in enumerate(lines, 1) if line == "BEGIN:VEVENT"][1]

    def own(prefix: str) -> int:
        return next(n for n, line in enumerate(lines, 1) if n > second and line.startswith(prefix))

    result = check(("roster.ics", data))
    assert sorted(codes(result.errors)) == [
        ("roster.ics", own("X-CONSULTBOT-LEVEL"), "bad_level"),
        ("roster.ics", own("X-CONSULTBOT-SERVICE"), "unknown_service"),
    ]


def test_ical_nonexistent_floating_time_is_an_error() -> None:
    events = _events(
        datetime(2026, 3, 29, 2, 30),
        datetime(2026, 3, 29, 8),
        datetime(2026, 3, 2, 8),
        datetime(2026, 3, 3, 8),
    )
    result = check(("roster.ics", ical(events)))
    assert [p.code for p in result.errors] == ["nonexistent_time"]


def test_ical_export_then_import_gives_identical_shifts() -> None:
    text = csv_text(
        ENGLISH,
        [
            *ROWS,
            # Over both DST changes, with awkward characters in the name
            "kardiologi,1,2026-03-28 20:00,2026-03-29 08:00,@natt_1:localhost,"
            '"Berg, Anna; överläkare",',
            "röntgen,3,2026-10-24 20:00,2026-10-25 08:00,@x=y/z+w:example.org:8448,Ölund \\ Ö,"
            "+46 70 123 45 67",
            "vc-mora,1,2026-12-24 00:00,2027-01-01 00:00,@jul:localhost,Julia Jul,",
        ],
    )
    original = check(("roster.csv", text.encode()))
    assert original.ok, original.problems
    stamp = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    exported = shifts_to_ical(original.shifts, "Kardiologi", {"kardiologi": "Kardiologi"}, stamp)
    again = check(("export.ics", exported))
    assert again.problems == ()
    assert again.shifts == original.shifts
    assert again.periods == original.periods


# ---------------------------------------------------------------------------------------------
# Every kind of error, with file, line and code

GOOD = "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@good:localhost,Good Person,"


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ("ortopedi,1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,", "unknown_service"),
        (",1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,", "missing_value"),
        ("kardiologi,1,igår 08:00,2026-03-02 17:00,@a:localhost,A,", "bad_time"),
        ("kardiologi,1,2026-03-02 08:00,02/03/2026 17:00,@a:localhost,A,", "bad_time"),
        ("kardiologi,1,,2026-03-02 17:00,@a:localhost,A,", "missing_value"),
        ("kardiologi,1,2026-02-30 08:00,2026-03-02 17:00,@a:localhost,A,", "impossible_time"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 25:00,@a:localhost,A,", "impossible_time"),
        ("kardiologi,1,2026-03-29 02:30,2026-03-29 08:00,@a:localhost,A,", "nonexistent_time"),
        ("kardiologi,1,2026-03-28 20:00,2026-03-29 02:00,@a:localhost,A,", "nonexistent_time"),
        ("kardiologi,1,2026-03-02 17:00,2026-03-02 08:00,@a:localhost,A,", "end_not_after_start"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 08:00,@a:localhost,A,", "end_not_after_start"),
        ("kardiologi,1,2026-03-01 08:00,2026-03-20 08:00,@a:localhost,A,", "shift_too_long"),
        ("kardiologi,0,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,", "bad_level"),
        ("kardiologi,-1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,", "bad_level"),
        ("kardiologi,x,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,", "bad_level"),
        ("kardiologi,10,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,", "bad_level"),
        ("kardiologi,1.5,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,", "bad_level"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,anna:localhost,A,", "bad_matrix_id"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@anna,A,", "bad_matrix_id"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@anna@localhost,A,", "bad_matrix_id"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@Anna Berg:localhost,A,", "bad_matrix_id"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,anna.berg@region.se,A,", "bad_matrix_id"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,,A,", "missing_value"),
        ("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,,", "missing_value"),
    ],
)
def test_row_error_is_reported_with_file_line_and_code(row: str, code: str) -> None:
    text = csv_text(ENGLISH, [GOOD, row, GOOD.replace("@good", "@other")])
    result = check(("vecka10.csv", text.encode()))
    assert not result.ok
    assert codes(result.errors) == [("vecka10.csv", 3, code)]
    assert [s.user for s in result.shifts] == ["@good:localhost", "@other:localhost"]


@pytest.mark.parametrize(
    "row",
    [
        # Odd but possible input must end as a problem on the row, never as an exception.
        "kardiologi,²,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,",  # superscript digit
        "kardiologi,1,0001-01-01 00:00,2026-03-02 17:00,@a:localhost,A,",
        "kardiologi,1,2026-03-02 08:00,9999-12-31 24:00,@a:localhost,A,",
        "kardiologi,1,2026-03-02 08:00,9999-12-31T23:00-05:00,@a:localhost,A,",
        "kardiologi,1,0001-01-01T00:30+01:00,2026-03-02 17:00,@a:localhost,A,",
    ],
)
def test_extreme_cells_are_reported_not_raised(row: str) -> None:
    text = csv_text(ENGLISH, [row])
    result = check(("r.csv", text.encode()))
    assert [(p.file, p.line) for p in result.errors] == [("r.csv", 2)]


def test_all_problems_of_a_file_are_reported() -> None:
    text = csv_text(
        ENGLISH,
        [
            GOOD,  # line 2
            "ortopedi,1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,",  # 3
            GOOD.replace("@good", "@g2"),  # 4
            "kardiologi,0,2026-02-30 08:00,2026-03-02 17:00,@b:localhost,B,",  # 5: two problems
            "kardiologi,1,2026-03-02 17:00,2026-03-02 08:00,@c:localhost,C,",  # 6
            "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,c@localhost,C,",  # 7
            "kardiologi,1,2026-03-29 02:30,2026-03-29 08:00,@d:localhost,D,",  # 8
        ],
    )
    result = check(("r.csv", text.encode()))
    assert sorted(codes(result.errors)) == [
        ("r.csv", 3, "unknown_service"),
        ("r.csv", 5, "bad_level"),
        ("r.csv", 5, "impossible_time"),
        ("r.csv", 6, "end_not_after_start"),
        ("r.csv", 7, "bad_matrix_id"),
        ("r.csv", 8, "nonexistent_time"),
    ]
    assert len(result.shifts) == 2


def test_problems_of_several_files_name_their_own_file() -> None:
    bad = "ortopedi,1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,"
    result = check(
        ("a.csv", csv_text(ENGLISH, [GOOD, bad]).encode()),
        ("b.csv", csv_text(ENGLISH, [bad.replace("@a", "@b")]).encode()),
    )
    assert codes(result.errors) == [
        ("a.csv", 3, "unknown_service"),
        ("b.csv", 2, "unknown_service"),
    ]


@pytest.mark.parametrize(
    ("data", "code", "line"),
    [
        pytest.param(b"", "empty_file", None, id="empty"),
        pytest.param(b"  \r\n\n", "empty_file", None, id="blank"),
        pytest.param(b"\xef\xbb\xbf", "empty_file", None, id="bom-only"),
        pytest.param((ENGLISH + "\n").encode(), "no_rows", 1, id="header-only"),
        pytest.param(b"\x00\x01\x02\x03binary", "binary_file", None, id="nul-bytes"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary_file", None, id="png"
        ),
        pytest.param(b"PK\x03\x04not really a zip", "xlsx_truncated", None, id="broken-zip"),
        pytest.param(
            b"service,level,start,matrix_id,name\nkardiologi,1,2026-03-02 08:00,@a:b,A\n",
            "missing_columns",
            1,
            id="missing-end-column",
        ),
        pytest.param(
            b"tj\xc3\xa4nst;niv\xc3\xa5;start;slut;namn\n", "missing_columns", 1, id="no-matrix-id"
        ),
    ],
)
def test_file_level_errors(data: bytes, code: str, line: int | None) -> None:
    result = check(("upload.csv", data))
    assert not result.ok
    assert codes(result.errors) == [("upload.csv", line, code)]
    assert result.shifts == ()


def test_missing_columns_names_the_columns() -> None:
    data = b"service,level,start,matrix_id,name\nkardiologi,1,2026-03-02 08:00,@a:b,A\n"
    (problem,) = check(("r.csv", data)).errors
    assert problem.params["columns"] == "end"


def test_unknown_column_is_only_a_warning() -> None:
    text = csv_text(ENGLISH + ",kommentar", [GOOD + ",hej"])
    result = check(("r.csv", text.encode()))
    assert result.ok
    assert codes(result.warnings) == [("r.csv", 1, "unknown_column")]


# ---------------------------------------------------------------------------------------------
# Overlaps


def test_same_person_twice_overlapping_in_one_service_is_an_error() -> None:
    text = csv_text(
        ENGLISH,
        [
            "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@anna:localhost,Anna,",
            "kardiologi,2,2026-03-02 16:00,2026-03-03 08:00,@anna:localhost,Anna,",
        ],
    )
    result = check(("r.csv", text.encode()))
    assert not result.ok
    (problem,) = result.errors
    assert (problem.file, problem.line, problem.code) == ("r.csv", 3, "overlap_same_service")
    assert problem.params["other"] == "r.csv:2"


def test_same_person_overlapping_across_files_names_both_places() -> None:
    row = "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@anna:localhost,Anna,"
    result = check(
        ("a.csv", csv_text(ENGLISH, [row]).encode()),
        ("b.csv", csv_text(ENGLISH, [GOOD, row]).encode()),
    )
    (problem,) = result.errors
    assert (problem.file, problem.line, problem.code) == ("b.csv", 3, "overlap_same_service")
    assert problem.params["other"] == "a.csv:2"


def test_same_person_on_two_services_at_once_is_a_warning_only() -> None:
    text = csv_text(
        ENGLISH,
        [
            "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@anna:localhost,Anna,",
            "radiologi,1,2026-03-02 12:00,2026-03-02 20:00,@anna:localhost,Anna,",
        ],
    )
    result = check(("r.csv", text.encode()))
    assert result.ok
    assert codes(result.warnings) == [("r.csv", 3, "overlap_other_service")]
    assert len(result.shifts) == 2


def test_back_to_back_shifts_do_not_overlap() -> None:
    text = csv_text(
        ENGLISH,
        [
            "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@anna:localhost,Anna,",
            "kardiologi,1,2026-03-02 17:00,2026-03-03 08:00,@anna:localhost,Anna,",
        ],
    )
    result = check(("r.csv", text.encode()))
    assert result.problems == ()


# ---------------------------------------------------------------------------------------------
# Coverage gaps


def test_lunch_hour_gap_on_a_weekday_is_one_warning() -> None:
    text = csv_text(
        ENGLISH,
        [
            "radiologi,1,2026-03-02 08:00,2026-03-02 12:00,@a:localhost,A,",
            "radiologi,1,2026-03-02 13:00,2026-03-02 17:00,@b:localhost,B,",
            "radiologi,2,2026-03-02 08:00,2026-03-02 17:00,@c:localhost,C,",  # level 2 ≠ cover
        ],
    )
    result = check(("r.csv", text.encode()), hours=True)
    assert result.ok
    gaps = [p for p in result.warnings if p.code == "coverage_gap"]
    assert len(gaps) == 1
    assert gaps[0].params == {
        "service": "radiologi",
        "start": "2026-03-02 12:00",
        "end": "2026-03-02 13:00",
    }
    assert [(g.service, g.start, g.end) for g in result.gaps] == [
        ("radiologi", utc(2026, 3, 2, 11), utc(2026, 3, 2, 12))
    ]


def test_uncovered_nights_and_weekend_are_no_gap_for_halvakut_only() -> None:
    # A week of day shifts Monday–Friday: nights and the weekend are outside halvakut's hours.
    rows = [
        f"radiologi,1,2026-03-0{d} 08:00,2026-03-0{d} 17:00,@a:localhost,A,"
        for d in (2, 3, 4, 5, 6)
    ] + ["radiologi,1,2026-03-09 08:00,2026-03-09 17:00,@a:localhost,A,"]
    result = check(("r.csv", csv_text(ENGLISH, rows).encode()), hours=True)
    assert result.problems == ()
    assert result.gaps == ()


def test_uncovered_night_is_a_gap_for_a_service_with_akut() -> None:
    rows = [
        "kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A,",
        "kardiologi,1,2026-03-03 08:00,2026-03-03 17:00,@a:localhost,A,",
    ]
    result = check(("r.csv", csv_text(ENGLISH, rows).encode()), hours=True)
    assert [(g.start, g.end) for g in result.gaps] == [(utc(2026, 3, 2, 16), utc(2026, 3, 3, 7))]


def test_no_gap_warnings_without_track_hours() -> None:
    text = csv_text(ENGLISH, ["radiologi,1,2026-03-02 08:00,2026-03-02 12:00,@a:localhost,A,"])
    assert check(("r.csv", text.encode())).problems == ()


# ---------------------------------------------------------------------------------------------
# Broken iCalendar input


def raw_ics(dtstart: str, dtend: str) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//SV",
        "BEGIN:VEVENT",  # line 4
        "UID:1",
        dtstart,
        dtend,
        "X-CONSULTBOT-SERVICE:kardiologi",
        "X-CONSULTBOT-LEVEL:1",
        "X-CONSULTBOT-MATRIX-ID:@a:localhost",
        "X-CONSULTBOT-NAME:A",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.mark.parametrize(
    ("dtstart", "dtend", "code", "line"),
    [
        pytest.param(
            "DTSTART;VALUE=DATE:20260302",
            "DTEND;VALUE=DATE:20260303",
            "all_day_event",
            6,
            id="all-day",
        ),
        pytest.param("DTSTART:garbage", "DTEND:20260302T170000", "bad_time", 6, id="garbage"),
        pytest.param("DTSTART:20260302T080000", "DTEND:P1D", "bad_time", 7, id="duration-as-end"),
        pytest.param(
            "DTSTART:20260302T170000",
            "DTEND:20260302T080000",
            "end_not_after_start",
            7,
            id="reversed",
        ),
        pytest.param(
            "DTSTART;TZID=Europe/Stockholm:20260329T023000",
            "DTEND;TZID=Europe/Stockholm:20260329T080000",
            "nonexistent_time",
            6,
            id="tzid-in-spring-gap",
        ),
        pytest.param(
            "DTSTART:00010101T000000",
            "DTEND:20260302T170000",
            "year_out_of_range",
            6,
            id="year-1",
        ),
    ],
)
def test_ical_bad_times_are_reported_at_their_property(
    dtstart: str, dtend: str, code: str, line: int
) -> None:
    # DTSTART is line 6 and DTEND line 7; BEGIN:VEVENT (line 4) would not show which is wrong.
    result = check(("roster.ics", raw_ics(dtstart, dtend)))
    assert not result.ok
    assert {(p.file, p.line) for p in result.errors} == {("roster.ics", line)}
    assert set(code.split("|")) & {p.code for p in result.errors}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", id="no-events"),
        pytest.param(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", id="truncated"),
        pytest.param(b"BEGIN:VCALENDAR\r\n\x00\x01", id="binary"),
    ],
)
def test_broken_ical_file_is_an_error_not_an_exception(data: bytes) -> None:
    result = check(("roster.ics", data))
    assert not result.ok
    assert all(p.file == "roster.ics" for p in result.errors)


def test_a_service_may_be_named_by_its_full_name() -> None:
    csv = (
        "tjänst;nivå;start;slut;matrix_id;namn\n"
        "Kardiologi, Falu lasarett;1;2026-03-02 08:00;2026-03-02 17:00;@a:localhost;A\n"
    ).encode()
    result = check(("schema.csv", csv))
    assert result.ok, result.errors
    assert [s.service for s in result.shifts] == ["kardiologi"]


def test_excel_dates_stored_as_plain_numbers_are_read() -> None:
    # A cell formatted "General" holds the serial number: 46083.333… is 2026-03-02 08:00.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["service", "level", "start", "end", "matrix_id", "name"])
    sheet.append(["kardiologi", 1, 46083 + 8 / 24, 46083 + 17 / 24, "@a:localhost", "A"])
    sheet.append(["kardiologi", 2, 123.0, 46083 + 17 / 24, "@b:localhost", "B"])
    buffer = io.BytesIO()
    book.save(buffer)
    result = check(("schema.xlsx", buffer.getvalue()))
    assert codes(result.errors) == [("schema.xlsx", 3, "bad_time")]
    [first] = result.shifts
    assert first.start == utc(2026, 3, 2, 7) and first.end == utc(2026, 3, 2, 16)


@pytest.mark.parametrize(("word", "level"), [("jour", 1), ("Bakjour", 2), ("primärjour", 1)])
def test_levels_may_be_written_as_words(word: str, level: int) -> None:
    csv = (
        "service,level,start,end,matrix_id,name\n"
        f"kardiologi,{word},2026-03-02 08:00,2026-03-02 17:00,@a:localhost,A\n"
    ).encode()
    result = check(("schema.csv", csv))
    assert result.ok, result.errors
    assert [s.level for s in result.shifts] == [level]
