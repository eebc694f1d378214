"""Carrying out a consult's effects: replies, notices, admin alerts, the consult room (a pool
room taken or one made now, named after the first page), pages, the requester's invite after
the first page, polls and the meeting widget.

- What was done is reported, never recorded here (`Reports`: the stepper records it): the room
  made (`RoomReady`), the poll posted (`PollSent`), a page gone out (`Delivered`: its level's
  timeout starts then, and the entry is marked sent in the same transaction).
- No page after an acknowledgement: a page (or its escalation notice) that an acknowledgement
  or a close overtook before it was sent is dropped, not sent (lanes.py `overtaken`).
- A page where someone may not see the staff numbers goes out without them ("write !ring").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, assert_never

from consultbot.domain.consult import escalation as esc, polls
from consultbot.domain.types import ConsultId, UserId
from consultbot.engine.delivery.content import NUMBER_TEMPLATES, WIDGET_ID, WIDGET_TYPE, widget
from consultbot.engine.delivery.lanes import MAX_DELIVERY_ATTEMPTS, overtaken
from consultbot.engine.delivery.pool import RoomPool
from consultbot.engine.delivery.rooms import PrivateRooms
from consultbot.engine.stepper import Report
from consultbot.ports import ConsultLog, Content, Messenger, OutboxItem, RoomRefused
from consultbot.tasks import Tasks
from consultbot.text.views import ConsultRenderer, room_name

log = logging.getLogger(__name__)

LET_IN_KEPT = 10_000  # requesters invited right after a page, remembered for their entries
WAITED_KEPT = 10_000  # first pages not yet out that waited for invites, remembered for retries
#: How long a first page's room key and message wait for other consults' invites in a rush
#: (a fill counts for this long after it began): a 2-core homeserver takes 1.5–2.5 s to
#: answer a burst of 50 invites (docs/page-speed-profile.md).
PAGES_AFTER_INVITES_SECONDS = 3.0
#: The longest a consult room's name and topic wait, after its first page, for someone to
#: join: the homeserver takes one room's events one at a time, and a consultant who opens
#: the invite at once should not join behind the room's name (docs/page-speed-profile.md).
NAME_AFTER_JOIN_SECONDS = 5.0


async def _at_once() -> None:
    """No page to wait for (an `Effects` of its own, in tests)."""


class Reports(Protocol):
    """Where the outbox reports what it did for a consult: the stepper (engine/stepper.py),
    which steps and records it. The outbox writes no entry of a consult's log itself."""

    async def report(
        self, consult_id: ConsultId, report: Report, *, done: int | None = None
    ) -> esc.Consult | None:
        """Step `report`, with the outbox entry `done` marked sent in the same transaction."""

    async def take_pool_room(self, consult_id: ConsultId, room: str) -> str:
        """Record pool room `room` as the consult's room, taking it out of the pool."""


class QuestionSource(Protocol):
    """Where a page's question text comes from (questions.py)."""

    async def text(self, consult: esc.Consult) -> str | None:
        """The question's text, or None when it cannot be read."""


