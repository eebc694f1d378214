"""The inbox: Matrix messages, reactions and timers in; one recorded step per input.

An input becomes either a consult step or a plain reply:

- a consult step: the inbox resolves what the pure state machine needs at this instant (who is
  on duty, whether the track is open), calls `escalation.step`, and records the new events, the
  effects (as outbox entries) and the id of the Matrix event that caused them in ONE
  transaction (`ConsultStore.record`). The step is checked against the log's length and steps
  of one consult are serialised by a lock, so an acknowledgement and an escalation can never
  both win. The consult's timer is then moved to its new deadline.
- a plain reply (`!vem`, `!kontakt`, `!status`, usage hints, refusals): one outbox entry,
  recorded with the id of the message it answers.

Every Matrix event is handled at most once (`is_handled`). Nothing is sent from here: the
outbox (outbox.py) sends what was recorded, told by `on_outbox` that there is something new.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from consultbot.config import Config
from consultbot.domain.chat import audience
from consultbot.domain.chat import commands as cmd
from consultbot.domain.chat.personal_numbers import contains_personal_number
from consultbot.domain.consult import conference, repeats
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.acknowledgement import acknowledges
from consultbot.domain.consult.codec import effect_to_dict
from consultbot.domain.consult.events import AckVia, Event
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.handover import HandoverState
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.duty.people import search_directory
from consultbot.domain.duty.service_search import find_service
from consultbot.domain.files.validation import servers_of
from consultbot.domain.types import ConsultId, ServiceId, Track, UserId
from consultbot.engine.admin.chat import AdminChat
from consultbot.engine.admin.off_loop import full_collections_postponed
from consultbot.engine.delivery.outbox import content_to_dict
from consultbot.engine.handovers import HandoverDesk
from consultbot.engine.questions import Questions
from consultbot.ports import (
    Clock,
    ConflictError,
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
from consultbot.text.render import chat_names
from consultbot.text.views import ConsultRenderer, service_name

log = logging.getLogger(__name__)

MAX_STEP_ATTEMPTS = 5
REFUSAL_INTERVAL = timedelta(hours=1)  # one notice per room to users on servers not allowed

# Told of every recorded step: the consult before, the new log entries, the consult after
# (consultbot/engine/metrics.py counts from it). At start-up, each open consult with no entries.
StepObserver = Callable[[esc.Consult | None, Sequence[Event], esc.Consult | None], None]


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


class _NoFiles(FileSource):
    """For a service without a messenger that can fetch files: every fetch fails."""

    async def fetch_file(self, file: IncomingFile, *, max_bytes: int) -> bytes:
        raise OSError("this messenger cannot fetch files")


def _typed_command(message: IncomingMessage) -> str:
    """The command word as the person wrote it (`vc`, `pc`, `who` …), for examples."""
    match = re.match(r"\s*!(\S+)", message.body)
    return match.group(1).casefold() if match else ""


def _language(message: IncomingMessage) -> str:
    """English for someone who wrote an English alias; otherwise "" (the config's language)."""
    return "en" if cmd.written_in_english(message.body) else ""


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
        on_outbox: Callable[[], None],
        files: FileSource | None = None,
        admin_room: Callable[[], str] = str,
        on_step: StepObserver | None = None,
    ) -> None:
        self.config = config
        self._on_step = on_step
        self.data = data
        self.consults = consults
        self.timers = timers
        self.clock = clock
        self.tz = config.bot.timezone
        self._renderer = renderer
        self._questions = questions
        self._on_outbox = on_outbox
        self._locks: defaultdict[ConsultId, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.admin = AdminChat(
            config=config,
            data=data,
            files=files or _NoFiles(),
            clock=clock,
            reply=self._reply,
            admin_room=admin_room,
        )
        self.handovers = HandoverDesk(
            config=config,
            data=data,
            consults=consults,
            timers=timers,
            clock=clock,
            renderer=renderer,
            on_outbox=on_outbox,
        )
        self._requesters: defaultdict[UserId, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._refused: dict[str, datetime] = {}  # room → when someone not allowed was answered

    # -- start-up ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild every timer from the database, and fire the deadlines that passed while the
        bot was down here, before the sync loop starts: a restart's first sync (hundreds of
        rooms) must not hold up an overdue escalation."""
        now = self.clock.now()
        overdue: list[ConsultId] = []
        for consult in await self.consults.open_consults():
            self._schedule(consult)
            if consult.deadline is not None and consult.deadline <= now:
                overdue.append(consult.id)
            if self._on_step is not None:
                self._on_step(None, (), consult)
        await self.handovers.start()
        for consult_id in overdue:  # its timer, fired later, finds the new deadline: a no-op
            await self.on_timer(consult_id)

    def policy(self, track: Track) -> esc.Policy:
        """The timing rules of `track`."""
        return esc.Policy(
            ack_timeout=_seconds(self.config.tracks[track].ack_timeout_seconds),
            reminder_after=_seconds(self.config.bot.reminder_after_seconds),
            auto_close_after=_seconds(self.config.bot.auto_close_after_seconds),
            meeting_reminder_before=_seconds(self.config.tracks[track].meeting_reminder_seconds),
        )

    def _schedule(self, consult: esc.Consult) -> None:
        if consult.deadline is None:
            self.timers.cancel(consult.id)
            return
        consult_id = consult.id
        self.timers.schedule(consult_id, consult.deadline, lambda: self.on_timer(consult_id))

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
                await self._reply(
                    message.room, "error", handled=message.event_id, language=_language(message)
                )
            except Exception:
                log.exception("could not report the failure of %s", message.event_id)

    async def handle_file(self, file: IncomingFile) -> None:
        """A file: an admin's data file in a direct chat or the admin room (see admin_chat.py)."""
        if await self.consults.is_handled(file.event_id):
            return
        try:
            if any(map(contains_personal_number, file.other_text)):
                await self._redact_personal_number(file.room, file.event_id)
                return
            if not self.allowed(file.sender) or not self.admin.wants(file):
                await self._handled(file.event_id)
                return
            # The check's result (thousands of shifts) lives until the answer is sent.
            with full_collections_postponed():
                await self.admin.file(file)
        except Exception:
            log.exception("handling file %s in %s failed", file.event_id, file.room)
            try:
                await self._reply(file.room, "error", handled=file.event_id)
            except Exception:
                log.exception("could not report the failure of %s", file.event_id)

    async def handle_invite(self, invite: IncomingInvite) -> None:
        """An invite of someone on a server that is not allowed into a consult room is undone."""
        if await self.consults.is_handled(invite.event_id):
            return
        try:
            if await self.consults.consult_for_room(invite.room) is None:
                await self._handled(invite.event_id)
                return
            log.info("withdrawing an invite from a disallowed server in %s", invite.room)
            notice = self._renderer.render(
                "invite_undone",
                inviter=invite.inviter,
                invitee=invite.invitee,
                servers=", ".join(self.config.bot.allowed_servers),
            )
            await self._send(
                [
                    Outgoing(
                        kind=OutboxKind.KICK,
                        room=invite.room,
                        payload={"user": invite.invitee, "reason": "server not allowed"},
                    ),
                    Outgoing(
                        kind=OutboxKind.SEND, room=invite.room, payload=content_to_dict(notice)
                    ),
                ],
                handled=invite.event_id,
            )
        except Exception:
            log.exception("handling invite %s in %s failed", invite.event_id, invite.room)

    async def handle_vote(self, vote: IncomingVote) -> None:
        """A vote in the outcome poll closes the consult with that outcome, as `!avsluta`."""
        if await self.consults.is_handled(vote.event_id):
            return
        try:
            consult_id = await self.consults.consult_for_room(vote.room)
            consult = await self.consults.consult(consult_id) if consult_id else None
            if (
                consult is None
                or vote.outcome is None  # a vote taken back, or for no outcome offered
                or vote.poll != consult.poll
                or consult.state in (esc.State.CLOSED, esc.State.WITHDRAWN)
            ):
                await self._handled(vote.event_id)
                return
            close = esc.CloseBy(user=vote.sender, outcome=vote.outcome)
            await self.step(consult.id, close, handled=vote.event_id)
        except Exception:
            log.exception("handling vote %s in %s failed", vote.event_id, vote.room)

    async def handle_reaction(self, reaction: IncomingReaction) -> None:
        """A ✅ or 👍 in a consult room acknowledges it (if the escalation says it may). A
        reaction's key is free text people see: one with a personnummer is redacted first."""
        if await self.consults.is_handled(reaction.event_id):
            return
        try:
            if contains_personal_number(reaction.key):
                await self._redact_personal_number(
                    reaction.room, reaction.event_id, tell=not reaction.unfit
                )
                return
            consult_id = await self.consults.consult_for_room(reaction.room)
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
                await self._handled(reaction.event_id)
                return
            ack = esc.AckBy(user=reaction.sender, via=AckVia.REACTION)
            await self.step(consult_id, ack, handled=reaction.event_id)
        except Exception:
            log.exception("handling reaction %s in %s failed", reaction.event_id, reaction.room)

    async def on_timer(self, consult_id: ConsultId) -> None:
        """A consult's deadline: escalate, open a queued consult, remind, or auto-close."""
        try:
            consult = await self.consults.consult(consult_id)
            if consult is None or consult.deadline is None:
                return
            now = self.clock.now()
            if now < consult.deadline:
                self._schedule(consult)
                return
            hours = self.config.tracks[consult.track].hours
            timer = esc.Timer(
                duty=await self.data.on_duty(consult.service, now),
                open_now=hours.is_open(now, self.tz),
                opens_at=hours.next_opening(now, self.tz),
                duties=await self._duties(consult),
            )
            await self.step(consult_id, timer)
        except Exception:
            log.exception("timer of %s failed", consult_id)

    # -- the one way consults change ----------------------------------------------------------

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
        async with self._locks[consult_id]:
            for _ in range(MAX_STEP_ATTEMPTS):
                events = await self.consults.events(consult_id)
                consult = esc.fold(events) if events else None
                track = given.track if isinstance(given, esc.Request) else None
                policy = self.policy(track or (consult.track if consult else Track.HALVAKUT))
                now = self.clock.now()
                new_events, effects = esc.step(consult, given, now, policy)
                outgoing = [
                    Outgoing(kind=OutboxKind.EFFECT, consult=consult_id, payload=effect_to_dict(e))
                    for e in effects
                ]
                try:
                    await self.consults.record(
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
                    self._schedule(updated)
                if outgoing:
                    self._on_outbox()
                return updated
        raise ConflictError(f"{consult_id}: could not store the step")

    # -- replies that are not consult steps -----------------------------------------------------

    async def _handled(self, event_id: str) -> None:
        await self.consults.record(None, 0, [], [], handled=event_id, now=self.clock.now())

    async def _send(self, outgoing: list[Outgoing], *, handled: str | None) -> None:
        await self.consults.record(None, 0, [], outgoing, handled=handled, now=self.clock.now())
        self._on_outbox()

    async def _reply(
        self, room: str, template: str, *, handled: str | None, language: str = "", **params: Any
    ) -> None:
        content = self._renderer.render(template, language=language, **params)
        payload = content_to_dict(content)
        await self._send(
            [Outgoing(kind=OutboxKind.SEND, room=room, payload=payload)], handled=handled
        )

    async def _private_reply(
        self, message: IncomingMessage, template: str, *, language: str, **params: Any
    ) -> None:
        """An answer with staff numbers. Whether the room may see them is decided when it is
        sent (outbox.py): if not, the answer goes to the asker's direct chat and the room gets
        it without the numbers, saying where they went."""
        answer = self._renderer.render(template, language=language, **params)
        withheld = self._renderer.render(template, language=language, withheld="dm", **params)
        payload = content_to_dict(answer) | {
            "asker": message.sender,
            "numbers": True,
            "withheld": content_to_dict(withheld),
        }
        await self._send(
            [Outgoing(kind=OutboxKind.SEND, room=message.room, payload=payload)],
            handled=message.event_id,
        )

    async def _unfit_room(self, message: IncomingMessage) -> None:
        """A message in a room a user opened that the bot may not answer in (domain/audience.py):
        nothing is answered; the outbox tells the asker once and leaves a room unfit for good."""
        log.info("not answering in %s: %s", message.room, ", ".join(message.unfit))
        asker = message.sender if self.allowed(message.sender) else ""
        payload = {"asker": asker, "faults": [str(f) for f in message.unfit]}
        await self._send(
            [Outgoing(kind=OutboxKind.UNFIT, room=message.room, payload=payload)],
            handled=message.event_id,
        )

    def allowed(self, user: str) -> bool:
        """True for users on one of `bot.allowed_servers` (SPEC §4: requesters must be on
        these), server names read as the room checks read them: case-insensitive, with a port."""
        server = audience.server_of(user)
        return bool(server) and server in self._servers

    @functools.cached_property
    def _servers(self) -> frozenset[str]:
        return servers_of(self.config.bot.allowed_servers)

    async def _message(self, message: IncomingMessage) -> None:
        # First, whoever wrote it and whatever kind of message it is: a personnummer in the
        # room is removed even from someone who may not use the bot.
        if any(map(contains_personal_number, (message.body, *message.other_text))):
            # A room the bot may not answer in (domain/audience.py) loses the number all the
            # same, without a word.
            await self._redact_personal_number(
                message.room, message.event_id, tell=not message.unfit
            )
            return
        if message.read_only:
            await self._handled(message.event_id)
            return
        if not self.allowed(message.sender):
            await self._refuse_server(message)
            return
        if message.unfit:
            await self._unfit_room(message)
            return
        command = cmd.parse_command(message.body)
        consult_id = await self.consults.consult_for_room(message.room)
        if consult_id is not None:
            await self._in_consult_room(consult_id, message, command)
            return
        if command is None:
            if message.direct:
                await self._reply(message.room, "hint", handled=message.event_id)
            else:
                await self._handled(message.event_id)
            return
        await self._command(message, command)

    async def _refuse_server(self, message: IncomingMessage) -> None:
        """Someone on a server not allowed: one notice per room per hour (SPEC §6), the other
        lines only marked handled, so nobody can make the bot answer line for line. Kept in
        memory: a restart may give one more notice, which is harmless."""
        now = self.clock.now()
        last = self._refused.get(message.room)
        if last is not None and now - last < REFUSAL_INTERVAL:
            await self._handled(message.event_id)
            return
        for room, at in list(self._refused.items()):  # only the last hour's rooms are kept
            if now - at >= REFUSAL_INTERVAL:
                del self._refused[room]
        self._refused[message.room] = now
        servers = ", ".join(self.config.bot.allowed_servers)
        await self._reply(message.room, "refused_server", handled=message.event_id, servers=servers)

    async def _redact_personal_number(self, room: str, event_id: str, *, tell: bool = True) -> None:
        """Redact the event; with `tell`, say why in the room."""
        outgoing = [Outgoing(kind=OutboxKind.REDACT, room=room, payload={"event_id": event_id})]
        if tell:
            content = self._renderer.render("pnr_redacted")
            outgoing.append(
                Outgoing(kind=OutboxKind.SEND, room=room, payload=content_to_dict(content))
            )
        await self._send(outgoing, handled=event_id)

    async def _command(self, message: IncomingMessage, command: cmd.Command) -> None:
        room, event = message.room, message.event_id
        language = _language(message)
        match command:
            case cmd.Ask():
                await self._ask(message, command)
            case cmd.Who() if not command.service:
                services = (await self.data.catalogue()).services
                await self._reply(
                    room, "services", handled=event, language=language, services=services
                )
            case cmd.Who():
                service = await self._lookup(message, command.service, None)
                if service is not None:
                    await self._who(message, service, language=language)
            case cmd.Contact():
                entries = search_directory(await self.data.directory(), command.query)
                await self._private_reply(
                    message, "contact", language=language, entries=entries, query=command.query
                )
            case cmd.Status():
                await self._status(room, message.sender, handled=event, language=language)
            case cmd.Help():
                await self._reply(room, "help", handled=event, language=language)
            case cmd.Queue():
                await self._queue(message)
            case cmd.Activate() | cmd.Cancel() | cmd.Rollback():
                with full_collections_postponed():
                    await self.admin.command(
                        command, user=message.sender, room=room, handled=event, language=language
                    )
            case cmd.Conference():
                await self._convene(message, command)
            case cmd.Invalid(
                command="mdk",
                reason=(
                    cmd.Reason.MISSING_SERVICE
                    | cmd.Reason.TOO_FEW_SERVICES
                    | cmd.Reason.MISSING_TEXT
                ),
            ):
                missing_text = command.reason is cmd.Reason.MISSING_TEXT
                await self._refuse_conference(
                    message, conference.Convened(), missing_text=missing_text
                )
            case cmd.Meeting():
                await self._reply(room, "meeting_conference_only", handled=event, language=language)
            case cmd.Acknowledge() | cmd.PassOn() | cmd.Close() | cmd.Call():
                await self._reply(room, "consult_room_only", handled=event, language=language)
            case cmd.Stats():
                await self._stats(message, command)
            case cmd.HandOver():
                await self.handovers.offer(message, command, language)
            case cmd.Accept() | cmd.Decline():
                state = (
                    HandoverState.ACCEPTED
                    if isinstance(command, cmd.Accept)
                    else HandoverState.DECLINED
                )
                await self.handovers.answer(
                    message.sender, state, room=room, handled=event, language=language
                )
            case cmd.Invalid():
                await self._reply(
                    room,
                    "invalid",
                    handled=event,
                    language=language,
                    reason=command.reason.value,
                    limit=cmd.MAX_BODY_LENGTH,
                )

    async def _in_consult_room(
        self, consult_id: ConsultId, message: IncomingMessage, command: cmd.Command | None
    ) -> None:
        """Chat in a consult room: an answer or a consult command becomes a step."""
        user, event = message.sender, message.event_id
        match command:
            case None:
                ack = esc.AckBy(user=user, via=AckVia.MESSAGE)
                await self.step(consult_id, ack, handled=event)
            case cmd.Acknowledge():
                ack = esc.AckBy(user=user, via=AckVia.COMMAND)
                await self.step(consult_id, ack, handled=event)
            case cmd.PassOn():
                consult = await self.consults.consult(consult_id)
                assert consult is not None
                duty = await self.data.on_duty(consult.service, self.clock.now())
                duties = await self._duties(consult)
                pass_on = esc.PassOnBy(user=user, duty=duty, duties=duties)
                await self.step(consult_id, pass_on, handled=event)
            case cmd.Close():
                close = esc.CloseBy(user=user, outcome=command.outcome)
                await self.step(consult_id, close, handled=event)
            case cmd.Call():
                consult = await self.consults.consult(consult_id)
                assert consult is not None
                member = await self.data.staff_member(consult.requester)
                phone = member.phone if member else ""
                call = esc.CallBy(user=user, requester_phone=phone)
                await self.step(consult_id, call, handled=event)
            case cmd.Meeting():
                meeting = command.at.replace(tzinfo=self.tz).astimezone(UTC)
                await self.step(
                    consult_id, esc.MeetingBy(user=user, meeting=meeting), handled=event
                )
            case _:
                await self._command(message, command)

    # -- commands -------------------------------------------------------------------------------

    def _find_service(self, catalogue: Catalogue, name: str, track: Track) -> Service | None:
        return find_service(catalogue, name, track).service

    async def _lookup(
        self, message: IncomingMessage, typed: str, track: Track | None
    ) -> Service | None:
        """The service `typed` names; else answer (which of several, or the closest) and None."""
        found = find_service(await self.data.catalogue(), typed, track)
        if found.service is not None:
            return found.service
        language = _language(message)
        if found.candidates:
            await self._reply(
                message.room,
                "ambiguous_service",
                handled=message.event_id,
                language=language,
                service=typed,
                candidates=found.candidates,
                command=_typed_command(message),
            )
            return None
        await self._reply(
            message.room,
            "unknown_service",
            handled=message.event_id,
            language=language,
            service=typed,
            suggestion=found.suggestion,
        )
        return None

    async def _ask(self, message: IncomingMessage, command: cmd.Ask) -> None:
        service = await self._lookup(message, command.service, command.track)
        language = _language(message)
        if service is None:
            return
        if command.track not in service.tracks:
            names = chat_names(language or self._renderer.language)["track"]
            await self._reply(
                message.room,
                "no_track",
                handled=message.event_id,
                language=language,
                service_name=service.name,
                switchboard=service.switchboard,
                track_name=names[command.track.value],
            )
            return
        async with self._requesters[message.sender]:
            now = self.clock.now()
            verdict = await self._judge(message.sender, (service.id,), command.track, command.text)
            if await self._refused_again(message, verdict, service.switchboard):
                return
            await self._new_consult(message, command, service, now)

    async def _refused_again(
        self, message: IncomingMessage, verdict: repeats.Verdict, switchboard: str
    ) -> bool:
        """Answer a repeat or one request too many (a consult or a conference) and say True;
        False for a new request."""
        language = _language(message)
        if isinstance(verdict, repeats.Repeat):
            log.info("consult %s asked again by its requester: one consult", verdict.consult)
            await self._reply(
                message.room,
                "repeat",
                handled=message.event_id,
                language=language,
                consult=verdict.consult,
            )
            return True
        if isinstance(verdict, repeats.Limited):
            log.info("request refused: %d consults within the limit window", verdict.count)
            await self._reply(
                message.room,
                "request_limit",
                handled=message.event_id,
                language=language,
                count=verdict.count,
                minutes=max(1, self.config.bot.request_limit_seconds // 60),
                switchboard=switchboard,
            )
            return True
        return False

    async def _judge(
        self, user: UserId, services: tuple[ServiceId, ...], track: Track, text: str
    ) -> repeats.Verdict:
        """Is this request (a consult of one service, a conference of several) new, the same
        as one just made, or one too many? Every consult and conference counts alike."""
        bot, now = self.config.bot, self.clock.now()
        limits = repeats.Limits(
            repeat_window=_seconds(bot.repeat_window_seconds),
            limit=bot.request_limit,
            limit_window=_seconds(bot.request_limit_seconds),
        )
        group = frozenset(services) if track is Track.MDK else frozenset()
        horizon = now - max(limits.repeat_window, limits.limit_window)
        recent = await self.consults.consults_between(horizon, now + timedelta(seconds=1))
        mine = [c for c in recent if c.requester == user]
        earlier = [
            repeats.Earlier(
                c.id, c.service, c.track, c.requested_at, None, c.is_open, frozenset(c.services)
            )
            for c in mine
        ]
        near = {
            e.consult for e in repeats.candidates(earlier, services[0], track, now, limits, group)
        }
        earlier = [
            replace(e, text=await self._questions.text(c)) if e.consult in near else e
            for e, c in zip(earlier, mine, strict=True)
        ]
        return repeats.judge(
            earlier,
            service=services[0],
            track=track,
            text=text,
            now=now,
            limits=limits,
            services=group,
        )

    async def _new_consult(
        self, message: IncomingMessage, command: cmd.Ask, service: Service, now: datetime
    ) -> None:
        consult_id = await self.consults.allocate_consult(now=now)
        self._questions.remember(consult_id, command.text)
        hours = self.config.tracks[command.track].hours
        open_now = hours.is_open(now, self.tz)
        request = esc.Request(
            consult_id=consult_id,
            requester=message.sender,
            service=service.id,
            track=command.track,
            request_room=message.room,
            request_event=message.event_id,
            duty=await self.data.on_duty(service.id, now),
            open_now=open_now,
            opens_at=None if open_now else hours.next_opening(now, self.tz),
            language=_language(message),
        )
        log.info("consult %s requested: %s via %s", consult_id, service.id, command.track.value)
        await self.step(consult_id, request, handled=message.event_id)

    async def _queue(self, message: IncomingMessage) -> None:
        offered = [
            c
            for c in await self.consults.consults_of(message.sender)
            if c.state is esc.State.OFFERED and c.request_room == message.room
        ]
        if not offered:
            await self._reply(
                message.room,
                "nothing_to_queue",
                handled=message.event_id,
                language=_language(message),
            )
            return
        queue = esc.QueueBy(user=message.sender)
        await self.step(offered[0].id, queue, handled=message.event_id)

    async def _stats(self, message: IncomingMessage, command: cmd.Stats) -> None:
        """`!statistik [YYYY-MM]`: admins get the month's report (table and chart) where they
        asked, made when it is sent; anyone else a refusal and no numbers."""
        language = _language(message)
        if message.sender not in self.config.bot.admins:
            await self._reply(
                message.room, "stats_refused", handled=message.event_id, language=language
            )
            return
        month = command.month or f"{self.clock.now().astimezone(self.tz):%Y-%m}"
        payload = {"month": month, "language": language, "monthly": False}
        await self._send(
            [Outgoing(kind=OutboxKind.REPORT, room=message.room, payload=payload)],
            handled=message.event_id,
        )

    async def _who(self, message: IncomingMessage, service: Service, *, language: str) -> None:
        duty = await self.data.on_duty(service.id, self.clock.now())
        levels = [
            (level, [{"user": s.user, "name": s.name, "phone": s.phone} for s in shifts])
            for level, shifts in duty.levels
        ]
        await self._private_reply(
            message,
            "who",
            language=language,
            service_name=service.name,
            levels=levels,
            switchboard=service.switchboard,
        )

    async def _status(self, room: str, user: UserId, *, handled: str, language: str) -> None:
        catalogue = await self.data.catalogue()
        consults = [
            {
                "id": c.id,
                "service_name": ", ".join(
                    service_name(catalogue, s) for s in (c.services or (c.service,))
                ),
                "state": c.state.value,
                "level": c.level,
            }
            for c in await self.consults.consults_of(user)
        ]
        await self._reply(room, "status", handled=handled, language=language, consults=consults)

    # -- conferences (!mdk, !möte) --------------------------------------------------------------

    async def _duties(self, consult: esc.Consult) -> dict[ServiceId, OnDuty]:
        """Who is on duty now at each service of a conference (nothing for a consult)."""
        now = self.clock.now()
        return {s: await self.data.on_duty(s, now) for s in consult.services}

    async def _convene(self, message: IncomingMessage, command: cmd.Conference) -> None:
        convened = conference.convene(await self.data.catalogue(), command.services)
        if not convened.ok:
            await self._refuse_conference(message, convened)
            return
        now = self.clock.now()
        hours = self.config.tracks[Track.MDK].hours
        language = _language(message)
        if not hours.is_open(now, self.tz):
            await self._reply(
                message.room,
                "mdk_closed",
                handled=message.event_id,
                language=language,
                hours=self._renderer.chat.hours(hours, language),
                services=[
                    {"name": s.name, "switchboard": s.switchboard} for s in convened.services
                ],
            )
            return
        services = tuple(s.id for s in convened.services)
        async with self._requesters[message.sender]:
            verdict = await self._judge(message.sender, services, Track.MDK, command.text)
            if await self._refused_again(message, verdict, convened.services[0].switchboard):
                return
            await self._new_conference(message, command, services)

    async def _new_conference(
        self, message: IncomingMessage, command: cmd.Conference, services: tuple[ServiceId, ...]
    ) -> None:
        now, language = self.clock.now(), _language(message)
        consult_id = await self.consults.allocate_consult(now=now)
        self._questions.remember(consult_id, command.text)
        duties = {s: await self.data.on_duty(s, now) for s in services}
        url = self.config.tracks[Track.MDK].meeting_url.replace("{consult}", consult_id)
        request = esc.Request(
            consult_id=consult_id,
            requester=message.sender,
            service=services[0],
            track=Track.MDK,
            request_room=message.room,
            request_event=message.event_id,
            duty=duties[services[0]],
            open_now=True,
            language=language,
            services=services,
            duties=duties,
            meeting_url=url,
        )
        log.info("conference %s requested: %s", consult_id, ", ".join(services))
        await self.step(consult_id, request, handled=message.event_id)

    async def _refuse_conference(
        self, message: IncomingMessage, convened: conference.Convened, *, missing_text: bool = False
    ) -> None:
        """Why a `!mdk` cannot be convened, and which services can."""
        available = (
            convened.available or conference.convene(await self.data.catalogue(), ()).available
        )
        await self._reply(
            message.room,
            "mdk_refused",
            handled=message.event_id,
            language=_language(message),
            unknown=list(convened.unknown),
            without_mdk=[s.name for s in convened.without_mdk],
            named=[s.name for s in convened.services],
            available=[{"id": s.id, "name": s.name} for s in available],
            missing_text=missing_text,
        )
