"""Rosters as iCalendar: one VEVENT per shift, as calendar programs write them.

Reading (import): each VEVENT needs DTSTART and DTEND or DURATION (with a known TZID, in UTC,
or floating = the configured zone) and these properties:

    X-CONSULTBOT-SERVICE   service id or alias          (required)
    X-CONSULTBOT-LEVEL     1, 2, 3 …                    (required)
    X-CONSULTBOT-MATRIX-ID @user:server                 (or ATTENDEE:matrix:u/user:server)
    X-CONSULTBOT-NAME      display name                 (or the ATTENDEE's CN, or SUMMARY)
    X-CONSULTBOT-PHONE     phone                        (optional)

As calendars write them:
- recurring events (RRULE, RDATE, EXDATE, and RECURRENCE-ID overrides) are expanded with
  `recurring-ical-events`; a rule without an end (no UNTIL or COUNT) is refused, since a
  roster is a finite period;
- cancelled events and occurrences (`STATUS:CANCELLED`) are not shifts;
- every person of an event is on duty: each X-CONSULTBOT-MATRIX-ID and each ATTENDEE with a
  `matrix:u/` address; an ATTENDEE with another address (mailto:) cannot be paged and is an
  error rather than being dropped;
- a TZID that neither the file (VTIMEZONE) nor the time-zone database knows is an error,
  never silently local time; an all-day event is an error (a shift needs clock times).

Line numbers are those of each event's BEGIN:VEVENT (an occurrence of a recurring event:
its override's, or else the recurring event's).

Writing (export) produces exactly those properties plus a readable SUMMARY, a stable UID and
times in UTC, so an exported file imports again unchanged and calendar apps show it. The
caller passes the time stamp (DTSTAMP): no clock is read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from consultbot.domain.errors import Problem
from consultbot.domain.matrix_ids import normalise_matrix_id
from consultbot.domain.shifts import RawShift, Shift
from consultbot.domain.tables import Cell, decode_text

PRODID = "-//consultbot//roster export//SV"
# A year of hourly shifts; more occurrences of one event is a mistyped rule.
MAX_OCCURRENCES = 9000
MAX_SHIFTS = 200_000
"""Shifts one iCalendar file may expand to (every occurrence × every person on it).

