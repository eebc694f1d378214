"""The admins' recurring posts: the monthly report and the Monday coverage check, once each.

- On the 1st at 07:00 (local) the follow-up report of the month before goes to the admin room.
- On Mondays at 07:00 the level-1 coverage gaps of the coming 14 days, inside the tracks' hours
  (`domain.roster.coverage_gaps`, the check a roster import runs), go there too.

Restart-safe: a post's key (domain/schedule.py: "report:2026-11", "coverage:2026-11-30") is
recorded as handled in the same transaction as its outbox entry, so it is posted once, also
when the bot restarts after posting; a post the bot was down for is made at start-up. The
outbox sends it like every other message (the report is made when it is sent).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from consultbot.config import Config
from consultbot.domain.duty.roster import coverage_gaps
from consultbot.domain.duty.schedule import COVERAGE_DAYS, Occurrence, Post, due, following
from consultbot.engine.stepper import Stepper
from consultbot.ports import BotState, Clock, ConsultLog, DataSets, OutboxKind, Outgoing, Timers

log = logging.getLogger(__name__)

SINCE_KEY = "admin_posts_since"
MAX_GAPS_SHOWN = 30


class AdminPosts:
    """Makes each recurring admin post once, when due or at the first start after it was due."""

    def __init__(
        self,
        *,
        config: Config,
        datasets: DataSets,
        bot_state: BotState,
        consult_log: ConsultLog,
        timers: Timers,
        clock: Clock,
        stepper: Stepper,
    ) -> None:
        self._config = config
        self._datasets = datasets
        self._state = bot_state
        self._log = consult_log
        self._timers = timers
        self._clock = clock
        self._stepper = stepper  # queues each post once, under its key
        self._tz = config.bot.timezone
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Make whatever post is due (the bot may have been down at 07:00), then set timers;
        each timer does the same. A failure is logged, never fatal: pages matter more than
        reports."""
        try:
            await self.catch_up()
        except Exception:
            log.exception("the admins' recurring posts failed")
        finally:
            now = self._clock.now()
            for post in Post:
                at = following(post, now, self._tz).at
                self._timers.schedule(f"admin-{post.value}", at, self.start)

    async def _since(self, now: datetime) -> datetime:
        """When the bot first ran: nothing before it is posted about."""
        since = await self._state.get_meta(SINCE_KEY)
        if since is None:
            await self._state.set_meta(SINCE_KEY, now.isoformat())
            return now
        return datetime.fromisoformat(since)

    async def catch_up(self) -> list[str]:
        """Queue each post that is due and not yet made; return their keys."""
        made: list[str] = []
        async with self._lock:
            now = self._clock.now()
            since = await self._since(now)
            for post in Post:
                occurrence = due(post, now, since, self._tz)
                if occurrence is None or await self._log.is_handled(occurrence.key):
                    continue
                outgoing = await self._outgoing(occurrence, now)
                await self._stepper.queue([outgoing], handled=occurrence.key)
                log.info("admin post %s queued", occurrence.key)
                made.append(occurrence.key)
        return made

    async def _outgoing(self, occurrence: Occurrence, now: datetime) -> Outgoing:
        if occurrence.post is Post.MONTHLY_REPORT:
            payload: dict[str, Any] = {"month": f"{occurrence.month:%Y-%m}", "monthly": True}
            return Outgoing(kind=OutboxKind.REPORT, room="", payload=payload)
        return Outgoing(kind=OutboxKind.COVERAGE, room="", payload=await self.coverage(now))

    async def coverage(self, start: datetime, days: int = COVERAGE_DAYS) -> dict[str, Any]:
        """The level-1 gaps inside the tracks' hours in [start, start + days), as the
        `admin_coverage` template shows them (service names, local times)."""
        end = start + timedelta(days=days)
        catalogue = await self._datasets.catalogue()
        periods = {service.id: [(start, end)] for service in catalogue.services}
        shifts = [
            s for service in periods for s in await self._datasets.shifts(service, start, end)
        ]
        gaps = coverage_gaps(shifts, periods, catalogue, self._config.hours_of(), self._tz)
        names = {service.id: service.name for service in catalogue.services}
        shown = [
            {
                "service": gap.service,
                "service_name": names.get(gap.service, gap.service),
                "start": gap.start.isoformat(),
                "end": gap.end.isoformat(),
            }
            for gap in gaps[:MAX_GAPS_SHOWN]
        ]
        return {
            "days": days,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "gaps": shown,
            "more": len(gaps) - len(shown),
        }
