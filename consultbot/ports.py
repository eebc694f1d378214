"""Ports: the small interfaces the service layer needs from the outside world.

Each has an in-memory twin in `adapters/memory.py`; `tests/adapters/test_store_contract.py`
runs one contract suite against every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from consultbot.domain.catalogue import Catalogue
from consultbot.domain.oncall import OnDuty
from consultbot.domain.people import DirectoryEntry, StaffMember
from consultbot.domain.roster import Shift
from consultbot.domain.types import Dataset, ServiceId, UserId


@dataclass(frozen=True, kw_only=True)
class Version:
    """One imported version of a data set."""

    dataset: Dataset
    number: int
    imported_at: datetime
    source: str
    summary: str
    active: bool
    rolled_back: bool


class DataStore(ABC):
    """Versioned data sets: catalogue, roster, staff list, contact directory.

    Every import creates a new version atomically (all or nothing) and keeps the previous
    one; `rollback` makes the previous version active again and returns its number.
    """

    @abstractmethod
    async def import_catalogue(self, catalogue: Catalogue, *, source: str, now: datetime) -> int:
        """Make `catalogue` the active catalogue; return the new version number."""

    @abstractmethod
    async def catalogue(self) -> Catalogue:
        """The active catalogue (empty when none was imported)."""

    @abstractmethod
    async def import_roster(
        self,
        shifts: Sequence[Shift],
        periods: Mapping[ServiceId, tuple[datetime, datetime]],
        *,
        source: str,
        now: datetime,
    ) -> int:
        """For each service in `periods`, replace its shifts that start inside its period with
        the given shifts; other services and periods stay. Return the new version number."""

    @abstractmethod
    async def on_duty(self, service: ServiceId, at: datetime) -> OnDuty:
        """The people on duty for `service` at `at`, by level."""

    @abstractmethod
    async def shifts(
        self, service: ServiceId, start: datetime | None = None, end: datetime | None = None
    ) -> list[Shift]:
        """Active shifts of `service` overlapping [start, end), ordered by start and level."""

    @abstractmethod
    async def import_staff(
        self, members: Sequence[StaffMember], *, source: str, now: datetime
    ) -> int:
        """Replace the staff list; return the new version number."""

    @abstractmethod
    async def staff_member(self, user: UserId) -> StaffMember | None:
        """The active staff list's entry for `user`, if any."""

    @abstractmethod
    async def staff(self) -> list[StaffMember]:
        """The whole active staff list."""

    @abstractmethod
    async def import_directory(
        self, entries: Sequence[DirectoryEntry], *, source: str, now: datetime
    ) -> int:
        """Replace the contact directory; return the new version number."""

    @abstractmethod
    async def directory(self) -> list[DirectoryEntry]:
        """The active contact directory."""

    @abstractmethod
    async def rollback(self, dataset: Dataset, *, now: datetime) -> int:
        """Undo the active version of `dataset`; return the version active now.

        Raise NothingToRollBack when there is no earlier version.
        """

    @abstractmethod
    async def versions(self, dataset: Dataset) -> list[Version]:
        """Every version of `dataset`, newest first."""

    @abstractmethod
    async def close(self) -> None:
        """Release resources."""
