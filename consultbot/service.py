"""The service layer: Matrix events and timers in, domain steps, effects out through the outbox.

Every change is one transaction: the consult's new events, the messages they cause (outbox)
and the id of the Matrix event that caused them. Messages are sent afterwards by the
`Dispatcher`, with transaction ids that stay the same across retries and restarts, so a page is
neither lost (it waits in the outbox) nor doubled (the homeserver drops a repeated
transaction id). Steps of one consult are serialised by a lock, so an acknowledgement and an
escalation can never both win.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from consultbot.adapters.codec import effect_from_dict, effect_to_dict
from consultbot.config import Config
from consultbot.domain import commands as cmd
from consultbot.domain import escalation as esc
from consultbot.domain.catalogue import Catalogue, Service
from consultbot.domain.people import search_directory
from consultbot.domain.types import ConsultId, ServiceId, ServiceKind, Track, UserId
from consultbot.ports import (
    Clock,
    ConflictError,
    ConsultStore,
    Content,
    DataStore,
    IncomingMessage,
    IncomingReaction,
    Messenger,
    OutboxItem,
    Outgoing,
    Timers,
)
from consultbot.render import ChatRenderer, chat_names

log = logging.getLogger(__name__)

ACK_REACTIONS = frozenset({"✅", "👍", "✔", "☑", "👌"})
MAX_DELIVERY_ATTEMPTS = 5


def normalise_reaction(key: str) -> str:
    """Drop variation selectors and skin tones, so 👍🏽 and ✔️ count like 👍 and ✔."""
    return "".join(
        ch
        for ch in unicodedata.normalize("NFC", key)
        if ch not in "\ufe0e\ufe0f" and not 0x1F3FB <= ord(ch) <= 0x1F3FF
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


class ConsultService:
    """Handles chat commands and timers for consults."""

    def __init__(
        self,
        *,
        config: Config,
        data: DataStore,
        consults: ConsultStore,
        messenger: Messenger,
        timers: Timers,
        clock: Clock,
    ) -> None:
        self.config = config
        self.data = data
        self.consults = consults
        self.messenger = messenger
        self.timers = timers
        self.clock = clock
        self.tz = config.bot.timezone
        self.chat = ChatRenderer(self.tz)
        self._locks: defaultdict[ConsultId, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Question texts live in memory only; after a restart they are read from Matrix again.
        self._questions: dict[ConsultId, str] = {}
        self.admin_room = config.bot.admin_room if config.bot.admin_room.startswith("!") else ""
        self.dispatcher = Dispatcher(self)

    # -- start-up ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild every timer from the database and send whatever the outbox still holds."""
        for consult in await self.consults.open_consults():
            self._schedule(consult)
        self.dispatcher.kick()

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
        """A ✅ or 👍 from a paged person in a consult room acknowledges it."""
        if await self.consults.is_handled(reaction.event_id):
            return
        try:
            consult_id = await self.consults.consult_for_room(reaction.room)
            if consult_id is None or normalise_reaction(reaction.key) not in ACK_REACTIONS:
                await self._handled(reaction.event_id)
                return
            command = esc.Acknowledge(user=reaction.sender, via="reaction")
            await self._step(consult_id, command, handled=reaction.event_id)
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
            command = esc.Timer(
                duty=await self.data.on_duty(consult.service, now),
                open_now=hours.is_open(now, self.tz),
                opens_at=hours.next_opening(now, self.tz),
            )
            await self._step(consult_id, command)
        except Exception:
            log.exception("timer of %s failed", consult_id)

    # -- the one way consults change ----------------------------------------------------------

    async def _step(
        self, consult_id: ConsultId, command: esc.Input, *, handled: str | None = None
    ) -> esc.Consult | None:
        async with self._locks[consult_id]:
            for _ in range(5):
                events = await self.consults.events(consult_id)
                consult = esc.fold(events) if events else None
                track = command.track if isinstance(command, esc.Request) else None
                policy = self.policy(track or (consult.track if consult else Track.HALVAKUT))
                now = self.clock.now()
                new_events, effects = esc.step(consult, command, now, policy)
                outgoing = [
                    Outgoing(kind="effect", consult=consult_id, payload=effect_to_dict(e))
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
                    self.dispatcher.kick()
                return updated
        raise ConflictError(f"{consult_id}: could not store the step")

    async def note_room(self, consult_id: ConsultId, room: str) -> None:
        """Record the consult room created for a consult (once)."""
        async with self._locks[consult_id]:
            events = await self.consults.events(consult_id)
            if esc.fold(events).room:
                return
            event = esc.Event(kind="room_created", at=self.clock.now(), data={"room": room})
            await self.consults.record(consult_id, len(events), [event], [], now=event.at)

    # -- replies that are not consult steps -----------------------------------------------------

    async def _handled(self, event_id: str) -> None:
        await self.consults.record(None, 0, [], [], handled=event_id, now=self.clock.now())

    async def _reply(self, room: str, template: str, *, handled: str | None, **params: Any) -> None:
        content = self.chat.render(template, **params)
        await self.consults.record(
            None,
            0,
            [],
            [Outgoing(kind="send", room=room, payload=content_to_dict(content))],
            handled=handled,
            now=self.clock.now(),
        )
        self.dispatcher.kick()

    async def refuse_invite(self, room: str, inviter: str) -> None:
        """Answer an invite from a disallowed server with a notice, then leave the room."""
        servers = ", ".join(self.config.bot.allowed_servers)
        content = self.chat.render("refused_server", servers=servers)
        await self.consults.record(
            None,
            0,
            [],
            [
                Outgoing(kind="send", room=room, payload=content_to_dict(content)),
                Outgoing(kind="leave", room=room, payload={}),
            ],
            now=self.clock.now(),
        )
        self.dispatcher.kick()

    def allowed(self, user: str) -> bool:
        """True for users on one of the allowed homeservers."""
        return user.split(":", 1)[-1] in self.config.bot.allowed_servers

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
        content = self.chat.render("pnr_redacted")
        await self.consults.record(
            None,
            0,
            [],
            [
                Outgoing(kind="redact", room=message.room, payload={"event_id": message.event_id}),
                Outgoing(kind="send", room=message.room, payload=content_to_dict(content)),
            ],
            handled=message.event_id,
            now=self.clock.now(),
        )
        self.dispatcher.kick()

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
        user, event = message.sender, message.event_id
        match command:
            case None:
                await self._step(
                    consult_id, esc.Acknowledge(user=user, via="message"), handled=event
                )
            case cmd.Acknowledge():
                await self._step(
                    consult_id, esc.Acknowledge(user=user, via="command"), handled=event
                )
            case cmd.PassOn():
                consult = await self.consults.consult(consult_id)
                assert consult is not None
                duty = await self.data.on_duty(consult.service, self.clock.now())
                await self._step(consult_id, esc.PassOn(user=user, duty=duty), handled=event)
            case cmd.Close():
                await self._step(
                    consult_id, esc.Close(user=user, outcome=command.outcome), handled=event
                )
            case cmd.Call():
                consult = await self.consults.consult(consult_id)
                assert consult is not None
                member = await self.data.staff_member(consult.requester)
                phone = member.phone if member else ""
                await self._step(
                    consult_id, esc.Call(user=user, requester_phone=phone), handled=event
                )
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
        consult_id = await self.consults.allocate_consult()
        self._questions[consult_id] = command.text
        now = self.clock.now()
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
        await self._step(consult_id, request, handled=message.event_id)

    async def _queue(self, message: IncomingMessage) -> None:
        offered = [
            c
            for c in await self.consults.consults_of(message.sender)
            if c.state is esc.State.OFFERED and c.request_room == message.room
        ]
        if not offered:
            await self._reply(message.room, "nothing_to_queue", handled=message.event_id)
            return
        await self._step(offered[0].id, esc.Queue(user=message.sender), handled=message.event_id)

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
                "service_name": _service_name(catalogue, c.service),
                "state": c.state.value,
                "level": c.level,
            }
            for c in await self.consults.consults_of(user)
        ]
        await self._reply(room, "status", handled=handled, consults=consults)

    # -- what the dispatcher needs ----------------------------------------------------------------

    async def question(self, consult: esc.Consult) -> str | None:
        """The question's text: from memory, else read again from the requester's message."""
        text = self._questions.get(consult.id)
        if text is not None:
            return text
        body = await self.messenger.message_text(consult.request_room, consult.request_event)
        parsed = cmd.parse_command(body) if body else None
        if isinstance(parsed, cmd.Ask):
            self._questions[consult.id] = parsed.text
            return parsed.text
        return None

    async def view(self, consult: esc.Consult) -> dict[str, Any]:
        """What the chat templates may say about a consult: metadata only."""
        catalogue = await self.data.catalogue()
        service = catalogue.find(consult.service)
        member = await self.data.staff_member(consult.requester)
        unit = _service_name(catalogue, member.unit) if member else ""
        names = chat_names()["track"][consult.track.value]
        hours = self.config.tracks[consult.track].hours
        return {
            "id": consult.id,
            "service_id": consult.service,
            "service_name": service.name if service else consult.service,
            "switchboard": service.switchboard if service else "",
            "track": consult.track.value,
            "track_name_sv": names["sv"],
            "track_name_en": names["en"],
            "hours_sv": self.chat.hours_sv(hours),
            "room_name": room_name(consult),
            "requester": consult.requester,
            "requester_name": member.name if member else consult.requester,
            "requester_unit": unit,
            "requester_phone": member.phone if member else "",
            "levels": consult.level,
        }


