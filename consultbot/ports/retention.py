"""The retention port (consultbot/engine/retention.py; docs/privacy.md)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Purged:
    """What one retention purge forgot: how many of each (counts only, for the log)."""

    consults: int = 0
    events: int = 0
    outbox: int = 0
    handled: int = 0


class Retention(ABC):
    """Leaving quiet consults' rooms, then forgetting their metadata."""

    @abstractmethod
    async def leave_closed_rooms(self, quiet_since: datetime, *, now: datetime) -> list[str]:
        """Queue, once per consult ever, a LEAVE outbox entry (with the consult set) for the
        room of each consult that is closed, unanswered or withdrawn, has no deadline, and
        whose last event is before `quiet_since` (checked again when queued). Return those
        rooms. One call at a time: the retention run's lock sees to it."""

    @abstractmethod
    async def purge_consults(self, before: datetime, *, now: datetime) -> Purged:
        """Forget the metadata of each consult that is closed, unanswered or withdrawn, has no
        deadline, whose last event is before `before`, and whose room (if any) the bot has
        left (its LEAVE entry sent): its event log, parties, outbox entries, room and
        requester. Its statistics stay, with the requester replaced by the requester's unit in
        the staff list now (`domain.stats.frozen_unit`), so the statistics of its period do
        not change. Also forget sent outbox entries of no consult and handled Matrix event
        ids (`$…`) from before `before`. Open consults are never touched. Return the counts."""
