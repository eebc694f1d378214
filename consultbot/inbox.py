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
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from consultbot.config import Config
from consultbot.domain import commands as cmd
from consultbot.domain import escalation as esc
from consultbot.domain import repeats
from consultbot.domain.acknowledgement import acknowledges
from consultbot.domain.catalogue import Catalogue, Service
from consultbot.domain.codec import effect_to_dict
from consultbot.domain.events import AckVia
from consultbot.domain.people import search_directory
from consultbot.domain.types import ConsultId, ServiceId, ServiceKind, Track, UserId
from consultbot.outbox import content_to_dict
from consultbot.ports import (
    Clock,
    ConflictError,
    ConsultStore,
    DataStore,
    IncomingMessage,
    IncomingReaction,
    OutboxKind,
    Outgoing,
    Timers,
)
from consultbot.questions import Questions
from consultbot.render import chat_names
from consultbot.views import ConsultRenderer, service_name

log = logging.getLogger(__name__)

MAX_STEP_ATTEMPTS = 5


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


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
    ) -> None:
        self.config = config
        self.data = data
        self.consults = consults
        self.timers = timers
        self.clock = clock
        self.tz = config.bot.timezone
        self._renderer = renderer
        self._questions = questions
        self._on_outbox = on_outbox
        self._locks: defaultdict[ConsultId, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._requesters: defaultdict[UserId, asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- start-up ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild every timer from the database."""
        for consult in await self.consults.open_consults():
            self._schedule(consult)

    def policy(self, track: Track) -> esc.Policy:
        """The timing rules of `track`."""
        return esc.Policy(
            ack_timeout=_seconds(self.config.tracks[track].ack_timeout_seconds),
            reminder_after=_seconds(self.config.bot.reminder_after_seconds),
            auto_close_after=_seconds(self.config.bot.auto_close_after_seconds),
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
                await self._reply(message.room, "error", handled=message.event_id)
            except Exception:
                log.exception("could not report the failure of %s", message.event_id)

    async def handle_reaction(self, reaction: IncomingReaction) -> None:
        """A ✅ or 👍 in a consult room acknowledges it (if the escalation says it may)."""
        if await self.consults.is_handled(reaction.event_id):
            return
        try:
            consult_id = await self.consults.consult_for_room(reaction.room)
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
            )
            await self.step(consult_id, timer)
        except Exception:
            log.exception("timer of %s failed", consult_id)

    # -- the one way consults change ----------------------------------------------------------

    async def step(
        self, consult_id: ConsultId, given: esc.Input, *, handled: str | None = None
    ) -> esc.Consult | None:
        """Apply `given` to the consult and record the result; return the consult after it."""
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
                        consult_id, len(events), new_events, outgoing, handled=handled, now=now
                    )
                except ConflictError:
                    continue
                updated = esc.fold([*events, *new_events]) if events or new_events else None
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

    async def _reply(self, room: str, template: str, *, handled: str | None, **params: Any) -> None:
        content = self._renderer.render(template, **params)
        payload = content_to_dict(content)
        await self._send(
            [Outgoing(kind=OutboxKind.SEND, room=room, payload=payload)], handled=handled
        )

    async def refuse_invite(self, room: str, inviter: str) -> None:
        """Answer an invite from a disallowed server with a notice, then leave the room."""
        servers = ", ".join(self.config.bot.allowed_servers)
        content = self._renderer.render("refused_server", servers=servers)
        await self._send(
            [
                Outgoing(kind=OutboxKind.SEND, room=room, payload=content_to_dict(content)),
                Outgoing(kind=OutboxKind.LEAVE, room=room, payload={}),
            ],
            handled=None,
        )

    def allowed(self, user: str) -> bool:
        """True for users on one of the allowed homeservers."""
        if not user.startswith("@") or ":" not in user:
            return False
        return user.split(":", 1)[1] in self.config.bot.allowed_servers

    async def _message(self, message: IncomingMessage) -> None:
        if not self.allowed(message.sender):
            servers = ", ".join(self.config.bot.allowed_servers)
            await self._reply(
                message.room, "refused_server", handled=message.event_id, servers=servers
            )
            return
        if cmd.contains_personal_number(message.body):
            await self._redact_personal_number(message)
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

    async def _redact_personal_number(self, message: IncomingMessage) -> None:
        content = self._renderer.render("pnr_redacted")
        room = message.room
        await self._send(
            [
                Outgoing(kind=OutboxKind.REDACT, room=room, payload={"event_id": message.event_id}),
                Outgoing(kind=OutboxKind.SEND, room=room, payload=content_to_dict(content)),
            ],
            handled=message.event_id,
        )

    async def _command(self, message: IncomingMessage, command: cmd.Command) -> None:
        room, event = message.room, message.event_id
        match command:
            case cmd.Ask():
                await self._ask(message, command)
            case cmd.Who():
                await self._who(room, command.service, handled=event)
            case cmd.Contact():
                entries = search_directory(await self.data.directory(), command.query)
                await self._reply(
                    room, "contact", handled=event, entries=entries, query=command.query
                )
            case cmd.Status():
                await self._status(room, message.sender, handled=event)
            case cmd.Help():
                await self._reply(room, "help", handled=event)
            case cmd.Queue():
                await self._queue(message)
            case cmd.Acknowledge() | cmd.PassOn() | cmd.Close() | cmd.Call():
                await self._reply(room, "consult_room_only", handled=event)
            case cmd.Invalid():
                await self._reply(room, "invalid", handled=event, reason=command.reason.value)
            case _:
                await self._reply(room, "not_available", handled=event, command=command.name)

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
                await self.step(consult_id, esc.PassOnBy(user=user, duty=duty), handled=event)
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
            case _:
                await self._command(message, command)

    # -- commands -------------------------------------------------------------------------------

    def _find_service(self, catalogue: Catalogue, name: str, track: Track) -> Service | None:
        service = catalogue.find(name)
        if service is None and track is Track.PRIMARVARD:
            wanted = name.casefold()
            matches = [
                s
                for s in catalogue.services
                if s.kind is ServiceKind.PRIMARY_CARE and s.municipality.casefold() == wanted
            ]
            service = matches[0] if matches else None
        return service

    async def _ask(self, message: IncomingMessage, command: cmd.Ask) -> None:
        catalogue = await self.data.catalogue()
        service = self._find_service(catalogue, command.service, command.track)
        if service is None:
            await self._reply(
                message.room, "unknown_service", handled=message.event_id, service=command.service
            )
            return
        if command.track not in service.tracks:
            names = chat_names()["track"][command.track.value]
            await self._reply(
                message.room,
                "no_track",
                handled=message.event_id,
                service_name=service.name,
                switchboard=service.switchboard,
                track_name_sv=names["sv"],
                track_name_en=names["en"],
            )
            return
        async with self._requesters[message.sender]:
            now = self.clock.now()
            verdict = await self._judge(message.sender, service.id, command, now)
            if isinstance(verdict, repeats.Repeat):
                log.info("consult %s asked again by its requester: one consult", verdict.consult)
                await self._reply(
                    message.room, "repeat", handled=message.event_id, consult=verdict.consult
                )
                return
            if isinstance(verdict, repeats.Limited):
                log.info("request refused: %d consults within the limit window", verdict.count)
                await self._reply(
                    message.room,
                    "request_limit",
                    handled=message.event_id,
                    count=verdict.count,
                    minutes=max(1, self.config.bot.request_limit_seconds // 60),
                    switchboard=service.switchboard,
                )
                return
            await self._new_consult(message, command, service, now)

    async def _judge(
        self, user: UserId, service: ServiceId, command: cmd.Ask, now: datetime
    ) -> repeats.Verdict:
        """Is this request new, the same as one just made, or one too many?"""
        bot = self.config.bot
        limits = repeats.Limits(
            repeat_window=_seconds(bot.repeat_window_seconds),
            limit=bot.request_limit,
            limit_window=_seconds(bot.request_limit_seconds),
        )
        horizon = now - max(limits.repeat_window, limits.limit_window)
        recent = await self.consults.consults_between(horizon, now + timedelta(seconds=1))
        mine = [c for c in recent if c.requester == user]
        earlier = [repeats.Earlier(c.id, c.service, c.track, c.requested_at, None) for c in mine]
        near = {e.consult for e in repeats.candidates(earlier, service, command.track, now, limits)}
        earlier = [
            replace(e, text=await self._questions.text(c)) if e.consult in near else e
            for e, c in zip(earlier, mine, strict=True)
        ]
        return repeats.judge(
            earlier,
            service=service,
            track=command.track,
            text=command.text,
            now=now,
            limits=limits,
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
            await self._reply(message.room, "nothing_to_queue", handled=message.event_id)
            return
        queue = esc.QueueBy(user=message.sender)
        await self.step(offered[0].id, queue, handled=message.event_id)

    async def _who(self, room: str, name: str, *, handled: str) -> None:
        service = (await self.data.catalogue()).find(name)
        if service is None:
            await self._reply(room, "unknown_service", handled=handled, service=name)
            return
        duty = await self.data.on_duty(service.id, self.clock.now())
        levels = [
            (level, [{"user": s.user, "name": s.name, "phone": s.phone} for s in shifts])
            for level, shifts in duty.levels
        ]
        await self._reply(
            room,
            "who",
            handled=handled,
            service_name=service.name,
            levels=levels,
            switchboard=service.switchboard,
        )

    async def _status(self, room: str, user: UserId, *, handled: str) -> None:
        catalogue = await self.data.catalogue()
        consults = [
            {
                "id": c.id,
                "service_name": service_name(catalogue, c.service),
                "state": c.state.value,
                "level": c.level,
            }
            for c in await self.consults.consults_of(user)
        ]
        await self._reply(room, "status", handled=handled, consults=consults)
