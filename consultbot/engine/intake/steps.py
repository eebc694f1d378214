"""The one way consults change: a step of the pure state machine, recorded with its effects.

The step resolves what `escalation.step` needs, and records the new events, the effects (as
outbox entries) and the id of the Matrix event that caused them in ONE transaction
(`ConsultStore.record`). The step is checked against the log's length and steps of one consult
are serialised by a lock, so an acknowledgement and an escalation can never both win. The
consult's timer is then moved to its new deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence

from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.codec import effect_to_dict
from consultbot.domain.consult.events import Event
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.types import ConsultId, ServiceId, Track
from consultbot.engine.intake.desk import Desk, seconds
from consultbot.ports import ConflictError, OutboxKind, Outgoing

log = logging.getLogger(__name__)

MAX_STEP_ATTEMPTS = 5

# Told of every recorded step: the consult before, the new log entries, the consult after
# (consultbot/engine/metrics.py counts from it). At start-up, each open consult with no entries.
StepObserver = Callable[[esc.Consult | None, Sequence[Event], esc.Consult | None], None]


class Steps:
    """Consult steps, recorded one at a time per consult, and the consults' timers."""

    def __init__(self, desk: Desk, on_step: StepObserver | None) -> None:
        self._desk = desk
        self._on_step = on_step
        self._locks: defaultdict[ConsultId, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def rebuild(self) -> list[ConsultId]:
        """Rebuild every open consult's timer from the database; the consults overdue now."""
        now = self._desk.clock.now()
        overdue: list[ConsultId] = []
        for consult in await self._desk.consults.open_consults():
            self.schedule(consult)
            if consult.deadline is not None and consult.deadline <= now:
                overdue.append(consult.id)
            if self._on_step is not None:
                self._on_step(None, (), consult)
        return overdue

    def policy(self, track: Track) -> esc.Policy:
        """The timing rules of `track`."""
        config = self._desk.config
        return esc.Policy(
            ack_timeout=seconds(config.tracks[track].ack_timeout_seconds),
            reminder_after=seconds(config.bot.reminder_after_seconds),
            auto_close_after=seconds(config.bot.auto_close_after_seconds),
            meeting_reminder_before=seconds(config.tracks[track].meeting_reminder_seconds),
        )

    def schedule(self, consult: esc.Consult) -> None:
        """Move the consult's timer to its deadline (none: no timer)."""
        timers = self._desk.timers
        if consult.deadline is None:
            timers.cancel(consult.id)
            return
        consult_id = consult.id
        timers.schedule(consult_id, consult.deadline, lambda: self.on_timer(consult_id))

    async def duties(self, consult: esc.Consult) -> dict[ServiceId, OnDuty]:
        """Who is on duty now at each service of a conference (nothing for a consult)."""
        now = self._desk.clock.now()
        return {s: await self._desk.data.on_duty(s, now) for s in consult.services}

    async def on_timer(self, consult_id: ConsultId) -> None:
        """A consult's deadline: escalate, open a queued consult, remind, or auto-close."""
        desk = self._desk
        try:
            consult = await desk.consults.consult(consult_id)
            if consult is None or consult.deadline is None:
                return
            now = desk.clock.now()
            if now < consult.deadline:
                self.schedule(consult)
                return
            hours = desk.config.tracks[consult.track].hours
            timer = esc.Timer(
                duty=await desk.data.on_duty(consult.service, now),
                open_now=hours.is_open(now, desk.tz),
                opens_at=hours.next_opening(now, desk.tz),
                duties=await self.duties(consult),
            )
            await self.step(consult_id, timer)
        except Exception:
            log.exception("timer of %s failed", consult_id)

    async def step(
        self,
        consult_id: ConsultId,
        given: esc.Input,
        *,
        handled: str | None = None,
        sent: int | None = None,
    ) -> esc.Consult | None:
        """Apply `given` to the consult and record the result (and the outbox entry `sent`
        done, in the same transaction); return the consult after it."""
        store = self._desk.consults
        async with self._locks[consult_id]:
            for _ in range(MAX_STEP_ATTEMPTS):
                events = await store.events(consult_id)
                consult = esc.fold(events) if events else None
                track = given.track if isinstance(given, esc.Request) else None
                policy = self.policy(track or (consult.track if consult else Track.HALVAKUT))
                now = self._desk.clock.now()
                new_events, effects = esc.step(consult, given, now, policy)
                outgoing = [
                    Outgoing(kind=OutboxKind.EFFECT, consult=consult_id, payload=effect_to_dict(e))
                    for e in effects
                ]
                try:
                    await store.record(
                        consult_id,
                        len(events),
                        new_events,
                        outgoing,
                        handled=handled,
                        sent=sent,
                        now=now,
                    )
                except ConflictError:
                    continue
                updated = esc.fold([*events, *new_events]) if events or new_events else None
                if self._on_step is not None and new_events:
                    self._on_step(consult, new_events, updated)
                if updated is not None and new_events:
                    # Only a change moves the deadline; rescheduling an unchanged, passed
                    # deadline would fire the same timer again and again.
                    self.schedule(updated)
                if outgoing:
                    self._desk.on_outbox()
                return updated
        raise ConflictError(f"{consult_id}: could not store the step")
