"""Inputs other than text: reactions (an acknowledgement, a handover accepted), votes in the
outcome poll, and invites of someone on a server not allowed into a consult room. Each is
handled at most once and never raises: the sync loop must go on."""

from __future__ import annotations

import logging

from consultbot.domain.chat.personal_numbers import contains_personal_number
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.acknowledgement import acknowledges
from consultbot.domain.consult.events import AckVia
from consultbot.domain.duty.handover import HandoverState
from consultbot.engine.delivery.content import content_to_dict
from consultbot.engine.handovers import HandoverDesk
from consultbot.engine.intake.desk import Desk
from consultbot.engine.intake.guard import Guard
from consultbot.engine.stepper import Stepper
from consultbot.ports import IncomingInvite, IncomingReaction, IncomingVote, OutboxKind, Outgoing

log = logging.getLogger(__name__)


class RoomEvents:
    """Reactions, votes and invites, each a consult step, a handover answer or nothing."""

    def __init__(self, desk: Desk, stepper: Stepper, guard: Guard, handovers: HandoverDesk) -> None:
        self._desk = desk
        self._stepper = stepper
        self._guard = guard
        self._handovers = handovers

    async def invite(self, invite: IncomingInvite) -> None:
        """An invite of someone on a server that is not allowed into a consult room is undone."""
        desk = self._desk
        if await desk.consults.is_handled(invite.event_id):
            return
        try:
            if await desk.consults.consult_for_room(invite.room) is None:
                await desk.handled(invite.event_id)
                return
            log.info("withdrawing an invite from a disallowed server in %s", invite.room)
            notice = desk.renderer.render(
                "invite_undone",
                inviter=invite.inviter,
                invitee=invite.invitee,
                servers=", ".join(desk.config.bot.allowed_servers),
            )
            await desk.send(
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

    async def vote(self, vote: IncomingVote) -> None:
        """A vote in the outcome poll closes the consult with that outcome, as `!avsluta`."""
        store = self._desk.consults
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
                await self._desk.handled(vote.event_id)
                return
            close = esc.CloseBy(user=vote.sender, outcome=vote.outcome)
            await self._stepper.step(consult.id, close, handled=vote.event_id)
        except Exception:
            log.exception("handling vote %s in %s failed", vote.event_id, vote.room)

    async def reaction(self, reaction: IncomingReaction) -> None:
        """A ✅ or 👍 in a consult room acknowledges it (if the escalation says it may). A
        reaction's key is free text people see: one with a personnummer is redacted first."""
        store = self._desk.consults
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
                and await self._handovers.offered_in(reaction.sender, reaction.room)
            ):
                # ✅ on the bot's question in the private room: the handover is accepted.
                await self._handovers.answer(
                    reaction.sender,
                    HandoverState.ACCEPTED,
                    room=reaction.room,
                    handled=reaction.event_id,
                    language="",
                )
                return
            if consult_id is None or not acknowledges(reaction.key):
                await self._desk.handled(reaction.event_id)
                return
            ack = esc.AckBy(user=reaction.sender, via=AckVia.REACTION)
            await self._stepper.step(consult_id, ack, handled=reaction.event_id)
        except Exception:
            log.exception("handling reaction %s in %s failed", reaction.event_id, reaction.room)
