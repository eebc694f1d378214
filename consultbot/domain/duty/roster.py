"""Rosters (shift lists): parse CSV, XLSX or iCalendar into shifts, and validate them.

Validation never stops at the first problem: every row is checked and every problem is
reported with file, line and reason. A roster with any error must not be imported.

Decisions (see docs/data-files.md):
- Local times are wall-clock times in the configured zone. A local time that does not exist
  (inside the spring-forward gap) is an error, and so is one that occurs twice (the autumn
  hour): which of the two was meant is a guess either way. A time with an offset (ISO 8601
  `+01:00`, `Z`) is one instant and always fine.
- A cell with only a clock time (an Excel time cell, "08:00") is reported as such: the date
  is missing.
- `24:00` is accepted as the end of a day.
- A shift longer than `MAX_SHIFT` is an error (almost always a typo in a date); week-long
  backup duty (bakjour) is fine.
- Each file replaces, per service, only its own period (first start to last end). A file
  whose shifts for one service span more than `MAX_PERIOD` or leave a hole longer than
  `MAX_HOLE` inside that period is refused: almost always one mistyped date, which would
  otherwise wipe every shift in between.
- Times outside `YEARS` are refused (a mistyped year, and no arithmetic overflow later).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.ical import read_ical_roster, release
from consultbot.domain.duty.shifts import RawShift, Shift as Shift
from consultbot.domain.errors import HasProblems, Problem, Severity
from consultbot.domain.files import validation
from consultbot.domain.files.formats import ROSTER_COLUMNS
from consultbot.domain.files.tables import Cell, Row, cell_text, read_rows
from consultbot.domain.files.validation import FileRules
from consultbot.domain.types import ServiceId, Track, UserId

Period = tuple[datetime, datetime]
MAX_SHIFT = timedelta(days=14)
MAX_PERIOD = timedelta(days=400)
MAX_HOLE = timedelta(days=31)
YEARS = (2000, 2099)
# Excel counts days from 1899-12-30; 36526–73051 is 2000-01-01 – 2099-12-31.
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_SERIAL_RANGE = (36526.0, 73051.0)
MAX_LEVEL = 9
# Staffing systems often write the level as a word.
LEVEL_WORDS = {"jour": 1, "primärjour": 1, "bakjour": 2, "tertiärjour": 3}
_LOCAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2})[:.](\d{2})(?::(\d{2}))?$")
_CLOCK_ONLY = re.compile(r"^\d{1,2}[:.]\d{2}(?::\d{2})?$")
# The column each problem code is about, for pointing at its cell or iCalendar property.
CODE_COLUMN = {
    "unknown_service": "service",
    "asks_only_shift": "service",
    "bad_level": "level",
    "bad_matrix_id": "matrix_id",
    "server_not_allowed": "matrix_id",
    "end_not_after_start": "end",
    "shift_too_long": "end",
    "undialable_phone": "phone",
    "phone_lost_zero": "phone",
    "phone_stored_as_number": "phone",
}


@dataclass(frozen=True, kw_only=True)
class Gap:
    """A stretch inside a track's hours with nobody on level 1."""

    service: ServiceId
    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class RosterCheck(HasProblems):
    """The outcome of checking roster files: shifts, the period per service, and problems."""

    shifts: tuple[Shift, ...]
    lines: tuple[tuple[str, int], ...]
    periods: dict[ServiceId, tuple[Period, ...]]
    problems: tuple[Problem, ...]
    gaps: tuple[Gap, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def people(self) -> int:
        """How many different people the roster names."""
        return len({s.user for s in self.shifts})


def read_roster(data: bytes, file: str, problems: list[Problem]) -> list[RawShift]:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].upper()
    if head.startswith(b"BEGIN:VCALENDAR"):
        return read_ical_roster(data, file, problems)
    rows = read_rows(data, file, ROSTER_COLUMNS, problems)
    return [_raw(row, file) for row in rows]


def _raw(row: Row, file: str) -> RawShift:
    cells = row.cells
    phone = cells.get("phone")
    return RawShift(
        file=file,
        line=row.line,
        service=cell_text(cells.get("service")),
        level=cells.get("level"),
        start=cells.get("start"),
        end=cells.get("end"),
        user=cell_text(cells.get("matrix_id")),
        name=cell_text(cells.get("name")),
        phone=cell_text(phone),
        at=row.letters,
        # A phone number stored as a number has lost its leading 0: say so, not "invalid".
        phone_is_number=isinstance(phone, int | float) and not isinstance(phone, bool),
    )


