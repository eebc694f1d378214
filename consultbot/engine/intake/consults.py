"""Requests and consult-room commands: `!konsult` and its kin, `!kö`, `!mdk`, and in a consult
room an answer, `!kvittera`, `!vidare`, `!avsluta`, `!ring` and `!möte`, each a consult step.

A request is judged first (domain/repeats.py): the same one again, or one too many within the
limit window, is answered and not asked; requests of one person are judged one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, timedelta

from consultbot.domain.chat import commands as cmd
from consultbot.domain.consult import conference, escalation as esc, repeats
from consultbot.domain.consult.events import AckVia
from consultbot.domain.consult.requester import frozen_requester
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.matrix import open_instead, path_hours
from consultbot.domain.types import ConsultId, RequesterKind, ServiceId, Track, UserId
from consultbot.engine.delivery.content import content_to_dict
from consultbot.engine.intake.desk import Desk, language
from consultbot.ports import IncomingMessage, OutboxKind, Outgoing

log = logging.getLogger(__name__)

UNLISTED_HINT = "unlisted-hint:"  # + Matrix id: the meta key saying they were told


class Requests:
    """New consults and conferences, and the commands of a consult room."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk
        self._stepper = desk.stepper
        self._requesters: defaultdict[UserId, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def ask(self, message: IncomingMessage, command: cmd.Ask) -> None:
        """`!konsult SERVICE text` and its kin: a new consult, unless judged a repeat or over
        the limit."""
        desk = self._desk
        catalogue = await desk.data.catalogue()  # one version for the whole request
        service = await desk.lookup(message, command.service, command.track, catalogue)
        if service is None:
            return
        if command.track not in service.tracks:
            await desk.answer(
                message,
                "no_track",
                service_name=service.name,
                switchboard=service.switchboard,
                track=command.track.value,
            )
            return
        async with self._requesters[message.sender]:
            unit, kind, unlisted = await self._requester(message.sender, catalogue)
            if await self._closed_to(message, service, command.track, kind):
                return
            now = desk.clock.now()
            verdict = await self._judge(message.sender, (service.id,), command.track, command.text)
            if await self._refused_again(message, verdict, service.switchboard):
                return
            consult_id = await desk.consults.allocate_consult(now=now)
            desk.questions.remember(consult_id, command.text)
            hours = path_hours(service, command.track, desk.config.hours_of())
            open_now = hours.is_open(now, desk.tz)
            request = esc.Request(
                consult_id=consult_id,
                requester=message.sender,
                service=service.id,
                track=command.track,
                request_room=message.room,
                request_event=message.event_id,
                duty=await desk.data.on_duty(service.id, now),
                open_now=open_now,
                opens_at=None if open_now else hours.next_opening(now, desk.tz),
                language=language(message),
                unit=unit,
                requester_kind=kind,
            )
            log.info("consult %s requested: %s via %s", consult_id, service.id, command.track.value)
            await self._stepper.step(consult_id, request, handled=message.event_id)
            if unlisted:
                await self._tell_unlisted(message)

    async def _closed_to(
        self, message: IncomingMessage, service: Service, track: Track, kind: str
    ) -> bool:
        """When the service's routine keeps `track` closed to the requester's kind: answer with
        the paths open to them instead (no page goes out) and say True."""
        requester = RequesterKind(kind)
        if service.routine(track).open_for(requester):
            return False
        log.info("request refused: %s via %s is closed to %s", service.id, track.value, kind)
        instead = open_instead(await self._desk.data.catalogue(), service, requester)
        await self._desk.answer(
            message,
            "path_closed",
            service_name=service.name,
            service_id=service.id,
            switchboard=service.switchboard,
            track=track.value,
            kind=kind,
            instead=[t.value for t in instead.tracks],
            primary_care=instead.primary_care,
        )
        return True

    async def _refused_again(
        self, message: IncomingMessage, verdict: repeats.Verdict, switchboard: str
    ) -> bool:
        """Answer a repeat or one request too many (a consult or a conference) and say True;
        False for a new request."""
        if isinstance(verdict, repeats.Repeat):
            log.info("consult %s asked again by its requester: one consult", verdict.consult)
            await self._desk.answer(message, "repeat", consult=verdict.consult)
            return True
        if isinstance(verdict, repeats.Limited):
            log.info("request refused: %d consults within the limit window", verdict.count)
            await self._desk.answer(
                message,
                "request_limit",
                count=verdict.count,
                minutes=max(1, self._desk.config.bot.request_limit_seconds // 60),
                switchboard=switchboard,
            )
            return True
        return False

    async def _judge(
        self, user: UserId, services: tuple[ServiceId, ...], track: Track, text: str
    ) -> repeats.Verdict:
        """Is this request (a consult of one service, a conference of several) new, the same
        as one just made, or one too many? Every consult and conference counts alike."""
        bot, now = self._desk.config.bot, self._desk.clock.now()
        limits = repeats.Limits(
            repeat_window=timedelta(seconds=bot.repeat_window_seconds),
            limit=bot.request_limit,
            limit_window=timedelta(seconds=bot.request_limit_seconds),
        )
        group = frozenset(services) if track is Track.MDK else frozenset()
        horizon = now - max(limits.repeat_window, limits.limit_window)
        mine = await self._desk.consults.asked_by(user, horizon)
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
            replace(e, text=await self._desk.questions.text(c)) if e.consult in near else e
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

    async def queue(self, message: IncomingMessage) -> None:
        """`!kö`: the consult offered to be queued in this room is queued."""
        offered = [
            c
            for c in await self._desk.consults.consults_of(message.sender)
            if c.state is esc.State.OFFERED and c.request_room == message.room
        ]
        if not offered:
            await self._desk.answer(message, "nothing_to_queue")
            return
        queue = esc.QueueBy(user=message.sender)
        await self._stepper.step(offered[0].id, queue, handled=message.event_id)

    # -- conferences (!mdk, !möte) --------------------------------------------------------------

    async def convene(self, message: IncomingMessage, command: cmd.Conference) -> None:
        """`!mdk SERVICES text`: a conference, if its services have one and it is open."""
        desk = self._desk
        convened = conference.convene(await desk.data.catalogue(), command.services)
        if not convened.ok:
            await self.refuse_conference(message, convened)
            return
        now = desk.clock.now()
        hours = desk.config.tracks[Track.MDK].hours
        if not hours.is_open(now, desk.tz):
            await desk.answer(
                message,
                "mdk_closed",
                hours=desk.renderer.chat.hours(hours, language(message)),
                services=[
                    {"name": s.name, "switchboard": s.switchboard} for s in convened.services
                ],
            )
            return
        services = tuple(s.id for s in convened.services)
        async with self._requesters[message.sender]:
            unit, kind, unlisted = await self._requester(message.sender)
            for service in convened.services:
                if await self._closed_to(message, service, Track.MDK, kind):
                    return
            verdict = await self._judge(message.sender, services, Track.MDK, command.text)
            if await self._refused_again(message, verdict, convened.services[0].switchboard):
                return
            now = desk.clock.now()
            consult_id = await desk.consults.allocate_consult(now=now)
            desk.questions.remember(consult_id, command.text)
            duties = {s: await desk.data.on_duty(s, now) for s in services}
            url = desk.config.tracks[Track.MDK].meeting_url.replace("{consult}", consult_id)
            request = esc.Request(
                consult_id=consult_id,
                requester=message.sender,
                service=services[0],
                track=Track.MDK,
                request_room=message.room,
                request_event=message.event_id,
                duty=duties[services[0]],
                open_now=True,
                language=language(message),
                services=services,
                duties=duties,
                meeting_url=url,
                unit=unit,
                requester_kind=kind,
            )
            log.info("conference %s requested: %s", consult_id, ", ".join(services))
            await self._stepper.step(consult_id, request, handled=message.event_id)
            if unlisted:
                await self._tell_unlisted(message)

    # -- who asks -------------------------------------------------------------------------------

    async def _requester(
        self, user: UserId, catalogue: Catalogue | None = None
    ) -> tuple[str, str, bool]:
        """The requester's unit and kind, frozen at request time (domain/consult/requester.py)
        by `catalogue` (else the active one), and whether they are missing from an active staff
        list and not yet told so."""
        data = self._desk.data
        member = await data.staff_member(user)
        unit, kind = frozen_requester(
            member.unit if member else None,
            await data.catalogue() if catalogue is None else catalogue,
        )
        unlisted = (
            member is None
            and await self._desk.consults.get_meta(UNLISTED_HINT + user) is None
            and bool(await data.staff())  # with no staff list at all, nobody is missing
        )
        return unit, kind.value, unlisted

    async def _tell_unlisted(self, message: IncomingMessage) -> None:
        """One short hint, once ever per person, in their direct chat: ask an admin to add
        them to the staff list (their consults count as okänd until then)."""
        desk = self._desk
        # Remembered first: at most once, also across a restart.
        await desk.consults.set_meta(UNLISTED_HINT + message.sender, "told")
        content = desk.renderer.render("unlisted_requester", language=language(message))
        hint = Outgoing(
            kind=OutboxKind.DIRECT, room=message.sender, payload=content_to_dict(content)
        )
        await self._stepper.queue([hint])

    async def refuse_conference(
        self, message: IncomingMessage, convened: conference.Convened, *, missing_text: bool = False
    ) -> None:
        """Why a `!mdk` cannot be convened, and which services can."""
        available = (
            convened.available
            or conference.convene(await self._desk.data.catalogue(), ()).available
        )
        await self._desk.answer(
            message,
            "mdk_refused",
            unknown=list(convened.unknown),
            without_mdk=[s.name for s in convened.without_mdk],
            named=[s.name for s in convened.services],
            available=[{"id": s.id, "name": s.name} for s in available],
            missing_text=missing_text,
        )

    # -- in a consult room ------------------------------------------------------------------------

    async def in_consult_room(
        self, consult_id: ConsultId, message: IncomingMessage, command: cmd.Command | None
    ) -> bool:
        """Chat in a consult room: an answer or a consult command becomes a step. False for
        any other command (answered as anywhere else)."""
        user, event = message.sender, message.event_id
        step, desk = self._stepper.step, self._desk
        match command:
            case None:
                await step(consult_id, esc.AckBy(user=user, via=AckVia.MESSAGE), handled=event)
            case cmd.Acknowledge():
                await step(consult_id, esc.AckBy(user=user, via=AckVia.COMMAND), handled=event)
            case cmd.PassOn():
                consult = await desk.consults.consult(consult_id)
                assert consult is not None
                duty = await desk.data.on_duty(consult.service, desk.clock.now())
                duties = await self._stepper.duties(consult)
                pass_on = esc.PassOnBy(user=user, duty=duty, duties=duties)
                await step(consult_id, pass_on, handled=event)
            case cmd.Close():
                consult = await desk.consults.consult(consult_id)
                assert consult is not None
                offered = (await desk.data.catalogue()).outcomes(consult.track)
                close = esc.CloseBy(user=user, outcome=command.outcome, offered=offered)
                await step(consult_id, close, handled=event)
            case cmd.Call():
                consult = await desk.consults.consult(consult_id)
                assert consult is not None
                member = await desk.data.staff_member(consult.requester)
                phone = member.phone if member else ""
                call = esc.CallBy(user=user, requester_phone=phone)
                await step(consult_id, call, handled=event)
            case cmd.Meeting():
                meeting = command.at.replace(tzinfo=desk.tz).astimezone(UTC)
                await step(consult_id, esc.MeetingBy(user=user, meeting=meeting), handled=event)
            case _:
                return False
        return True
