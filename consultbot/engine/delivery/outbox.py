"""Delivering the outbox: what the inbox recorded is sent to Matrix, in order, until done.

The `Dispatcher` gets the consult store, the messenger, the renderer (views.py) and a question
source (plus the clock, the task owner and where admin alerts go); nothing calls into it but
`kick` ("something new is in the outbox"), `drain` and `run`.

- Lanes. Items are sent in order per lane, lanes side by side: one lane per consult, one for the
  consult's replies to the requester (so a confirmation never holds up a page, nor a slow page
  a confirmation), one for its escalation notices (so the next level's page never waits for
  the notice), one for its admin alerts and one for the warning that a page has not gone out
  (neither waits behind the page it is about), one per room for replies that belong to no
  consult.
- The consult room first. A reply to the requester waits until the consult room that an earlier
  entry of its consult creates exists: the room's invite is the consultant's first signal.
- Retries. An item that fails is retried after a growing pause; every entry keeps its Matrix
  transaction id across retries and restarts, so the homeserver drops a repeated send. A page
  and the creation of its room are never given up (a lost page is a patient waiting); other
  items stop blocking their lane after `MAX_DELIVERY_ATTEMPTS`.
- A page's time starts when it is sent. Once the homeserver has taken a page, the consult's
  step `Delivered` starts that level's timeout and marks the entry sent, in one transaction
  (`on_delivered`): a page held up by a backlog, an outage or a restart still gets its whole
  time before the next level is paged. A page not out one timeout after its decision is
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
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import date
from typing import Any, Protocol

from markupsafe import escape

from consultbot.domain.chat import audience
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult import polls
from consultbot.domain.consult.codec import effect_from_dict
from consultbot.domain.consult.events import Event, PollPosted, RoomCreated
from consultbot.domain.types import ConsultId, UserId
from consultbot.engine.delivery.pool import RoomPool
from consultbot.ports import (
    Clock,
    ConflictError,
    ConsultStore,
    Content,
    Messenger,
    OutboxItem,
    OutboxKind,
    RoomRefused,
    UnsafeRoom,
)
from consultbot.tasks import Tasks
from consultbot.text.render import Messages
from consultbot.text.report import CHART_SIZE, month_report
from consultbot.text.views import ConsultRenderer, room_name

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 5
RESCAN_SECONDS = 1.0

#: Messages that show a staff member's own number (roster, staff list, directory): checked
#: when sent (`Dispatcher._send_checked`). A service's switchboard is a public number: not here.
NUMBER_TEMPLATES = frozenset(
    {"created", "late_acknowledged", "acknowledged", "mdk_acknowledged", "call", "who", "contact"}
)


def content_to_dict(content: Content) -> dict[str, Any]:
    """A JSON-safe form of a message for the outbox."""
    return asdict(content)


def content_from_dict(data: dict[str, Any]) -> Content:
    """The message the outbox holds."""
    return Content(
        text=data["text"],
        html=data["html"],
        mentions=tuple(UserId(u) for u in data.get("mentions", ())),
        notice=bool(data.get("notice", True)),
    )


WIDGET_TYPE = "im.vector.modular.widgets"
WIDGET_ID = "konsultbot-mote"


def widget(effect: esc.AddWidget, creator: str) -> dict[str, Any]:
    """A room widget Element shows (state key `WIDGET_ID`): the meeting link, no patient data."""
    return {
        "id": WIDGET_ID,
        "type": "m.custom",
        "url": effect.url,
        "name": effect.name,
        "data": {"title": effect.name},
        "creatorUserId": creator,
    }


def unfit_key(room: str, user: str = "") -> str:
    """The bot-state key recording that `user` was told `room` is not answered (or, without a
    user, that the bot left it and told the admins)."""
    return f"unfit-{hashlib.sha256(f'{room} {user}'.encode()).hexdigest()[:16]}"


def _stored_withheld(item: OutboxItem) -> Callable[[], Awaitable[Content]] | None:
    """The stored form of a plain answer without its staff numbers, if it has one."""
    stored = item.payload.get("withheld")
    if not isinstance(stored, dict):
        return None

    async def withheld() -> Content:
        return content_from_dict(stored)

    return withheld


def direct_key(user: str) -> str:
    """The bot-state key under which the private room with `user` is remembered."""
    return f"direct-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


def admin_key(user: str) -> str:
    """The bot-state key the private admin room with `user` is remembered under."""
    return f"admin-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


#: The shape of the keys of the private and admin rooms (`direct_key`, `admin_key`).
PRIVATE_KEY = re.compile(r"(direct|admin)-[0-9a-f]{12}")


def retry_delay(attempts: int) -> float:
    """Seconds to wait before trying an item again after `attempts` failures."""
    return min(5.0, 0.2 * attempts)


class QuestionSource(Protocol):
    """Where a page's question text comes from (questions.py)."""

    async def text(self, consult: esc.Consult) -> str | None:
        """The question's text, or None when it cannot be read."""


