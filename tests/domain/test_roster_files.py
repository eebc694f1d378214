"""Roster files as admins really have them (issue 7): each read right or refused with a line."""

from __future__ import annotations

import codecs
import io
import zipfile
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from consultbot.domain.chat.matrix_ids import is_matrix_id, normalise_matrix_id
from consultbot.domain.duty.catalogue import parse_catalogue
from consultbot.domain.duty.roster import RosterCheck, Shift, changes, check_roster
from consultbot.domain.files.xlsx import MAX_XLSX_BYTES
from consultbot.domain.types import ServiceId, UserId
from tests.support.catalogue import CATALOGUE, CATALOGUE_TOML, TZ

HEADER = "service,level,start,end,matrix_id,name,phone\n"


def check(*files: tuple[str, bytes]) -> RosterCheck:
    return check_roster(list(files), CATALOGUE, TZ)


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ).astimezone(UTC)


def on_duty(result: RosterCheck) -> list[tuple[str, datetime, datetime]]:
    return sorted((s.user, s.start, s.end) for s in result.shifts)


def errors(result: RosterCheck) -> list[tuple[int | None, str]]:
    return [(p.line, p.code) for p in result.errors]


def ics(*events: str, extra: str = "") -> bytes:
    body = "".join(
        "BEGIN:VEVENT\r\n"
        + "".join(line.strip() + "\r\n" for line in event.strip().splitlines())
        + "END:VEVENT\r\n"
        for event in events
    )
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Outlook//SV\r\n{extra}{body}END:VCALENDAR\r\n"
    ).encode()


DUTY = "X-CONSULTBOT-SERVICE:kardiologi\nX-CONSULTBOT-LEVEL:1\n"

# ---------------------------------------------------------------------------------------------
# 1. iCalendar as calendars write it


def test_a_cancelled_event_puts_nobody_on_duty() -> None:
    result = check(
        (
            "r.ics",
            ics(
                f"""UID:1
                DTSTART;TZID=Europe/Stockholm:20261201T080000
                DTEND;TZID=Europe/Stockholm:20261201T170000
                STATUS:CANCELLED
                ATTENDEE;CN=Anna:matrix:u/anna:region.se
                {DUTY}""",
                f"""UID:2
                DTSTART;TZID=Europe/Stockholm:20261201T080000
                DTEND;TZID=Europe/Stockholm:20261201T170000
                ATTENDEE;CN=Bo:matrix:u/bo:region.se
                {DUTY}""",
            ),
        )
    )
    assert result.ok, result.problems
    assert on_duty(result) == [("@bo:region.se", local(2026, 12, 1, 8), local(2026, 12, 1, 17))]


def test_recurring_events_are_expanded_with_exdate_rdate_and_overrides() -> None:
    result = check(
        (
            "r.ics",
            ics(
                f"""UID:week
                DTSTART;TZID=Europe/Stockholm:20261201T080000
                DTEND;TZID=Europe/Stockholm:20261201T170000
                RRULE:FREQ=DAILY;COUNT=4
                EXDATE;TZID=Europe/Stockholm:20261202T080000
                RDATE;TZID=Europe/Stockholm:20261210T080000
                ATTENDEE;CN=Anna:matrix:u/anna:region.se
                {DUTY}""",
                f"""UID:week
                RECURRENCE-ID;TZID=Europe/Stockholm:20261203T080000
                DTSTART;TZID=Europe/Stockholm:20261203T120000
                DTEND;TZID=Europe/Stockholm:20261203T200000
                ATTENDEE;CN=Anna:matrix:u/anna:region.se
                {DUTY}""",
                f"""UID:week
                RECURRENCE-ID;TZID=Europe/Stockholm:20261204T080000
                DTSTART;TZID=Europe/Stockholm:20261204T080000
                DTEND;TZID=Europe/Stockholm:20261204T170000
                STATUS:CANCELLED
                {DUTY}""",
            ),
        )
    )
    assert result.ok, result.problems
    anna = "@anna:region.se"
    assert on_duty(result) == [
        (anna, local(2026, 12, 1, 8), local(2026, 12, 1, 17)),
        (anna, local(2026, 12, 3, 12), local(2026, 12, 3, 20)),  # moved by its override
        (anna, local(2026, 12, 10, 8), local(2026, 12, 10, 17)),  # the extra date
    ]
    # The moved occurrence is reported at its override's line.
    lines = dict(zip(result.shifts, (line for _, line in result.lines), strict=True))
    moved = next(s for s in result.shifts if s.start == local(2026, 12, 3, 12))
    assert lines[moved] == 15


