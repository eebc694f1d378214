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

Line numbers are those of the property at fault (DTSTART for a bad start, RRULE for an
endless rule, the ATTENDEE that is not a Matrix user …), of the event that the occurrence of
a recurring event comes from (its override's, or else the recurring event's); a property
that is missing is reported at the event's BEGIN:VEVENT.

Writing (export) produces exactly those properties plus a readable SUMMARY, a stable UID and
times in UTC, so an exported file imports again unchanged and calendar apps show it. The
caller passes the time stamp (DTSTAMP): no clock is read here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.duty.shifts import RawShift, Shift
from consultbot.domain.errors import Problem
from consultbot.domain.files.tables import Cell, decode_text

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


# Where each property of one VEVENT is: name → its lines, in order (BEGIN: the event's own).
Places = dict[str, list[int]]
_CONTENT_LINE = re.compile(
    r'^[A-Za-z0-9-]+(?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*:'
)


def _physical_lines(text: str) -> list[str]:
    """The file's lines as an editor numbers them (only LF and CRLF end a line)."""
    return [line.rstrip("\r") for line in text.split("\n")]


def _event_places(text: str) -> list[Places]:
    """For each VEVENT in order, the line of each of its own properties (not those of a
    VALARM inside it); a folded property is at its first line."""
    events: list[Places] = []
    depth = 0  # components open inside the current VEVENT
    current: Places | None = None
    for number, line in enumerate(_physical_lines(text), 1):
        if not line or line[0] in " \t":
            continue
        upper = line.strip().upper()
        if upper == "BEGIN:VEVENT" and current is None:
            current = {"BEGIN": [number]}
            events.append(current)
        elif current is None:
            continue
        elif upper.startswith("BEGIN:"):
            depth += 1
        elif upper == "END:VEVENT" and depth == 0:
            current = None
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 0:
            name = re.split(r"[;:]", upper, maxsplit=1)[0]
            current.setdefault(name, []).append(number)
    return events


def _line(places: Places, *names: str, index: int = 0) -> int:
    """The line of the first of `names` the event has (its `index`-th occurrence), or the
    event's BEGIN:VEVENT line."""
    for name in names:
        lines = places.get(name, [])
        if lines:
            return lines[min(index, len(lines) - 1)]
    return places.get("BEGIN", [0])[0]


def _bad_content_line(text: str) -> int | None:
    """The first line that is not `NAME[;PARAM=…]:value` (nor a folded continuation)."""
    for number, line in enumerate(_physical_lines(text), 1):
        if line and line[0] not in " \t" and not _CONTENT_LINE.match(line):
            return number
    return None


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


def _people(event: Any, places: Places) -> tuple[list[tuple[str, str, int]], list[tuple[str, int]]]:
    """(matrix id, name, line) of everyone on duty in the event, and the addresses that are
    not Matrix (with their lines)."""
    fallback = _prop(event, "X-CONSULTBOT-NAME") or _prop(event, "SUMMARY")
    people = [
        (str(value).strip(), fallback, _line(places, "X-CONSULTBOT-MATRIX-ID", index=n))
        for n, value in enumerate(_all(event, "X-CONSULTBOT-MATRIX-ID"))
    ]
    # A set, not a scan of `people`: an event with thousands of attendees stays linear.
    seen = {_same(known) for known, _, _ in people}
    others: list[tuple[str, int]] = []
    for n, attendee in enumerate(_all(event, "ATTENDEE")):
        uri = str(attendee).strip()
        params = getattr(attendee, "params", {})
        cn = str(params.get("CN", "")).strip()
        line = _line(places, "ATTENDEE", index=n)
        if uri.lower().startswith("matrix:u/"):
            user = "@" + uri[len("matrix:u/") :].split("?")[0]
            if _same(user) not in seen:
                seen.add(_same(user))
                people.append((user, cn or _prop(event, "X-CONSULTBOT-NAME") or fallback, line))
        else:
            others.append((uri, line))
    return people, others


