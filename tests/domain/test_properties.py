"""Properties that must hold for any input: no crashes, shifts found, hours consistent."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta

import icalendar
import openpyxl
from hypothesis import HealthCheck, example, given, settings, strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.duty.catalogue import Catalogue, parse_catalogue
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.oncall import on_duty
from consultbot.domain.duty.roster import RosterCheck, check_roster, unescape_cell
from consultbot.resources import example_data_dir
from tests.support.catalogue import CATALOGUE, HOURS, TZ

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENGLISH = ["service", "level", "start", "end", "matrix_id", "name", "phone"]
SWEDISH = ["tjänst", "nivå", "start", "slut", "matrix_id", "namn", "telefon"]


def run(files: list[tuple[str, bytes]]) -> RosterCheck:
    result = check_roster(files, CATALOGUE, TZ, HOURS)
    assert isinstance(result, RosterCheck)
    names = {name for name, _ in files}
    assert all(set(p.file.split(", ")) <= names for p in result.problems)
    assert all(s.end > s.start for s in result.shifts)
    assert result.ok == (not result.errors)
    return result


def to_csv(header: list[str], rows: list[list[str]], sep: str = ",", eol: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=eol)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


# ---------------------------------------------------------------------------------------------
# (a) No input crashes the roster reader and validator


def _stamp(d: datetime, sep: str = " ") -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}{sep}{d.hour:02d}:{d.minute:02d}"


any_datetime = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
time_cells = st.one_of(
    st.text(max_size=25),
    any_datetime.map(_stamp),
    any_datetime.map(lambda d: _stamp(d, "T") + ":00"),
    st.tuples(any_datetime, st.sampled_from(["Z", "+01:00", "-05:00", "+14:00", "-12:00"])).map(
        lambda pair: _stamp(pair[0], "T") + pair[1]
    ),
    st.from_regex(r"\d{4}-\d{2}-\d{2} \d{1,2}[:.]\d{2}(:\d{2})?", fullmatch=True),
    st.sampled_from(["2026-03-29 02:30", "2026-10-25 02:30", "2026-02-29 08:00", "24:00"]),
)
level_cells = st.one_of(
    st.text(max_size=5),
    st.integers(-3, 12).map(str),
    st.sampled_from(["²", "١", "٣", "1.0", " 1 ", "", "1e0", "Ⅰ"]),
)
service_cells = st.one_of(
    st.text(max_size=15), st.sampled_from(["kardiologi", "HJÄRTA", "röntgen", "vc-mora", ""])
)
user_cells = st.one_of(
    st.text(max_size=20), st.from_regex(r"@[a-z0-9._=/+-]{1,8}:[A-Za-z0-9.-]{1,8}", fullmatch=True)
)
row_cells = st.tuples(
    service_cells,
    level_cells,
    time_cells,
    time_cells,
    user_cells,
    st.text(max_size=10),
    st.text(max_size=10),
).map(list)


@SETTINGS
@given(
    data=st.binary(max_size=600),
    prefix=st.sampled_from(
        [b"", b"\xef\xbb\xbf", b"PK\x03\x04", b"\xff\xfe", b"BEGIN:VCALENDAR\r\n"]
    ),
)
@example(data=b"\x00", prefix=b"")
@example(data=b"service,level\n\x81\x8d", prefix=b"")
def test_arbitrary_bytes_never_crash(data: bytes, prefix: bytes) -> None:
    run([("upload.csv", prefix + data)])


@SETTINGS
@given(body=st.text(max_size=400), sep=st.sampled_from([",", ";"]), bom=st.booleans())
def test_arbitrary_text_under_a_valid_header_never_crashes(body: str, sep: str, bom: bool) -> None:
    text = sep.join(ENGLISH) + "\n" + body
    data = text.encode("utf-8-sig" if bom else "utf-8", errors="surrogatepass")
    run([("upload.csv", data)])


@SETTINGS
@given(
    rows=st.lists(row_cells, min_size=1, max_size=6),
    swedish=st.booleans(),
    sep=st.sampled_from([",", ";"]),
)
@example(
    rows=[["kardiologi", "²", "2026-03-02 08:00", "2026-03-02 17:00", "@a:b", "A", ""]],
    swedish=False,
    sep=",",
)
@example(
    rows=[["kardiologi", "1", "0001-01-01 00:00", "2026-03-02 17:00", "@a:b", "A", ""]],
    swedish=False,
    sep=",",
)
@example(
    rows=[["kardiologi", "1", "2026-03-02 08:00", "9999-12-31T23:00-05:00", "@a:b", "A", ""]],
    swedish=False,
    sep=",",
)
def test_arbitrary_cells_never_crash(rows: list[list[str]], swedish: bool, sep: str) -> None:
    safe = [[cell.replace("\x00", "") for cell in row] for row in rows]
    data = to_csv(SWEDISH if swedish else ENGLISH, safe, sep)
    run([("upload.csv", data.decode("utf-8", "surrogatepass").encode("utf-8", "replace"))])


xlsx_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=15).map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s)),
    time_cells.map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s)),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)),
    st.dates(min_value=datetime(1900, 3, 1).date()),
    st.times(),
)


@settings(SETTINGS, max_examples=40)
@given(rows=st.lists(st.lists(xlsx_cells, min_size=0, max_size=8), min_size=0, max_size=5))
def test_arbitrary_xlsx_cells_never_crash(rows: list[list[object]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(ENGLISH)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    run([("upload.xlsx", buffer.getvalue())])


ical_values = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=20),
    st.from_regex(r"\d{8}T\d{6}Z?", fullmatch=True),
    st.sampled_from(["00010101T000000", "99991231T235959Z", "20260329T023000", "P1D", ""]),
)


@SETTINGS
@given(
    start=ical_values,
    end=ical_values,
    level=ical_values,
    user=ical_values,
    tzid=st.sampled_from(["", ";TZID=Europe/Stockholm", ";VALUE=DATE", ";TZID=Mars/Olympus"]),
)
@example(start="garbage", end="20260302T170000", level="1", user="@a:b", tzid="")
@example(start="00010101T000000", end="20260302T170000", level="1", user="@a:b", tzid="")
def test_arbitrary_ical_properties_never_crash(
    start: str, end: str, level: str, user: str, tzid: str
) -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//SV\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        f"DTSTART{tzid}:{start}\r\nDTEND{tzid}:{end}\r\n"
        f"X-CONSULTBOT-SERVICE:kardiologi\r\nX-CONSULTBOT-LEVEL:{level}\r\n"
        f"X-CONSULTBOT-MATRIX-ID:{user}\r\nX-CONSULTBOT-NAME:A\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    run([("upload.ics", text.encode("utf-8", "replace"))])


# ---------------------------------------------------------------------------------------------
# (b) Every accepted shift is found by on_duty at its midpoint

# service id, level, start, end, user, name
Expected = tuple[str, int, datetime, datetime, str, str]
SERVICE_SPELLINGS = [
    ("kardiologi", "kardiologi"),
    ("Kardiologi", "kardiologi"),
    ("hjärta", "kardiologi"),
    ("KARDIO", "kardiologi"),
    ("radiologi", "radiologi"),
    ("Röntgen", "radiologi"),
    ("vc-mora", "vc-mora"),
]
matrix_ids = st.from_regex(
    r"@[a-z0-9._=/+-]{1,12}:[A-Za-z0-9.-]{1,12}(:[0-9]{1,5})?", fullmatch=True
)
names = st.text(
    alphabet=st.one_of(st.characters(whitelist_categories=("L",)), st.sampled_from(" ,;\"'-")),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip())


def local_starts_between(first: datetime, last: datetime) -> st.SearchStrategy[datetime]:
    """Local wall-clock minutes in [first, last] that exist (not in the spring-forward gap)."""
    return (
        st.datetimes(min_value=first, max_value=last)
        # fold=0: the first occurrence (hypothesis also draws fold=1, the second 02:30 of the
        # autumn night); such a start is written with its offset, since a file's bare wall time
        # in the repeated hour is refused as ambiguous.
        .map(lambda d: d.replace(second=0, microsecond=0, fold=0))
        .filter(
            lambda d: d.replace(tzinfo=TZ).astimezone(UTC).astimezone(TZ).replace(tzinfo=None) == d
        )
    )


local_starts = local_starts_between(datetime(2026, 1, 1), datetime(2027, 12, 31, 23, 59))


def _unambiguous(instant: datetime) -> bool:
    """Both readings of the instant's local wall time give it (in the repeated autumn hour they
    differ; `astimezone` leaves fold=1 on the second reading, so set each explicitly)."""
    wall = instant.astimezone(TZ).replace(tzinfo=None)
    return all(wall.replace(tzinfo=TZ, fold=fold).astimezone(UTC) == instant for fold in (0, 1))


def _render_end(end: datetime, style: int) -> str:
    """The end instant as ISO with offset, or as local wall time when that is unambiguous."""
    local = end.astimezone(TZ)
    wall = local.replace(tzinfo=None)
    unambiguous = _unambiguous(end)
    if style == 1 and unambiguous:
        return _stamp(wall)
    if style == 2 and unambiguous and wall.time() == time(0, 0):
        return _stamp(wall - timedelta(days=1))[:-5] + "24:00"
    return local.isoformat(timespec="minutes")


@st.composite
def valid_rosters(draw: st.DrawFn) -> tuple[list[list[str]], list[Expected]]:
    users = draw(st.lists(matrix_ids, min_size=1, max_size=10, unique=True))
    rows: list[list[str]] = []
    expected: list[Expected] = []
    # Within one month: a roster with a hole of more than 31 days is refused (tested apart).
    base = draw(local_starts)
    starts = local_starts_between(base, base + timedelta(days=25))
    for user in users:
        spelling, service = draw(st.sampled_from(SERVICE_SPELLINGS))
        level = draw(st.integers(1, 3))
        start_local = draw(starts)
        start = start_local.replace(tzinfo=TZ).astimezone(UTC)
        end = start + timedelta(minutes=draw(st.integers(1, 14 * 24 * 60)))
        start_text = (
            _stamp(start_local)
            if draw(st.booleans()) and _unambiguous(start)
            else start.astimezone(TZ).isoformat()
        )
        name = draw(names)
        phone = draw(st.sampled_from(["", "070-174 06 21", "+46 70 123 45 67"]))
        rows.append(
            [
                spelling,
                str(level),
                start_text,
                _render_end(end, draw(st.integers(0, 2))),
                user,
                name,
                phone,
            ]
        )
        user_id = normalise_matrix_id(user) or ""
        expected.append((service, level, start, end, user_id, unescape_cell(name.strip())))
    return rows, expected


@SETTINGS
@given(
    roster=valid_rosters(),
    swedish=st.booleans(),
    sep=st.sampled_from([",", ";"]),
    eol=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_every_accepted_shift_is_on_duty_at_its_midpoint(
    roster: tuple[list[list[str]], list[Expected]],
    swedish: bool,
    sep: str,
    eol: str,
    bom: bool,
) -> None:
    rows, expected = roster
    data = to_csv(SWEDISH if swedish else ENGLISH, rows, sep, eol)
    result = run([("roster.csv", (b"\xef\xbb\xbf" if bom else b"") + data)])
    assert result.ok, result.errors
    assert [(s.service, s.level, s.start, s.end, s.user, s.name) for s in result.shifts] == expected
    for shift in result.shifts:
        midpoint = shift.start + (shift.end - shift.start) / 2
        duty = on_duty(shift.service, midpoint, result.shifts)
        assert shift in duty.level(shift.level)
        assert shift not in on_duty(shift.service, shift.end, result.shifts).level(shift.level)


# ---------------------------------------------------------------------------------------------
# (b2) Every format an admin exports: the file's shifts exactly, or an error with its line


def _as_csv(rows: list[list[str]], sep: str, encoding: str) -> bytes:
    text = to_csv(ENGLISH, rows, sep, "\r\n").decode("utf-8")
    return text.encode(encoding)


def _as_xlsx(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(SWEDISH)
    for row in rows:
        sheet.append([int(row[1]) if i == 1 else cell for i, cell in enumerate(row)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _as_ics(
    rows: list[list[str]], expected: list[Expected], draw: st.DrawFn
) -> tuple[bytes, list[Expected]]:
    """One event per shift, as calendars write them: attendees or X- properties, DTEND or
    DURATION, some repeated daily (RRULE with COUNT), cancelled decoys in between."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//test//SV")
    calendar.add("version", "2.0")
    holds: list[Expected] = []
    for n, (row, shift) in enumerate(zip(rows, expected, strict=True)):
        service, level, start, end, user, name = shift
        repeats = draw(st.integers(1, 3)) if end - start <= timedelta(hours=23) else 1
        for copy in (False, True):
            cancelled = copy
            if copy and not draw(st.booleans()):
                continue
            event = icalendar.Event()
            event.add("uid", f"{n}-{copy}@test")
            event.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
            event.add("dtstart", start)
            if draw(st.booleans()):
                event.add("dtend", end)
            else:
                event.add("duration", end - start)
            if repeats > 1:
                event.add("rrule", {"FREQ": "DAILY", "COUNT": repeats})
            event.add("x-consultbot-service", row[0])
            event.add("x-consultbot-level", row[1])
            event.add("x-consultbot-name", row[5])
            if draw(st.booleans()):
                event.add("attendee", icalendar.vCalAddress("matrix:u/" + row[4][1:]))
            else:
                event.add("x-consultbot-matrix-id", row[4])
            if cancelled:
                event.add("status", "CANCELLED")
            calendar.add_component(event)
        for k in range(repeats):
            step = timedelta(days=k)
            holds.append((service, level, start + step, end + step, user, name))
    return calendar.to_ical(), holds