def test_every_attendee_is_on_duty() -> None:
    result = check(
        (
            "r.ics",
            ics(
                f"""UID:1
                DTSTART:20261201T070000Z
                DTEND:20261201T160000Z
                ATTENDEE;CN=Anna Berg:matrix:u/anna:region.se
                ATTENDEE;CN=Bo Ek:matrix:u/bo:region.se
                {DUTY}"""
            ),
        )
    )
    assert result.ok, result.problems
    assert sorted((s.user, s.name) for s in result.shifts) == [
        ("@anna:region.se", "Anna Berg"),
        ("@bo:region.se", "Bo Ek"),
    ]


def test_an_attendee_without_a_matrix_address_is_refused_not_dropped() -> None:
    result = check(
        (
            "r.ics",
            ics(
                f"""UID:1
                DTSTART:20261201T070000Z
                DTEND:20261201T160000Z
                ATTENDEE;CN=Anna:matrix:u/anna:region.se
                ATTENDEE;CN=Bo:mailto:bo@region.se
                {DUTY}"""
            ),
        )
    )
    assert errors(result) == [(9, "attendee_not_matrix")]  # Bo's ATTENDEE line


def test_an_unknown_time_zone_is_an_error_not_local_time() -> None:
    result = check(
        (
            "r.ics",
            ics(
                f"""UID:1
                DTSTART;TZID=Mars/Olympus:20261201T080000
                DTEND;TZID=Mars/Olympus:20261201T170000
                X-CONSULTBOT-MATRIX-ID:@anna:region.se
                X-CONSULTBOT-NAME:Anna
                {DUTY}"""
            ),
        )
    )
    assert errors(result) == [(6, "unknown_timezone")]  # the DTSTART naming the zone
    assert result.errors[0].params == {"tzid": "Mars/Olympus"}


def test_duration_instead_of_dtend() -> None:
    result = check(
        (
            "r.ics",
            ics(
                f"""UID:1
                DTSTART;TZID=Europe/Stockholm:20261201T170000
                DURATION:PT15H
                X-CONSULTBOT-MATRIX-ID:@anna:region.se
                X-CONSULTBOT-NAME:Anna
                {DUTY}"""
            ),
        )
    )
    assert result.ok, result.problems
    assert on_duty(result) == [("@anna:region.se", local(2026, 12, 1, 17), local(2026, 12, 2, 8))]


@pytest.mark.parametrize(
    ("lines", "code", "line"),
    [
        ("DTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261202", "all_day_event", 6),
        (
            "DTSTART:20261201T070000Z\nDTEND:20261201T160000Z\nRRULE:FREQ=WEEKLY",
            "endless_recurrence",
            8,
        ),
        (
            "DTSTART:20261201T070000Z\nDTEND:20261201T071000Z\nRRULE:FREQ=MINUTELY;COUNT=100000",
            "too_many_occurrences",
            8,
        ),
    ],
)
def test_calendar_shapes_that_are_not_shifts_are_refused_with_their_line(
    lines: str, code: str, line: int
) -> None:
    # The property's own line (DTSTART 6, RRULE 8), not BEGIN:VEVENT (4).
    event = f"UID:1\n{lines}\nX-CONSULTBOT-MATRIX-ID:@anna:region.se\nX-CONSULTBOT-NAME:A\n{DUTY}"
    result = check(("r.ics", ics(event)))
    assert errors(result) == [(line, code)]


# ---------------------------------------------------------------------------------------------
# 2. Periods


