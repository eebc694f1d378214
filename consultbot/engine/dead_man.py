"""The notice the homeserver posts when the bot is gone (SPEC §6 "Never silent"; issue 24).

In every open consult room the bot keeps one delayed notice ("Konsultboten svarar inte just
nu. Ring växeln …", templates/chat/*/bot_gone.j2) that the homeserver posts by itself after
`bot.dead_man_seconds` unless the bot restarts the delay first (MSC4140 delayed events,
ports/delayed.py). One worker (`DeadMan.run`, an engine task) sends every request, at most
`IN_FLIGHT` unanswered at once:

- a consult that is open and has a room gets a notice scheduled; its delay id is stored in the
  bot state (`dead_man:<consult>`) so that the next instance (a restart, a takeover) adopts it;
- each notice is restarted every third of the delay, the rooms spread over that period; a
  restart does not wait for the one before to be answered (at most `IN_FLIGHT` at once), so a
  homeserver that answers slowly under load (its requests queue behind a rush's events) still
  gets every room's restart in time;
- a consult that closes has its notice cancelled at once (the closing message goes out beside
  it); a notice already gone (404 on restart: it was posted, the bot was away longer than the
  delay) is scheduled again;
- at start-up, stored notices of open consults are restarted (adopted), those of consults that
  closed meanwhile are cancelled, and pending ones that belong to no open consult are dropped;
- pages first: while a page of an open consult is not out yet, new notices and routine
  restarts wait, each at most `AFTER_PAGES_SECONDS` past its due time (a new notice's: when
  its room was taken), so that the homeserver serves the invites, room keys and pages before
  them, also in a rush (a notice is posted only after the whole delay, a routine restart is
  due two thirds of the delay before its notice would be, and until its first page a consult
  room holds nobody but the people paged: the requester is invited after it). Cancels and
  adoptions go at once.

A 429 pauses every request for the time the homeserver asks (its limit is per user); a refusal
that asks for longer than a period (the per-user cap on pending notices) leaves that room
without a notice until then. Where the homeserver does not offer delayed events nothing is ever
sent with a delay (an old server would post the notice at once) and the bot runs as before.
Delay ids are bearer capabilities: never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.events import Event
from consultbot.domain.types import ConsultId
from consultbot.engine.delivery.content import content_to_dict
from consultbot.ports import BotState, ConsultLog, OutboxKind, Outgoing
from consultbot.ports.delayed import DelayedNotices, DelayRefused
from consultbot.text.views import ConsultRenderer

log = logging.getLogger(__name__)

META = "dead_man:"  # + consult id → the delay id of its notice
RESTARTS_PER_DELAY = 3  # each notice is restarted every third of its delay
RETRY_SECONDS = 2.0  # after a network error or a refusal that names no wait
AFTER_PAGES_SECONDS = 5.0  # the longest new notices and restarts wait for pages not yet out
# Requests unanswered at once. Beside a rush the development Synapse answered a restart in
# about 50 ms: one at a time kept up with 15 a second, 4 at once with 42, enough for about 800
# open rooms (bench/bench_delayed.py; docs/decisions.md "The notice when the bot is gone").
IN_FLIGHT = 4
TEMPLATE = "bot_gone"
BACK_TEMPLATE = "bot_back"  # said in a room whose notice was posted, once the bot is back

Queue = Callable[[Sequence[Outgoing]], Awaitable[None]]


@dataclass
class _Notice:
    """A consult's notice as the worker knows it."""

    delay_id: str = ""
    due: float = 0.0  # monotonic time of the next request for this consult
    adopted: bool = False  # True once confirmed pending on the homeserver (or scheduled)


