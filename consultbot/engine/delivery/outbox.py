"""Delivering the outbox: what the stepper recorded is sent to Matrix, in order, until done.

The `Dispatcher` writes no entry of a consult's log: the room it made, the poll it posted, a
page gone out and an effect given up are reported (`Reports`), and the stepper records them.

- Lanes (`lanes.LaneKind`, decided by the kind of effect). Items are sent in order per lane,
  lanes side by side: one lane per consult, one for the consult's replies to the requester (so
  a confirmation never holds up a page, nor a slow page a confirmation), one for its
  escalation notices (so the next level's page never waits for the notice), one for its admin
  alerts and one for the warning that a page has not gone out (neither waits behind the page
  it is about), one per room for replies that belong to no consult.
- The consult room first. A reply to the requester waits until the consult room that an earlier
  entry of its consult creates exists: the room's invite is the consultant's first signal.
- Pages first. While pages (or the rooms they go to) are being sent, a reply to a requester
  waits, at most `PAGES_FIRST_SECONDS`, and a consult room's name at most
  `NAMES_AFTER_PAGES_SECONDS`, then until someone joins the room, at most
  `effects.NAME_AFTER_JOIN_SECONDS`: in a rush the homeserver serves invites, room keys and
  pages before the bookkeeping (docs/page-speed-profile.md).
- A rush's pages are read first. After a rush (`RUSH_PAGES` pages sent within
  `READING_SECONDS`) names, and the replies that confirm a first page (`lanes.CONFIRMATIONS`,
  at most `CONFIRMATION_SECONDS`), also wait until the rush's pages have been out that long:
  its consultants are joining and their clients fetching the pages.
- Invites before pages. A first page's room key and message wait, at most
  `effects.PAGES_AFTER_INVITES_SECONDS`, while other consults' pool rooms just taken are being
  filled (their invites on the way; each fill only for that long): in a rush the
  invites (each consultant's first signal) are not queued behind pages at the homeserver, and
  the consultants' joins come sooner (BENCHMARKS.md). A room being made from scratch
  (`room_create`, seconds in a rush) holds up no page.
- The requester after the page. The requester is invited into the consult room right after
  its first page (effects.py); their `Invite` entry, in a lane of its own, waits for that page
  and makes sure of it (never given up: an answer that may pass is tried again).
- Retries. An item that fails is retried after a growing pause; every entry keeps its Matrix
  transaction id across retries and restarts, so the homeserver drops a repeated send. A page
  the creation of its room and the requester's invite into it are never given up (a lost page
  is a patient waiting); other items stop blocking their lane after `MAX_DELIVERY_ATTEMPTS`.
- A page's time starts when it is sent. Once the homeserver has taken a page, the consult's
  step `Delivered` (reported to the stepper) starts that level's timeout and marks the entry
  sent, in one transaction: a page held up by a backlog, an outage or a restart still gets
  its whole time before the next level is paged. A page not out one timeout after its decision is
  reported to the requester and the admins (`page_undelivered`); the requester's warning is
  dropped if the page has gone out by the time it would be sent.
- No page after an acknowledgement. A page (or its escalation notice) that an acknowledgement
  or a close overtook before it was sent is dropped, not sent.
- Who may read it, decided when it is sent. A message with staff phone numbers goes into a room
  only if, at that moment, the room is encrypted and everyone joined or invited is on an
  allowed server; otherwise the asker gets it in their direct chat and the room gets it without
  the numbers (a page: "write !ring"). A room a user opened gets nothing while it is unfit
  (domain/audience.py): what was for the asker goes to their direct chat, they are told why
  once, and a room unfit for good (unencrypted) is left and the admins told once.
- Admin reports. A `report` entry names a month; its table and chart (report.py) are made when
  it is sent, to the room where an admin asked or to the admin rooms; `coverage` entries carry
  the gaps the admins are told about.

This module runs the lanes and carries out the plain items (the month's report too); the lanes'
order is lanes.py, a consult's effects effects.py, the private and admin rooms and checked
sends rooms.py, the stored form of a message content.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date

from markupsafe import escape

from consultbot.domain.chat import audience
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.codec import effect_from_dict
from consultbot.domain.consult.effects import EffectKind
from consultbot.domain.types import UserId
from consultbot.engine.delivery.content import content_from_dict, stored_withheld
from consultbot.engine.delivery.effects import Effects, QuestionSource, Reports
from consultbot.engine.delivery.lanes import (
    MAX_DELIVERY_ATTEMPTS,
    Lane,
    Pending,
    confirmation,
    effect_kind,
    kept,
)
from consultbot.engine.delivery.pool import RoomPool
from consultbot.engine.delivery.rooms import PrivateRooms
from consultbot.ports import (
    Clock,
    ConsultStore,
    Content,
    Messenger,
    OutboxItem,
    OutboxKind,
    UnsafeRoom,
)
from consultbot.tasks import Tasks
from consultbot.text.render import Messages
from consultbot.text.report import CHART_SIZE, month_report
from consultbot.text.views import ConsultRenderer

log = logging.getLogger(__name__)

RESCAN_SECONDS = 1.0
#: How long a reply to a requester waits for the pages being sent: the homeserver serves the
#: pages first in a rush, and nothing waits longer than this.
PAGES_FIRST_SECONDS = 5.0
#: A rush: `RUSH_PAGES` pages sent within `READING_SECONDS`. Its consultants are then joining
#: and their clients fetching the pages; names and first pages' confirmations wait until the
#: third-latest page has been out that long (fewer pages at once: nothing waits once they are
#: out), a confirmation at most `CONFIRMATION_SECONDS` in all.
RUSH_PAGES = 3
READING_SECONDS = 4.0
CONFIRMATION_SECONDS = 10.0
#: How long a consult room's name and topic wait for the pages being sent: a room works without
#: them, and in a rush they would stand before the consultants' joins.
NAMES_AFTER_PAGES_SECONDS = 10.0


def retry_delay(attempts: int) -> float:
    """Seconds to wait before trying an item again after `attempts` failures."""
    return min(5.0, 0.2 * attempts)


class Dispatcher:
    """Sends what the outbox holds, in order per lane, retrying until done."""

    def __init__(
        self,
        *,
        store: ConsultStore,
        messenger: Messenger,
        renderer: ConsultRenderer,
        questions: QuestionSource,
        clock: Clock,
        tasks: Tasks,
        reports: Reports,
        admin_room: str = "",
        admins: Sequence[UserId] = (),
        retry_delay: Callable[[int], float] = retry_delay,
        pool: RoomPool | None = None,
    ) -> None:
        self._store = store
        self._reports = reports
        self._messenger = messenger
        self._renderer = renderer
        self._clock = clock
        self._tasks = tasks
        self._retry_delay = retry_delay
        self.rooms = PrivateRooms(
            store=store,
            messenger=messenger,
            renderer=renderer,
            admin_room=admin_room,
            admins=admins,
        )
        self.effects = Effects(
            store=store,
            messenger=messenger,
            renderer=renderer,
            questions=questions,
            tasks=tasks,
            rooms=self.rooms,
            retry_delay=retry_delay,
            pool=pool,
            reports=reports,
        )
        self.effects.after_pages = self.after_pages
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._workers: dict[Lane, asyncio.Task[None]] = {}
        self._attempts: defaultdict[int, int] = defaultdict(int)
        self._paging: set[int] = set()  # pages (and their rooms) read and not yet sent
        self._pages_out: deque[float] = deque(maxlen=RUSH_PAGES)  # when the last pages went out
        # The outbox as last read, shared by the lane workers while nothing has changed: in a
        # rush hundreds of workers wait and look again after every send.
        self._changes = 0  # sends, kicks and rescans so far
        self._read_at = (-1, 0.0)  # the change count and loop time of the last read
        self._pending = Pending(())
        self._reading = asyncio.Lock()
        self._held: dict[int, float] = {}  # replies held back for pages: since when
        self.retries = 0  # sends tried again after a failure (read by consultbot/engine/metrics.py)

    def kick(self) -> None:
        """Something new is in the outbox."""
        self._changes += 1
        self._wake.set()

    def busy(self) -> bool:
        """True while some lane is at work or a room is being named (messages on their way);
        a name waiting for someone to join sends nothing meanwhile."""
        return bool(self._workers or self.effects.naming - self.effects.awaiting_join)

    # -- draining -----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Send what the outbox holds, and whatever is added meanwhile, until it is empty.

        Lanes are sent by workers side by side; a new lane gets its worker at once, also while
        another lane waits to retry. The running bot calls this after every kick (`run`); tests
        call it to send what their steps queued.
        """
        while True:
            self._wake.clear()
            self._changes += 1  # a rescan reads the outbox afresh
            pending = await self._read()
            if not pending.items and not self._workers:
                if self.effects.naming:
                    # Names wait for the pages and a join (effects.py): new items meanwhile
                    # get their workers at once.
                    await self._wait(self._wake, self.effects.naming)
                    continue
                return
            for name in set(pending.lanes) - set(self._workers):
                self._workers[name] = self._tasks.spawn(
                    self._work(name), name=f"outbox {name}", context=f"outbox lane {name}"
                )
            await self._wait(self._wake)

    async def run(self) -> None:
        """Drain the outbox whenever something is added; rescan every second regardless."""
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("reading the outbox failed")
            await self._wait(self._wake)

    async def stop(self) -> None:
        """Cancel the lane workers (what they did not send stays in the outbox)."""
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    @staticmethod
    async def _wait(event: asyncio.Event, tasks: Iterable[asyncio.Task[None]] = ()) -> None:
        """Until `event` is set or one of `tasks` is done, at most `RESCAN_SECONDS`."""
        woken = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait(
                [woken, *tasks], timeout=RESCAN_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()

    async def _work(self, name: Lane) -> None:
        """Send one lane's items in order until the lane is empty."""
        try:
            while True:
                progress = self._progress
                pending = await self._read()
                items = pending.lanes.get(name, [])
                if not items:
                    return
                for item in items:
                    if pending.waits_for_room(item) or self._held_back(item, pending):
                        await self._wait(progress)  # until another lane has sent something
                        break
                    if not await self._try(item, pending.kinds.get(item.id)):
                        self.retries += 1
                        await asyncio.sleep(self._retry_delay(self._attempts[item.id]))
                        break
        finally:
            self._workers.pop(name, None)
            self._wake.set()

    async def _read(self) -> Pending:
        """The unsent items; the pages among them are noted (`after_pages`).

        Read once for all the workers that ask while nothing was sent or kicked, and within
        `RESCAN_SECONDS` of the read (what changes without a kick is still seen within about a
        second, as by the rescan).
        """
        loop = asyncio.get_running_loop()
        async with self._reading:
            changes, at = self._read_at
            if changes == self._changes and loop.time() - at < RESCAN_SECONDS:
                return self._pending
            changes, at = self._changes, loop.time()
            pending = Pending(await self._store.pending(), self._pending)
            self._pending, self._read_at = pending, (changes, at)
            self._paging = set(pending.paging)
            return pending

    def _rush_reading(self) -> bool:
        """True after a rush (`RUSH_PAGES` pages sent within `READING_SECONDS`) until its
        third-latest page has been out `READING_SECONDS`: its consultants are joining and
        their clients fetching the pages."""
        out = self._pages_out
        now = asyncio.get_running_loop().time()
        return len(out) == out.maxlen and now - out[0] < READING_SECONDS

    def _held_back(self, item: OutboxItem, pending: Pending) -> bool:
        """True for a reply to a requester while pages are being sent, for at most
        `PAGES_FIRST_SECONDS`; for a first page's confirmation also while a rush's pages are
        read (`_rush_reading`), for at most `CONFIRMATION_SECONDS` in all: the homeserver
        serves the pages first. The reply's own consult room was made already
        (`waits_for_room`)."""
        kind = pending.kinds.get(item.id)
        confirms = confirmation(item, kind)
        waits = self._paging or (confirms and self._rush_reading())
        if kind is not EffectKind.REPLY or not waits:
            self._held.pop(item.id, None)
            return False
        now = asyncio.get_running_loop().time()
        limit = CONFIRMATION_SECONDS if confirms else PAGES_FIRST_SECONDS
        return now - self._held.setdefault(item.id, now) < limit

    async def after_pages(self) -> None:
        """Return once no page is being sent nor a rush's pages read (`_rush_reading`), or after
        `NAMES_AFTER_PAGES_SECONDS` (a room's name waits for the pages of a rush)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NAMES_AFTER_PAGES_SECONDS
        while (self._paging or self._rush_reading()) and (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, RESCAN_SECONDS)):
                    await self._progress.wait()

    async def _try(self, item: OutboxItem, kind: EffectKind | None) -> bool:
        """Deliver one item of kind `kind`; False when it is to be tried again."""
        try:
            return await self._deliver_once(item, kind)
        finally:
            self._changes += 1  # sent, given up, or steps recorded: the outbox is read afresh

    async def _deliver_once(self, item: OutboxItem, kind: EffectKind | None) -> bool:
        try:
            marked = await self.deliver(item)
            if marked and kind is EffectKind.PAGE_LEVEL:  # sent (not dropped, not given up)
                self._pages_out.append(asyncio.get_running_loop().time())
        except UnsafeRoom as exc:
            if await self.rooms.room_unsafe(exc):
                return False  # a private or admin room, forgotten: the retry makes a new one
            # A consult room: nothing of this item goes anywhere else. A page that cannot go
            # out is reported as one not out in time; the admins were told which room.
            log.error("outbox item %s dropped: %s fails the room policy", item.id, exc.room)
            marked = await self._given_up(item)
        except Exception:
            self._attempts[item.id] += 1
            attempts = self._attempts[item.id]
            log.exception("outbox item %s (%s) failed, attempt %d", item.id, item.kind, attempts)
            # A page, the room it goes to and the requester's invite into it are never given
            # up: a lost page is a patient waiting. Other messages (status notices, replies)
            # stop blocking their consult after a few attempts.
            if attempts < MAX_DELIVERY_ATTEMPTS or kept(item):
                return False
            log.error("outbox item %s given up after %d attempts", item.id, attempts)
            marked = await self._given_up(item)
        if not marked:
            await self._store.sent(item.id, now=self._clock.now())
        self._attempts.pop(item.id, None)
        self._held.pop(item.id, None)
        self._paging.discard(item.id)
        self._progress.set()
        self._progress = asyncio.Event()
        return True

    async def _given_up(self, item: OutboxItem) -> bool:
        """A consult's effect given up is reported, and marked sent with its step; True then."""
        kind = effect_kind(item)
        if item.consult is None or kind is None:
            return False
        await self._reports.report(item.consult, esc.Undeliverable(kind=kind), done=item.id)
        return True

    # -- carrying out one item ------------------------------------------------------------------

    async def deliver(self, item: OutboxItem) -> bool:
        """Carry out one outbox item. True when that also marked it sent (a page, with its
        `Delivered` step); otherwise the caller marks it."""
        messenger = self._messenger
        match item.kind:
            case OutboxKind.SEND:
                await self.rooms.send_checked(
                    item.room,
                    content_from_dict(item.payload),
                    txn=item.txn,
                    asker=UserId(item.payload["asker"]) if item.payload.get("asker") else None,
                    numbers=bool(item.payload.get("numbers")),
                    withheld=stored_withheld(item),
                )
            case OutboxKind.UNFIT:
                faults = [audience.Fault(f) for f in item.payload.get("faults", ())]
                asker = str(item.payload.get("asker", ""))
                await self.rooms.unfit(
                    item.room, UserId(asker) if asker else None, faults, item.txn
                )
            case OutboxKind.REDACT:
                removed = await messenger.redact(
                    item.room, item.payload["event_id"], reason="personnummer", txn=item.txn
                )
                if not removed:
                    content = self._renderer.render("pnr_not_redacted")
                    await messenger.send(item.room, content, txn=f"{item.txn}-n")
            case OutboxKind.LEAVE:
                await messenger.leave(item.room)
            case OutboxKind.KICK:
                user = UserId(item.payload["user"])
                await messenger.kick(item.room, user, reason=item.payload.get("reason", ""))
            case OutboxKind.DIRECT:
                user = UserId(item.room)
                room = await self.rooms.direct_room(user)
                content = content_from_dict(item.payload)
                # As a page: only once the person is a member can they read it.
                await messenger.send(room, content, txn=item.txn, recipients=(user,))
            case OutboxKind.EFFECT if item.consult is not None:
                return await self.effects.carry_out(
                    item.consult, effect_from_dict(item.payload), item
                )
            case OutboxKind.REPORT:
                await self._send_report(item)
            case OutboxKind.COVERAGE:
                content = self._renderer.render("admin_coverage", **item.payload)
                await self.rooms.to_admins(content, item.txn)
            case _:
                raise ValueError(f"unusable outbox item {item.id} of kind {item.kind!r}")
        return False

    async def _send_report(self, item: OutboxItem) -> None:
        """The follow-up report of a month, made now: a text table, then the chart (PNG)."""
        language = str(item.payload.get("language", "")) or self._renderer.language
        month = date.fromisoformat(f"{item.payload['month']}-01")
        made = await month_report(self._store, month, self._renderer.chat.tz, Messages(language))
        intro = self._renderer.render(
            "stats_report",
            language=language,
            month=f"{month:%Y-%m}",
            monthly=bool(item.payload.get("monthly")),
        )
        content = Content(
            text=f"{intro.text}\n\n{made.text}",
            html=f"{intro.html}\n<pre><code>{escape(made.text)}</code></pre>",
        )
        targets = [item.room] if item.room else await self.rooms.admin_rooms()
        width, height = CHART_SIZE
        for n, room in enumerate(targets):
            await self._messenger.send(room, content, txn=f"{item.txn}-{n}")
            await self._messenger.send_image(
                room,
                made.png,
                name=f"statistik-{month:%Y-%m}.png",
                width=width,
                height=height,
                txn=f"{item.txn}-{n}-png",
            )
