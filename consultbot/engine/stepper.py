"""The stepper: the one writer of the consult log.

Every input of a consult comes here: what the intake resolved from a chat message, a reaction
or a vote (`step`), a consult's deadline (`on_timer`), and what the outbox reports it did
(`report`: a page out, the room ready, the poll posted, an effect given up; `take_pool_room`).
Each goes through the pure domain step (`domain/consult/escalation.step`) and is recorded ONCE,
with compare-and-set: the log must still have the length it was read at (or, for a consult
this stepper recorded last, the length it recorded: `_log_of`), else (`ConflictError`) it is
read again and stepped again, a bounded number of times. Steps of one
consult in this process also wait for each other (a lock), so they rarely conflict. The new
entries, the effects (as outbox entries), the Matrix event handled, the outbox entry the
report is about and a pool room taken are ONE transaction (`ConsultLog.record`): a pool room
is taken exactly when it is recorded as a consult's room, never twice, never lost.

After a step is recorded, the observers (metrics.py) see it, the consult's timer moves to its
new deadline and the outbox is told there is something new. Plain messages of no consult's log
(answers, refusals, admin posts, handover notices) and "handled" marks are queued here too
(`queue`): nothing else in the bot calls `ConsultLog.record`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta

from consultbot.config import Config
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.codec import effect_to_dict
from consultbot.domain.consult.events import Event
from consultbot.domain.duty.matrix import path_hours
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.types import ConsultId, ServiceId, Track
from consultbot.ports import (
    Clock,
    ConflictError,
    ConsultLog,
    DataSets,
    OutboxKind,
    Outgoing,
    Timers,
)

log = logging.getLogger(__name__)

MAX_STEP_ATTEMPTS = 5
KNOWN_LOGS = 2000  # consults whose log the stepper keeps as its first guess (`step`)

#: Told of every recorded step: the consult before, the new log entries, the consult after
#: (metrics.py counts from it). At start-up, each open consult with no entries.
StepObserver = Callable[[esc.Consult | None, Sequence[Event], esc.Consult | None], None]

#: What the outbox reports about a consult's effect once it has carried it out (or given up).
Report = esc.Delivered | esc.RoomReady | esc.PollSent | esc.Undeliverable


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


class Stepper:
    """Steps consults and records each step once; owns the consults' timers."""

    def __init__(
        self,
        *,
        config: Config,
        datasets: DataSets,
        consult_log: ConsultLog,
        timers: Timers,
        clock: Clock,
        on_outbox: Callable[[], None],
        observers: Sequence[StepObserver] = (),
    ) -> None:
        self._config = config
        self._datasets = datasets
        self._log = consult_log
        self._timers = timers
        self._clock = clock
        self._on_outbox = on_outbox
        self._observers = tuple(observers)
        self._locks: defaultdict[ConsultId, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Each consult's log as this stepper last recorded it: the first guess of its next
        # step, so that a step reads nothing first (`step`).
        self._known: OrderedDict[ConsultId, list[Event]] = OrderedDict()

    def policy(self, track: Track) -> esc.Policy:
        tracks, bot = self._config.tracks, self._config.bot
        return esc.Policy(
            ack_timeout=_seconds(tracks[track].ack_timeout_seconds),
            reminder_after=_seconds(bot.reminder_after_seconds),
            auto_close_after=_seconds(bot.auto_close_after_seconds),
            meeting_reminder_before=_seconds(tracks[track].meeting_reminder_seconds),
            repeat_share=tracks[track].repeat_share,
        )

    # -- inputs ---------------------------------------------------------------------------------

    async def report(
        self, consult_id: ConsultId, report: Report, *, done: int | None = None
    ) -> esc.Consult | None:
        """What the outbox did for the consult, stepped and recorded with the outbox entry
        `done` marked sent in the same transaction; return the consult after it."""
        return await self.step(consult_id, report, done=done)

    async def take_pool_room(self, consult_id: ConsultId, room: str) -> str:
        """The consult's room: `room`, taken out of the warm pool in the transaction that
        records it, or the room the consult already has (then `room` stays in the pool).
        `PoolRoomGone` (nothing recorded) when `room` is no longer in the pool."""
        consult = await self.step(consult_id, esc.RoomReady(room=room), pool_room=room)
        if consult is None:
            raise ValueError(f"no consult {consult_id}")
        return consult.room

    async def on_timer(self, consult_id: ConsultId) -> None:
        """A consult's deadline: escalate, open a queued consult, remind, or auto-close; or
        repeat an unacknowledged page."""
        try:
            consult = await self._log.consult(consult_id)
            if consult is None or consult.due is None:
                return
            now = self._clock.now()
            if now < consult.due:
                self._schedule(consult)
                return
            # The service's own hours on the path when its routine names them (a queued consult
            # opens when the service does).
            service = (await self._datasets.catalogue()).find(consult.service)
            hours = path_hours(service, consult.track, self._config.hours_of())
            tz = self._config.bot.timezone
            timer = esc.Timer(
                duty=await self._datasets.on_duty(consult.service, now),
                open_now=hours.is_open(now, tz),
                opens_at=hours.next_opening(now, tz),
                duties=await self.duties(consult),
            )
            await self.step(consult_id, timer)
        except Exception:
            log.exception("timer of %s failed", consult_id)

    async def duties(self, consult: esc.Consult) -> dict[ServiceId, OnDuty]:
        """Who is on duty now at each service of a conference (nothing for a consult)."""
        now = self._clock.now()
        return {s: await self._datasets.on_duty(s, now) for s in consult.services}

    # -- what belongs to no consult's log -------------------------------------------------------

    async def queue(self, outgoing: Sequence[Outgoing], *, handled: str | None = None) -> None:
        """Queue messages of no consult's log (answers, refusals, admin posts, handover
        notices) with the Matrix event or post `handled` they answer, in one transaction."""
        await self._log.record(None, 0, [], outgoing, handled=handled, now=self._clock.now())
        if outgoing:
            self._on_outbox()

    # -- start-up -------------------------------------------------------------------------------

    async def start(self) -> list[esc.Consult]:
        """Rebuild every timer from the database, and fire the deadlines that passed while the
        bot was down, before the sync loop starts: a restart's first sync (hundreds of rooms)
        must not hold up an overdue escalation. The open consults as read."""
        now = self._clock.now()
        overdue: list[ConsultId] = []
        consults = await self._log.open_consults()
        for consult in consults:
            self._schedule(consult)
            if consult.due is not None and consult.due <= now:
                overdue.append(consult.id)
            for observer in self._observers:
                observer(None, (), consult)
        for consult_id in overdue:  # its timer, fired later, finds the new deadline: a no-op
            await self.on_timer(consult_id)
        return consults

    # -- the one way consults change ------------------------------------------------------------

    async def step(
        self,
        consult_id: ConsultId,
        given: esc.Input,
        *,
        handled: str | None = None,
        done: int | None = None,
        pool_room: str | None = None,
    ) -> esc.Consult | None:
        """Apply `given` to the consult and record the result, with the Matrix event `handled`
        that caused it, the outbox entry `done` marked sent and `pool_room` taken (see
        `report`, `take_pool_room`); return the consult after it."""
        async with self._locks[consult_id]:
            for attempt in range(MAX_STEP_ATTEMPTS):
                events, guessed = await self._log_of(consult_id, given, first=attempt == 0)
                consult = esc.fold(events) if events else None
                track = given.track if isinstance(given, esc.Request) else None
                policy = self.policy(track or (consult.track if consult else Track.HALVAKUT))
                now = self._clock.now()
                try:
                    new_events, effects = esc.step(consult, given, now, policy)
                except Exception:
                    if guessed:  # the guess may be old: step what the store holds
                        log.debug("%s: stepping the log as last recorded failed", consult_id)
                        continue
                    raise
                if guessed and not new_events:
                    # The store checks a step against the log's length only when it appends:
                    # a step that changes nothing is taken from the log as read.
                    continue
                outgoing = [
                    Outgoing(kind=OutboxKind.EFFECT, consult=consult_id, payload=effect_to_dict(e))
                    for e in effects
                ]
                try:
                    await self._log.record(
                        consult_id,
                        len(events),
                        new_events,
                        outgoing,
                        handled=handled,
                        sent=done,
                        # Taken only when recorded as the room: a consult with a room keeps it.
                        pool_room=pool_room if new_events else None,
                        now=now,
                        before=events,
                    )
                except ConflictError:
                    self._known.pop(consult_id, None)
                    continue  # another step of the consult came first: read the log again
                self._remember(consult_id, [*events, *new_events])
                updated = esc.fold([*events, *new_events]) if events or new_events else None
                if new_events:
                    for observer in self._observers:
                        observer(consult, new_events, updated)
                    if updated is not None:
                        # Only a change moves the deadline; rescheduling an unchanged, passed
                        # deadline would fire the same timer again and again.
                        self._schedule(updated)
                if outgoing:
                    self._on_outbox()
                return updated
        raise ConflictError(f"{consult_id}: could not store the step")

    async def _log_of(
        self, consult_id: ConsultId, given: esc.Input, *, first: bool
    ) -> tuple[list[Event], bool]:
        """The consult's log to step from, and whether it is a guess: on a first attempt, the
        log as this stepper last recorded it, or an empty one for a request (its consult was
        allocated just now). A guess is checked by the store's compare-and-set on the log's
        length when the step is recorded (another instance may have stepped the consult
        since: a takeover); a conflict, or a step that changes nothing, reads the log."""
        if first:
            if isinstance(given, esc.Request):
                return [], True
            known = self._known.get(consult_id)
            if known is not None:
                return known, True
        return await self._log.events(consult_id), False

    def _remember(self, consult_id: ConsultId, events: list[Event]) -> None:
        if not events:
            return
        self._known[consult_id] = events
        self._known.move_to_end(consult_id)
        while len(self._known) > KNOWN_LOGS:
            self._known.popitem(last=False)

    def _schedule(self, consult: esc.Consult) -> None:
        # The deadline, or a repeat of an unacknowledged page before it (`Consult.due`).
        due = consult.due
        if due is None:
            self._timers.cancel(consult.id)
            return
        self._timers.schedule(consult.id, due, lambda: self.on_timer(consult.id))
