"""Checking and importing the versioned data sets, shared by the CLI and chat uploads.

`check_files` validates files against the active catalogue and returns a `Checked` that knows
how to import itself; nothing is written until `Checked.activate` is called, and then
atomically. What the import would do to the active version (changes, holes, shrink) is
worked out in impact.py; parsers run off the event loop (off_loop.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from consultbot.domain.duty.catalogue import Catalogue, parse_catalogue
from consultbot.domain.duty.coverage import Hole
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.people import (
    DirectoryEntry,
    StaffMember,
    parse_directory,
    parse_staff,
)
from consultbot.domain.duty.roster import check_roster
from consultbot.domain.duty.shrink import DEFAULT_SHARE, Kind, Shrink, shrinkage
from consultbot.domain.errors import HasProblems, Problem, kept_problems
from consultbot.domain.files.tables import decode_text
from consultbot.domain.files.validation import FileRules, servers_of
from consultbot.domain.types import Dataset, ServiceKind, Track
from consultbot.engine.admin.impact import (
    directory_gone,
    dropped_with_shifts,
    hole_lines,
    roster_impact,
    shrink_line,
    staff_gone,
)
from consultbot.engine.admin.off_loop import full_collections_postponed, parse_off_loop
from consultbot.ports import DataSets
from consultbot.text.render import Messages

if TYPE_CHECKING:
    from consultbot.config import Config

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
    # Compared with the active version: the coverage holes a roster leaves, at every level
    # and also outside the file's period, and how much a new version removes (issue 20).
    holes: tuple[Hole, ...] = ()
    shrink: Shrink | None = None
    # Problems beyond the first MAX_KEPT_PROBLEMS errors and warnings are only counted.
    more_errors: int = 0
    more_warnings: int = 0
    # The files hold exactly what the active version holds: importing them would only make
    # a new version of the same data (and a rollback would then restore the same data).
    unchanged: bool = False
    _activate: Callable[[DataSets, datetime], Awaitable[int]] | None = None

    @property
    def error_count(self) -> int:
        """How many errors the files have, counted ones included."""
        return len(self.errors) + self.more_errors

    @property
    def warning_count(self) -> int:
        """How many warnings the files have, counted ones included."""
        return len(self.warnings) + self.more_warnings

    @property
    def stops_for_gaps(self) -> bool:
        """True when the import leaves a new level-1 hole inside opening hours."""
        return any(hole.stops_import for hole in self.holes)

    def hold_reasons(self, *, allow_gaps: bool, allow_shrink: bool) -> dict[str, bool]:
        """Why the import is held, as message fields: `gaps`, and `shrink` (the new version
        removes more than the allowed share of the active one)."""
        return {
            "gaps": self.stops_for_gaps and not allow_gaps,
            "shrink": self.shrink is not None and not allow_shrink,
        }

    def held(self, *, allow_gaps: bool = False, allow_shrink: bool = False) -> bool:
        """True when the import must wait for the admin's confirmation of what it does."""
        return any(self.hold_reasons(allow_gaps=allow_gaps, allow_shrink=allow_shrink).values())

    @property
    def has_content(self) -> bool:
        """True when the files held anything that could be imported."""
        return self._activate is not None

    @property
    def ok(self) -> bool:
        """True when the files may be imported."""
        return not self.errors and self._activate is not None

    async def activate(self, store: DataSets, now: datetime) -> int:
        """Import as a new version; only allowed when `ok`."""
        if not self.ok or self._activate is None:
            raise ValueError("files with errors cannot be imported")
        return await self._activate(store, now)


def _same(new: Sequence[StaffMember], active: Sequence[StaffMember]) -> bool:
    """The same people with the same details, in whatever order."""

    def key(m: StaffMember) -> tuple[str, ...]:
        return (m.user, m.name, m.unit, m.title, m.phone)

    return bool(active) and sorted(map(key, new)) == sorted(map(key, active))


def _source(files: Files) -> str:
    return ", ".join(name for name, _ in files)


async def _require_catalogue(store: DataSets) -> Catalogue:
    catalogue = await store.catalogue()
    if not len(catalogue):
        raise NoCatalogue
    return catalogue


def check_catalogue_files(files: Files, rules: FileRules | None = None) -> Checked:
    """Validate one catalogue file (TOML)."""
    return _check_catalogue(files, rules)[0]


