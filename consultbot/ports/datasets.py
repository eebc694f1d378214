"""The data-set ports: versioned imports of catalogue, roster, staff list and directory,
the handovers laid over the roster, uploads waiting for an admin, and the admin action log."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.roster import Period, Shift
from consultbot.domain.files.uploads import PendingUpload
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


@dataclass(frozen=True, kw_only=True)
class AdminAction:
    """An admin action or a refused attempt at one, for the data-protection officer."""

    at: datetime
    actor: UserId
    action: str
    allowed: bool
    detail: str


class DataSets(ABC):
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
        periods: Mapping[ServiceId, Period | Sequence[Period]],
        *,
        source: str,
        now: datetime,
    ) -> int:
        """For each service in `periods`, replace its shifts that start inside one of its
        periods (one, or several: one per file) with the given shifts; other services, and the
        days between the periods, stay. Return the new version number."""

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
        """Undo the active version of `dataset`; return the version active now
        (NothingToRollBack when there is no earlier version)."""

    @abstractmethod
    async def versions(self, dataset: Dataset) -> list[Version]:
        """Every version of `dataset`, newest first."""

    @abstractmethod
    async def close(self) -> None:
        """Release resources."""


class Handovers(ABC):
    """Shifts handed from one person to another: offered, then accepted or declined."""

    @abstractmethod
    async def add_handovers(self, handovers: Sequence[Handover]) -> list[Handover]:
        """Store new handovers (their `id` is ignored); return them with their ids."""

    @abstractmethod
    async def handovers(self, state: HandoverState | None = None) -> list[Handover]:
        """Every handover (in `state`), oldest first. `on_duty` and `shifts` lay the
        accepted ones over the roster (domain/handover.py `cover`)."""

    @abstractmethod
    async def decide_handover(
        self, handover: int, state: HandoverState, *, now: datetime
    ) -> Handover | None:
        """Move an offered handover to `state` at `now`; None (and no change) when it is no
        longer offered, so that an answer and a lapse can never both win."""


class Uploads(ABC):
    """Data files an admin uploaded, kept until they activate or discard them."""

    @abstractmethod
    async def save_upload(self, upload: PendingUpload) -> None:
        """Keep `upload` until its admin activates or discards it (replacing an earlier one)."""

    @abstractmethod
    async def pending_upload(self, admin: UserId) -> PendingUpload | None:
        """The upload waiting for `admin`, if any."""

    @abstractmethod
    async def drop_upload(self, admin: UserId) -> bool:
        """Forget the upload waiting for `admin`; True when there was one."""


class AdminLog(ABC):
    """Who did (or tried) which admin action, and when."""

    @abstractmethod
    async def record_admin_action(
        self, *, actor: UserId, action: str, allowed: bool, detail: str, now: datetime
    ) -> None:
        """Log an admin action (or a refused attempt at one) with who and when."""

    @abstractmethod
    async def admin_actions(self) -> list[AdminAction]:
        """Every logged admin action, oldest first."""
