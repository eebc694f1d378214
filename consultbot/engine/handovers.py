"""Handovers by chat: `!lämna`, `!acceptera`, `!avböj`, ✅ on the bot's question, and lapses.

The person on duty offers their current duties (every service and level they are on duty for
now) to a colleague, who is asked in a private room with the bot. Nothing changes until the
colleague accepts; a decline or no answer within `bot.handover_answer_seconds` (10 min)
leaves the duty where it was, and the offerer is told. An admin's `!lämna @FROM @TO [HH:MM]`
hands FROM's duty to TO at once.

Every handover is a row in the store (who, to whom, which duty, from when to when, offered by
whom and when, answered when, and how); the stores lay the accepted ones over the roster, so
pages and `!vem` see them (domain/handover.py). The answer deadline is a timer rebuilt from
the database at start, and an answer and a lapse can never both win (`decide_handover`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from consultbot.config import Config
from consultbot.domain.chat.commands import HandOver
from consultbot.domain.chat.matrix_ids import normalise_matrix_id
from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.handover import Handover, HandoverState, until
from consultbot.domain.types import UserId
from consultbot.engine.delivery.content import content_to_dict, direct_key
from consultbot.engine.stepper import Stepper
from consultbot.ports import (
    AdminLog,
    BotState,
    Clock,
    DataSets,
    Handovers,
    IncomingMessage,
    OutboxKind,
    Outgoing,
    Timers,
)
from consultbot.text.render import duration
from consultbot.text.views import ConsultRenderer, service_name

log = logging.getLogger(__name__)


def timer_key(handover: int) -> str:
    """The timer of a handover offer's answer deadline."""
    return f"handover-{handover}"