FILE_LEVEL = {"utf16_without_bom", "bad_utf16", "empty_file", "binary_file", "bad_ical", "no_rows"}


@settings(SETTINGS, max_examples=80)
@given(roster=valid_rosters(), data=st.data())
def test_every_format_holds_exactly_its_shifts_or_says_where_it_is_wrong(
    roster: tuple[list[list[str]], list[Expected]], data: st.DataObject
) -> None:
    rows, expected = roster
    kind = data.draw(st.sampled_from(["csv", "xlsx", "ics"]))
    if kind == "csv":
        sep = data.draw(st.sampled_from([",", ";", "\t"]))
        encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
        content, holds = _as_csv(rows, sep, encoding), expected
    elif kind == "xlsx":
        content, holds = _as_xlsx(rows), expected
    else:
        content, holds = _as_ics(rows, expected, data.draw)
    broken = data.draw(st.booleans()) and kind == "csv"
    if broken:
        # The shapes that used to lose rows silently: a quote never closed, a cut-off file.
        cut = data.draw(st.integers(1, max(1, len(content) - 1)))
        content = content[:cut] + (b'"' if data.draw(st.booleans()) else b"")
    result = run([(f"roster.{kind}", content)])
    if not broken:
        assert result.ok, result.errors
    if result.ok:
        got = sorted((s.service, s.level, s.start, s.end, s.user, s.name) for s in result.shifts)
        if not broken:
            assert got == sorted(holds)
        for shift in result.shifts:
            assert shift in on_duty(shift.service, shift.start, result.shifts).level(shift.level)
            after = on_duty(shift.service, shift.end, result.shifts).level(shift.level)
            assert shift not in after
    else:
        assert all(p.line is not None or p.code in FILE_LEVEL for p in result.errors)