def _same(user: str) -> str:
    return normalise_matrix_id(user) or user


def _unknown_zone(event: Any) -> tuple[str, str] | None:
    """(property, TZID) of a time in `event` whose zone could not be resolved (read as
    floating time)."""
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
                return name, str(tzid)
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
    duration = getattr(event.get("DURATION"), "dt", None) if event.get("DTEND") is None else None
    if isinstance(start, datetime) and isinstance(duration, timedelta):
        return start + duration
    return _time(event, "DTEND")


def _is_recurring(event: Any) -> bool:
    return any(event.get(name) is not None for name in ("RRULE", "RDATE", "RECURRENCE-ID"))


def _series(calendar: Any, places: list[Places]) -> Iterator[list[tuple[Any, Places]]]:
    """Events grouped by UID (recurring event with its overrides), each with its places."""
    groups: dict[str, list[tuple[Any, Places]]] = {}
    for n, event in enumerate(calendar.walk("VEVENT")):
        where = places[n] if n < len(places) else {}
        uid = _prop(event, "UID")
        key = uid if uid and _is_recurring(event) else f"\x00{n}"
        groups.setdefault(key, []).append((event, where))
    yield from groups.values()


class _Refused(Exception):
    def __init__(self, line: int, code: str, params: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.line, self.code, self.params = line, code, params or {}


def _occurrences(events: list[tuple[Any, Places]]) -> Iterator[tuple[Any, Places]]:
    """Each occurrence of a series with the places of the event it comes from; raise
    _Refused."""
    for event, places in events:
        zone = _unknown_zone(event)
        if zone is not None:
            name, tzid = zone
            raise _Refused(_line(places, name), "unknown_timezone", {"tzid": tzid})
        if any("UNTIL" not in rule and "COUNT" not in rule for rule in _all(event, "RRULE")):
            raise _Refused(_line(places, "RRULE"), "endless_recurrence")
    if len(events) == 1 and not _is_recurring(events[0][0]):
        yield events[0]
        return
    master = next((p for e, p in events if e.get("RECURRENCE-ID") is None), events[0][1])
    master_line = _line(master, "RRULE", "RDATE")
    overrides = {_recurrence_key(e): p for e, p in events if e.get("RECURRENCE-ID") is not None}
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
            yield occurrence, overrides.get(_recurrence_key(occurrence), master)
    except _Refused:
        raise
    except Exception:  # the library raises several kinds for broken rules; its text is English
        raise _Refused(master_line, "bad_recurrence") from None


def _recurrence_key(event: Any) -> str:
    value = getattr(event.get("RECURRENCE-ID"), "dt", None)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)


def _shifts_of(event: Any, file: str, places: Places) -> list[RawShift]:
    start = _time(event, "DTSTART")
    end = _end(event, start)
    at: dict[str, str | int] = {
        "service": _line(places, "X-CONSULTBOT-SERVICE"),
        "level": _line(places, "X-CONSULTBOT-LEVEL"),
        "start": _line(places, "DTSTART"),
        "end": _line(places, "DTEND", "DURATION"),
        "matrix_id": _line(places, "X-CONSULTBOT-MATRIX-ID", "ATTENDEE"),
        "name": _line(places, "X-CONSULTBOT-NAME", "SUMMARY"),
        "phone": _line(places, "X-CONSULTBOT-PHONE"),
    }
    line = _line(places)
    problem: tuple[str, dict[str, str]] | None = None
    if isinstance(start, date) and not isinstance(start, datetime):
        problem = ("all_day_event", {"day": start.isoformat()})
        at["problem"] = at["start"]
    people, others = _people(event, places)
    if others and problem is None:
        problem = ("attendee_not_matrix", {"value": others[0][0]})
        at["problem"] = others[0][1]
    service = _prop(event, "X-CONSULTBOT-SERVICE")
    level = _prop(event, "X-CONSULTBOT-LEVEL") or None
    event_phone = _prop(event, "X-CONSULTBOT-PHONE")

    def shift(user: str, name: str, phone: str, at: dict[str, str | int]) -> RawShift:
        return RawShift(
            file=file,
            line=line,
            service=service,
            level=level,
            start=start,
            end=end,
            user=user,
            name=name,
            phone=phone,
            problem=problem,
            at=at,
        )

    if problem is not None or not people:
        name = _prop(event, "X-CONSULTBOT-NAME") or _prop(event, "SUMMARY")
        return [shift("", name, event_phone, at)]
    phone = event_phone if len(people) == 1 else ""
    return [shift(user, name, phone, {**at, "matrix_id": person}) for user, name, person in people]


