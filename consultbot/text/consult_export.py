"""The analyst's per-consult export in its shapes: CSV for Swedish Excel (the `stats` CSV's
language: Swedish headers and outcome names, `;`, BOM, CRLF, decimal comma), one JSON
document, or JSON Lines. Written row by row: nothing holds the whole export.

The columns and what each goal of the plan is computed from: docs/followup.md."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from consultbot.domain.consult.stats import FROZEN_PREFIX, ConsultSummary
from consultbot.domain.duty.outcomes import DEFAULT_OUTCOMES
from consultbot.domain.duty.roster import FORMULA_STARTS, escape_cell
from consultbot.domain.types import Track
from consultbot.text.render import Messages

OutcomeSets = Mapping[str, tuple[str, ...]]
DEFAULT_SETS: OutcomeSets = {t.value: tuple(o.value for o in DEFAULT_OUTCOMES[t]) for t in Track}


def outcome_set(track: str, sets: OutcomeSets = DEFAULT_SETS) -> tuple[str, ...]:
    """The outcome keys the consult's path offers (`sets`: the active catalogue's)."""
    return sets.get(track) or DEFAULT_SETS.get(track, ())


FIELDS: tuple[str, ...] = (
    "number",
    "period",
    "requested_at",
    "track",
    "services",
    "requester_kind",
    "requester_unit",
    "outcome",
    "outcome_set",
    "acknowledged",
    "escalated",
    "unanswered",
    "ack_seconds",
    "phone_contacts",
    "levels_paged",
    "acknowledged_at",
    "closed_at",
)
PEOPLE_FIELDS: tuple[str, ...] = ("requester", "paged", "acknowledged_by")


def local_text(instant: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 in `tz` with its offset, to the second: `2027-03-05T14:03:00+01:00`."""
    return instant.astimezone(tz).isoformat(timespec="seconds") if instant else None


def as_record(
    s: ConsultSummary,
    unit: str,
    tz: ZoneInfo,
    people: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    sets: OutcomeSets = DEFAULT_SETS,
) -> dict[str, Any]:
    """One consult as the export's keys (JSON): times ISO 8601 with the offset of `tz`; the
    path's outcome set from `sets`."""
    ack = s.ack_seconds
    requested = s.requested_at.astimezone(tz)
    found: dict[str, Any] = {
        "number": s.consult,
        "period": f"{requested.year:04d}-{requested.month:02d}",
        "requested_at": local_text(s.requested_at, tz),
        "track": s.track,
        "services": list(s.services),
        "requester_kind": s.requester_kind,
        "requester_unit": unit,
        "outcome": s.outcome or "open",
        "outcome_set": list(outcome_set(s.track, sets)),
        "acknowledged": s.acknowledged_at is not None,
        "escalated": s.escalated,
        "unanswered": s.unanswered,
        "ack_seconds": round(ack, 1) if ack is not None else None,
        "phone_contacts": s.phone_contacts,
        "levels_paged": list(s.levels),
        "acknowledged_at": local_text(s.acknowledged_at, tz),
        "closed_at": local_text(s.closed_at, tz),
    }
    if people is not None:
        purged = s.requester.startswith(FROZEN_PREFIX)
        found["requester"] = "" if purged else s.requester
        found["paged"] = list(people[0])
        found["acknowledged_by"] = list(people[1])
    return found


class Writer:
    """Writes records in one format to a binary stream as they come."""

    def __init__(
        self, stream: Any, form: str, messages: Messages, tz: ZoneInfo, *, people: bool
    ) -> None:
        self._stream = stream
        self._form = form
        self._messages = messages
        self._fields = FIELDS + PEOPLE_FIELDS if people else FIELDS
        self._tz = tz
        self._count = 0
        self._names: dict[tuple[str, str], str] = {}

    def begin(self) -> None:
        if self._form == "csv":
            self._write("\ufeff" + _csv_line(self._header()))
        elif self._form == "json":
            self._write("[")

    def rows(self, records: Iterable[Mapping[str, Any]]) -> None:
        self._write("".join(self._lines(records)))

    def end(self) -> None:
        if self._form == "json":
            self._write("\n]\n" if self._count else "]\n")

    def _lines(self, records: Iterable[Mapping[str, Any]]) -> Iterator[str]:
        if self._form == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
            writer.writerows([self._cell(key, r[key]) for key in self._fields] for r in records)
            self._count += 1
            yield buffer.getvalue()
            return
        for r in records:
            if self._form == "jsonl":
                yield json.dumps(r, ensure_ascii=False) + "\n"
            else:
                yield ("\n" if not self._count else ",\n") + json.dumps(r, ensure_ascii=False)
            self._count += 1

    def _write(self, text: str) -> None:
        self._stream.write(text.encode("utf-8"))

    def _header(self) -> list[str]:
        text = self._messages.text
        return [text("export", key, tz=str(self._tz)) for key in self._fields]

    def _name(self, section: str, key: str) -> str:
        """A Swedish (or English) name from the messages, rendered once per export; a path's
        outcome set (`outcome_set`, its keys joined by `,`) as its outcomes' names."""
        found = self._names.get((section, key))
        if found is None:
            if section == "outcome_set":
                found = ", ".join(self._messages.text("outcome_value", k) for k in key.split(","))
            else:
                found = self._messages.text(section, key)
            self._names[section, key] = found
        return found

    def _cell(self, key: str, value: Any) -> str:
        if value is None:
            return ""
        if value is True:
            return "1"
        if value is False:
            return "0"
        if key == "outcome":
            return self._name("outcome_value", value)
        if key == "outcome_set":
            return self._name("outcome_set", ",".join(value))
        if key == "requester_kind":
            return self._name("export", f"kind_{value}")
        if key == "ack_seconds":
            return f"{value:.1f}".replace(".", ",")
        if isinstance(value, list):
            value = ",".join(map(str, value))
        elif not isinstance(value, str):
            return str(value)
        return escape_cell(value) if value[:1] in FORMULA_STARTS else value


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()