def _round_minute(naive: datetime) -> timedelta:
    # Floating-point days land a few microseconds off the minute; round to the nearest one.
    return timedelta(minutes=1) if naive.second >= 30 else timedelta(0)


class TimeProblem(ValueError):
    """A cell that is not a usable instant; the message is a problem code."""


def _parse_local(text: str, tz: ZoneInfo) -> datetime:
    match = _LOCAL.match(text)
    if match is None:
        if _CLOCK_ONLY.match(text):
            raise TimeProblem("time_without_date")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise TimeProblem("bad_time") from None
        if not YEARS[0] <= parsed.year <= YEARS[1]:
            raise TimeProblem("year_out_of_range")
        return _localise(parsed, tz) if parsed.tzinfo is None else _aware(parsed)
    year, month, day, hour, minute = (int(g) for g in match.group(1, 2, 3, 4, 5))
    second = int(match.group(6) or 0)
    extra_day = 0
    if hour == 24 and minute == 0 and second == 0:
        hour, extra_day = 0, 1
    if not YEARS[0] <= year <= YEARS[1]:
        raise TimeProblem("year_out_of_range")
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise TimeProblem("impossible_time") from None
    return _localise(naive + timedelta(days=extra_day), tz)


def _aware(value: datetime) -> datetime:
    """An aware time in UTC; a wall-clock time its own zone skips (DST gap) or repeats (the
    autumn hour, for a named zone such as an iCalendar TZID) is refused."""
    instant = value.astimezone(UTC)
    if instant.astimezone(value.tzinfo).replace(tzinfo=None) != value.replace(tzinfo=None):
        raise TimeProblem("nonexistent_time")
    if value.replace(fold=0).utcoffset() != value.replace(fold=1).utcoffset():
        raise TimeProblem("ambiguous_time")
    return instant