def room_name(consult: esc.Consult) -> str:
    """The consult room's name: number and service id, never anything about the patient."""
    return f"{consult.id} {consult.service}"


def _service_name(catalogue: Catalogue, service: ServiceId | str) -> str:
    found = catalogue.find(service)
    return found.name if found else str(service)


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


def _overtaken(consult: esc.Consult, effect: esc.Effect) -> bool:
    """True for a page (or its escalation notice) that an ack or a close has made moot."""
    paging = isinstance(effect, esc.PageLevel | esc.CreateRoom)
    if not paging and not (isinstance(effect, esc.Notice) and effect.template == "escalating"):
        return False
    if consult.state in (esc.State.CLOSED, esc.State.WITHDRAWN):
        return True
    # The first page and its room stand: whoever acknowledged was paged by them.
    first = isinstance(effect, esc.CreateRoom) or (
        isinstance(effect, esc.PageLevel) and effect.first
    )
    return consult.acked_by is not None and not first


def _critical(item: OutboxItem) -> bool:
    return item.kind == "effect" and item.payload.get("type") in ("PageLevel", "CreateRoom")


class Dispatcher:
    """Sends what the outbox holds, in order per consult (or per room), retrying until done."""

    def __init__(self, service: ConsultService) -> None:
        self.service = service
        self._wake = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._attempts: defaultdict[int, int] = defaultdict(int)

    def kick(self) -> None:
        """Something new is in the outbox."""
        self._wake.set()

    @staticmethod
    def _lane(item: OutboxItem) -> str:
        # Replies to the requester go in a lane of their own, so that a confirmation in the
        # direct chat never holds up a page (and a slow page never holds up a confirmation).
        if item.consult is None:
            return f"room:{item.room}"
        if item.kind == "effect" and item.payload.get("type") == "Reply":
            return f"{item.consult}:reply"
        return item.consult

    async def run(self) -> None:
        """Run until cancelled; rescans every second so that nothing waits on a missed kick."""
        while True:
            try:
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                pending = await self.service.consults.pending()
            except Exception:
                log.exception("reading the outbox failed")
                continue
            lanes = {self._lane(item) for item in pending}
            for lane in lanes - set(self._workers):
                self._workers[lane] = asyncio.create_task(self._drain(lane), name=f"outbox {lane}")

    async def stop(self) -> None:
        """Cancel the workers (what they did not send stays in the outbox)."""
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _drain(self, lane: str) -> None:
        try:
            while True:
                items = [i for i in await self.service.consults.pending() if self._lane(i) == lane]
                if not items:
                    return
                for item in items:
                    if not await self._try(item):
                        await asyncio.sleep(min(5.0, 0.2 * self._attempts[item.id]))
                        break
        finally:
            self._workers.pop(lane, None)
            self._wake.set()

    async def _try(self, item: OutboxItem) -> bool:
        store = self.service.consults
        try:
            await self.deliver(item)
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
        await store.sent(item.id, now=self.service.clock.now())
        self._attempts.pop(item.id, None)
        return True

    async def deliver(self, item: OutboxItem) -> None:
        """Carry out one outbox item."""
        messenger = self.service.messenger
        if item.kind == "send":
            await messenger.send(item.room, content_from_dict(item.payload), txn=item.txn)
        elif item.kind == "redact":
            removed = await messenger.redact(
                item.room, item.payload["event_id"], reason="personnummer", txn=item.txn
            )
            if not removed:
                content = self.service.chat.render("pnr_not_redacted")
                await messenger.send(item.room, content, txn=f"{item.txn}-n")
        elif item.kind == "leave":
            await messenger.leave(item.room)
        elif item.kind == "effect" and item.consult is not None:
            await self._effect(item.consult, effect_from_dict(item.payload), item.txn)
        else:
            raise ValueError(f"unknown outbox item kind {item.kind!r}")

    async def _effect(self, consult_id: ConsultId, effect: esc.Effect, txn: str) -> None:
        service = self.service
        consult = await service.consults.consult(consult_id)
        if consult is None:
            raise ValueError(f"no consult {consult_id}")
        if _overtaken(consult, effect):
            # Acknowledged or closed after this escalation was decided: a page now would
            # reach someone who is no longer needed. No page goes out after an ack.
            log.info("consult %s: escalation overtaken by %s; not sent", consult.id, consult.state)
            return
        view = await service.view(consult)
        messenger = service.messenger
        match effect:
            case esc.Reply():
                content = service.chat.render(effect.template, c=view, **effect.params)
                await messenger.send(consult.request_room, content, txn=txn)
            case esc.CreateRoom():
                if not consult.room:
                    room = await messenger.create_room(
                        key=f"{consult.id}",
                        name=room_name(consult),
                        topic=service.chat.render("topic", c=view).text,
                        invite=effect.invite,
                    )
                    await service.note_room(consult.id, room)
            case esc.PageLevel():
                await self._page(consult, effect, view, txn)
            case esc.Notice():
                room = consult.room or consult.request_room
                content = service.chat.render(effect.template, c=view, **effect.params)
                await messenger.send(room, content, txn=txn)
            case esc.AlertAdmins():
                content = service.chat.render(effect.template, c=view, **effect.params)
                for n, room in enumerate(await self._admin_rooms()):
                    await messenger.send(room, content, txn=f"{txn}-{n}")

    async def _admin_rooms(self) -> list[str]:
        """The admin room, or else a private room with each admin (created once)."""
        service = self.service
        if service.admin_room:
            return [service.admin_room]
        rooms = []
        for admin in service.config.bot.admins:
            key = f"admin-{hashlib.sha256(admin.encode()).hexdigest()[:12]}"
            room = await service.consults.get_meta(key)
            if room is None:
                room = await service.messenger.create_room(
                    key=key,
                    name="Konsultbot – admin",
                    topic=service.chat.render("admin_topic").text,
                    invite=(UserId(admin),),
                )
                await service.consults.set_meta(key, room)
            rooms.append(room)
        if not rooms:
            log.warning("an admin alert, but neither admin_room nor admins are configured")
        return rooms

    async def _page(
        self, consult: esc.Consult, effect: esc.PageLevel, view: dict[str, Any], txn: str
    ) -> None:
        service = self.service
        if not consult.room:
            raise RuntimeError(f"{consult.id}: no consult room yet")
        users = tuple(p.user for p in effect.people)
        if not effect.first:
            await service.messenger.invite(consult.room, users)
        question = await service.question(consult)
        if question is None:
            question = service.chat.render("question_unavailable", c=view).text
        content = service.chat.render(
            "page",
            notice=False,
            mentions=users,
            c=view,
            people=[asdict(p) for p in effect.people],
            level=effect.level,
            question=question,
        )
        await service.messenger.send(
            consult.room, content, txn=txn, recipients=(*users, consult.requester)
        )
        log.info("consult %s: paged level %d (%d people)", consult.id, effect.level, len(users))


__all__: Sequence[str] = ("ConsultService", "Dispatcher")