def _effect_type(item: OutboxItem) -> str | None:
    if item.kind is not OutboxKind.EFFECT:
        return None
    kind = item.payload.get("type")
    return kind if isinstance(kind, str) else None


def _critical(item: OutboxItem) -> bool:
    """A page, or the room it goes to: never given up."""
    return _effect_type(item) in (esc.PageLevel.__name__, esc.CreateRoom.__name__)


def _escalation_notice(item: OutboxItem) -> bool:
    """The notice in the consult room that the next level is being paged."""
    return _effect_type(item) == esc.Notice.__name__ and item.payload.get("template") == (
        "escalating"
    )


def lane(item: OutboxItem) -> str:
    """The lane an item is sent in: in order within a lane, lanes side by side.

    Replies to the requester and the escalation notice have lanes of their own: neither holds
    up a page (the next level's invite is its first signal). Admin alerts have theirs: one
    about a page that cannot be sent must not wait behind that page.
    """
    if item.consult is None:
        return f"room:{item.room}"
    if _undelivered_warning(item):
        return f"{item.consult}:undelivered"  # never behind a reply that waits for the room
    if _effect_type(item) == esc.Reply.__name__:
        return f"{item.consult}:reply"
    if _effect_type(item) == esc.AlertAdmins.__name__:
        return f"{item.consult}:admins"
    if _escalation_notice(item):
        return f"{item.consult}:notice"
    return item.consult


def _undelivered_warning(item: OutboxItem) -> bool:
    """The requester's word that a page has not gone out (the room may be what fails)."""
    return _effect_type(item) == esc.Reply.__name__ and item.payload.get("template") == (
        "page_undelivered"
    )


def _waits_for_room(item: OutboxItem, pending: Sequence[OutboxItem]) -> bool:
    """True for a reply whose consult room, created by an earlier entry, does not exist yet."""
    if _undelivered_warning(item):
        return False
    return _effect_type(item) == esc.Reply.__name__ and any(
        other.id < item.id
        and other.consult == item.consult
        and _effect_type(other) == esc.CreateRoom.__name__
        for other in pending
    )


def _overtaken(consult: esc.Consult, effect: esc.Effect) -> bool:
    """True for a page (or its escalation notice) that an ack or a close has made moot, and
    for the requester's word that a page has not gone out once it has."""
    if isinstance(effect, esc.Reply) and effect.template == "page_undelivered":
        waiting = [leg.pages[-1] for leg in consult.legs if leg.pages and not leg.settled]
        pages = waiting if consult.is_conference else consult.pages[-1:]
        return consult.state is not esc.State.PAGING or all(page.sent for page in pages)
    paging = isinstance(effect, esc.PageLevel | esc.CreateRoom)
    if not paging and not (isinstance(effect, esc.Notice) and effect.template == "escalating"):
        return False
    if consult.state in (esc.State.CLOSED, esc.State.WITHDRAWN):
        return True
    # The first page and its room stand: whoever acknowledged was paged by them.
    first = isinstance(effect, esc.CreateRoom) or (
        isinstance(effect, esc.PageLevel) and effect.first
    )
    if consult.is_conference and not first:
        # Each service on its own: only that service's acknowledgement makes its page moot.
        service = effect.service if isinstance(effect, esc.PageLevel) else ""
        if isinstance(effect, esc.Notice):
            service = str(effect.params.get("service", ""))
        leg = consult.leg(service)
        return leg is not None and leg.acked_by is not None
    return consult.acked_by is not None and not first