# ---------------------------------------------------------------------------------------------
# (c) next_opening is open, not before t, and nothing between t and it is open

realistic_hours = st.sampled_from(
    [
        "weekdays 08:00-17:00",
        "daily 07:30-16:00",
        "weekdays 00:00-24:00",
        "daily 22:00-24:00",
        "weekdays 08:00-08:01",
        "daily 01:30-03:30",  # partly inside both DST changes
    ]
)


@st.composite
def any_hours(draw: st.DrawFn) -> Hours:
    days = draw(st.sampled_from(["weekdays", "daily"]))
    opens = draw(st.integers(0, 24 * 60 - 1))
    closes = draw(st.integers(opens + 1, 24 * 60))
    # A window lying wholly inside the spring-forward gap (02:00–03:00) is empty on that one
    # day; that case has its own test in test_hours.py.
    if opens >= 120 and closes <= 180:
        closes = 181
    return Hours.parse(
        f"{days} {opens // 60:02d}:{opens % 60:02d}-{closes // 60:02d}:{closes % 60:02d}"
    )


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(tzinfo=UTC))


@SETTINGS
@given(hours=st.one_of(realistic_hours.map(Hours.parse), any_hours()), t=instants)
@example(hours=Hours.parse("weekdays 08:00-17:00"), t=datetime(2026, 12, 24, 8, tzinfo=UTC))
@example(hours=Hours.parse("daily 01:30-03:30"), t=datetime(2026, 3, 29, 0, 45, tzinfo=UTC))
@example(hours=Hours.parse("daily 01:30-03:30"), t=datetime(2026, 10, 25, 0, 45, tzinfo=UTC))
def test_next_opening_is_the_first_open_instant(hours: Hours, t: datetime) -> None:
    found = hours.next_opening(t, TZ)
    assert found >= t
    assert hours.is_open(found, TZ)
    if found > t:
        assert not hours.is_open(t, TZ)
        assert not hours.is_open(found - timedelta(seconds=1), TZ)
        for k in range(1, 8):
            assert not hours.is_open(t + (found - t) * k / 8, TZ)
        # The same answer from the windows: the first one after t starts at `found`.
        first = next(hours.windows(t, found + timedelta(days=1), TZ))
        assert first[0] == found