def _localise(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz` as a UTC instant; one that does not exist or occurs twice
    at a DST change is refused (TimeProblem)."""
    aware = naive.replace(tzinfo=tz, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != naive:
        raise TimeProblem("nonexistent_time")
    if aware.utcoffset() != aware.replace(fold=1).utcoffset():
        raise TimeProblem("ambiguous_time")
    return instant


class InstantParser:
    """Turns roster cells into UTC instants; caches, since rosters repeat the same few times."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._cache: dict[str, datetime | str] = {}
        self._instants: dict[str, datetime] = {}

    def __call__(self, value: Cell) -> datetime:
        """The instant a cell names; raise TimeProblem with a problem code."""
        if isinstance(value, str):
            # A roster repeats a few hundred times over and over: one look-up per cell.
            known = self._instants.get(value)
            if known is None:
                known = self._instants[value] = self._checked(value)
            return known
        return self._checked(value)

    def _checked(self, value: Cell) -> datetime:
        try:
            instant = self._instant(value)
        except OverflowError:
            raise TimeProblem("year_out_of_range") from None
        if not YEARS[0] <= instant.year <= YEARS[1]:
            raise TimeProblem("year_out_of_range")
        return instant

    def _excel_serial(self, days: float) -> datetime:
        """An Excel date-time stored as a plain number (a cell formatted "General")."""
        if 0 <= days < 1:
            raise TimeProblem("time_without_date")  # an Excel time cell: the day's fraction
        if not EXCEL_SERIAL_RANGE[0] <= days <= EXCEL_SERIAL_RANGE[1]:
            raise TimeProblem("bad_time")
        naive = EXCEL_EPOCH + timedelta(days=days)
        return _localise(naive.replace(second=0, microsecond=0) + _round_minute(naive), self.tz)

    def _instant(self, value: Cell) -> datetime:
        if isinstance(value, datetime):
            if not YEARS[0] <= value.year <= YEARS[1]:
                raise TimeProblem("year_out_of_range")
            if value.tzinfo is None:
                return _localise(value.replace(microsecond=0), self.tz)
            return _aware(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise TimeProblem("missing_value")
        if isinstance(value, time):
            raise TimeProblem("time_without_date")
        if isinstance(value, bool | date):
            raise TimeProblem("bad_time")
        if isinstance(value, int | float):
            return self._excel_serial(float(value))
        text = value.strip()
        cached = self._cache.get(text)
        if cached is None:
            try:
                cached = _parse_local(text, self.tz)
            except TimeProblem as exc:
                cached = str(exc)
            self._cache[text] = cached
        if isinstance(cached, str):
            raise TimeProblem(cached)
        return cached


def _level(value: Cell) -> int | None:
    text = "" if isinstance(value, bool) else cell_text(value).casefold()
    number = int(text) if text.isascii() and text.isdigit() else LEVEL_WORDS.get(text)
    return number if number is not None and 1 <= number <= MAX_LEVEL else None


def validate_shifts(
    raw_shifts: Iterable[RawShift],
    catalogue: Catalogue,
    tz: ZoneInfo,
    problems: list[Problem],
    rules: FileRules | None = None,
) -> tuple[list[Shift], list[tuple[str, int]]]:
    """Turn raw shifts into shifts (with the file and line of each), adding a problem for
    every bad row and overlap. Each problem points at its cell or property where it has one."""
    parse = InstantParser(tz)
    rules = rules or FileRules()
    shifts: list[Shift] = []
    where: list[tuple[str, int]] = []
    strings: dict[str, str] = {}
    phone_checked: dict[tuple[str, bool], validation.Found | None] = {}
    people: dict[tuple[object, ...], _Who] = {}
    for raw in raw_shifts:
        shift = _shift_or_problems(raw, catalogue, parse, strings, rules, people)
        if isinstance(shift, list):
            problems.extend(_placed(raw, code, params) for code, params in shift)
            continue
        if shift.phone:
            key = (raw.phone, raw.phone_is_number)
            if key not in phone_checked:
                phone_checked[key] = validation.phone_check(raw.phone, raw.phone_is_number)
            found = phone_checked[key]
            if found is not None:
                problem = _placed(raw, *found)
                problems.append(problem)
                if problem.is_error:
                    continue
        shifts.append(shift)
        where.append((raw.file, raw.line))
    problems.extend(_overlaps(shifts, where))
    return shifts, where


def _placed(raw: RawShift, code: str, params: dict[str, str]) -> Problem:
    """A problem of a row, at its cell (spreadsheet) or property line (iCalendar)."""
    severity = Severity.WARNING if code in validation.WARNING_CODES else Severity.ERROR
    column = params.get("column") or CODE_COLUMN.get(code, "")
    place = raw.at.get(column) if raw.at is not None else None
    if raw.problem is not None and raw.at is not None and "problem" in raw.at:
        place = raw.at["problem"]
    line = place if isinstance(place, int) else raw.line
    cell = f"{place}{raw.line}" if isinstance(place, str) else ""
    return Problem(file=raw.file, line=line, code=code, params=params, severity=severity, cell=cell)


def _shown(value: Cell) -> str:
    """A cell as the admin sees it: an Excel time (a fraction of a day) as its clock time."""
    if isinstance(value, float) and 0 <= value < 1:
        minutes = round(value * 24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")  # the wall-clock time the file gives
    return cell_text(value)


@dataclass(frozen=True, slots=True)
class _Who:
    """The verdict on a row's cells other than its times: who is on duty, for what, at which
    level, and the problems found in those cells (before and after the times' problems, in
    the order they are reported)."""

    service: Service | None
    level: int | None
    user: str | None
    name: str
    phone: str
    first: tuple[tuple[str, dict[str, str]], ...]
    then: tuple[tuple[str, dict[str, str]], ...]


def _who(raw: RawShift, catalogue: Catalogue, rules: FileRules, strings: dict[str, str]) -> _Who:
    """Every check on the service, level, person, name and phone cells of a row."""
    first: list[tuple[str, dict[str, str]]] = []
    service = catalogue.find(raw.service) if raw.service else None
    if not raw.service:
        first.append(("missing_value", {"column": "service"}))
    elif service is None:
        first.append(("unknown_service", {"service": raw.service}))
    elif service.asks_only:  # an ambulance or municipal care unit is never paged
        first.append(("asks_only_shift", {"service": raw.service, "kind": service.kind.value}))
    level = _level(raw.level)
    if level is None:
        first.append(("bad_level", {"value": cell_text(raw.level), "max": str(MAX_LEVEL)}))
    then: list[tuple[str, dict[str, str]]] = []
    user = normalise_matrix_id(raw.user)
    if not raw.user:
        then.append(("missing_value", {"column": "matrix_id"}))
    elif user is None:
        then.append(("bad_matrix_id", {"value": raw.user}))
    else:
        foreign = validation.server_not_allowed(user, rules)
        if foreign is not None:
            then.append(foreign)
    if not raw.name:
        then.append(("missing_value", {"column": "name"}))
    for column, text in (("name", raw.name), ("phone", raw.phone)):
        control = validation.control_character(column, text)
        if control is not None:
            then.append(control)
    name, phone = unescape_cell(raw.name), unescape_cell(raw.phone)
    return _Who(
        service=service,
        level=level,
        user=strings.setdefault(user, user) if user is not None else None,
        name=strings.setdefault(name, name),
        phone=strings.setdefault(phone, phone),
        first=tuple(first),
        then=tuple(then),
    )


def _shift_or_problems(
    raw: RawShift,
    catalogue: Catalogue,
    parse: InstantParser,
    strings: dict[str, str],
    rules: FileRules,
    people: dict[tuple[object, ...], _Who],
) -> Shift | list[tuple[str, dict[str, str]]]:
    """The row as a shift, or every problem it has. Each cell is parsed once, and the cells
    other than the times once per distinct combination (`people`, one import's memo: a
    national roster names a few thousand people in 1.8 million rows)."""
    if raw.problem is not None:
        return [raw.problem]
    key = (raw.service, raw.level, raw.user, raw.name, raw.phone)
    who = people.get(key)
    if who is None:
        who = people[key] = _who(raw, catalogue, rules, strings)
    found = list(who.first)
    times: list[datetime] = []
    for column, value in (("start", raw.start), ("end", raw.end)):
        try:
            times.append(parse(value))
        except TimeProblem as exc:
            found.append((str(exc), {"column": column, "value": _shown(value)}))
    if len(times) == 2:
        start, end = times
        if end <= start:
            found.append(
                ("end_not_after_start", {"start": cell_text(raw.start), "end": cell_text(raw.end)})
            )
        elif end - start > MAX_SHIFT:
            found.append(("shift_too_long", {"days": str(MAX_SHIFT.days)}))
    found.extend(who.then)
    if found or who.service is None or who.level is None or who.user is None:
        return found
    return Shift(
        service=who.service.id,
        level=who.level,
        start=times[0],
        end=times[1],
        user=UserId(who.user),
        name=who.name,
        phone=who.phone,
    )


# Spreadsheet programs run a cell starting with one of these as a formula ("CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(text: str) -> str:
    """`text` for a CSV cell that a spreadsheet will not run: a leading ' before a formula
    character (Excel hides it). `unescape_cell` undoes it on import."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unescape_cell(text: str) -> str:
    """Undo `escape_cell`."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _overlaps(shifts: Sequence[Shift], where: Sequence[tuple[str, int]]) -> list[Problem]:
    """One problem per shift that overlaps an earlier one of the same person: with one of
    the same service (an error) if any, else of another service (a warning).

    Linear per person and service: a file that books one person thousands of times at once
    gets one line per shift, not one per pair (which was quadratic in time and in output)."""
    by_user: dict[UserId, list[int]] = defaultdict(list)
    for index, shift in enumerate(shifts):
        by_user[shift.user].append(index)
    problems: list[Problem] = []
    for user, indices in by_user.items():
        indices.sort(key=lambda i: shifts[i].start)
        furthest: dict[str, int] = {}  # per service: the earlier shift that ends last
        for i in indices:
            shift = shifts[i]
            other = _overlapped(shifts, furthest, shift)
            if other is not None:
                problems.append(_overlap(shifts, where, user, i, other))
            best = furthest.get(shift.service)
            if best is None or shift.end > shifts[best].end:
                furthest[shift.service] = i
    return problems


def _overlapped(shifts: Sequence[Shift], furthest: dict[str, int], shift: Shift) -> int | None:
    """An earlier shift still running when `shift` starts, of its own service first."""
    same = furthest.get(shift.service)
    if same is not None and shifts[same].end > shift.start:
        return same
    return next((j for j in furthest.values() if shifts[j].end > shift.start), None)


def _overlap(
    shifts: Sequence[Shift], where: Sequence[tuple[str, int]], user: UserId, i: int, j: int
) -> Problem:
    shift, other = shifts[i], shifts[j]
    same = other.service == shift.service
    params = {"user": user, "service": shift.service, "other_service": other.service}
    params["other"] = f"{where[j][0]}:{where[j][1]}"
    return Problem(
        file=where[i][0],
        line=where[i][1],
        code="overlap_same_service" if same else "overlap_other_service",
        params=params,
        severity=Severity.ERROR if same else Severity.WARNING,
    )


def _file_periods(
    shifts: Sequence[Shift], where: Sequence[tuple[str, int]], tz: ZoneInfo
) -> tuple[dict[ServiceId, list[Period]], list[Problem]]:
    """Each file's period per service, and a problem for each period too long or with a hole."""
    by_file: dict[tuple[str, ServiceId], list[int]] = defaultdict(list)
    for index, shift in enumerate(shifts):
        by_file[(where[index][0], shift.service)].append(index)
    periods: dict[ServiceId, list[Period]] = defaultdict(list)
    problems: list[Problem] = []

    def problem(code: str, at: int, limit: timedelta, start: datetime, end: datetime) -> None:
        params = {"service": shifts[at].service, "days": str(limit.days)}
        params.update(start=_local(start, tz), end=_local(end, tz))
        problems.append(Problem(file=where[at][0], line=where[at][1], code=code, params=params))

    for (_, service), indices in by_file.items():
        indices.sort(key=lambda i: shifts[i].start)
        first = shifts[indices[0]].start
        reach = shifts[indices[0]].end
        last_index = indices[0]
        for i in indices[1:]:
            if shifts[i].start - reach > MAX_HOLE:
                problem("period_hole", i, MAX_HOLE, reach, shifts[i].start)
            if shifts[i].end > reach:
                reach, last_index = shifts[i].end, i
        if reach - first > MAX_PERIOD:
            problem("period_too_long", last_index, MAX_PERIOD, first, reach)
        periods[service].append((first, reach))
    return periods, problems


def _local(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def merge_periods(periods: Iterable[Period]) -> tuple[Period, ...]:
    """Periods joined where they overlap or touch, in order."""
    return tuple(_merge(list(periods)))


def subtract_periods(base: Iterable[Period], cover: Iterable[Period]) -> list[Period]:
    """The parts of `base` that no period of `cover` covers, in order."""
    return _subtract(_merge(list(base)), _merge(list(cover)))


def coverage_gaps(
    shifts: Iterable[Shift],
    periods: Mapping[ServiceId, Sequence[Period]],
    catalogue: Catalogue,
    hours_of: Mapping[Track, Hours],
    tz: ZoneInfo,
) -> list[Gap]:
    """Stretches inside any of a service's track hours, within its period, with no level-1 shift.

    Tracks missing from `hours_of` are ignored.
    """
    covered: dict[ServiceId, list[tuple[datetime, datetime]]] = defaultdict(list)
    for shift in shifts:
        if shift.level == 1:
            covered[shift.service].append((shift.start, shift.end))
    gaps: list[Gap] = []
    for service_id, spans in sorted(periods.items()):
        service = catalogue.find(service_id)
        if service is None:
            continue
        hours = [hours_of[track] for track in service.tracks if track in hours_of]
        open_windows = [w for lo, hi in spans for each in hours for w in each.windows(lo, hi, tz)]
        for start, end in _subtract(_merge(open_windows), _merge(covered[service_id])):
            gaps.append(Gap(service=service_id, start=start, end=end))
    return gaps


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _subtract(
    base: list[tuple[datetime, datetime]], cover: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    result: list[tuple[datetime, datetime]] = []
    j = 0
    for start, end in base:
        cursor = start
        while j < len(cover) and cover[j][1] <= cursor:
            j += 1
        k = j
        while k < len(cover) and cover[k][0] < end:
            if cover[k][0] > cursor:
                result.append((cursor, cover[k][0]))
            cursor = max(cursor, cover[k][1])
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def check_roster(
    files: Sequence[tuple[str, bytes]],
    catalogue: Catalogue,
    tz: ZoneInfo,
    hours_of: Mapping[Track, Hours] | None = None,
    rules: FileRules | None = None,
) -> RosterCheck:
    """Read and validate roster files together; the result says whether they may be imported.

    `rules` (from the config) says which servers Matrix ids may be on."""
    problems: list[Problem] = []
    raw: list[RawShift] = []
    for name, data in files:
        raw.extend(read_roster(data, name, problems))
    shifts, where = validate_shifts(raw, catalogue, tz, problems, rules)
    release(raw)  # hundreds of thousands of rows: freed a slice at a time (see release)
    by_service, period_problems = _file_periods(shifts, where, tz)
    problems.extend(period_problems)
    periods = {service: merge_periods(spans) for service, spans in by_service.items()}
    # Gaps over a refused period would only bury the real error under thousands of lines.
    gaps = (
        coverage_gaps(shifts, periods, catalogue, hours_of or {}, tz)
        if shifts and not period_problems
        else []
    )
    problems.extend(
        Problem(
            file=", ".join(n for n, _ in files),
            line=None,
            code="coverage_gap",
            params={
                "service": gap.service,
                "start": _local(gap.start, tz),
                "end": _local(gap.end, tz),
            },
            severity=Severity.WARNING,
        )
        for gap in gaps
    )
    return RosterCheck(
        shifts=tuple(shifts),
        lines=tuple(where),
        periods=periods,
        problems=tuple(problems),
        gaps=tuple(gaps),
        files=tuple(n for n, _ in files),
    )


def overlaps_with_kept(check: RosterCheck, kept: Iterable[Shift], tz: ZoneInfo) -> list[Problem]:
    """Errors for new shifts that overlap, for the same person and service, a shift that the
    import keeps (one that started before a file's period for the service and runs into it)."""
    by_key: dict[tuple[ServiceId, UserId], list[Shift]] = defaultdict(list)
    for shift in kept:
        by_key[(shift.service, shift.user)].append(shift)
    problems = []
    for shift, (file, line) in zip(check.shifts, check.lines, strict=True):
        for old in by_key.get((shift.service, shift.user), ()):
            if old.start < shift.end and shift.start < old.end:
                start, end = _local(old.start, tz), _local(old.end, tz)
                params = {"user": shift.user, "service": shift.service, "start": start, "end": end}
                problems.append(
                    Problem(file=file, line=line, code="overlap_kept_shift", params=params)
                )
    return problems


def in_periods(shift: Shift, periods: Sequence[Period]) -> bool:
    """True when an existing shift starts inside one of `periods`: the import replaces it."""
    return any(lo <= shift.start < hi for lo, hi in periods)


def period_list(value: Period | Sequence[Period]) -> list[Period]:
    """One period or several, as a list (the store accepts both forms)."""
    if len(value) == 2 and isinstance(value[0], datetime):
        lo, hi = value
        assert isinstance(lo, datetime) and isinstance(hi, datetime)
        return [(lo, hi)]
    return [p for p in value if not isinstance(p, datetime)]


@dataclass(frozen=True, kw_only=True)
class Changes:
    """What importing a roster does to one service's shifts.

    `added`: new shifts not already there; `replaced`: existing shifts in the period that a
    new shift of the same level takes the place of (overlapping in time); `removed`: the other
    existing shifts in the period; `unchanged`: shifts in both, identical.
    """

    service: ServiceId
    added: int
    replaced: int
    removed: int
    unchanged: int


def _key(shift: Shift) -> tuple[object, ...]:
    return (shift.level, shift.start, shift.end, shift.user, shift.name, shift.phone)


def changes(service: ServiceId, new: Sequence[Shift], old: Sequence[Shift]) -> Changes:
    """Compare the shifts a file brings for a service with the existing ones it replaces."""
    old_keys = Counter(map(_key, old))
    added: list[Shift] = []
    unchanged = 0
    for shift in new:
        if old_keys.get(_key(shift), 0) > 0:
            old_keys[_key(shift)] -= 1
            unchanged += 1
        else:
            added.append(shift)
    by_level: dict[int, list[Period]] = defaultdict(list)
    for shift in added:
        by_level[shift.level].append((shift.start, shift.end))
    merged = {level: _merge(spans) for level, spans in by_level.items()}
    replaced = removed = 0
    leftover = dict(old_keys)
    for shift in old:
        if leftover.get(_key(shift), 0) <= 0:
            continue
        leftover[_key(shift)] -= 1
        spans = merged.get(shift.level, [])
        if any(lo < shift.end and shift.start < hi for lo, hi in spans):
            replaced += 1
        else:
            removed += 1
    return Changes(
        service=service, added=len(added), replaced=replaced, removed=removed, unchanged=unchanged
    )
