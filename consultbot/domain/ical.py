"""Rosters as iCalendar: one VEVENT per shift.

Reading (import): each VEVENT needs DTSTART and DTEND (with TZID, in UTC, or floating = the
configured zone) and these properties:

    X-CONSULTBOT-SERVICE   service id or alias          (required)
    X-CONSULTBOT-LEVEL     1, 2, 3 …                    (required)
    X-CONSULTBOT-MATRIX-ID @user:server                 (required; or ATTENDEE:matrix:u/user:server)
    X-CONSULTBOT-NAME      display name                 (or the ATTENDEE's CN, or SUMMARY)
    X-CONSULTBOT-PHONE     phone                        (optional)

Writing (export) produces exactly those properties plus a readable SUMMARY, a stable UID and
times in UTC, so an exported file imports again unchanged and calendar apps show it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from consultbot.domain.errors import Problem
from consultbot.domain.roster import RawShift, Shift
from consultbot.domain.tables import Cell, decode_text

PRODID = "-//consultbot//roster export//SV"


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


def _matrix_from_attendee(event: Any) -> tuple[str, str]:
    attendee = event.get("ATTENDEE")
    if attendee is None:
        return "", ""
    if isinstance(attendee, list):
        attendee = attendee[0]
    uri = str(attendee)
    cn = str(attendee.params.get("CN", "")) if hasattr(attendee, "params") else ""
    if uri.lower().startswith("matrix:u/"):
        return "@" + uri[len("matrix:u/") :].split("?")[0], cn
    return "", cn


def _when(event: Any, name: str) -> Cell:
    prop = event.get(name)
    if prop is None:
        return None
    try:
        value = prop.dt
    except Exception:  # icalendar raises its own errors for unparsable values
        raw = prop.to_ical() if hasattr(prop, "to_ical") else prop
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if isinstance(value, datetime):
        return value  # aware (TZID or UTC) or naive (floating → configured zone)
    if isinstance(value, date):
        return value  # an all-day date: refused by validation as not a time
    return str(value)


def read_ical_roster(data: bytes, file: str, problems: list[Problem]) -> list[RawShift]:
    """Read VEVENTs as raw shifts; line numbers are those of each BEGIN:VEVENT."""
    import icalendar

    text = decode_text(data, file, problems)
    if text is None:
        return []
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError and others for broken input
        problems.append(Problem(file=file, line=None, code="bad_ical", params={"detail": str(exc)}))
        return []
    lines = _event_lines(text)
    shifts: list[RawShift] = []
    for n, event in enumerate(calendar.walk("VEVENT")):
        line = lines[n] if n < len(lines) else 0
        user = _prop(event, "X-CONSULTBOT-MATRIX-ID")
        attendee_user, cn = _matrix_from_attendee(event)
        shifts.append(
            RawShift(
                file=file,
                line=line,
                service=_prop(event, "X-CONSULTBOT-SERVICE"),
                level=_prop(event, "X-CONSULTBOT-LEVEL") or None,
                start=_when(event, "DTSTART"),
                end=_when(event, "DTEND"),
                user=user or attendee_user,
                name=_prop(event, "X-CONSULTBOT-NAME") or cn or _prop(event, "SUMMARY"),
                phone=_prop(event, "X-CONSULTBOT-PHONE"),
            )
        )
    if not shifts:
        problems.append(Problem(file=file, line=None, code="no_rows"))
    return shifts


def shifts_to_ical(
    shifts: Iterable[Shift], calendar_name: str, service_names: dict[str, str]
) -> bytes:
    """An iCalendar file with one VEVENT per shift (times in UTC)."""
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", calendar_name)
    stamp = datetime.now(UTC).replace(microsecond=0)
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