@SETTINGS
@given(hours=st.one_of(realistic_hours.map(Hours.parse), any_hours()), t=instants)
def test_is_open_agrees_with_windows(hours: Hours, t: datetime) -> None:
    inside = any(
        a <= t < b for a, b in hours.windows(t - timedelta(days=2), t + timedelta(days=2), TZ)
    )
    assert hours.is_open(t, TZ) is inside


# ---------------------------------------------------------------------------------------------
# (d) Catalogue lookup ignores case for every id and alias


def _example_catalogue() -> Catalogue:
    text = (example_data_dir() / "services.toml").read_text(encoding="utf-8")
    catalogue, problems = parse_catalogue(text, "services.toml")
    assert problems == []
    return catalogue


EXAMPLE = _example_catalogue()
EVERY_NAME = [(name, s) for s in EXAMPLE.services for name in (s.id, *s.aliases)]


@SETTINGS
@given(
    entry=st.sampled_from(EVERY_NAME),
    flips=st.lists(st.booleans(), min_size=40, max_size=40),
    pad=st.sampled_from(["", " ", "\t", "  "]),
)
def test_lookup_is_case_insensitive_for_every_name(
    entry: tuple[str, object], flips: list[bool], pad: str
) -> None:
    name, service = entry
    variant = "".join(c.upper() if flip else c for c, flip in zip(name, flips, strict=False))
    assert EXAMPLE.find(pad + variant + pad) is service
    assert EXAMPLE.get(variant.upper()) is service
    assert variant.swapcase() in EXAMPLE


def test_every_name_of_the_example_catalogue_is_unique() -> None:
    folded = [re.sub(r"\s+", " ", name).casefold() for name, _ in EVERY_NAME]
    assert len(folded) == len(set(folded))