class DeadMan:
    """Keeps one delayed notice per open consult room (module docstring)."""

    def __init__(
        self,
        *,
        seconds: int,
        notices: DelayedNotices | None,
        consult_log: ConsultLog,
        state: BotState,
        renderer: ConsultRenderer,
        queue: Queue | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """`queue` puts messages in the outbox (`Stepper.queue`): "the bot answers again"."""
        self.seconds = seconds if notices is not None else 0
        self._notices = notices
        self._log = consult_log
        self._state = state
        self._renderer = renderer
        self._queue = queue
        self.now = now  # monotonic seconds (a test sets its own)
        self.period = seconds / RESTARTS_PER_DELAY
        self.offered: bool | None = None  # the homeserver's answer, once known
        self._wanted: dict[ConsultId, esc.Consult] = {}  # open consults with a room
        self._kept: dict[ConsultId, _Notice] = {}
        self._pause_until = 0.0  # a 429: no request before this
        self._last_routine = float("-inf")  # when the last routine restart went out
        self._changed = asyncio.Event()
        self._unsent: dict[ConsultId, float] = {}  # consults with a page not out: since when
        self._wanted_since: dict[ConsultId, float] = {}  # open consults with a room: since when
        self._hold_until: float | None = None  # requests held for pages in the last `work`: until
        self._flying: dict[ConsultId, asyncio.Task[None]] = {}  # requests not answered yet
        self._new_flying: set[ConsultId] = set()  # those of them that schedule a new notice
        self._warned_at = float("-inf")  # when running behind was last logged

    # -- what the stepper tells --------------------------------------------------------------

    def step(
        self, before: esc.Consult | None, events: Sequence[Event], after: esc.Consult | None
    ) -> None:
        """A stepper observer: keep a notice for every open consult with a room."""
        if after is None or not self.seconds:
            return
        if after.page_on_its_way:
            self._unsent.setdefault(after.id, self.now())
        elif self._unsent.pop(after.id, None) is not None:
            self._changed.set()  # a page out: what waited for it may go
        if after.is_open and after.room:
            if after.id not in self._wanted:
                self._changed.set()
                self._wanted_since[after.id] = self.now()
            self._wanted[after.id] = after
        elif self._wanted.pop(after.id, None) is not None or after.id in self._kept:
            self._wanted_since.pop(after.id, None)
            if after.id in self._kept:
                self._kept[after.id].due = 0.0  # cancelled at once
            self._changed.set()

    @property
    def kept(self) -> frozenset[ConsultId]:
        """The consults whose notice is pending on the homeserver, as far as the bot knows."""
        return frozenset(c for c, n in self._kept.items() if n.delay_id and n.adopted)

    # -- the worker ----------------------------------------------------------------------------

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Detect the feature, adopt the stored notices, then keep them until cancelled. A
        cancel (the bot stopping) leaves every notice pending: the next instance adopts them,
        and if none comes they are posted."""
        if not self.seconds:
            log.info("the notice when the bot is gone is off (bot.dead_man_seconds = 0)")
            return
        while not await self.detect():
            if self.offered is False:
                return
            await sleep(self.period)  # no answer yet: ask again
        await self.adopt()
        try:
            while True:
                self._changed.clear()  # before: what changes during `work` wakes it again
                try:
                    wait = await self.work()
                except Exception:  # the store, say: the notices stay pending, tried again soon
                    log.exception("keeping the notices failed")
                    wait = RETRY_SECONDS
                try:
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                except TimeoutError:
                    pass
        finally:
            flights = list(self._flying.values())
            for flight in flights:
                flight.cancel()
            await asyncio.gather(*flights, return_exceptions=True)

    async def detect(self) -> bool:
        """Whether the homeserver offers delayed events (None kept while it cannot be asked)."""
        assert self._notices is not None
        try:
            self.offered = await self._notices.delayed_offered()
        except DelayRefused as exc:
            log.warning("could not ask the homeserver for delayed events (%s)", exc)
            return False
        if not self.offered:
            log.warning(
                "the homeserver does not offer delayed events (MSC4140): no notice is posted in"
                " consult rooms when the bot is gone"
            )
        return self.offered

    async def adopt(self) -> None:
        """Take over the notices stored by an earlier run: those of open consults are restarted
        first thing (`work`), the others cancelled; pending ones nobody stored are dropped."""
        stored = {
            ConsultId(key[len(META) :]): value
            for key, value in (await self._state.meta_under(META)).items()
            if value
        }
        start = self.now()
        for consult_id, delay_id in stored.items():
            self._kept[consult_id] = _Notice(delay_id=delay_id, due=start)
        assert self._notices is not None
        try:
            pending = await self._notices.pending_notices()
        except DelayRefused as exc:
            log.warning("could not list the pending delayed notices (%s)", exc)
            return
        known = set(stored.values())
        for delay_id in pending:
            if delay_id not in known:  # a crash between scheduling and storing, say
                await self._quietly(self._notices.cancel_notice(delay_id))

    async def work(self) -> float:
        """Send every request that is due; the seconds until the next one. Cancels go at once
        and are awaited. The others go beside the worker (`_fly`), at most `IN_FLIGHT`
        unanswered at once: adoptions first, then new notices (at most `IN_FLIGHT - 1` at
        once, so that a rush of new consults never holds every restart up), after the pages
        being sent (`_after_pages`); then routine restarts, one per `spread` seconds, so that
        the rooms' restarts are shared out over the period rather than sent in a burst, and
        after the pages being sent."""
        if self.now() < self._pause_until:
            return self._wait()
        for consult_id in [c for c in self._kept if c not in self._wanted]:
            if consult_id in self._flying:  # cancelled once its request is answered
                continue
            if self._kept[consult_id].due <= self.now() and not await self._cancel(consult_id):
                return self._wait()
        self._hold_until = None
        adopting = [
            c
            for c, n in self._kept.items()
            if c in self._wanted and n.delay_id and not n.adopted and n.due <= self.now()
        ]
        for consult_id in adopting:
            self._launch(consult_id)
        for consult_id in self._unscheduled():
            if not self._after_pages(self._wanted_since[consult_id]):
                self._launch(consult_id, new=True)
        routine = sorted(
            (n.due, c)
            for c, n in self._kept.items()
            if c in self._wanted and n.adopted and c not in self._flying
        )
        for due, consult_id in routine:
            now = self.now()
            if due > now or now < self._last_routine + self._spread():
                break
            if len(self._flying) >= IN_FLIGHT or now < self._pause_until:
                break
            if self._after_pages(due):  # never held past its own due time + the hold
                break
            self._last_routine = now
            self._behind(now - due)
            self._launch(consult_id)
        return self._wait()

    def _unscheduled(self) -> list[ConsultId]:
        """Open consults with a room whose notice is to be scheduled now (new, or a first
        schedule that failed), none on its way."""
        now = self.now()
        return [
            c
            for c in self._wanted
            if c not in self._flying
            and (
                (n := self._kept.get(c)) is None
                or (not n.delay_id and not n.adopted and n.due <= now)
            )
        ]

    def _may_launch(self, *, new: bool) -> bool:
        """Room for one more request: `IN_FLIGHT` at most, of them new notices at most
        `IN_FLIGHT - 1` (a place stays for the restarts), none while a 429 pauses."""
        if len(self._flying) >= IN_FLIGHT or self.now() < self._pause_until:
            return False
        return not new or len(self._new_flying) < IN_FLIGHT - 1

    def _launch(self, consult_id: ConsultId, *, new: bool = False) -> None:
        """Send this consult's restart or new notice beside the worker, if there is room
        and none is on its way for it already."""
        if consult_id in self._flying or not self._may_launch(new=new):
            return
        if new:
            self._new_flying.add(consult_id)
        self._flying[consult_id] = asyncio.create_task(self._fly(consult_id))

    async def _fly(self, consult_id: ConsultId) -> None:
        """One request, beside the worker; wakes it when answered."""
        try:
            await self._keep(consult_id)
        finally:
            del self._flying[consult_id]
            self._new_flying.discard(consult_id)
            self._changed.set()

    async def landed(self) -> bool:
        """Wait until the requests sent beside the worker are answered; False when none was."""
        flights = list(self._flying.values())
        await asyncio.gather(*flights)
        return bool(flights)

    def _behind(self, late: float) -> None:
        """Log (at most once a period) a restart going out a period late or more, half the
        margin (pages first hold one for at most `AFTER_PAGES_SECONDS`): the homeserver answers
        too slowly for this many rooms, and from two periods late it posts notices."""
        now = self.now()
        if late < self.period or now < self._warned_at + self.period:
            return
        self._warned_at = now
        log.warning(
            "the notices' restarts run %.0f s late (%d open consult rooms); from %.0f s late"
            " the homeserver posts them although the bot runs",
            late,
            len(self._wanted),
            self.seconds - self.period,
        )

    def _after_pages(self, since: float) -> bool:
        """True when a request due `since` is to wait for pages: while a page decided less
        than `AFTER_PAGES_SECONDS` ago is not out yet, and for at most that long after
        `since` (a page the homeserver does not take holds up no notice for long: then the
        notice matters most; and pages that keep coming delay each restart by at most that
        long, so that a notice is restarted within a third of the delay and 5 s)."""
        now = self.now()
        ends = [
            t + AFTER_PAGES_SECONDS for t in self._unsent.values() if t + AFTER_PAGES_SECONDS > now
        ]
        until = min(since + AFTER_PAGES_SECONDS, max(ends, default=now))
        if until <= now:
            return False
        self._hold_until = until if self._hold_until is None else min(self._hold_until, until)
        return True

    def _spread(self) -> float:
        """The gap between two rooms' routine restarts: a period shared out over the rooms."""
        return self.period / max(1, len(self._wanted))

    def _wait(self) -> float:
        """Seconds until something is due (a page going out wakes the worker: `step`)."""
        now = self.now()
        if now < self._pause_until:
            return self._pause_until - now
        held = self._hold_until
        new = set(self._unscheduled())
        if held is None and new and self._may_launch(new=True):
            return 0.0
        full = len(self._flying) >= IN_FLIGHT
        dues = [
            max(n.due, self._last_routine + self._spread())
            if c in self._wanted and n.adopted
            else n.due
            for c, n in self._kept.items()
            if c not in self._flying  # an answer wakes the worker
            and not (full and c in self._wanted)  # so does a free place
            and c not in new  # held, or waiting for a place
        ]
        if held is not None:  # held requests are due again when their hold ends
            dues = [held, *(due for due in dues if due > now)]
        return max(0.0, min(dues, default=now + self.period) - now)

    async def _keep(self, consult_id: ConsultId) -> None:
        """Restart one consult's notice, or schedule it (new, or gone)."""
        assert self._notices is not None
        consult = self._wanted.get(consult_id)
        if consult is None:
            return
        notice = self._kept.setdefault(consult_id, _Notice())
        try:
            if notice.delay_id and await self._notices.restart_notice(notice.delay_id):
                notice.adopted = True
            elif consult_id in self._wanted:  # not closed while asked: (re)scheduled
                posted = bool(notice.delay_id)
                await self._schedule(consult, notice)
                if posted:  # the bot was away longer than the delay: the notice is in the room
                    log.info("the notice in the room of %s was posted: scheduled again", consult_id)
                    await self._back(consult)
            notice.due = self.now() + self.period  # restarted again a period on
        except DelayRefused as exc:
            self._refused(consult_id, notice, exc, what="keeping")
        except Exception:  # a notice must never stop the others
            log.exception("keeping the notice in the room of %s failed", consult_id)
            notice.due = self.now() + self.period
        if consult_id not in self._wanted:  # closed while asked: cancelled next
            notice.due = 0.0

    async def _schedule(self, consult: esc.Consult, notice: _Notice) -> None:
        assert self._notices is not None
        language = consult.language
        view = await self._renderer.view(consult, language)
        text = self._renderer.render(TEMPLATE, language=language, number=view["switchboard"])
        notice.delay_id = await self._notices.schedule_notice(
            consult.room,
            text.text,
            delay_seconds=self.seconds,
            txn=f"consultbot-gone-{consult.id}-{uuid.uuid4().hex}",
        )
        notice.adopted = True
        await self._state.set_meta(META + consult.id, notice.delay_id)

    async def _back(self, consult: esc.Consult) -> None:
        """Say in the room that the bot answers again (through the outbox, encrypted)."""
        if self._queue is None:
            return
        content = self._renderer.render(BACK_TEMPLATE, language=consult.language)
        payload = content_to_dict(content)
        await self._queue([Outgoing(kind=OutboxKind.SEND, room=consult.room, payload=payload)])

    async def _cancel(self, consult_id: ConsultId) -> bool:
        """Cancel a closed consult's notice and forget it; False when paused."""
        assert self._notices is not None
        notice = self._kept[consult_id]
        try:
            if notice.delay_id:
                await self._notices.cancel_notice(notice.delay_id)
        except DelayRefused as exc:
            return self._refused(consult_id, notice, exc, what="cancelling")
        del self._kept[consult_id]
        await self._state.delete_meta(META + consult_id)
        return True

    def _refused(
        self, consult_id: ConsultId, notice: _Notice, exc: DelayRefused, *, what: str
    ) -> bool:
        """A refusal: a short wait named pauses every request (the limit is the bot user's);
        a long one (the cap on pending notices) or none moves this consult's turn on."""
        wait = exc.retry_after if exc.retry_after and exc.retry_after > 0 else None
        if wait is not None and wait <= self.period:
            self._pause_until = max(self._pause_until, self.now() + wait)  # another's 429 too
            return False
        log.warning("%s the notice in the room of %s failed (%s)", what, consult_id, exc)
        notice.due = self.now() + (wait if wait is not None else RETRY_SECONDS)
        return True

    async def _quietly(self, call: Awaitable[None]) -> None:
        try:
            await call
        except DelayRefused as exc:
            log.warning("dropping a stray delayed notice failed (%s)", exc)