def _check_catalogue(files: Files, rules: FileRules | None) -> tuple[Checked, Catalogue]:
    (name, data), *rest = files
    problems: list[Problem] = [
        Problem(file=extra, line=None, code="one_catalogue_file") for extra, _ in rest
    ]
    text = decode_text(data, name, problems)
    # An undecodable file: its problem, an empty catalogue, nothing to import or summarise.
    catalogue, found = parse_catalogue(text, name, rules) if text is not None else (Catalogue(), [])
    problems.extend(found)
    kept, more_errors, more_warnings = kept_problems(problems)
    kinds = [s.kind for s in catalogue.services]

    async def activate(store: DataSets, now: datetime) -> int:
        return await store.import_catalogue(catalogue, source=name, now=now)

    return Checked(
        dataset=Dataset.CATALOGUE,
        files=(name,),
        problems=kept,
        more_errors=more_errors,
        more_warnings=more_warnings,
        summary_key="catalogue_summary",
        summary={
            "services": str(len(catalogue)),
            "specialties": str(kinds.count(ServiceKind.SPECIALTY)),
            "primary_care": str(kinds.count(ServiceKind.PRIMARY_CARE)),
            "ambulance": str(kinds.count(ServiceKind.AMBULANCE)),
            "municipal_care": str(kinds.count(ServiceKind.MUNICIPAL_CARE)),
            "other": str(kinds.count(ServiceKind.OTHER)),
        },
        _activate=activate if len(catalogue) else None,
    ), catalogue


async def check_roster_files(
    files: Files,
    store: DataSets,
    tz: ZoneInfo,
    hours: Mapping[Track, Hours],
    shrink_share: float = DEFAULT_SHARE,
    rules: FileRules | None = None,
) -> Checked:
    """Validate roster files against the active catalogue; gaps are checked per track hours.

    The summary says, per service, how many shifts the import adds, replaces and removes,
    every new hole it leaves in coverage (compared with the active roster), and whether it
    removes more than `shrink_share` of the shifts it replaces."""
    catalogue = await _require_catalogue(store)
    # Parsing runs in a worker thread: a large or hostile file must not hold the event loop.
    result = await parse_off_loop(check_roster, files, catalogue, tz, hours, rules)
    impact = await roster_impact(store, result, tz)
    # A file with a hundred thousand problems (one person booked in every event) keeps a
    # thousand: what follows runs on the event loop.
    found = (*result.problems, *impact.clashes)
    problems, more_errors, more_warnings = await parse_off_loop(kept_problems, found)
    result = replace(result, problems=problems)
    # Holes and shrink of a file that cannot be imported would only bury its errors.
    holes = await impact.holes(catalogue, hours, tz) if result.ok else []

    async def activate(target: DataSets, now: datetime) -> int:
        return await target.import_roster(
            result.shifts, result.periods, source=_source(files), now=now
        )

    starts = [spans[0][0] for spans in result.periods.values()]
    ends = [spans[-1][1] for spans in result.periods.values()]
    return Checked(
        dataset=Dataset.ROSTER,
        files=result.files,
        problems=result.problems,
        more_errors=more_errors,
        more_warnings=more_warnings,
        summary_key="roster_summary",
        summary={
            "shifts": str(len(result.shifts)),
            "services": str(len(result.periods)),
            "people": str(result.people),
            "start": min(starts).astimezone(tz).strftime("%Y-%m-%d %H:%M") if starts else "–",
            "end": max(ends).astimezone(tz).strftime("%Y-%m-%d %H:%M") if ends else "–",
        },
        details=(*impact.change_lines(), *hole_lines(holes, tz)),
        holes=tuple(holes),
        shrink=impact.shrink(shrink_share) if result.ok else None,
        unchanged=bool(impact.changes)
        and all(c.added == c.replaced == c.removed == 0 for c in impact.changes),
        _activate=activate if result.shifts else None,
    )


async def check_catalogue_against(
    files: Files,
    store: DataSets,
    now: datetime,
    shrink_share: float = DEFAULT_SHARE,
    rules: FileRules | None = None,
) -> Checked:
    """Validate a catalogue file, and refuse one that drops a service that still has shifts
    from `now` on (its rosters would be orphaned: nobody could reach that duty). One that
    drops more than `shrink_share` of the active services is held for a confirmation."""
    checked, catalogue = await parse_off_loop(_check_catalogue, files, rules)
    if not checked.has_content:
        return checked
    active_catalogue = await store.catalogue()
    active = active_catalogue.services
    new_ids = {service.id for service in catalogue.services}
    dropped = [service.id for service in active if service.id not in new_ids]
    checked = replace(
        checked,
        shrink=shrinkage(Kind.SERVICES, len(active), dropped, shrink_share),
        # The outcome sets are part of the version: a file changing only them is new.
        unchanged=tuple(catalogue.services) == tuple(active)
        and catalogue.outcome_sets == active_catalogue.outcome_sets,
    )
    problems = await dropped_with_shifts(store, active, catalogue, files[0], now)
    return replace(checked, problems=(*checked.problems, *problems)) if problems else checked