class HandoverDesk:
    """Offers, answers and lapses of handovers; each recorded with what it sends."""

    def __init__(
        self,
        *,
        config: Config,
        handovers: Handovers,
        datasets: DataSets,
        admin_log: AdminLog,
        bot_state: BotState,
        timers: Timers,
        clock: Clock,
        renderer: ConsultRenderer,
        stepper: Stepper,
        changed: Callable[[str], None] = lambda what: None,
    ) -> None:
        self.config = config
        self._changed = changed  # a handover made or decided: the board shows it
        self.handovers = handovers
        self.datasets = datasets
        self.admin_log = admin_log
        self.bot_state = bot_state
        self.timers = timers
        self.clock = clock
        self._renderer = renderer
        self._stepper = stepper  # queues what is sent, with the event it answers
        self.answer_within = timedelta(seconds=config.bot.handover_answer_seconds)
        self.within = duration(config.bot.handover_answer_seconds)

    # -- start-up and timers ------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild the answer deadlines of the offers still open."""
        for handover in await self.handovers.handovers(HandoverState.OFFERED):
            self._schedule(handover)

    def _schedule(self, handover: Handover) -> None:
        if handover.answer_by is None:
            return
        self.timers.schedule(
            timer_key(handover.id), handover.answer_by, lambda: self.on_timer(handover.id)
        )

    async def on_timer(self, handover_id: int) -> None:
        """An offer's deadline: if still unanswered, it lapses and both are told."""
        try:
            offered = await self.handovers.handovers(HandoverState.OFFERED)
            first = next((h for h in offered if h.id == handover_id), None)
            if first is None:
                return
            if first.answer_by is not None and self.clock.now() < first.answer_by:
                self._schedule(first)
                return
            await self._decide(first.taker, HandoverState.LAPSED, handled=None, only=first)
        except Exception:
            log.exception("handover timer %s failed", handover_id)

    # -- the commands ---------------------------------------------------------------------------

    async def offer(self, message: IncomingMessage, command: HandOver, language: str) -> None:
        """`!lämna @USER [HH:MM]`, or an admin's `!lämna @FROM @TO [HH:MM]`."""
        room, event, sender = message.room, message.event_id, message.sender
        stored = [h for h in await self.handovers.handovers() if h.source_event == event]
        if stored:
            # Stored, but the crash came before its messages were: announce it now, once.
            await self._announce(stored, await self._name(stored[0].giver))
            return
        written = command.users or tuple(
            u for u in message.mentions if u != self.config.matrix.user_id
        )
        users = [normalise_matrix_id(u) or u for u in written]

        async def refuse(reason: str, **params: Any) -> None:
            await self._reply(room, "handover_refused", event, language, reason=reason, **params)

        if len(users) == 2:
            if sender not in self.config.bot.admins:
                await self.admin_log.record_admin_action(
                    actor=sender, action="handover", allowed=False, detail="", now=self.clock.now()
                )
                await refuse("admin_only")
                return
            giver, taker = UserId(users[0]), UserId(users[1])
        elif len(users) == 1:
            giver, taker = sender, UserId(users[0])
        else:
            await refuse("missing_user")
            return
        servers = self.config.bot.allowed_servers
        if taker.split(":", 1)[-1] not in servers:
            await refuse("not_allowed", user=taker, servers=", ".join(servers))
            return
        if taker == giver:
            await refuse("self")
            return
        pending = [
            h for h in await self.handovers.handovers(HandoverState.OFFERED) if h.giver == giver
        ]
        if pending and giver == sender:
            await self._reply(
                room,
                "handover_to_giver",
                event,
                language,
                event="pending",
                taker_name=pending[0].taker_name,
                within=self.within,
                duties=[],
            )
            return
        now = self.clock.now()
        catalogue = await self.datasets.catalogue()
        duties = []
        for service in catalogue.services:
            for level, shifts in (await self.datasets.on_duty(service.id, now)).levels:
                duties += [(level, s) for s in shifts if s.user == giver]
        if not duties:
            await refuse("not_on_duty", own=giver == sender, user=giver)
            return
        member = await self.datasets.staff_member(taker)
        by_admin = giver != sender
        state = HandoverState.ACCEPTED if by_admin else HandoverState.OFFERED
        handovers = await self.handovers.add_handovers(
            [
                Handover(
                    id=0,
                    service=shift.service,
                    level=level,
                    giver=giver,
                    taker=taker,
                    taker_name=member.name if member else taker,
                    taker_phone=member.phone if member else "",
                    start=now,
                    end=until(now, shift.end, command.until, self.config.bot.timezone),
                    offered_by=sender,
                    offered_at=now,
                    answer_by=None if by_admin else now + self.answer_within,
                    state=state,
                    decided_at=now if by_admin else None,
                    room=room,
                    language=language,
                    source_event=event,
                )
                for level, shift in duties
            ]
        )
        self._changed("handover")
        if by_admin:
            # For the data-protection officer: who moved whose duty, to whom, when.
            await self.admin_log.record_admin_action(
                actor=sender,
                action="handover",
                allowed=True,
                detail="; ".join(
                    f"{h.service} level {h.level}: {h.giver} to {h.taker} until {h.end.isoformat()}"
                    for h in handovers
                ),
                now=now,
            )
        for h in handovers:
            log.info(
                "handover %d %s: %s level %d from %s to %s until %s (by %s)",
                h.id,
                h.state.value,
                h.service,
                h.level,
                h.giver,
                h.taker,
                h.end.isoformat(),
                h.offered_by,
            )
        await self._announce(handovers, duties[0][1].name)

    async def _announce(self, handovers: Sequence[Handover], giver_name: str) -> None:
        """Tell the colleague (and, for an admin's handover, the one who had the duty) and
        whoever wrote `!lämna` (in the room and language of that message); recorded with it."""
        first = handovers[0]
        giver, taker, sender = first.giver, first.taker, first.offered_by
        room, event, language = first.room, first.source_event, first.language
        params = {
            "giver_name": giver_name,
            "taker_name": first.taker_name,
            "duties": self._duties(await self.datasets.catalogue(), handovers),
            "within": self.within,
        }
        if first.by_admin:
            outgoing = [
                self._direct(taker, "handover_to_taker", event="given", admin=sender, **params),
                self._direct(giver, "handover_to_giver", event="taken", admin=sender, **params),
                self._send(room, "handover_to_giver", language, event="done", **params),
            ]
        else:
            outgoing = [
                self._direct(taker, "handover_to_taker", event="offer", **params),
                self._send(room, "handover_to_giver", language, event="asked", **params),
            ]
        await self._stepper.queue(outgoing, handled=event)
        for h in handovers:
            self._schedule(h)  # an offer's answer deadline (an admin's handover has none)

    async def answer(
        self, user: UserId, state: HandoverState, *, room: str, handled: str, language: str
    ) -> None:
        """`!acceptera` / ✅ (ACCEPTED) or `!avböj` (DECLINED) by `user`."""
        if not await self._decide(user, state, handled=handled, room=room, language=language):
            await self._reply(room, "handover_refused", handled, language, reason="nothing_offered")

    async def offered_in(self, user: UserId, room: str) -> bool:
        """True when `room` is the bot's private room with `user` and an offer waits there."""
        if await self.bot_state.get_meta(direct_key(user)) != room:
            return False
        return any(h.taker == user for h in await self.handovers.handovers(HandoverState.OFFERED))

    # -- deciding ---------------------------------------------------------------------------------

    async def _decide(
        self,
        taker: UserId,
        state: HandoverState,
        *,
        handled: str | None,
        room: str = "",
        language: str = "",
        only: Handover | None = None,
    ) -> bool:
        """Decide every open offer to `taker` (or only the offer `only` belongs to)."""
        now = self.clock.now()
        offered = [
            h
            for h in await self.handovers.handovers(HandoverState.OFFERED)
            if h.taker == taker and (only is None or h.source_event == only.source_event)
        ]
        decided: list[Handover] = []
        for h in offered:
            late = h.answer_by is not None and now >= h.answer_by
            outcome = HandoverState.LAPSED if late else state
            done = await self.handovers.decide_handover(h.id, outcome, now=now)
            if done is not None:
                decided.append(done)
                self.timers.cancel(timer_key(h.id))
                log.info("handover %d %s at %s", h.id, done.state.value, now.isoformat())
        if not decided:
            return False
        self._changed("handover")
        catalogue = await self.datasets.catalogue()
        outgoing: list[Outgoing] = []
        for offer in sorted({h.source_event for h in decided}):
            group = [h for h in decided if h.source_event == offer]
            first = group[0]
            params = {
                "event": first.state.value,
                "giver_name": await self._name(first.giver),
                "taker_name": first.taker_name,
                "duties": self._duties(catalogue, group),
                "within": self.within,
            }
            outgoing.append(self._send(first.room, "handover_to_giver", first.language, **params))
            if room:
                outgoing.append(self._send(room, "handover_to_taker", language, **params))
            else:
                outgoing.append(self._direct(taker, "handover_to_taker", **params))
        await self._stepper.queue(outgoing, handled=handled)
        return True

    # -- helpers ----------------------------------------------------------------------------------

    async def _name(self, user: UserId) -> str:
        member = await self.datasets.staff_member(user)
        return member.name if member else user

    def _duties(self, catalogue: Catalogue, handovers: Sequence[Handover]) -> list[dict[str, Any]]:
        return [
            {
                "service_name": service_name(catalogue, h.service),
                "level": h.level,
                "end": h.end.isoformat(),
            }
            for h in handovers
        ]

    def _send(self, room: str, template: str, language: str, **params: Any) -> Outgoing:
        content = self._renderer.render(template, language=language, **params)
        return Outgoing(kind=OutboxKind.SEND, room=room, payload=content_to_dict(content))

    def _direct(self, user: UserId, template: str, **params: Any) -> Outgoing:
        """A message in the bot's private room with `user`, in the config's language."""
        content = self._renderer.render(template, **params)
        return Outgoing(kind=OutboxKind.DIRECT, room=user, payload=content_to_dict(content))

    async def _reply(
        self, room: str, template: str, handled: str, language: str, **params: Any
    ) -> None:
        await self._stepper.queue([self._send(room, template, language, **params)], handled=handled)
