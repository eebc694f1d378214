"""Data protection (issue 13, docs/privacy.md): when consult rooms are left and metadata purged.

Pure: the caller passes the current instant and the time zone.

- A consult is *quiet since* its last event (closing, withdrawal, the chain running out, or a
  late vote or reminder after that). Open consults, and any with a deadline, are never quiet.
- `LEAVE_AFTER` (30 days) after that, the bot leaves and forgets the consult's room, once.
- `bot.retention_days` (default 730) after that, and only once the room is left, the consult's
  metadata is purged; its statistics stay, with the requester replaced by their unit.
- The purge runs `START_DELAY` after a start and every night at `PURGE_TIME` local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

LEAVE_AFTER = timedelta(days=30)
DEFAULT_RETENTION_DAYS = 730
PURGE_TIME = time(3, 30)
# The first run after a start waits this long: a restart's catch-up (overdue escalations,
# queued pages) has the store to itself.
START_DELAY = timedelta(minutes=1)


@dataclass(frozen=True, kw_only=True)
class Cutoffs:
    """The instants one retention run works with."""

    leave_before: datetime  # rooms of consults quiet since before this are left
    purge_before: datetime  # consults quiet since before this are purged


def cutoffs(now: datetime, retention_days: int) -> Cutoffs:
    if retention_days < 1:
        raise ValueError("retention_days is at least 1")
    return Cutoffs(
        leave_before=now - LEAVE_AFTER, purge_before=now - timedelta(days=retention_days)
    )


def next_run(now: datetime, tz: ZoneInfo) -> datetime:
    """The next `PURGE_TIME` (local) after `now`, as a UTC instant."""
    day = now.astimezone(tz).date()
    while True:
        at = datetime.combine(day, PURGE_TIME, tzinfo=tz).astimezone(UTC)
        if at > now:
            return at
        day += timedelta(days=1)