async def check_staff_files(
    files: Files,
    store: DataSets,
    shrink_share: float = DEFAULT_SHARE,
    rules: FileRules | None = None,
) -> Checked:
    """Validate a staff list; every unit must be a catalogue service. One that removes more
    than `shrink_share` of the active list's people is held for a confirmation."""
    catalogue = await _require_catalogue(store)
    parsed = [
        await parse_off_loop(parse_staff, data, name, catalogue, rules) for name, data in files
    ]
    members = [member for found, _ in parsed for member in found]
    problems = [problem for _, found in parsed for problem in found]
    kept, more_errors, more_warnings = await parse_off_loop(kept_problems, problems)

    async def activate(target: DataSets, now: datetime) -> int:
        return await target.import_staff(members, source=_source(files), now=now)

    active = await store.staff()
    return Checked(
        dataset=Dataset.STAFF,
        files=tuple(n for n, _ in files),
        problems=kept,
        more_errors=more_errors,
        more_warnings=more_warnings,
        summary_key="staff_summary",
        summary={"people": str(len(members)), "units": str(len({m.unit for m in members}))},
        shrink=shrinkage(Kind.PEOPLE, len(active), staff_gone(active, members), shrink_share),
        unchanged=_same(members, active),
        _activate=activate if members else None,
    )


async def ensure_reference_data(store: DataSets, folder: Path, now: datetime) -> None:
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


def check_directory_files(
    files: Files, active: Sequence[DirectoryEntry] = (), shrink_share: float = DEFAULT_SHARE
) -> Checked:
    """Validate the contact directory; one that removes more than `shrink_share` of the
    `active` directory's entries (by unit and name) is held for a confirmation."""
    parsed = [parse_directory(data, name) for name, data in files]
    entries = [entry for found, _ in parsed for entry in found]
    problems = [problem for _, found in parsed for problem in found]
    kept, more_errors, more_warnings = kept_problems(problems)

    async def activate(target: DataSets, now: datetime) -> int:
        return await target.import_directory(entries, source=_source(files), now=now)

    return Checked(
        dataset=Dataset.DIRECTORY,
        files=tuple(n for n, _ in files),
        problems=kept,
        more_errors=more_errors,
        more_warnings=more_warnings,
        summary_key="directory_summary",
        summary={"entries": str(len(entries))},
        shrink=shrinkage(Kind.ENTRIES, len(active), directory_gone(active, entries), shrink_share),
        unchanged=bool(active) and list(entries) == list(active),
        _activate=activate if entries else None,
    )


async def check_files(
    dataset: Dataset,
    files: Files,
    store: DataSets,
    tz: ZoneInfo,
    hours: Mapping[Track, Hours],
    now: datetime,
    shrink_share: float = DEFAULT_SHARE,
    rules: FileRules | None = None,
) -> Checked:
    """Check files of any data set: the one path for the CLI and for uploads by chat.

    What the import would do is compared with the active version: new coverage holes and
    a shrink beyond `shrink_share` hold it for a confirmation (`Checked.held`). `rules` are
    what the config allows (`check_configured`); None checks no servers and no municipalities.
    Raises NoCatalogue for rosters and staff lists when no catalogue was imported."""
    with full_collections_postponed():
        if dataset is Dataset.CATALOGUE:
            checked = await check_catalogue_against(files, store, now, shrink_share, rules)
        elif dataset is Dataset.DIRECTORY:
            directory = await store.directory()
            checked = await parse_off_loop(check_directory_files, files, directory, shrink_share)
        elif dataset is Dataset.STAFF:
            checked = await check_staff_files(files, store, shrink_share, rules)
        else:
            checked = await check_roster_files(files, store, tz, hours, shrink_share, rules)
        # A shrink summary of a file that cannot be imported would only bury its errors.
        return replace(checked, shrink=None) if checked.errors else checked


async def check_configured(
    config: Config, dataset: Dataset, files: Files, store: DataSets, now: datetime
) -> Checked:
    """`check_files` with what the config sets: time zone, track hours, shrink guard, and what
    it allows in data files (Matrix ids on the allowed servers and the bot's own, municipalities
    of the county)."""
    rules = FileRules(
        servers=servers_of(config.bot.allowed_servers, config.matrix.user_id),
        municipalities=config.bot.county_municipalities,
    )
    return await check_files(
        dataset,
        files,
        store,
        config.bot.timezone,
        config.hours_of(),
        now,
        config.bot.shrink_guard_share,
        rules,
    )


def format_check(
    checked: Checked, messages: Messages, *, max_errors: int | None = None
) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) for a checked data set: summary, warnings, every error
    kept (or the first `max_errors` of them), then how many more: a chat answer stays short."""
    out: list[str] = []
    err: list[str] = []
    for label, listed, count in (
        (messages.cli("error"), checked.errors[:max_errors], checked.error_count),
        (messages.cli("warning"), checked.warnings[:MAX_LISTED_WARNINGS], checked.warning_count),
    ):
        err.extend(f"{label}: {messages.problem(problem)}" for problem in listed)
        if count > len(listed):
            err.append(f"{label}: {messages.cli('and_more', count=count - len(listed))}")
    if checked.summary and checked.has_content:
        out.append(messages.cli(checked.summary_key, **checked.summary))
        out.extend(messages.cli(key, **params) for key, params in checked.details)
        if checked.shrink is not None:
            out.append(shrink_line(checked.shrink, messages))
    if checked.errors:
        err.append(messages.cli("errors_total", count=checked.error_count))
    return out, err