def _unbalanced(text: str, file: str) -> Problem | None:
    """A BEGIN without its END (or an END without its BEGIN), with its line: icalendar's own
    message for that names no line."""
    stack: list[tuple[str, int]] = []
    for number, line in enumerate(_physical_lines(text), 1):
        upper = line.strip().upper()
        if upper.startswith("BEGIN:"):
            stack.append((upper[6:], number))
        elif upper.startswith("END:"):
            name = upper[4:]
            if not stack or stack[-1][0] != name:
                return Problem(
                    file=file, line=number, code="ical_unexpected_end", params={"name": name}
                )
            stack.pop()
    if stack:
        name, number = stack[-1]
        return Problem(file=file, line=number, code="ical_not_closed", params={"name": name})
    return None


def content_lines(text: str) -> Any:
    """The file's content lines, unfolded, exactly as icalendar's own reader makes them
    (`icalendar.parser.Contentlines.from_ical`), but built a line at a time.

    That reader runs two regular expressions over the whole text; each is one long step of
    the interpreter that holds every other thread, the event loop's too (0.4 s for a 5 MiB
    upload). A line is unfolded where its break (CRLF or LF, not right after another break)
    is followed by any empty lines and then a space or tab, which is dropped."""
    from icalendar.parser import Contentline, Contentlines

    segments = text.split("\n")
    last = len(segments) - 1
    lines: list[str] = []
    parts: list[str] = []
    index, current = 0, segments[0]
    while index < last:
        segment = segments[index]
        after = index + 1
        may_fold = index == 0 or segment not in ("", "\r")
        while may_fold and after < last and segments[after] in ("", "\r"):
            after += 1
        if may_fold and segments[after][:1] in (" ", "\t"):
            # The fold drops its CRLF (or LF), the empty lines and the space or tab.
            parts.append(current[:-1] if segment.endswith("\r") else current)
            index, current = after, segments[after][1:]
            continue
        parts.append(current)
        line = "".join(parts)
        parts.clear()
        line = line[:-1] if line.endswith("\r") else line  # a CRLF ends this line
        if line:
            lines.append(line)
        index += 1
        current = segments[index]
    parts.append(current)
    line = "".join(parts)
    if line:
        lines.append(line)
    found: Any = Contentlines(map(Contentline, lines))
    found.append("")  # as icalendar's reader ends them
    return found


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
    broken = _unbalanced(text, file)
    if broken is not None:
        problems.append(broken)
        return []
    try:
        # icalendar's parser takes content lines as well as text; its signature names text.
        calendar = cast(Any, icalendar.Calendar).from_ical(content_lines(text))
    except Exception:  # icalendar raises ValueError and others; its text is English
        line = _bad_content_line(text)
        code = "ical_bad_line" if line is not None else "bad_ical"
        problems.append(Problem(file=file, line=line, code=code))
        return []
    places = _event_places(text)
    shifts: list[RawShift] = []
    events = 0
    for series in _series(calendar, places):
        events += len(series)
        before = len(shifts)
        try:
            for occurrence, where in _occurrences(series):
                if _prop(occurrence, "STATUS").upper() != "CANCELLED":
                    shifts.extend(_shifts_of(occurrence, file, where))
                if len(shifts) > MAX_SHIFTS:
                    problems.append(_too_many_shifts(file, _line(where, "RRULE", "DTSTART")))
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