@dataclass(kw_only=True, eq=False)
class Effects:
    """Carries out the effects of consult steps, one outbox item at a time."""

    store: ConsultLog
    messenger: Messenger
    renderer: ConsultRenderer
    questions: QuestionSource
    tasks: Tasks
    rooms: PrivateRooms
    retry_delay: Callable[[int], float]
    pool: RoomPool | None
    reports: Reports
    #: Work that follows a first page: its room being named, its requester being let in.
    naming: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    #: Those of `naming` only waiting for someone to join (nothing on its way to Matrix).
    awaiting_join: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    #: (room, user) invited by `_let_in`: the `Invite` entry has nothing left to do.
    let_in: set[tuple[str, UserId]] = field(default_factory=set, init=False)
    #: The invites right after a page still on their way, by (room, user).
    letting: dict[tuple[str, UserId], asyncio.Task[None]] = field(default_factory=dict, init=False)
    #: Returns once the pages being sent are out and, after a rush, read (bounded): the
    #: dispatcher's `after_pages`.
    after_pages: Callable[[], Awaitable[None]] = field(default=_at_once, init=False)
    #: Pool rooms just taken whose invites are on their way (`fill_room`), with the loop time
    #: each fill started: first pages wait for them, each for at most its first
    #: `PAGES_AFTER_INVITES_SECONDS`.
    filling: dict[str, float] = field(default_factory=dict, init=False)
    #: First pages (by transaction id) not yet out, with the loop time they first waited for
    #: invites: a retry does not wait again.
    waited: dict[str, float] = field(default_factory=dict, init=False)
    _filled: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def carry_out(self, consult_id: ConsultId, effect: esc.Effect, item: OutboxItem) -> bool:
        """Carry out one effect of a consult; True when a page's step marked `item` sent."""
        txn = item.txn
        consult = await self.store.consult(consult_id)
        if consult is None:
            raise ValueError(f"no consult {consult_id}")
        if consult.room:
            self.messenger.own_room(consult.room)  # the bot made it: held to the room policy
        if overtaken(consult, effect):
            # Acknowledged or closed after this escalation was decided: a page now would
            # reach someone who is no longer needed. No page goes out after an ack.
            log.info(
                "consult %s: %s overtaken (%s); not sent", consult.id, effect.KIND, consult.state
            )
            if isinstance(effect, esc.PageLevel) and effect.first and consult.room:
                await self._name(consult)  # the room is named all the same
            return False
        renderer, messenger = self.renderer, self.messenger
        match effect:
            case esc.Reply() | esc.Notice():
                await self._send_about(consult, effect, txn)
            case esc.CreateRoom():
                await self._create_room(consult, effect)
            case esc.PageLevel():
                await self.page(consult, effect, txn)
                # Its time starts now: the step, with the entry marked sent.
                delivered = esc.Delivered(level=effect.level, service=effect.service)
                await self.reports.report(consult.id, delivered, done=item.id)
                return True
            case esc.RepeatPage():
                await self.repeat(consult, effect, txn)
            case esc.Invite():
                await self._let_in(consult, effect.users, surely=True)
            case esc.AlertAdmins():
                content = await renderer.render_about(consult, effect.template, **effect.params)
                await self.rooms.to_admins(content, txn)
            case esc.Direct():
                content = await renderer.render_about(consult, effect.template, **effect.params)
                room = await self.rooms.direct_room(effect.user)
                await messenger.send(room, content, txn=txn, recipients=(effect.user,))
            case esc.PostPoll():
                return await self._post_poll(consult, item)
            case esc.EndPoll():
                await self._end_poll(consult, effect.outcome, txn)
            case esc.AddWidget():
                if not consult.room:
                    raise RuntimeError(f"{consult.id}: no conference room yet")
                await messenger.put_state(
                    consult.room, WIDGET_TYPE, WIDGET_ID, widget(effect, messenger.user_id)
                )
            case unknown:
                assert_never(unknown)  # every kind of effect is carried out above
        return False

    async def _send_about(
        self, consult: esc.Consult, effect: esc.Reply | esc.Notice, txn: str
    ) -> None:
        """A reply or a notice; one with staff numbers (`NUMBER_TEMPLATES`) goes into its room
        only if the room may read them when it is sent (`PrivateRooms.send_checked`)."""
        if isinstance(effect, esc.Reply):
            # To the requester, in the language they asked in; the consult room is shared
            # and follows the config's language.
            room, asker, language = consult.request_room, consult.requester, consult.language
        else:
            # `!ring`'s numbers are for whoever asked; an acknowledger's for the requester.
            asker = UserId(str(effect.params.get("asker") or consult.requester))
            room, language = consult.room or consult.request_room, ""
        render = functools.partial(
            self.renderer.render_about, consult, effect.template, language=language, **effect.params
        )
        await self.rooms.send_checked(
            room,
            await render(),
            txn=txn,
            asker=asker,
            numbers=effect.template in NUMBER_TEMPLATES,
            withheld=lambda: render(withheld="dm"),
        )

    async def _post_poll(self, consult: esc.Consult, item: OutboxItem) -> bool:
        """The outcome poll in the consult room, reported once sent (with the entry marked
        sent); a consult closed meanwhile has its step end the poll. True when reported."""
        if consult.poll or not consult.room or not consult.is_open:
            return False  # posted already (a retry), or closed before the poll went out
        question = await self.renderer.render_about(consult, "poll_question")
        # The consult's path's outcomes, from the catalogue active now (docs/decisions.md).
        offered = await self.renderer.outcomes(consult)
        answers = [(o, self.renderer.outcome_name(o)) for o in offered]
        content = polls.poll_start(question.text, answers)
        event_id = await self.messenger.send_event(
            consult.room, polls.POLL_START, content, txn=item.txn
        )
        await self.reports.report(consult.id, esc.PollSent(event_id=event_id), done=item.id)
        return True

    async def _end_poll(self, consult: esc.Consult, outcome: str, txn: str) -> None:
        if not consult.poll or not consult.room:
            return
        text = await self.renderer.render_about(consult, "poll_ended", outcome=outcome)
        content = polls.poll_end(consult.poll, text.text)
        await self.messenger.send_event(consult.room, polls.POLL_END, content, txn=txn)

    async def _create_room(self, consult: esc.Consult, effect: esc.CreateRoom) -> None:
        """The consult room: a pool room taken and its invitees invited, or else one made now.

        A room already recorded (taken from the pool before a crash or a failed attempt) gets
        its invites again: inviting twice changes nothing. A pool room is named right after the
        first page (`page`).
        """
        # A retry (the room taken or made before) holds up no page (`_after_invites`).
        taken = not consult.room
        room = consult.room or await self.claim(consult.id)
        if room:
            self.messenger.own_room(room)
            with self._filling(room) if taken else contextlib.nullcontext():
                await self.messenger.fill_room(room, invite=effect.invite)
            return
        topic = (await self.renderer.render_about(consult, "topic")).text
        room = await self.messenger.create_room(
            key=f"{consult.id}", name=room_name(consult), topic=topic, invite=effect.invite
        )
        await self.reports.report(consult.id, esc.RoomReady(room=room))  # a retry: no change

    @contextlib.contextmanager
    def _filling(self, room: str) -> Iterator[None]:
        """A pool room just taken whose invites are on their way: first pages wait for it."""
        self.filling[room] = asyncio.get_running_loop().time()
        try:
            yield
        finally:
            self.filling.pop(room, None)
            self._filled.set()
            self._filled = asyncio.Event()

    async def _after_invites(self, txn: str) -> None:
        """Return once no pool room's invites are on their way, or `PAGES_AFTER_INVITES_SECONDS`
        after the page `txn` first waited (a retry does not wait again): in a rush a first
        page's room key and message follow the invites (each consultant's first signal)
        instead of standing before them and the consultants' joins in the homeserver's queue.
        One consult at a time, nothing waits."""
        loop = asyncio.get_running_loop()
        if len(self.waited) >= WAITED_KEPT:
            self.waited.clear()  # pages never sent (their consults ended): a retry waits again
        deadline = self.waited.setdefault(txn, loop.time()) + PAGES_AFTER_INVITES_SECONDS
        while True:
            # A fill that hangs (a homeserver slow to answer) holds pages up only for its first
            # `PAGES_AFTER_INVITES_SECONDS`, not for as long as it lasts.
            now = loop.time()
            young = [
                since
                for since in self.filling.values()
                if now - since < PAGES_AFTER_INVITES_SECONDS
            ]
            if not young or now >= deadline:
                return
            left = min(deadline, min(young) + PAGES_AFTER_INVITES_SECONDS) - now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._filled.wait()

    async def _name(self, consult: esc.Consult) -> None:
        """The consult room's name and topic (again for a room made with them: no change)."""
        topic = (await self.renderer.render_about(consult, "topic")).text
        await self.messenger.name_room(consult.room, name=room_name(consult), topic=topic)

    async def _name_soon(self, consult: esc.Consult) -> None:
        """Name the consult room, retried a few times (a room without its name still works),
        once the pages being sent are out and, after a rush, read (the homeserver serves the
        pages first) and someone has joined the room or `NAME_AFTER_JOIN_SECONDS` have passed."""
        await self.after_pages()
        task = asyncio.current_task()
        if task is not None:
            self.awaiting_join.add(task)
        try:
            await self.messenger.joined_by_someone(consult.room, NAME_AFTER_JOIN_SECONDS)
        except Exception:
            log.warning("the room of %s is named without waiting for a join", consult.id)
        finally:
            self.awaiting_join.discard(task)
        for attempt in range(1, MAX_DELIVERY_ATTEMPTS + 1):
            try:
                await self._name(consult)
                return
            except Exception:
                log.warning("naming the room of %s failed, attempt %d", consult.id, attempt)
                await asyncio.sleep(self.retry_delay(attempt))
        log.error("the room of %s was left unnamed", consult.id)

    async def claim(self, consult_id: ConsultId) -> str | None:
        """A pool room recorded as the consult's room, in one transaction; None if none."""
        if self.pool is None:
            return None
        return await self.pool.claim(
            consult_id, functools.partial(self.reports.take_pool_room, consult_id)
        )

    async def repeat(self, consult: esc.Consult, effect: esc.RepeatPage, txn: str) -> None:
        """The page again, unacknowledged: an m.text that mentions the level's people (their
        phones notify again, as for the page), no question and no numbers. `txn` is the outbox
        entry's: sent again after a crash, the homeserver takes it once."""
        if not consult.room:
            raise RuntimeError(f"{consult.id}: no consult room yet")
        users = tuple(p.user for p in effect.people)
        content = await self.renderer.render_about(
            consult,
            "page_repeat",
            notice=False,
            mentions=users,
            people=[asdict(p) for p in effect.people],
            level=effect.level,
            service=effect.service,
        )
        await self.messenger.send(consult.room, content, txn=txn, recipients=users)
        log.info("consult %s: repeated level %d (%d people)", consult.id, effect.level, len(users))

    async def page(self, consult: esc.Consult, effect: esc.PageLevel, txn: str) -> None:
        if not consult.room:
            raise RuntimeError(f"{consult.id}: no consult room yet")
        users = tuple(p.user for p in effect.people)
        if effect.first:
            # The requester is invited after the first page (`Invite`): its key goes to them.
            await self.messenger.expect(consult.room, (consult.requester,))
        else:
            await self.messenger.invite(consult.room, users)
        view = await self.renderer.view(consult)
        question = await self.questions.text(consult)
        if question is None:
            question = self.renderer.render("question_unavailable", c=view).text

        def page(withheld: str = "") -> Content:
            return self.renderer.render(
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

        recipients = (*users, consult.requester)
        if effect.first:
            await self._after_invites(txn)
        try:
            await self.messenger.send(
                consult.room, page(), txn=txn, recipients=recipients, numbers=True
            )
        except RoomRefused as refused:
            if not refused.fit:
                raise
            # Someone in the consult room may not see the numbers (an invite from elsewhere
            # not yet withdrawn): the page goes out all the same, without them.
            log.info("consult %s: page without numbers (%s)", consult.id, refused)
            await self.messenger.send(
                consult.room, page(withheld="ring"), txn=txn, recipients=recipients
            )
        if effect.first:
            self.waited.pop(txn, None)
            # The requester at once (the page's key went to them: `expect` above); their
            # `Invite` entry makes sure of it, after a failure or a crash.
            key = (consult.room, consult.requester)
            self.letting[key] = self._after_page(
                self._let_in(consult, (consult.requester,), surely=False),
                name=f"let in {consult.id}",
            )
            self.letting[key].add_done_callback(lambda _: self.letting.pop(key, None))
            # The room's name and topic follow the first page (the homeserver takes a room's
            # events one at a time: before it, they would hold the page up), side by side with
            # marking the page sent: a page the homeserver has taken is marked at once, so that
            # an instance taking over (another device: the homeserver would not drop a repeat)
            # has the shortest window in which it would page again (docs/failover.md).
            self._after_page(self._name_soon(consult), name=f"name {consult.id}")
        log.info("consult %s: paged level %d (%d people)", consult.id, effect.level, len(users))

    def name_open_rooms(self, consults: Sequence[esc.Consult]) -> None:
        """At start-up, name the rooms of the open `consults` again: a stop while a name waited
        for the pages or a join left it unnamed (the same name again changes nothing)."""
        for consult in consults:
            paged = [*consult.pages, *(page for leg in consult.legs for page in leg.pages)]
            if consult.room and any(page.sent for page in paged):  # else the outbox names it
                self.messenger.own_room(consult.room)  # held to the room policy, as in carry_out
                self._after_page(self._name_soon(consult), name=f"name {consult.id}")

    def _after_page(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Work that follows a page without holding up its step (marking it sent)."""
        task = self.tasks.spawn(work, name=name, context="after a page")
        self.naming.add(task)
        task.add_done_callback(self.naming.discard)
        return task

    async def _let_in(
        self, consult: esc.Consult, users: tuple[UserId, ...], *, surely: bool
    ) -> None:
        """Invite the requester into the consult room. Right after the page (`surely` False)
        a failure is only logged; the `Invite` entry (`surely`) raises it, to be tried again,
        and is done at once when the invite right after the page went through."""
        if not consult.room:
            # The entry runs once the room's and the page's entries are done: a room never
            # made (given up) has nobody to let in; retrying would change nothing.
            log.error("consult %s: no consult room to invite the requester into", consult.id)
            return
        for user in users:
            if surely and (running := self.letting.get((consult.room, user))) is not None:
                await asyncio.wait([running])  # the invite right after the page, still on its way
            if (consult.room, user) in self.let_in:
                if surely:
                    self.let_in.discard((consult.room, user))  # the entry's word: done
                continue
            try:
                if await self.messenger.let_in(consult.room, user) and not surely:
                    if len(self.let_in) >= LET_IN_KEPT:
                        self.let_in.clear()  # the entries of these invite again: no change
                    self.let_in.add((consult.room, user))
            except Exception:
                if surely:
                    raise
                log.warning("inviting the requester of %s failed; tried again", consult.id)