Delivery = Callable[[ConsultId, esc.Delivered, int], Awaitable[object]]


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
        admin_room: str = "",
        admins: Sequence[UserId] = (),
        retry_delay: Callable[[int], float] = retry_delay,
        pool: RoomPool | None = None,
        on_delivered: Delivery | None = None,
    ) -> None:
        self._store = store
        # A page went out: the consult's step that starts its timeout and marks the entry
        # sent (Inbox.step). Without it (tools that only send) the entry is just marked sent.
        self._on_delivered = on_delivered
        self._pool = pool
        self._messenger = messenger
        self._renderer = renderer
        self._questions = questions
        self._clock = clock
        self._tasks = tasks
        self.admin_room = admin_room
        self._admins = tuple(admins)
        self._retry_delay = retry_delay
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._naming: set[asyncio.Task[None]] = set()  # consult rooms being named after a page
        self._attempts: defaultdict[int, int] = defaultdict(int)
        # The private and admin rooms in use: room → the bot-state key it is remembered under.
        self._room_keys: dict[str, str] = {}
        self.retries = 0  # sends tried again after a failure (read by consultbot/engine/metrics.py)

    def kick(self) -> None:
        """Something new is in the outbox."""
        self._wake.set()

    def busy(self) -> bool:
        """True while some lane is at work (messages on their way)."""
        return bool(self._workers or self._naming)

    # -- draining -----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Send what the outbox holds, and whatever is added meanwhile, until it is empty.

        Lanes are sent by workers side by side; a new lane gets its worker at once, also while
        another lane waits to retry. The running bot calls this after every kick (`run`); tests
        call it to send what their steps queued.
        """
        while True:
            self._wake.clear()
            pending = await self._store.pending()
            if not pending and not self._workers:
                if self._naming:
                    await asyncio.gather(*list(self._naming), return_exceptions=True)
                    continue
                return
            for name in {lane(item) for item in pending} - set(self._workers):
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
    async def _wait(event: asyncio.Event) -> None:
        try:
            async with asyncio.timeout(RESCAN_SECONDS):
                await event.wait()
        except TimeoutError:
            pass

    async def _work(self, name: str) -> None:
        """Send one lane's items in order until the lane is empty."""
        try:
            while True:
                progress = self._progress
                pending = await self._store.pending()
                items = [item for item in pending if lane(item) == name]
                if not items:
                    return
                for item in items:
                    if _waits_for_room(item, pending):
                        await self._wait(progress)  # until another lane has sent something
                        break
                    if not await self._try(item):
                        self.retries += 1
                        await asyncio.sleep(self._retry_delay(self._attempts[item.id]))
                        break
        finally:
            self._workers.pop(name, None)
            self._wake.set()

    async def _try(self, item: OutboxItem) -> bool:
        """Deliver one item; False when it is to be tried again."""
        try:
            marked = await self.deliver(item)
        except UnsafeRoom as exc:
            if await self._room_unsafe(exc):
                return False  # a private or admin room, forgotten: the retry makes a new one
            # A consult room: nothing of this item goes anywhere else. A page that cannot go
            # out is reported as one not out in time; the admins were told which room.
            log.error("outbox item %s dropped: %s fails the room policy", item.id, exc.room)
            marked = False
        except Exception:
            self._attempts[item.id] += 1
            attempts = self._attempts[item.id]
            log.exception("outbox item %s (%s) failed, attempt %d", item.id, item.kind, attempts)
            # A page, and the room it goes to, are never given up: a lost page is a patient
            # waiting. Other messages (status notices, replies) stop blocking their consult
            # after a few attempts.
            if attempts < MAX_DELIVERY_ATTEMPTS or _critical(item):
                return False
            log.error("outbox item %s given up after %d attempts", item.id, attempts)
            marked = False
        if not marked:
            await self._store.sent(item.id, now=self._clock.now())
        self._attempts.pop(item.id, None)
        self._progress.set()
        self._progress = asyncio.Event()
        return True

    async def _room_unsafe(self, exc: UnsafeRoom, depth: int = 0) -> bool:
        """A room the bot made fails the room policy: leave it and tell the admins, once.

        True when it was a private or admin room, now forgotten (the next try makes a new one).
        """
        key = self._room_keys.pop(exc.room, None)
        if key is not None:
            await self._store.set_meta(key, "")
        told = f"unsafe-room:{exc.room}"
        if await self._store.get_meta(told) is not None:
            return key is not None
        try:
            await self._messenger.leave(exc.room)
        except Exception:
            log.warning("could not leave the room %s", exc.room)
        consult = await self._store.consult_for_room(exc.room)
        content = self._renderer.render(
            "admin_room_unsafe", room=exc.room, faults=exc.faults, consult=consult or ""
        )
        txn = f"unsafe-{hashlib.sha256(exc.room.encode()).hexdigest()[:16]}"
        await self._tell_admins(content, txn, depth)
        await self._store.set_meta(told, ",".join(exc.faults))
        return key is not None

    async def _tell_admins(self, content: Content, txn: str, depth: int) -> None:
        """Send to the admin rooms; an admin room failing the policy itself is left, the
        admins told in a new one (a room found failing while telling them: two deep at most)."""
        for _ in range(2):
            try:
                for n, room in enumerate(await self._admin_rooms()):
                    await self._messenger.send(room, content, txn=f"{txn}-{n}")
                return
            except UnsafeRoom as exc:
                if depth >= 2:
                    break
                await self._room_unsafe(exc, depth + 1)
            except Exception:
                break
        log.error("could not tell the admins that a room fails the room policy")

    # -- carrying out one item ------------------------------------------------------------------

    async def deliver(self, item: OutboxItem) -> bool:
        """Carry out one outbox item. True when that also marked it sent (a page, with its
        `Delivered` step); otherwise the caller marks it."""
        messenger = self._messenger
        match item.kind:
            case OutboxKind.SEND:
                await self._send_checked(
                    item.room,
                    content_from_dict(item.payload),
                    txn=item.txn,
                    asker=UserId(item.payload["asker"]) if item.payload.get("asker") else None,
                    numbers=bool(item.payload.get("numbers")),
                    withheld=_stored_withheld(item),
                )
            case OutboxKind.UNFIT:
                faults = [audience.Fault(f) for f in item.payload.get("faults", ())]
                asker = str(item.payload.get("asker", ""))
                await self._unfit(item.room, UserId(asker) if asker else None, faults, item.txn)
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
                room = await self._direct_room(user)
                content = content_from_dict(item.payload)
                # As a page: only once the person is a member can they read it.
                await messenger.send(room, content, txn=item.txn, recipients=(user,))
            case OutboxKind.EFFECT if item.consult is not None:
                return await self._effect(item.consult, effect_from_dict(item.payload), item)
            case OutboxKind.REPORT:
                await self._report(item)
            case OutboxKind.COVERAGE:
                content = self._renderer.render("admin_coverage", **item.payload)
                for n, room in enumerate(await self._admin_rooms()):
                    await messenger.send(room, content, txn=f"{item.txn}-{n}")
            case _:
                raise ValueError(f"unusable outbox item {item.id} of kind {item.kind!r}")
        return False

    async def _effect(self, consult_id: ConsultId, effect: esc.Effect, item: OutboxItem) -> bool:
        """Carry out one effect of a consult; True when a page's step marked `item` sent."""
        txn = item.txn
        consult = await self._store.consult(consult_id)
        if consult is None:
            raise ValueError(f"no consult {consult_id}")
        if consult.room:
            self._messenger.own_room(consult.room)  # the bot made it: held to the room policy
        if _overtaken(consult, effect):
            # Acknowledged or closed after this escalation was decided: a page now would
            # reach someone who is no longer needed. No page goes out after an ack.
            kind = type(effect).__name__
            log.info("consult %s: %s overtaken (%s); not sent", consult.id, kind, consult.state)
            if isinstance(effect, esc.PageLevel) and effect.first and consult.room:
                await self._name(consult)  # the room is named all the same
            return False
        renderer, messenger = self._renderer, self._messenger
        match effect:
            case esc.Reply():
                # To the requester, in the language they asked in; the consult room is shared
                # and follows the config's language.
                language, params = consult.language, effect.params
                content = await renderer.render_about(
                    consult, effect.template, language=language, **params
                )
                await self._send_checked(
                    consult.request_room,
                    content,
                    txn=txn,
                    asker=consult.requester,
                    numbers=effect.template in NUMBER_TEMPLATES,
                    withheld=lambda: renderer.render_about(
                        consult, effect.template, language=language, withheld="dm", **params
                    ),
                )
            case esc.CreateRoom():
                await self._create_room(consult, effect)
            case esc.PageLevel():
                await self._page(consult, effect, txn)
                if self._on_delivered is not None:
                    delivered = esc.Delivered(level=effect.level, service=effect.service)
                    await self._on_delivered(consult.id, delivered, item.id)
                    return True
            case esc.Notice():
                room = consult.room or consult.request_room
                template, params = effect.template, effect.params
                content = await renderer.render_about(consult, template, **params)
                # `!ring`'s numbers are for whoever asked; an acknowledger's for the requester.
                asker = params.get("asker") or consult.requester
                await self._send_checked(
                    room,
                    content,
                    txn=txn,
                    asker=UserId(str(asker)),
                    numbers=template in NUMBER_TEMPLATES,
                    withheld=lambda: renderer.render_about(
                        consult, template, withheld="dm", **params
                    ),
                )
            case esc.AlertAdmins():
                content = await renderer.render_about(consult, effect.template, **effect.params)
                for n, room in enumerate(await self._admin_rooms()):
                    await messenger.send(room, content, txn=f"{txn}-{n}")
            case esc.Direct():
                content = await renderer.render_about(consult, effect.template, **effect.params)
                room = await self._direct_room(effect.user)
                await messenger.send(room, content, txn=txn, recipients=(effect.user,))
            case esc.PostPoll():
                await self._post_poll(consult, txn)
            case esc.EndPoll():
                await self._end_poll(consult, effect.outcome, txn)
            case esc.AddWidget():
                if not consult.room:
                    raise RuntimeError(f"{consult.id}: no conference room yet")
                await messenger.put_state(
                    consult.room, WIDGET_TYPE, WIDGET_ID, widget(effect, messenger.user_id)
                )
        return False

    async def _post_poll(self, consult: esc.Consult, txn: str) -> None:
        """The outcome poll in the consult room, recorded in the log once sent."""
        if consult.poll or not consult.room or not consult.is_open:
            return  # posted already (a retry), or closed before the poll went out
        question = await self._renderer.render_about(consult, "poll_question")
        answers = [(o, self._renderer.outcome_name(o)) for o in polls.POLL_OUTCOMES]
        content = polls.poll_start(question.text, answers)
        event_id = await self._messenger.send_event(
            consult.room, polls.POLL_START, content, txn=txn
        )
        for _ in range(5):
            events = await self._store.events(consult.id)
            current = esc.fold(events)
            if current.poll:
                return
            now = self._clock.now()
            posted = Event.of(now, PollPosted(event_id=event_id))
            try:
                await self._store.record(consult.id, len(events), [posted], [], now=now)
            except ConflictError:
                continue
            if not current.is_open:
                # Closed while the poll was on its way: end it now, nobody votes on it.
                await self._end_poll(
                    esc.fold([*events, posted]), current.outcome or "", f"{txn}-end"
                )
            return
        raise ConflictError(f"{consult.id}: could not record its poll")

    async def _end_poll(self, consult: esc.Consult, outcome: str, txn: str) -> None:
        if not consult.poll or not consult.room:
            return
        text = await self._renderer.render_about(consult, "poll_ended", outcome=outcome)
        content = polls.poll_end(consult.poll, text.text)
        await self._messenger.send_event(consult.room, polls.POLL_END, content, txn=txn)

    async def _create_room(self, consult: esc.Consult, effect: esc.CreateRoom) -> None:
        """The consult room: a pool room taken and its invitees invited, or else one made now.

        A room already recorded (taken from the pool before a crash or a failed attempt) gets
        its invites again: inviting twice changes nothing. A pool room is named right after the
        first page (`_page`).
        """
        room = consult.room or await self._claim(consult.id)
        if room:
            self._messenger.own_room(room)
            await self._messenger.fill_room(room, invite=effect.invite)
            return
        topic = (await self._renderer.render_about(consult, "topic")).text
        room = await self._messenger.create_room(
            key=f"{consult.id}", name=room_name(consult), topic=topic, invite=effect.invite
        )
        await self._note_room(consult.id, room)

    async def _name(self, consult: esc.Consult) -> None:
        """The consult room's name and topic (again for a room made with them: no change)."""
        topic = (await self._renderer.render_about(consult, "topic")).text
        await self._messenger.name_room(consult.room, name=room_name(consult), topic=topic)

    async def _name_soon(self, consult: esc.Consult) -> None:
        """Name the consult room, retried a few times (a room without its name still works)."""
        for attempt in range(1, MAX_DELIVERY_ATTEMPTS + 1):
            try:
                await self._name(consult)
                return
            except Exception:
                log.warning("naming the room of %s failed, attempt %d", consult.id, attempt)
                await asyncio.sleep(self._retry_delay(attempt))
        log.error("the room of %s was left unnamed", consult.id)

    async def _claim(self, consult_id: ConsultId) -> str | None:
        """A pool room recorded as the consult's room, in one transaction; None if none."""
        if self._pool is None:
            return None
        for _ in range(5):
            events = await self._store.events(consult_id)
            if esc.fold(events).room:
                return esc.fold(events).room
            try:
                return await self._pool.claim(consult_id, len(events))
            except ConflictError:
                continue  # a step of the consult came first: read the log again
        raise ConflictError(f"{consult_id}: could not take a room from the pool")

    async def _note_room(self, consult_id: ConsultId, room: str) -> None:
        """Record the consult room just created (once), checked against the log's length."""
        for _ in range(5):
            events = await self._store.events(consult_id)
            if esc.fold(events).room:
                return
            now = self._clock.now()
            event = Event.of(now, RoomCreated(room=room))
            try:
                await self._store.record(consult_id, len(events), [event], [], now=now)
            except ConflictError:
                continue  # a step of the consult came first: read the log again
            return
        raise ConflictError(f"{consult_id}: could not record its room")

    async def _report(self, item: OutboxItem) -> None:
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
        rooms = [item.room] if item.room else await self._admin_rooms()
        width, height = CHART_SIZE
        for n, room in enumerate(rooms):
            await self._messenger.send(room, content, txn=f"{item.txn}-{n}")
            await self._messenger.send_image(
                room,
                made.png,
                name=f"statistik-{month:%Y-%m}.png",
                width=width,
                height=height,
                txn=f"{item.txn}-{n}-png",
            )

    async def _send_checked(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        asker: UserId | None,
        numbers: bool,
        withheld: Callable[[], Awaitable[Content]] | None = None,
    ) -> None:
        """Send `content` to `room` if, at the moment of sending, the room may read it.

        Otherwise (domain/audience.py) it goes to `asker`'s direct chat instead; a room that
        may still have the rest (one the bot made) gets `withheld()`, the same without staff
        numbers; a room a user opened that is unfit gets nothing (`_unfit`).
        """
        try:
            await self._messenger.send(room, content, txn=txn, numbers=numbers)
            return
        except RoomRefused as exc:
            refused = exc
        log.info("%s: %s", refused, "to the asker's direct chat" if asker else "not sent")
        if not refused.fit:
            await self._unfit(room, asker, refused.faults, txn)
        if asker is not None:
            direct = await self._direct_room(asker)
            if direct != room:
                await self._messenger.send(
                    direct, content, txn=f"{txn}-dm", recipients=(asker,), numbers=numbers
                )
        if refused.fit and withheld is not None:
            await self._messenger.send(room, await withheld(), txn=f"{txn}-withheld")

    async def _unfit(
        self, room: str, asker: UserId | None, faults: Sequence[audience.Fault], txn: str
    ) -> None:
        """A room a user opened that the bot may not answer in: `asker` is told once, in their
        direct chat; a room unfit for good is left and the admins are told once."""
        if audience.lasting(faults) and await self._store.get_meta(unfit_key(room)) is None:
            await self._messenger.leave(room)
            alert = self._renderer.render("admin_room_left", room=room, faults=list(faults))
            for n, admin_room in enumerate(await self._admin_rooms()):
                await self._messenger.send(admin_room, alert, txn=f"{txn}-admins-{n}")
            await self._store.set_meta(unfit_key(room), "left")
        if asker is None or await self._store.get_meta(unfit_key(room, asker)) is not None:
            return
        direct = await self._direct_room(asker)
        if direct != room:
            told = self._renderer.render("room_unfit", room=room, faults=list(faults))
            await self._messenger.send(direct, told, txn=f"{txn}-told", recipients=(asker,))
        await self._store.set_meta(unfit_key(room, asker), "told")

    async def _admin_rooms(self) -> list[str]:
        """The admin room, or else a private room with each admin (created once)."""
        if self.admin_room:
            return [self.admin_room]
        rooms = []
        for admin in self._admins:
            key = admin_key(admin)
            room = await self._store.get_meta(key)
            if not room:  # none yet, or one forgotten as failing the room policy
                room = await self._messenger.create_room(
                    key=key,
                    name="Konsultbot – admin",
                    topic=self._renderer.render("admin_topic").text,
                    invite=(admin,),
                )
                await self._store.set_meta(key, room)
            self._own(room, key)
            rooms.append(room)
        if not rooms:
            log.warning("an admin alert, but neither admin_room nor admins are configured")
        return rooms

    async def _direct_room(self, user: UserId) -> str:
        """The bot's private room with `user`: duty notices, handovers, private answers (created
        once)."""
        key = direct_key(user)
        room = await self._store.get_meta(key)
        if not room:  # none yet, or one forgotten as failing the room policy
            room = await self._messenger.create_room(
                key=key,
                name="Konsultbot",
                topic=self._renderer.render("direct_topic").text,
                invite=(user,),
            )
            await self._store.set_meta(key, room)
        self._own(room, key)
        return room

    async def own_private_rooms(self) -> int:
        """Hold every private and admin room recorded to the room policy now, not only when
        next used; how many.

        Rooms once taken by their alias (before the bot checked who made a room) may be a
        stranger's: held to the policy, the first thing the bot would send into one (an
        answer too) finds it failing, and it is left and made anew, the admins told once
        (`_room_unsafe`); without this it was answered in until the bot next chose it.
        """
        rooms = {
            key: room
            for prefix in ("direct-", "admin-")
            for key, room in (await self._store.meta_under(prefix)).items()
            if PRIVATE_KEY.fullmatch(key) and room
        }
        for key, room in rooms.items():
            self._own(room, key)
        return len(rooms)

    def _own(self, room: str, key: str) -> None:
        """A private or admin room the bot made: held to the room policy, forgotten if it
        fails it."""
        self._messenger.own_room(room)
        self._room_keys[room] = key

    async def _page(self, consult: esc.Consult, effect: esc.PageLevel, txn: str) -> None:
        if not consult.room:
            raise RuntimeError(f"{consult.id}: no consult room yet")
        users = tuple(p.user for p in effect.people)
        if not effect.first:
            await self._messenger.invite(consult.room, users)
        view = await self._renderer.view(consult)
        question = await self._questions.text(consult)
        if question is None:
            question = self._renderer.render("question_unavailable", c=view).text

        def page(withheld: str = "") -> Content:
            content: Content = self._renderer.render(
                "mdk_page" if consult.is_conference else "page",
                notice=False,
                mentions=users,
                withheld=withheld,
                c=view,
                people=[asdict(p) for p in effect.people],
                level=effect.level,
                question=question,
                service=effect.service,
            )
            return content

        recipients = (*users, consult.requester)
        try:
            await self._messenger.send(
                consult.room, page(), txn=txn, recipients=recipients, numbers=True
            )
        except RoomRefused as refused:
            if not refused.fit:
                raise
            # Someone in the consult room may not see the numbers (an invite from elsewhere
            # not yet withdrawn): the page goes out all the same, without them.
            log.info("consult %s: page without numbers (%s)", consult.id, refused)
            await self._messenger.send(
                consult.room, page(withheld="ring"), txn=txn, recipients=recipients
            )
        if effect.first:
            # The room's name and topic follow the first page (the homeserver takes a room's
            # events one at a time: before it, they would hold the page up), side by side with
            # marking the page sent: a page the homeserver has taken is marked at once, so that
            # an instance taking over (another device: the homeserver would not drop a repeat)
            # has the shortest window in which it would page again (docs/failover.md).
            task = self._tasks.spawn(
                self._name_soon(consult), name=f"name {consult.id}", context="naming a room"
            )
            self._naming.add(task)
            task.add_done_callback(self._naming.discard)
        log.info("consult %s: paged level %d (%d people)", consult.id, effect.level, len(users))
