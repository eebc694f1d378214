"""The inbox: Matrix messages, reactions and votes in; one recorded step or reply per input.

An input becomes either a consult step or a plain reply:

- a consult step: what the pure state machine needs at this instant (who is on duty, whether
  the track is open) is resolved into an input (`escalation.Input`) and handed to the stepper
  (engine/stepper.py), which steps it and records it with the id of the Matrix event that
  caused it, in ONE transaction;
- a plain reply (`!vem`, `!kontakt`, `!status`, usage hints, refusals): one outbox entry,
  queued by the stepper with the id of the message it answers (desk.py).

This module parses a message and hands it on: who may write and what is redacted (guard.py),
requests and consult-room commands (consults.py), answers (answers.py), reactions, votes and
invites (reactions.py), handovers (handovers.py), admins' data files (admin/chat.py).

Every Matrix event is handled at most once (`is_handled`). Nothing is sent from here: the
outbox (outbox.py) sends what was recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from consultbot.config import Config
from consultbot.domain.chat import commands as cmd
from consultbot.domain.chat.personal_numbers import contains_personal_number
from consultbot.domain.consult import conference
from consultbot.domain.duty.handover import HandoverState
from consultbot.domain.duty.people import search_directory
from consultbot.engine.admin.chat import AdminChat
from consultbot.engine.admin.off_loop import full_collections_postponed
from consultbot.engine.handovers import HandoverDesk
from consultbot.engine.intake.answers import Answers
from consultbot.engine.intake.consults import Requests
from consultbot.engine.intake.desk import Desk, language
from consultbot.engine.intake.guard import Guard
from consultbot.engine.intake.reactions import RoomEvents
from consultbot.engine.questions import Questions
from consultbot.engine.stepper import Stepper
from consultbot.ports import (
    Clock,
    ConsultStore,
    DataStore,
    FileSource,
    IncomingFile,
    IncomingInvite,
    IncomingMessage,
    IncomingReaction,
    IncomingVote,
    Timers,
)
from consultbot.text.views import ConsultRenderer

log = logging.getLogger(__name__)


class _NoFiles(FileSource):
    """For a service without a messenger that can fetch files: every fetch fails."""

    async def fetch_file(self, file: IncomingFile, *, max_bytes: int) -> bytes:
        raise OSError("this messenger cannot fetch files")


class Inbox:
    """Turns chat messages, reactions and timers into recorded consult steps and replies."""

    def __init__(
        self,
        *,
        config: Config,
        data: DataStore,
        consults: ConsultStore,
        timers: Timers,
        clock: Clock,
        renderer: ConsultRenderer,
        questions: Questions,
        stepper: Stepper,
        files: FileSource | None = None,
        admin_room: Callable[[], str] = str,
    ) -> None:
        self._desk = desk = Desk(
            config=config,
            data=data,
            consults=consults,
            clock=clock,
            renderer=renderer,
            questions=questions,
            stepper=stepper,
        )
        self.data = data
        self.consults = consults
        self.admin = AdminChat(
            config=config,
            datasets=data,
            uploads=data,
            admin_log=data,
            files=files or _NoFiles(),
            clock=clock,
            reply=desk.reply,
            admin_room=admin_room,
        )
        self.handovers = HandoverDesk(
            config=config,
            handovers=data,
            datasets=data,
            admin_log=data,
            bot_state=consults,
            timers=timers,
            clock=clock,
            renderer=renderer,
            stepper=stepper,
        )
        self._guard = Guard(desk)
        self._requests = Requests(desk, stepper)
        self._answers = Answers(desk)
        self._room_events = RoomEvents(desk, stepper, self._guard, self.handovers)

    @property
    def config(self) -> Config:
        """The configuration the inbox reads (tests put in another)."""
        return self._desk.config

    @config.setter
    def config(self, config: Config) -> None:
        self._desk.config = config

    async def start(self) -> None:
        """Rebuild the answer deadlines of open handover offers (the consults' timers are the
        stepper's)."""
        await self.handovers.start()

    def allowed(self, user: str) -> bool:
        """True for users on one of the allowed servers (see `Guard.allowed`)."""
        return self._guard.allowed(user)

    # -- incoming events --------------------------------------------------------------------

    async def handle_message(self, message: IncomingMessage) -> None:
        """Handle one text message, at most once. Never raises: the sync loop must go on."""
        if await self.consults.is_handled(message.event_id):
            return
        try:
            await self._message(message)
        except Exception:
            # No message body in logs: only where and what kind of failure.
            log.exception("handling %s in %s failed", message.event_id, message.room)
            try:
                await self._desk.reply(
                    message.room, "error", handled=message.event_id, language=language(message)
                )
            except Exception:
                log.exception("could not report the failure of %s", message.event_id)

    async def handle_file(self, file: IncomingFile) -> None:
        """A file: an admin's data file in a direct chat or the admin room (see admin_chat.py)."""
        if await self.consults.is_handled(file.event_id):
            return
        try:
            if any(map(contains_personal_number, file.other_text)):
                await self._guard.redact_personal_number(file.room, file.event_id)
                return
            if not self.allowed(file.sender) or not self.admin.wants(file):
                await self._desk.handled(file.event_id)
                return
            # The check's result (thousands of shifts) lives until the answer is sent.
            with full_collections_postponed():
                await self.admin.file(file)
        except Exception:
            log.exception("handling file %s in %s failed", file.event_id, file.room)
            try:
                await self._desk.reply(file.room, "error", handled=file.event_id)
            except Exception:
                log.exception("could not report the failure of %s", file.event_id)

    async def handle_invite(self, invite: IncomingInvite) -> None:
        """An invite of someone on a server not allowed (see `RoomEvents.invite`)."""
        await self._room_events.invite(invite)

    async def handle_vote(self, vote: IncomingVote) -> None:
        """A vote in the outcome poll (see `RoomEvents.vote`)."""
        await self._room_events.vote(vote)

    async def handle_reaction(self, reaction: IncomingReaction) -> None:
        """A reaction (see `RoomEvents.reaction`)."""
        await self._room_events.reaction(reaction)

    async def _message(self, message: IncomingMessage) -> None:
        # First, whoever wrote it and whatever kind of message it is: a personnummer in the
        # room is removed even from someone who may not use the bot.
        if any(map(contains_personal_number, (message.body, *message.other_text))):
            # A room the bot may not answer in (domain/audience.py) loses the number all the
            # same, without a word.
            await self._guard.redact_personal_number(
                message.room, message.event_id, tell=not message.unfit
            )
            return
        if message.read_only:
            await self._desk.handled(message.event_id)
            return
        if not self.allowed(message.sender):
            await self._guard.refuse_server(message)
            return
        if message.unfit:
            await self._guard.unfit_room(message)
            return
        command = cmd.parse_command(message.body)
        consult_id = await self.consults.consult_for_room(message.room)
        if consult_id is not None:
            if not await self._requests.in_consult_room(consult_id, message, command):
                assert command is not None  # an answer without a command is a step
                await self._command(message, command)
            return
        if command is None:
            if message.direct:
                await self._desk.reply(message.room, "hint", handled=message.event_id)
            else:
                await self._desk.handled(message.event_id)
            return
        await self._command(message, command)

    async def _command(self, message: IncomingMessage, command: cmd.Command) -> None:
        room, event = message.room, message.event_id
        lang, reply = language(message), self._desk.reply
        match command:
            case cmd.Ask():
                await self._requests.ask(message, command)
            case cmd.Who() if not command.service:
                services = (await self.data.catalogue()).services
                await reply(room, "services", handled=event, language=lang, services=services)
            case cmd.Who():
                service = await self._desk.lookup(message, command.service, None)
                if service is not None:
                    await self._answers.who(message, service, language=lang)
            case cmd.Contact():
                entries = search_directory(await self.data.directory(), command.query)
                await self._desk.private_reply(
                    message, "contact", language=lang, entries=entries, query=command.query
                )
            case cmd.Status():
                await self._answers.status(room, message.sender, handled=event, language=lang)
            case cmd.Help():
                await reply(room, "help", handled=event, language=lang)
            case cmd.Queue():
                await self._requests.queue(message)
            case cmd.Activate() | cmd.Cancel() | cmd.Rollback():
                with full_collections_postponed():
                    await self.admin.command(
                        command, user=message.sender, room=room, handled=event, language=lang
                    )
            case cmd.Conference():
                await self._requests.convene(message, command)
            case cmd.Invalid(
                command="mdk",
                reason=(
                    cmd.Reason.MISSING_SERVICE
                    | cmd.Reason.TOO_FEW_SERVICES
                    | cmd.Reason.MISSING_TEXT
                ),
            ):
                missing_text = command.reason is cmd.Reason.MISSING_TEXT
                await self._requests.refuse_conference(
                    message, conference.Convened(), missing_text=missing_text
                )
            case cmd.Meeting():
                await reply(room, "meeting_conference_only", handled=event, language=lang)
            case cmd.Acknowledge() | cmd.PassOn() | cmd.Close() | cmd.Call():
                await reply(room, "consult_room_only", handled=event, language=lang)
            case cmd.Stats():
                await self._answers.stats(message, command)
            case cmd.HandOver():
                await self.handovers.offer(message, command, lang)
            case cmd.Accept() | cmd.Decline():
                state = (
                    HandoverState.ACCEPTED
                    if isinstance(command, cmd.Accept)
                    else HandoverState.DECLINED
                )
                await self.handovers.answer(
                    message.sender, state, room=room, handled=event, language=lang
                )
            case cmd.Invalid():
                await reply(
                    room,
                    "invalid",
                    handled=event,
                    language=lang,
                    reason=command.reason.value,
                    limit=cmd.MAX_BODY_LENGTH,
                )
