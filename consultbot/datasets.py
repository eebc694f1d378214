"""Checking and importing the versioned data sets, shared by the CLI and chat uploads.

`check` validates files against the active catalogue and returns a `Checked` that knows how to
import itself; nothing is written until `Checked.activate` is called, and then atomically.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from consultbot.domain.catalogue import Catalogue, parse_catalogue
from consultbot.domain.errors import HasProblems, Problem
from consultbot.domain.hours import Hours
from consultbot.domain.people import parse_directory, parse_staff
from consultbot.domain.roster import (
    Changes,
    Shift,
    changes,
    check_roster,
    in_periods,
    overlaps_with_kept,
)
from consultbot.domain.tables import decode_text
from consultbot.domain.types import Dataset, ServiceId, ServiceKind, Track
from consultbot.ports import DataStore
from consultbot.render import Messages

Files = Sequence[tuple[str, bytes]]

MAX_LISTED_WARNINGS = 20


class NoCatalogue(Exception):
    """Rosters and staff lists need an imported catalogue to be checked against."""


@dataclass(frozen=True, kw_only=True)
class Checked(HasProblems):
    """Validated files: their problems, a summary (message fields), and how to import them."""

    dataset: Dataset
    files: tuple[str, ...]
    problems: tuple[Problem, ...]
    summary_key: str
    summary: dict[str, str] = field(default_factory=dict)
    # Further summary lines (message key, fields), e.g. what the import changes per service.
    details: tuple[tuple[str, dict[str, str]], ...] = ()
    _activate: Callable[[DataStore, datetime], Awaitable[int]] | None = None

    @property
    def has_content(self) -> bool:
        """True when the files held anything that could be imported."""
        return self._activate is not None

    @property
    def ok(self) -> bool:
        """True when the files may be imported."""
        return not self.errors and self._activate is not None

    async def activate(self, store: DataStore, now: datetime) -> int:
        """Import as a new version; only allowed when `ok`."""
        if not self.ok or self._activate is None:
            raise ValueError("files with errors cannot be imported")
        return await self._activate(store, now)


def _source(files: Files) -> str:
    return ", ".join(name for name, _ in files)


async def _require_catalogue(store: DataStore) -> Catalogue:
    catalogue = await store.catalogue()
    if not len(catalogue):
        raise NoCatalogue
    return catalogue


def check_catalogue_files(files: Files) -> Checked:
    """Validate one catalogue file (TOML)."""
    return _check_catalogue(files)[0]


def _check_catalogue(files: Files) -> tuple[Checked, Catalogue]:
    (name, data), *rest = files
    problems: list[Problem] = [
        Problem(file=extra, line=None, code="unknown_key", params={"key": "(one file only)"})
        for extra, _ in rest
    ]
    text = decode_text(data, name, problems)
    if text is None:
        checked = Checked(
            dataset=Dataset.CATALOGUE,
            files=(name,),
            problems=tuple(problems),
            summary_key="catalogue_summary",
        )
        return checked, Catalogue()
    catalogue, found = parse_catalogue(text, name)
    problems.extend(found)
    kinds = [s.kind for s in catalogue.services]

    async def activate(store: DataStore, now: datetime) -> int:
        return await store.import_catalogue(catalogue, source=name, now=now)

    checked = Checked(
        dataset=Dataset.CATALOGUE,
        files=(name,),
        problems=tuple(problems),
        summary_key="catalogue_summary",
        summary={
            "services": str(len(catalogue)),
            "specialties": str(kinds.count(ServiceKind.SPECIALTY)),
            "primary_care": str(kinds.count(ServiceKind.PRIMARY_CARE)),
            "other": str(kinds.count(ServiceKind.OTHER)),
        },
        _activate=activate if len(catalogue) else None,
    )
    return checked, catalogue


async def check_roster_files(
    files: Files, store: DataStore, tz: ZoneInfo, hours: Mapping[Track, Hours]
) -> Checked:
    """Validate roster files against the active catalogue; gaps are checked per track hours.

    The summary says, per service, how many shifts the import adds, replaces and removes."""
    catalogue = await _require_catalogue(store)
    result = check_roster(files, catalogue, tz, hours)
    kept: list[Shift] = []
    per_service: list[Changes] = []
    # One pass, not one per service: a national roster is 840 services × 2,190 shifts.
    by_service: dict[ServiceId, list[Shift]] = defaultdict(list)
    for shift in result.shifts:
        by_service[shift.service].append(shift)
    for service, spans in sorted(result.periods.items()):
        existing: list[Shift] = []
        for start, end in spans:
            running = await store.shifts(service, start, end)
            kept.extend(s for s in running if s.start < start and not in_periods(s, spans))
            existing.extend(s for s in running if start <= s.start < end)
        per_service.append(changes(service, by_service[service], existing))
    clashes = overlaps_with_kept(result, _unique(kept), tz)
    if clashes:
        result = replace(result, problems=(*result.problems, *clashes))

    async def activate(target: DataStore, now: datetime) -> int:
        return await target.import_roster(
            result.shifts, result.periods, source=_source(files), now=now
        )

    starts = [spans[0][0] for spans in result.periods.values()]
    ends = [spans[-1][1] for spans in result.periods.values()]
    return Checked(
        dataset=Dataset.ROSTER,
        files=result.files,
        problems=result.problems,
        summary_key="roster_summary",
        summary={
            "shifts": str(len(result.shifts)),
            "services": str(len(result.periods)),
            "people": str(result.people),
            "start": min(starts).astimezone(tz).strftime("%Y-%m-%d %H:%M") if starts else "–",
            "end": max(ends).astimezone(tz).strftime("%Y-%m-%d %H:%M") if ends else "–",
        },
        details=tuple(
            (
                "roster_changes",
                {
                    "service": c.service,
                    "added": str(c.added),
                    "replaced": str(c.replaced),
                    "removed": str(c.removed),
                    "unchanged": str(c.unchanged),
                },
            )
            for c in per_service
        ),
        _activate=activate if result.shifts else None,
    )


def _unique(shifts: list[Shift]) -> list[Shift]:
    return list(dict.fromkeys(shifts))


async def check_catalogue_against(files: Files, store: DataStore, now: datetime) -> Checked:
    """Validate a catalogue file, and refuse one that drops a service that still has shifts
    from `now` on (its rosters would be orphaned: nobody could reach that duty)."""
    checked, catalogue = _check_catalogue(files)
    if not checked.has_content:
        return checked
    name = files[0][0]
    problems: list[Problem] = []
    for service in (await store.catalogue()).services:
        kept = catalogue.find(service.id)
        if kept is not None and kept.id == service.id:
            continue
        future = await store.shifts(service.id, now, None)
        if future:
            problems.append(
                Problem(
                    file=name,
                    line=None,
                    code="service_dropped_with_shifts",
                    params={"service": service.id, "count": str(len(future))},
                )
            )
    if not problems:
        return checked
    return replace(checked, problems=(*checked.problems, *problems))


async def check_staff_files(files: Files, store: DataStore) -> Checked:
    """Validate a staff list; every unit must be a catalogue service."""
    catalogue = await _require_catalogue(store)
    members, problems = [], []
    for name, data in files:
        found, found_problems = parse_staff(data, name, catalogue)
        members.extend(found)
        problems.extend(found_problems)

    async def activate(target: DataStore, now: datetime) -> int:
        return await target.import_staff(members, source=_source(files), now=now)

    return Checked(
        dataset=Dataset.STAFF,
        files=tuple(n for n, _ in files),
        problems=tuple(problems),
        summary_key="staff_summary",
        summary={"people": str(len(members)), "units": str(len({m.unit for m in members}))},
        _activate=activate if members else None,
    )


async def ensure_reference_data(store: DataStore, folder: Path, now: datetime) -> None:
    """Import the catalogue, staff list and directory from `folder` where none is active yet
    (the example data, for `make run` and the demo)."""

    def files(name: str) -> list[tuple[str, bytes]]:
        return [(str(folder / name), (folder / name).read_bytes())]

    if not len(await store.catalogue()):
        await check_catalogue_files(files("services.toml")).activate(store, now)
    if not await store.staff():
        await (await check_staff_files(files("staff.csv"), store)).activate(store, now)
    if not await store.directory():
        await check_directory_files(files("directory.csv")).activate(store, now)


def check_directory_files(files: Files) -> Checked:
    """Validate the contact directory."""
    entries, problems = [], []
    for name, data in files:
        found, found_problems = parse_directory(data, name)
        entries.extend(found)
        problems.extend(found_problems)

    async def activate(target: DataStore, now: datetime) -> int:
        return await target.import_directory(entries, source=_source(files), now=now)

    return Checked(
        dataset=Dataset.DIRECTORY,
        files=tuple(n for n, _ in files),
        problems=tuple(problems),
        summary_key="directory_summary",
        summary={"entries": str(len(entries))},
        _activate=activate if entries else None,
    )


async def check_files(
    dataset: Dataset,
    files: Files,
    store: DataStore,
    tz: ZoneInfo,
    hours: Mapping[Track, Hours],
    now: datetime,
) -> Checked:
    """Check files of any data set: the one path for the CLI and for uploads by chat.

    Raises NoCatalogue for rosters and staff lists when no catalogue was imported."""
    if dataset is Dataset.CATALOGUE:
        return await check_catalogue_against(files, store, now)
    if dataset is Dataset.DIRECTORY:
        return check_directory_files(files)
    if dataset is Dataset.STAFF:
        return await check_staff_files(files, store)
    return await check_roster_files(files, store, tz, hours)


def format_check(checked: Checked, messages: Messages) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) for a checked data set: summary, warnings, every error."""
    out: list[str] = []
    err: list[str] = []
    error, warning = messages.cli("error"), messages.cli("warning")
    for problem in checked.errors:
        err.append(f"{error}: {messages.problem(problem)}")
    warnings = checked.warnings
    for problem in warnings[:MAX_LISTED_WARNINGS]:
        err.append(f"{warning}: {messages.problem(problem)}")
    if len(warnings) > MAX_LISTED_WARNINGS:
        err.append(
            f"{warning}: {messages.cli('and_more', count=len(warnings) - MAX_LISTED_WARNINGS)}"
        )
    if checked.summary and checked.has_content:
        out.append(messages.cli(checked.summary_key, **checked.summary))
        out.extend(messages.cli(key, **params) for key, params in checked.details)
    if checked.errors:
        err.append(messages.cli("errors_total", count=len(checked.errors)))
    return out, err
