"""Joining and leaving rooms: the invites the bot accepts or declines, the configured admin
room, and leaving (and forgetting) a room.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from nio import InviteMemberEvent, JoinError, RoomForgetError, RoomLeaveError, SyncResponse

from consultbot.adapters.matrix.rooms import RoomBook, state_facts
from consultbot.adapters.matrix.session import Session
from consultbot.domain.chat import audience

log = logging.getLogger(__name__)

JOIN_RETRY_PAUSES = (0.5, 1.0, 2.0)
# What leaving a room the bot is no longer in answers: nothing to do.
_NOT_IN_ROOM = ("M_FORBIDDEN", "M_NOT_FOUND")


class Doorkeeper:
    """Lets the bot into the rooms it may be in, and out of the others."""

    def __init__(self, session: Session, rooms: RoomBook) -> None:
        self.session = session
        self.rooms = rooms

    async def answer_invites(self, response: SyncResponse) -> None:
        """Join a room only when an allowed user invites the bot into an encrypted room that
        is not public and whose members are all on allowed servers (domain/audience.py);
        decline every other invite without a word. The invite's state is what the inviter's
        server says: once joined, the room's real state is checked again."""
        offered_states: dict[str, list[Any]] = getattr(response, "invite_states", {})
        for room_id, info in response.rooms.invite.items():
            inviter = next(
                (
                    e.sender
                    for e in info.invite_state
                    if isinstance(e, InviteMemberEvent) and e.state_key == self.session.user_id
                ),
                None,
            )
            if inviter is None:
                continue
            offered, _ = state_facts(offered_states.get(room_id, []))
            found = self._invite_faults(inviter, offered)
            if found:
                log.info("declining the invite to %s: %s", room_id, ", ".join(found))
                await self.quietly_leave(room_id)
                continue
            if await self._join(room_id):
                await self._verify_joined(room_id, inviter)

    def _invite_faults(self, inviter: str, facts: audience.RoomFacts) -> tuple[audience.Fault, ...]:
        """Why the invite is declined (the inviter may not use the bot, or the room is not
        fit); () when the bot joins."""
        allowed = self.session.handler is not None and self.session.handler.allowed(inviter)
        return audience.invite_faults(facts, self.session.servers, inviter_allowed=allowed)

    async def _join(self, room_id: str) -> bool:
        """Join a room the bot is invited to; False (logged) when that fails."""
        joined = await self.session.nio.join(room_id)
        for pause in JOIN_RETRY_PAUSES:
            # An invite over federation can arrive before its room is joinable here; the
            # invite is in one sync only, so a failed join is tried again a few times.
            if not isinstance(joined, JoinError):
                break
            await asyncio.sleep(pause)
            joined = await self.session.nio.join(room_id)
        if isinstance(joined, JoinError):
            log.warning("could not join %s: %s", room_id, joined)
            return False
        return True

    async def _verify_joined(self, room_id: str, inviter: str) -> None:
        """Leave a room just joined whose real state fails the checks its invite passed."""
        state = await self.rooms.fetch_state(room_id)
        if state is None:
            log.warning("left %s: its state could not be read", room_id)
            await self.quietly_leave(room_id)
            return
        facts, creator = state_facts(state)
        self.rooms.creators[room_id] = creator
        found = self._invite_faults(inviter, facts)
        if found:
            log.warning("left %s: the room is not what its invite said (%s)", room_id, found)
            await self.quietly_leave(room_id)
            return
        log.info("joined %s", room_id)

    async def quietly_leave(self, room_id: str) -> None:
        """Decline an invite or leave a room, without a message; a failure is only logged."""
        try:
            await self.leave(room_id)
        except Exception:
            log.exception("could not leave %s", room_id)

    async def join_room(self, room: str, *, makers: Sequence[str] = ()) -> str | None:
        """Join a room by id or alias; its id, or None (logged) when that fails, the room is
        not fit for the bot (domain/audience.py), or neither the bot nor one of `makers`
        created it (its `m.room.create`, read from the homeserver).

        An alias, or an id, names whatever room holds it: anyone on an allowed server can make
        a fit room under it and invite the bot. Only the creator proves whose room it is.
        """
        response = await self.session.nio.join(room)
        if isinstance(response, JoinError):
            log.error("could not join %s: %s", room, response)
            return None
        room_id = str(response.room_id)
        state = await self.rooms.fetch_state(room_id)
        facts, creator = state_facts(state or [])
        found = audience.faults(facts, self.session.servers) if state is not None else ()
        if state is None or found:
            log.error("left %s (%s): not fit for the bot (%s)", room, room_id, found or "state?")
            await self.quietly_leave(room_id)
            return None
        if creator != self.session.user_id and creator not in makers:
            log.error(
                "left %s (%s): made by %s, not by the bot or an admin", room, room_id, creator
            )
            await self.quietly_leave(room_id)
            return None
        self.rooms.creators[room_id] = creator
        return room_id

    async def leave(self, room: str) -> None:
        """Leave `room` (one the bot is no longer in is fine) and forget it."""
        client = self.session.nio
        left = await client.room_leave(room)
        if isinstance(left, RoomLeaveError) and left.status_code not in _NOT_IN_ROOM:
            raise RuntimeError(f"could not leave {room}: {left.status_code}")
        self.rooms.forget(room)
        # Forgotten: the room leaves the bot's account (no history, not in its room list).
        forgot = await client.room_forget(room)
        if isinstance(forgot, RoomForgetError):
            log.warning("could not forget the room %s: %s", room, forgot.status_code)