A calendar per service holds a few thousand shifts a year; 200,000 is two years of a large
region's 40 services at three levels, day and night. A few lines with many attendees and a
long COUNT would otherwise expand to a million shifts and minutes of work; the expansion
stops at the limit. A national roster (1.8 million shifts) comes as CSV, which has no limit."""
_TIME_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")


def _event_lines(text: str) -> list[int]:
    return [
        n for n, line in enumerate(text.splitlines(), 1) if line.strip().upper() == "BEGIN:VEVENT"
    ]


def _prop(event: Any, name: str) -> str:
    value = event.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0]
    return str(value).strip()


def _all(event: Any, name: str) -> list[Any]:
    value = event.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _people(event: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """(matrix id, name) of everyone on duty in the event, and addresses that are not Matrix."""
    fallback = _prop(event, "X-CONSULTBOT-NAME") or _prop(event, "SUMMARY")
    people: list[tuple[str, str]] = []
    for value in _all(event, "X-CONSULTBOT-MATRIX-ID"):
        people.append((str(value).strip(), fallback))
    # A set, not a scan of `people`: an event with thousands of attendees stays linear.
    seen = {_same(known) for known, _ in people}
    others: list[str] = []
    for attendee in _all(event, "ATTENDEE"):
        uri = str(attendee).strip()
        params = getattr(attendee, "params", {})
        cn = str(params.get("CN", "")).strip()
        if uri.lower().startswith("matrix:u/"):
            user = "@" + uri[len("matrix:u/") :].split("?")[0]
            if _same(user) not in seen:
                seen.add(_same(user))
                people.append((user, cn or _prop(event, "X-CONSULTBOT-NAME") or fallback))
        else:
            others.append(uri)
    return people, others


def _same(user: str) -> str:
    return normalise_matrix_id(user) or user


def _unknown_zone(event: Any) -> str | None:
    """The TZID of a time in `event` that could not be resolved (read as floating time)."""
    for name in _TIME_PROPERTIES:
        for prop in _all(event, name):
            tzid = getattr(prop, "params", {}).get("TZID")
            if not tzid:
                continue
            try:
                values = [d.dt for d in getattr(prop, "dts", [])] or [getattr(prop, "dt", None)]
            except Exception:  # a broken value: reported as a bad time by validation
                continue
            if any(isinstance(v, datetime) and v.tzinfo is None for v in values):
                return str(tzid)
    return None


def _time(event: Any, name: str) -> Cell:
    prop = event.get(name)
    if prop is None:
        return None
    try:
        value = prop.dt
    except Exception:  # icalendar raises its own errors for unparsable values
        raw = prop.to_ical() if hasattr(prop, "to_ical") else prop
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if isinstance(value, datetime | date):
        return value  # aware (TZID or UTC), naive (floating → configured zone), or a day
    return str(value)


def _end(event: Any, start: Cell) -> Cell:
    if event.get("DTEND") is not None or event.get("DURATION") is None:
        return _time(event, "DTEND")
    duration = getattr(event.get("DURATION"), "dt", None)
    if isinstance(start, datetime) and isinstance(duration, timedelta):
        return start + duration
    return _time(event, "DTEND")


def _is_cancelled(event: Any) -> bool:
    return _prop(event, "STATUS").upper() == "CANCELLED"


def _is_recurring(event: Any) -> bool:
    return any(event.get(name) is not None for name in ("RRULE", "RDATE", "RECURRENCE-ID"))


def _endless(event: Any) -> bool:
    return any("UNTIL" not in rule and "COUNT" not in rule for rule in _all(event, "RRULE"))


def _series(calendar: Any, lines: list[int]) -> Iterator[tuple[int, list[tuple[Any, int]]]]:
    """Events grouped by UID (recurring event with its overrides), each with its line."""
    groups: dict[str, list[tuple[Any, int]]] = {}
    for n, event in enumerate(calendar.walk("VEVENT")):
        line = lines[n] if n < len(lines) else 0
        uid = _prop(event, "UID")
        key = uid if uid and _is_recurring(event) else f"\x00{n}"
        groups.setdefault(key, []).append((event, line))
    for events in groups.values():
        yield events[0][1], events


class _Refused(Exception):
    def __init__(self, line: int, code: str, params: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.line, self.code, self.params = line, code, params or {}


def _occurrences(events: list[tuple[Any, int]]) -> Iterator[tuple[Any, int]]:
    """Each occurrence of a series with the line it comes from; raise _Refused."""
    for event, line in events:
        zone = _unknown_zone(event)
        if zone is not None:
            raise _Refused(line, "unknown_timezone", {"tzid": zone})
        if _endless(event):
            raise _Refused(line, "endless_recurrence")
    if len(events) == 1 and not _is_recurring(events[0][0]):
        yield events[0]
        return
    master_line = next((line for e, line in events if e.get("RECURRENCE-ID") is None), 0)
    overrides = {
        _recurrence_key(e): line for e, line in events if e.get("RECURRENCE-ID") is not None
    }
    import icalendar
    import recurring_ical_events

    single = icalendar.Calendar()
    for event, _ in events:
        single.add_component(event)
    # Expanded lazily: the caller stops at its own limit before the whole series exists.
    try:
        for count, occurrence in enumerate(recurring_ical_events.of(single).all(), 1):
            if count > MAX_OCCURRENCES:
                raise _Refused(master_line, "too_many_occurrences", {"max": str(MAX_OCCURRENCES)})
            yield (
                occurrence,
                overrides.get(_recurrence_key(occurrence), master_line or events[0][1]),
            )
    except _Refused:
        raise
    except Exception as exc:  # the library raises several kinds for broken rules
        detail = {"detail": _one_line(exc)}
        raise _Refused(master_line or events[0][1], "bad_ical", detail) from None


def _recurrence_key(event: Any) -> str:
    prop = event.get("RECURRENCE-ID")
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _shifts_of(event: Any, file: str, line: int) -> list[RawShift]:
    start = _time(event, "DTSTART")
    end = _end(event, start)
    problem: tuple[str, dict[str, str]] | None = None
    if isinstance(start, date) and not isinstance(start, datetime):
        problem = ("all_day_event", {"day": start.isoformat()})
    people, others = _people(event)
    if others:
        problem = problem or ("attendee_not_matrix", {"value": others[0]})
    base = RawShift(
        file=file,
        line=line,
        service=_prop(event, "X-CONSULTBOT-SERVICE"),
        level=_prop(event, "X-CONSULTBOT-LEVEL") or None,
        start=start,
        end=end,
        user="",
        name=_prop(event, "X-CONSULTBOT-NAME") or _prop(event, "SUMMARY"),
        phone=_prop(event, "X-CONSULTBOT-PHONE"),
        problem=problem,
    )
    if problem is not None or not people:
        return [base]
    return [
        RawShift(
            file=file,
            line=line,
            service=base.service,
            level=base.level,
            start=start,
            end=end,
            user=user,
            name=name,
            phone=base.phone if len(people) == 1 else "",
        )
        for user, name in people
    ]


def _unbalanced(text: str) -> Problem | None:
    """A BEGIN without its END (or an END without its BEGIN), with its line: icalendar's own
    message for that names no line."""
    stack: list[tuple[str, int]] = []
    for number, line in enumerate(text.splitlines(), 1):
        upper = line.strip().upper()
        if upper.startswith("BEGIN:"):
            stack.append((upper[6:], number))
        elif upper.startswith("END:"):
            name = upper[4:]
            if not stack or stack[-1][0] != name:
                return Problem(
                    file="", line=number, code="ical_unexpected_end", params={"name": name}
                )
            stack.pop()
    if stack:
        name, number = stack[-1]
        return Problem(file="", line=number, code="ical_not_closed", params={"name": name})
    return None


_RELEASE_CHUNK = 1000


def release(items: list[Any]) -> None:
    """Empty `items` a slice at a time. Freeing a large structure at once is one long step
    of the interpreter, and it holds every other thread (the event loop's) until it is done."""
    while items:
        del items[-_RELEASE_CHUNK:]


def _too_many_shifts(file: str, line: int) -> Problem:
    """The file expands to more than MAX_SHIFTS shifts; `line` is the event where it passed."""
    limit = f"{MAX_SHIFTS:,}".replace(",", "\u00a0")
    return Problem(file=file, line=line, code="too_many_shifts", params={"max": limit})


def read_ical_roster(data: bytes, file: str, problems: list[Problem]) -> list[RawShift]:
    """Read VEVENTs as raw shifts, recurring events expanded and cancelled ones left out."""
    import icalendar

    text = decode_text(data, file, problems)
    if text is None:
        return []
    broken = _unbalanced(text)
    if broken is not None:
        problems.append(replace(broken, file=file))
        return []
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError and others for broken input
        problems.append(
            Problem(file=file, line=None, code="bad_ical", params={"detail": _one_line(exc)})
        )
        return []
    lines = _event_lines(text)
    shifts: list[RawShift] = []
    events = 0
    for _, series in _series(calendar, lines):
        events += len(series)
        before = len(shifts)
        try:
            for occurrence, line in _occurrences(series):
                if not _is_cancelled(occurrence):
                    shifts.extend(_shifts_of(occurrence, file, line))
                if len(shifts) > MAX_SHIFTS:
                    problems.append(_too_many_shifts(file, line))
                    release(shifts)
                    release(calendar.subcomponents)
                    return []
        except _Refused as refused:
            del shifts[before:]  # a refused series adds nothing, not even its first shifts
            problems.append(
                Problem(file=file, line=refused.line, code=refused.code, params=refused.params)
            )
    if not events:
        problems.append(Problem(file=file, line=None, code="no_rows"))
    release(calendar.subcomponents)
    return shifts


def shifts_to_ical(
    shifts: Iterable[Shift], calendar_name: str, service_names: dict[str, str], stamp: datetime
) -> bytes:
    """An iCalendar file with one VEVENT per shift (times in UTC); `stamp` is the DTSTAMP."""
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", calendar_name)
    stamp = stamp.astimezone(UTC).replace(microsecond=0)
    for shift in shifts:
        event = icalendar.Event()
        start = shift.start.astimezone(UTC)
        uid = f"{shift.service}-{shift.level}-{start:%Y%m%dT%H%M%SZ}-{shift.user}@consultbot"
        event.add("uid", uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", shift.end.astimezone(UTC))
        label = service_names.get(shift.service, shift.service)
        event.add("summary", f"{label} – nivå {shift.level}: {shift.name}")
        event.add("x-consultbot-service", shift.service)
        event.add("x-consultbot-level", str(shift.level))
        event.add("x-consultbot-matrix-id", shift.user)
        event.add("x-consultbot-name", shift.name)
        if shift.phone:
            event.add("x-consultbot-phone", shift.phone)
        calendar.add_component(event)
    return bytes(calendar.to_ical())
