"""The inbox: Matrix messages, reactions and votes in; one recorded step or reply per input.

An input becomes either a consult step or a plain reply:

- a consult step: what the pure state machine needs at this instant (who is on duty, whether
  the track is open) is resolved into an input (`escalation.Input`) and handed to the stepper
  (engine/stepper.py), which steps it and records it with the id of the Matrix event that
  caused it, in ONE transaction;
- a plain reply (`!vem`, `!kontakt`, `!status`, usage hints, refusals): one outbox entry,
  queued by the stepper with the id of the message it answers (desk.py).

This module asks guard.py who may write (a personnummer is redacted first), parses a message
and hands it on: requests and consult-room commands (consults.py), plain answers (answers.py),
handovers (handovers.py), admins' data files (admin/chat.py), calendar feeds
(admin/feed_chat.py); reactions, votes and invites it
handles itself. Each input is handled at most once and never raises: the sync loop must go on.

Nothing is sent from here: the outbox (outbox.py) sends what was recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from consultbot.config import Config
from consultbot.domain.chat import commands as cmd
from consultbot.domain.chat.personal_numbers import contains_personal_number
from consultbot.domain.consult import conference, escalation as esc
from consultbot.domain.consult.acknowledgement import acknowledges
from consultbot.domain.consult.events import AckVia
from consultbot.domain.duty.handover import HandoverState
from consultbot.domain.duty.people import search_directory
from consultbot.engine.admin.chat import AdminChat
from consultbot.engine.admin.feed_chat import FeedChat
from consultbot.engine.admin.off_loop import full_collections_postponed
from consultbot.engine.delivery.content import content_to_dict
from consultbot.engine.feeds import FeedDesk
from consultbot.engine.handovers import HandoverDesk
from consultbot.engine.intake import answers
from consultbot.engine.intake.consults import Requests
from consultbot.engine.intake.desk import Desk, language
from consultbot.engine.intake.guard import Guard
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
    OutboxKind,
    Outgoing,
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
        changed: Callable[[str], None] = lambda what: None,
    ) -> None:
        """`changed` is told when a data set or a handover changed (the board's live update)."""
        self._desk = desk = Desk(
            config=config,
            data=data,
            consults=consults,
            clock=clock,
            renderer=renderer,
            questions=questions,
            stepper=stepper,
        )
        self.admin = AdminChat(
            config=config,
            datasets=data,
            uploads=data,
            admin_log=data,
            files=files or _NoFiles(),
            clock=clock,
            reply=desk.reply,
            admin_room=admin_room,
            changed=changed,
        )
        self.feeds = FeedChat(
            config=config,
            desk=FeedDesk(feeds=data, datasets=data, admin_log=data, base_url=config.web.base_url),
            admin_log=data,
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
            changed=changed,
        )
        self._requests = Requests(desk)
        self.consults = consults  # read by tests/integration/failover_bot.py: was it recorded?
        self._guard = Guard(desk)

    @property
    def config(self) -> Config:
        """The configuration the inbox reads (tests put in another)."""
        return self._desk.config

    @config.setter
    def config(self, config: Config) -> None:
        self._desk.config = config

    def allowed(self, user: str) -> bool:
        """True for users on one of `bot.allowed_servers` (guard.py)."""
        return self._guard.allowed(user)

    # -- incoming events --------------------------------------------------------------------

    async def handle_message(self, message: IncomingMessage) -> None:
        """Handle one text message, at most once. Never raises: the sync loop must go on."""
        if await self._desk.consults.is_handled(message.event_id):
            return
        try:
            await self._message(message)
        except Exception:
            # No message body in logs: only where and what kind of failure.
            log.exception("handling %s in %s failed", message.event_id, message.room)
            try:
                await self._desk.answer(message, "error")
            except Exception:
                log.exception("could not report the failure of %s", message.event_id)

    async def handle_file(self, file: IncomingFile) -> None:
        """A file: an admin's data file in a direct chat or the admin room (see admin_chat.py)."""
        if await self._desk.consults.is_handled(file.event_id):
            return
        try:
            if any(map(contains_personal_number, file.other_text)):
                await self._guard.redact_personal_number(file.room, file.event_id)
                return
            if not self.allowed(file.sender) or not self.admin.wants(file):
                await self._desk.stepper.queue((), handled=file.event_id)
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
        """An invite of someone on a server that is not allowed into a consult room is undone."""
        desk = self._desk
        if await desk.consults.is_handled(invite.event_id):
            return
        try:
            if await desk.consults.consult_for_room(invite.room) is None:
                await desk.stepper.queue((), handled=invite.event_id)
                return
            log.info("withdrawing an invite from a disallowed server in %s", invite.room)
            notice = desk.renderer.render(
                "invite_undone",
                inviter=invite.inviter,
                invitee=invite.invitee,
                servers=", ".join(desk.config.bot.allowed_servers),
            )
            kick = {"user": invite.invitee, "reason": "server not allowed"}
            outgoing = [
                Outgoing(kind=OutboxKind.KICK, room=invite.room, payload=kick),
                Outgoing(kind=OutboxKind.SEND, room=invite.room, payload=content_to_dict(notice)),
            ]
            await desk.stepper.queue(outgoing, handled=invite.event_id)
        except Exception:
            log.exception("handling invite %s in %s failed", invite.event_id, invite.room)

    async def handle_vote(self, vote: IncomingVote) -> None:
        """A vote in the outcome poll closes the consult with that outcome, as `!avsluta`."""
        store, stepper = self._desk.consults, self._desk.stepper
        if await store.is_handled(vote.event_id):
            return
        try:
            consult_id = await store.consult_for_room(vote.room)
            consult = await store.consult(consult_id) if consult_id else None
            if (
                consult is None
                or vote.outcome is None  # a vote taken back, or for no outcome offered
                or vote.poll != consult.poll
                or consult.state in (esc.State.CLOSED, esc.State.WITHDRAWN)
            ):
                await stepper.queue((), handled=vote.event_id)
                return
            # The path's outcomes as the active catalogue has them (docs/decisions.md).
            offered = (await self._desk.data.catalogue()).outcomes(consult.track)
            close = esc.CloseBy(user=vote.sender, outcome=vote.outcome, offered=offered)
            await stepper.step(consult.id, close, handled=vote.event_id)
        except Exception:
            log.exception("handling vote %s in %s failed", vote.event_id, vote.room)

    async def handle_reaction(self, reaction: IncomingReaction) -> None:
        """A ✅ or 👍 in a consult room acknowledges it (if the escalation says it may). A
        reaction's key is free text people see: one with a personnummer is redacted first."""
        store, stepper = self._desk.consults, self._desk.stepper
        if await store.is_handled(reaction.event_id):
            return
        try:
            if contains_personal_number(reaction.key):
                await self._guard.redact_personal_number(
                    reaction.room, reaction.event_id, tell=not reaction.unfit
                )
                return
            consult_id = await store.consult_for_room(reaction.room)
            if (
                consult_id is None
                and acknowledges(reaction.key)
                and await self.handovers.offered_in(reaction.sender, reaction.room)
            ):
                # ✅ on the bot's question in the private room: the handover is accepted.
                await self.handovers.answer(
                    reaction.sender,
                    HandoverState.ACCEPTED,
                    room=reaction.room,
                    handled=reaction.event_id,
                    language="",
                )
                return
            if consult_id is None or not acknowledges(reaction.key):
                await stepper.queue((), handled=reaction.event_id)
                return
            ack = esc.AckBy(user=reaction.sender, via=AckVia.REACTION)
            await stepper.step(consult_id, ack, handled=reaction.event_id)
        except Exception:
            log.exception("handling reaction %s in %s failed", reaction.event_id, reaction.room)

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
            await self._desk.stepper.queue((), handled=message.event_id)
            return
        if not self.allowed(message.sender):
            await self._guard.refuse_server(message)
            return
        if message.unfit:
            await self._guard.unfit_room(message)
            return
        command = cmd.parse_command(message.body)
        consult_id = await self._desk.consults.consult_for_room(message.room)
        if consult_id is not None:
            if not await self._requests.in_consult_room(consult_id, message, command):
                assert command is not None  # an answer without a command is a step
                await self._command(message, command)
            return
        if command is None:
            if message.direct:
                await self._desk.reply(message.room, "hint", handled=message.event_id)
            else:
                await self._desk.stepper.queue((), handled=message.event_id)
            return
        await self._command(message, command)

    async def _outcomes_here(self, room: str, reason: cmd.Reason) -> dict[str, Any]:
        """For a bad `!avsluta`: the outcomes of the consult whose room it is, else of every
        path."""
        if reason not in (cmd.Reason.UNKNOWN_OUTCOME, cmd.Reason.MISSING_OUTCOME):
            return {}
        renderer, consults = self._desk.renderer, self._desk.consults
        consult_id = await consults.consult_for_room(room)
        consult = await consults.consult(consult_id) if consult_id else None
        if consult is not None:
            return {"outcomes": [o.value for o in await renderer.outcomes(consult)]}
        return {"outcome_paths": await renderer.outcome_paths()}

    async def _command(self, message: IncomingMessage, command: cmd.Command) -> None:
        desk, room, event, lang = self._desk, message.room, message.event_id, language(message)
        match command:
            case cmd.Ask():
                await self._requests.ask(message, command)
            case cmd.Who(service="") | cmd.ShowRoutine(service=""):
                catalogue = await desk.data.catalogue()
                services = [s for s in catalogue.services if not s.asks_only]
                routine = isinstance(command, cmd.ShowRoutine)
                await desk.answer(message, "services", services=services, routine=routine)
            case cmd.Who():
                service = await desk.lookup(message, command.service, None)
                if service is not None:
                    await answers.who(desk, message, service)
            case cmd.ShowRoutine():
                service = await desk.lookup(message, command.service, None)
                if service is not None:
                    await answers.routine(desk, message, service)
            case cmd.Contact():
                entries = search_directory(await desk.data.directory(), command.query)
                await desk.private_reply(message, "contact", entries=entries, query=command.query)
            case cmd.Status():
                await answers.status(desk, message)
            case cmd.Help():
                await desk.answer(
                    message, "help", outcome_paths=await desk.renderer.outcome_paths()
                )
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
                await desk.answer(message, "meeting_conference_only")
            case cmd.Acknowledge() | cmd.PassOn() | cmd.Close() | cmd.Call():
                await desk.answer(message, "consult_room_only")
            case cmd.Stats():
                await answers.stats(desk, message, command)
            case cmd.CalendarFeed():
                await self.feeds.command(message, command, language=lang)
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
                await desk.answer(
                    message,
                    "invalid",
                    reason=command.reason.value,
                    limit=cmd.MAX_BODY_LENGTH,
                    **await self._outcomes_here(message.room, command.reason),
                )