def rows(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode()


def test_each_file_has_its_own_period() -> None:
    january = rows("kardiologi,1,2026-01-05 08:00,2026-01-05 17:00,@a:region.se,A,")
    march = rows("kardiologi,1,2026-03-02 08:00,2026-03-02 17:00,@a:region.se,A,")
    result = check(("jan.csv", january), ("mar.csv", march))
    assert result.ok, result.problems
    assert result.periods[ServiceId("kardiologi")] == (
        (local(2026, 1, 5, 8), local(2026, 1, 5, 17)),
        (local(2026, 3, 2, 8), local(2026, 3, 2, 17)),
    )


def test_one_mistyped_year_is_refused_at_its_line() -> None:
    data = rows(
        "kardiologi,1,2026-12-01 08:00,2026-12-01 17:00,@a:region.se,A,",
        "kardiologi,1,2062-12-02 08:00,2062-12-02 17:00,@a:region.se,A,",
        "kardiologi,1,2026-12-03 08:00,2026-12-03 17:00,@a:region.se,A,",
    )
    result = check(("r.csv", data))
    assert (3, "period_hole") in errors(result)
    assert (3, "period_too_long") in errors(result)


def test_a_year_without_holes_is_fine_and_a_long_one_is_not() -> None:
    def roster(days: int) -> bytes:
        first = datetime(2026, 1, 1, 8)
        return rows(
            *(
                f"kardiologi,1,{first + timedelta(days=d):%Y-%m-%d %H:%M},"
                f"{first + timedelta(days=d + 1):%Y-%m-%d %H:%M},@a:region.se,A,"
                for d in range(days)
            )
        )

    assert check(("year.csv", roster(365))).ok
    assert errors(check(("long.csv", roster(405)))) == [(406, "period_too_long")]


def test_a_hole_of_more_than_a_month_is_refused() -> None:
    data = rows(
        "kardiologi,1,2026-01-01 08:00,2026-01-01 17:00,@a:region.se,A,",
        "kardiologi,1,2026-02-02 08:00,2026-02-02 17:00,@a:region.se,A,",
        "radiologi,1,2026-01-01 08:00,2026-01-01 17:00,@b:region.se,B,",
        "radiologi,1,2026-01-30 08:00,2026-01-30 17:00,@b:region.se,B,",
    )
    assert errors(check(("r.csv", data))) == [(3, "period_hole")]


def shift(user: str, start: datetime, hours: int = 9, level: int = 1) -> Shift:
    return Shift(
        service=ServiceId("kardiologi"),
        level=level,
        start=start,
        end=start + timedelta(hours=hours),
        user=UserId(user),
        name=user,
    )


def test_the_change_summary_counts_added_replaced_removed_and_unchanged() -> None:
    monday, tuesday = local(2026, 12, 7, 8), local(2026, 12, 8, 8)
    old = [shift("@a:x", monday), shift("@b:x", tuesday), shift("@c:x", monday, level=2)]
    new = [shift("@a:x", monday), shift("@d:x", tuesday)]
    found = changes(ServiceId("kardiologi"), new, old)
    assert (found.added, found.replaced, found.removed, found.unchanged) == (1, 1, 1, 1)


# ---------------------------------------------------------------------------------------------
# 3. CSV


def test_an_unclosed_quote_is_an_error_with_its_line() -> None:
    data = rows(
        "kardiologi,1,2026-12-01 08:00,2026-12-01 17:00,@a:region.se,A,",
        'kardiologi,1,2026-12-02 08:00,2026-12-02 17:00,@b:region.se,"Bo,',
        "kardiologi,1,2026-12-03 08:00,2026-12-03 17:00,@c:region.se,C,",
    )
    result = check(("r.csv", data))
    assert errors(result) == [(3, "csv_unclosed_quote")]
    assert result.shifts == ()


EXCEL_ROWS = [
    ["tjänst", "nivå", "start", "slut", "matrix_id", "namn", "telefon"],
    ["kardiologi", "1", "2026-12-01 08:00", "2026-12-01 17:00", "@åsa:region.se", "Åsa Öberg", ""],
]
EXPECTED = [("@åsa:region.se", local(2026, 12, 1, 8), local(2026, 12, 1, 17))]


def test_tab_delimited_and_utf16_files_from_excel_are_read() -> None:
    tabbed = "\r\n".join("\t".join(row) for row in EXCEL_ROWS) + "\r\n"
    for data in (
        tabbed.encode("utf-8"),
        codecs.BOM_UTF16_LE + tabbed.encode("utf-16-le"),
        tabbed.encode("utf-16"),
    ):
        result = check(("r.txt", data))
        # Matrix ids are ASCII: @åsa is refused, every other cell read right.
        assert errors(result) == [(2, "bad_matrix_id")], data[:8]
    fixed = tabbed.replace("@åsa", "@asa")
    result = check(("r.txt", codecs.BOM_UTF16_LE + fixed.encode("utf-16-le")))
    assert result.ok, result.problems
    assert [s.name for s in result.shifts] == ["Åsa Öberg"]


def test_utf16_without_a_bom_gets_the_right_reason() -> None:
    tabbed = "\r\n".join("\t".join(row) for row in EXCEL_ROWS)
    assert errors(check(("r.txt", tabbed.encode("utf-16-le")))) == [(None, "utf16_without_bom")]


def test_a_file_mixing_utf8_and_windows_1252_names_the_line() -> None:
    data = (
        HEADER.encode()
        + "kardiologi,1,2026-12-01 08:00,2026-12-01 17:00,@a:region.se,Åsa,\n".encode()
        + "kardiologi,1,2026-12-02 08:00,2026-12-02 17:00,@b:region.se,Örjan,\n".encode("cp1252")
    )
    result = check(("r.csv", data))
    assert errors(result) == [(3, "mixed_encoding")]


# ---------------------------------------------------------------------------------------------
# 4. Excel, bounded


def workbook(stray: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["service", "level", "start", "end", "matrix_id", "name"])
    sheet.append(
        ["kardiologi", 1, datetime(2026, 12, 1, 8), datetime(2026, 12, 1, 17), "@a:x", "A"]
    )
    if stray:
        sheet[stray] = "x"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_stray_cell_far_away_is_ignored() -> None:
    # Its sheet then claims 16,384 × 1,048,576 cells; what reading it costs is measured in
    # bench/bench_stall.py (BENCHMARKS.md), not bounded here.
    result = check(("r.xlsx", workbook("XFD1048576")))
    assert result.ok, result.problems
    assert on_duty(result) == [("@a:x", local(2026, 12, 1, 8), local(2026, 12, 1, 17))]


def test_a_zip_bomb_is_refused_before_it_is_read() -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook())) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * (MAX_XLSX_BYTES + 1))
            bomb.writestr(info.filename, data)
    assert len(buffer.getvalue()) < 1_000_000
    result = check(("bomb.xlsx", buffer.getvalue()))
    assert errors(result) == [(None, "xlsx_too_large")]


