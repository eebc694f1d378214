"""One error tree for everything a person can get wrong.

    ConsultbotError
     ├── ConfigError            config file missing, unknown key, wrong type, bad value
     ├── UnknownService         a service id or alias that the catalogue does not know
     ├── NothingToRollBack      rollback with no earlier version
     ├── FeedRefused            a calendar feed for nothing known, or no such feed
     └── StoreError             the database refused (newer schema, not a consultbot db, …)

    NotLeader                   another instance holds the leader lease (no write happened)

Messages are built from fields so that callers can render them for people; a `ConsultbotError`
reaching the CLI ends as one line on stderr, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ConsultbotError(Exception):
    """Base of every error caused by input a person can fix."""


class _FileError(ConsultbotError):
    """An error in a file: its path, the reason in English, and a message code."""

    def __init__(
        self, path: str, reason: str, *, code: str = "", params: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        # The message code and its values, so that the CLI can say it in the user's language.
        self.code = code
        self.params = params or {}


class ConfigError(_FileError):
    """The configuration is not usable."""


class Severity(StrEnum):
    """Errors stop an import; warnings are reported and let it through."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One problem found in a data file: where, and what (a message code and its values).

    `line` is the line of the original file (CSV, TOML, iCalendar: the property's own line)
    or the spreadsheet row; `cell` the spreadsheet cell (`C12`) when one cell is at fault.
    """

    file: str
    line: int | None
    code: str
    params: dict[str, str] = field(default_factory=dict)
    severity: Severity = Severity.ERROR
    cell: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


class HasProblems:
    """The `errors` and `warnings` of anything with a `problems` tuple."""

    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


class UnknownService(ConsultbotError):
    """No service in the active catalogue has this id or alias."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NothingToRollBack(ConsultbotError):
    """There is no earlier version of the data set to go back to."""

    def __init__(self, dataset: str) -> None:
        super().__init__(dataset)
        self.dataset = dataset


class FeedRefused(ConsultbotError):
    """A calendar feed cannot be made or revoked as asked: `code` says why (`no_catalogue`,
    `unknown_service`, `asks_only`, `bad_user`, `no_feed`), `params` fill in the message."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


class StoreError(_FileError):
    """The database cannot be used as it is."""


class NotLeader(Exception):
    """This bot instance no longer holds the leader lease: the write it tried is rolled back.

    Not a ConsultbotError: nobody typed anything wrong; the instance steps down.
    """


MAX_KEPT_PROBLEMS = 1000
"""Errors, and warnings, kept of one check; the rest are only counted.

A file with more is wrong at the root (one column shifted, one person booked a thousand
times); listing every one would only bury the cause, and each kept problem is work on the
event loop when the bot answers an upload (see docs/decisions.md)."""


def kept_problems(problems: Sequence[Problem]) -> tuple[tuple[Problem, ...], int, int]:
    """(the first MAX_KEPT_PROBLEMS errors and warnings in order, errors left out, warnings
    left out)."""
    if len(problems) <= MAX_KEPT_PROBLEMS:
        return tuple(problems), 0, 0
    kept: list[Problem] = []
    errors = warnings = 0
    for problem in problems:
        if problem.is_error:
            errors += 1
            if errors <= MAX_KEPT_PROBLEMS:
                kept.append(problem)
        else:
            warnings += 1
            if warnings <= MAX_KEPT_PROBLEMS:
                kept.append(problem)
    return tuple(kept), max(0, errors - MAX_KEPT_PROBLEMS), max(0, warnings - MAX_KEPT_PROBLEMS)
