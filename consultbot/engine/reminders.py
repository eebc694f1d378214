"""Duty reminders: `bot.shift_reminder_minutes` before a duty starts, one direct message.

A check reads the duties about to start (the roster with handovers laid over it), asks
domain/duty_reminders.py `plan` what to send, and records each message together with what it
told (ReminderLog.record_reminders: one transaction), so that a restart neither loses nor
doubles a reminder. The check runs when the next reminder falls due, and at least every
`RECHECK` so that a roster change after a reminder is corrected soon. Its timer is set again at
every start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from consultbot.config import Config
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.reminders import (
    CANCELLED,
    Action,
    Cancel,
    Correct,
    Duty,
    Remind,
    SentReminder,
    duties,
    next_check,
    plan,
)
from consultbot.domain.duty.shifts import Shift
from consultbot.engine.delivery.content import content_to_dict
from consultbot.ports import Clock, DataSets, OutboxKind, Outgoing, ReminderLog, Timers
from consultbot.text.views import ConsultRenderer, service_name

log = logging.getLogger(__name__)

TIMER_KEY = "duty-reminders"
RECHECK = timedelta(seconds=60)
HORIZON = timedelta(days=2)  # how far back-to-back shifts are followed


class DutyReminders:
    """Sends each person one message before their duty starts, and corrections after."""

    def __init__(
        self,
        *,
        config: Config,
        datasets: DataSets,
        reminder_log: ReminderLog,
        timers: Timers,
        clock: Clock,
        renderer: ConsultRenderer,
        on_outbox: Callable[[], None],
    ) -> None:
        self.lead = timedelta(minutes=config.bot.shift_reminder_minutes)
        self.datasets = datasets
        self.reminder_log = reminder_log
        self.timers = timers
        self.clock = clock
        self._renderer = renderer
        self._on_outbox = on_outbox
        self._lock = asyncio.Lock()  # one check at a time: two could both remind

    async def start(self) -> None:
        """Check at once (reminders due while the bot was down go out now)."""
        if self.lead:
            self.timers.schedule(TIMER_KEY, self.clock.now(), self.check)

    async def check(self) -> None:
        """Send what is due now; set the timer for the next check."""
        async with self._lock:
            now = self.clock.now()
            wake = now + RECHECK
            try:
                catalogue = await self.datasets.catalogue()
                shifts: list[Shift] = []
                for service in catalogue.services:
                    shifts += await self.datasets.shifts(service.id, now, now + self.lead + HORIZON)
                current = duties(shifts)
                sent = await self.reminder_log.duty_reminders(now)
                await self._send(catalogue, plan(current, sent, now, self.lead), now)
                due = next_check(current, sent, now, self.lead)
                if due is not None:
                    wake = min(wake, due)
            except Exception:
                log.exception("the duty reminder check failed")
            finally:
                self.timers.schedule(TIMER_KEY, wake, self.check)

    async def _send(self, catalogue: Catalogue, actions: list[Action], now: datetime) -> None:
        for action in actions:
            match action:
                case Remind(duty=duty):
                    remove, sent = [], self._sent(duty)
                    message = self._message(catalogue, "remind", duty)
                case Correct(duty=duty, replaces=old):
                    remove, sent = [old], self._sent(duty)
                    message = self._message(catalogue, "correct", duty)
                case Cancel(reminder=old):
                    remove, sent = [], replace(old, told=CANCELLED)
                    message = self._render("cancel", duties=[], start=old.start.isoformat())
            outgoing = Outgoing(kind=OutboxKind.DIRECT, room=sent.user, payload=message)
            await self.reminder_log.record_reminders(remove, [sent], [outgoing], now=now)
            log.info("duty reminder (%s) for %s", type(action).__name__.lower(), sent.user)
            self._on_outbox()

    @staticmethod
    def _sent(duty: Duty) -> SentReminder:
        return SentReminder(user=duty.user, start=duty.start, end=duty.end, told=duty.told)

    def _message(self, catalogue: Catalogue, event: str, duty: Duty) -> dict[str, Any]:
        listed = []
        for shift in duty.shifts:
            service = catalogue.find(shift.service)
            listed.append(
                {
                    "service_name": service_name(catalogue, shift.service),
                    "level": shift.level,
                    "start": shift.start.isoformat(),
                    "end": shift.end.isoformat(),
                    "switchboard": service.switchboard if service else "",
                }
            )
        return self._render(event, duties=listed, start=duty.start.isoformat())

    def _render(self, event: str, **params: Any) -> dict[str, Any]:
        return content_to_dict(self._renderer.render("duty_reminder", event=event, **params))
