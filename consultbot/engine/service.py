"""The consult service wired together: stepper, inbox, outbox and renderer.

    Matrix event ─► intake/inbox.py ─┐
    deadline ────────────────────────┼─► stepper.py ─► ConsultLog ─► delivery/outbox.py ─► Matrix
    outbox report ───────────────────┘   (domain step; ONE transaction)      │
          ▲──────────────────────────────────────────────────────────────────┘

The stepper (the one writer of the consult log) tells the outbox there is something new
(`Dispatcher.kick`); the outbox tells the stepper what it did (`Reports`). The inbox is what
the Matrix adapter delivers events to (`MatrixBot.run(service.inbox)` in app.py); admin posts
and retention are started by the bot after `start`. See docs/architecture.md for one page
followed through them.
"""

from __future__ import annotations

from collections.abc import Callable

from consultbot.config import Config
from consultbot.domain.types import Track, UserId
from consultbot.engine.admin.posts import AdminPosts
from consultbot.engine.dead_man import DeadMan
from consultbot.engine.delivery.outbox import Dispatcher, retry_delay
from consultbot.engine.delivery.pool import RoomPool
from consultbot.engine.intake.inbox import Inbox
from consultbot.engine.metrics import Metrics
from consultbot.engine.questions import Questions
from consultbot.engine.reminders import DutyReminders
from consultbot.engine.retention import Retention
from consultbot.engine.stepper import Stepper
from consultbot.engine.web.changes import Changes
from consultbot.ports import (
    Clock,
    ConsultStore,
    DataStore,
    FileSource,
    Messenger,
    Timers,
)
from consultbot.ports.delayed import DelayedNotices
from consultbot.tasks import Tasks
from consultbot.text.render import ChatRenderer
from consultbot.text.views import ConsultRenderer


class ConsultService:
    """The inbox and the outbox of the consult loop, over one store and one messenger."""

    def __init__(
        self,
        *,
        config: Config,
        data: DataStore,
        consults: ConsultStore,
        messenger: Messenger,
        timers: Timers,
        clock: Clock,
        tasks: Tasks | None = None,
        retry_delay: Callable[[int], float] = retry_delay,
        files: FileSource | None = None,
        pool: RoomPool | None = None,
        metrics: Metrics | None = None,
        admin_room: str | None = None,
        notices: DelayedNotices | None = None,
        changes: Changes | None = None,
    ) -> None:
        """`admin_room` is the room admin alerts go to, joined already (default: the config's
        `bot.admin_room` when that is a room id); "" for a private room with each admin.
        `notices`: the homeserver's delayed notices (engine/dead_man.py; None: none kept)."""
        self.tasks = tasks or Tasks()
        conference = config.tracks[Track.MDK]
        self.renderer = ConsultRenderer(
            chat=ChatRenderer(config.bot.timezone, config.bot.language),
            data=data,
            hours=config.hours_of(),
            meeting_url=conference.meeting_url,
            meeting_reminder_seconds=conference.meeting_reminder_seconds,
        )
        self.questions = Questions(messenger)
        self.metrics = metrics or Metrics()
        self.changes = changes or Changes()  # what the who's-on board shows changed (engine/web)
        if admin_room is None:
            admin_room = config.bot.admin_room if config.bot.admin_room.startswith("!") else ""
        if files is None and isinstance(messenger, FileSource):
            files = messenger  # the Matrix adapter also fetches the files people send
        self.dead_man = DeadMan(
            seconds=config.bot.dead_man_seconds,
            notices=notices,
            consult_log=consults,
            state=consults,
            renderer=self.renderer,
            queue=lambda outgoing: self.stepper.queue(outgoing),
        )
        self.stepper = Stepper(
            config=config,
            datasets=data,
            consult_log=consults,
            timers=timers,
            clock=clock,
            on_outbox=lambda: self.dispatcher.kick(),
            observers=(self.metrics.step, self.dead_man.step, self.changes.step),
        )
        self.dispatcher = Dispatcher(
            store=consults,
            messenger=messenger,
            renderer=self.renderer,
            questions=self.questions,
            clock=clock,
            tasks=self.tasks,
            admin_room=admin_room,
            admins=tuple(UserId(a) for a in config.bot.admins),
            reports=self.stepper,
            retry_delay=retry_delay,
            pool=pool,
        )
        self.admin_posts = AdminPosts(
            config=config,
            datasets=data,
            bot_state=consults,
            consult_log=consults,
            timers=timers,
            clock=clock,
            stepper=self.stepper,
        )
        self.inbox = Inbox(
            config=config,
            data=data,
            consults=consults,
            timers=timers,
            clock=clock,
            renderer=self.renderer,
            questions=self.questions,
            stepper=self.stepper,
            files=files,
            admin_room=lambda: self.dispatcher.rooms.admin_room,
            changed=self.changes.notify,
        )
        self.metrics.attach(outbox=self.dispatcher)

        self.retention = Retention(
            config=config,
            retention=consults,
            consult_log=consults,
            timers=timers,
            clock=clock,
            tasks=self.tasks,
            on_outbox=self.dispatcher.kick,
            questions=self.questions,
        )
        self.reminders = DutyReminders(
            config=config,
            datasets=data,
            reminder_log=consults,
            timers=timers,
            clock=clock,
            renderer=self.renderer,
            on_outbox=self.dispatcher.kick,
        )

    @property
    def admin_room(self) -> str:
        """The room admin alerts go to ("" for a private room with each admin)."""
        return self.dispatcher.rooms.admin_room

    @admin_room.setter
    def admin_room(self, room: str) -> None:
        self.dispatcher.rooms.admin_room = room

    async def start(self) -> None:
        """Rebuild every timer from the database and send whatever the outbox still holds."""
        await self.dispatcher.rooms.own_private_rooms()
        self.dispatcher.effects.name_open_rooms(await self.stepper.start())
        await self.inbox.handovers.start()  # the answer deadlines of open handover offers
        await self.reminders.start()
        self.dispatcher.kick()
