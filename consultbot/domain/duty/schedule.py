"""When the admins' recurring posts are due: the monthly report and the weekly coverage check.

Pure: the caller passes the current instant and the time zone. Each post has an occurrence, a
local wall-clock time (the 1st of the month at 07:00 for the report of the month before; Monday
at 07:00 for the coverage gaps of the coming 14 days), and a key that names it for good
("report:2026-11", "coverage:2026-11-30"): the service records that key in the same
transaction as the post's outbox entry, so a post is made once, also across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

POST_TIME = time(7, 0)
COVERAGE_DAYS = 14


class Post(StrEnum):
    MONTHLY_REPORT = "report"
    COVERAGE = "coverage"


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    post: Post
    at: datetime  # the instant it is due (UTC)
    day: date  # its local date: the 1st of the month, or the Monday

    @property
    def key(self) -> str:
        """The post's name for good: what it is about, not when it went out."""
        if self.post is Post.MONTHLY_REPORT:
            return f"{self.post.value}:{self.month:%Y-%m}"
        return f"{self.post.value}:{self.day.isoformat()}"

    @property
    def month(self) -> date:
        """For the monthly report: the first day of the month it reports on."""
        previous = self.day - timedelta(days=1)
        return previous.replace(day=1)


def _instant(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, POST_TIME, tzinfo=tz).astimezone(UTC)


def _first_of_month(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def latest(post: Post, now: datetime, tz: ZoneInfo) -> Occurrence:
    """The last occurrence of `post` at or before `now`."""
    today = now.astimezone(tz).date()
    if post is Post.MONTHLY_REPORT:
        day = _first_of_month(today)
        if _instant(day, tz) > now:
            day = _first_of_month(today, 1)
    else:
        day = today - timedelta(days=today.weekday())
        if _instant(day, tz) > now:
            day -= timedelta(days=7)
    return Occurrence(post=post, at=_instant(day, tz), day=day)


def following(post: Post, now: datetime, tz: ZoneInfo) -> Occurrence:
    """The first occurrence of `post` after `now`."""
    last = latest(post, now, tz)
    if post is Post.MONTHLY_REPORT:
        day = _first_of_month(last.day, -1)
    else:
        day = last.day + timedelta(days=7)
    return Occurrence(post=post, at=_instant(day, tz), day=day)


def due(post: Post, now: datetime, since: datetime, tz: ZoneInfo) -> Occurrence | None:
    """The occurrence of `post` to make now, if any: the latest one, unless it came before
    `since` (when the bot first ran: a new installation posts nothing about the time before
    it). Older missed occurrences are not made up for: only the latest one counts."""
    last = latest(post, now, tz)
    return last if last.at >= since else None