# ---------------------------------------------------------------------------------------------
# 5. Identities


def test_a_server_name_in_another_case_is_the_same_person() -> None:
    assert normalise_matrix_id("@x:LOCALHOST") == "@x:localhost"
    assert not is_matrix_id("@X:localhost")
    data = rows(
        "kardiologi,1,2026-12-01 08:00,2026-12-01 17:00,@x:LOCALHOST,X,",
        "kardiologi,2,2026-12-01 12:00,2026-12-01 20:00,@x:localhost,X,",
    )
    result = check(("r.csv", data))
    assert {s.user for s in result.shifts} == {"@x:localhost"}
    assert errors(result) == [(3, "overlap_same_service")]


def test_an_upper_case_localpart_is_refused() -> None:
    data = rows("kardiologi,1,2026-12-01 08:00,2026-12-01 17:00,@Anna:localhost,A,")
    assert errors(check(("r.csv", data))) == [(2, "bad_matrix_id")]


def test_an_alias_that_is_another_services_id_is_refused() -> None:
    text = CATALOGUE_TOML.replace('aliases = ["röntgen"]', 'aliases = ["röntgen", "Kardiologi"]')
    _, problems = parse_catalogue(text, "services.toml")
    assert [(p.code, p.params["name"]) for p in problems] == [("duplicate_name", "Kardiologi")]


# ---------------------------------------------------------------------------------------------
# 7. Messages


def test_a_broken_calendar_names_the_line() -> None:
    cut = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20261201T080000Z\r\n"
    assert errors(check(("r.ics", cut))) == [(3, "ical_not_closed")]
    crossed = cut + b"END:VCALENDAR\r\n"
    assert errors(check(("r.ics", crossed))) == [(5, "ical_unexpected_end")]


def test_the_staff_list_normalises_matrix_ids_too() -> None:
    from consultbot.domain.duty.people import parse_staff

    data = b"matrix_id,name,unit\n@a:Region.SE,A,kardiologi\n@a:region.se,A,kardiologi\n"
    members, problems = parse_staff(data, "staff.csv", CATALOGUE)
    assert [m.user for m in members] == ["@a:region.se"]
    assert [(p.line, p.code) for p in problems] == [(3, "duplicate_person")]


OUTLOOK_ZONE = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
""".replace("\n", "\r\n")


def test_a_time_zone_the_file_defines_is_known() -> None:
    result = check(
        (
            "outlook.ics",
            ics(
                f"""UID:1
                DTSTART;TZID=W. Europe Standard Time:20261024T200000
                DTEND;TZID=W. Europe Standard Time:20261025T080000
                X-CONSULTBOT-MATRIX-ID:@anna:region.se
                X-CONSULTBOT-NAME:Anna
                {DUTY}""",
                extra=OUTLOOK_ZONE,
            ),
        )
    )
    assert result.ok, result.problems
    assert on_duty(result) == [("@anna:region.se", local(2026, 10, 24, 20), local(2026, 10, 25, 8))]
