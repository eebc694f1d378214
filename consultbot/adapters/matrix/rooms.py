"""What the bot knows of the rooms it is in, and the checks before anything goes into one.

Nothing goes into a room the bot made unless it passes the room policy, read from the state
sync brought (`RoomBook.vet`, `room_policy.room_faults`): no request on the way of a page.
Rooms people opened are held to domain/audience.py instead: who could read what is sent.
Room state is read only from what the homeserver sends as state, never from a decrypted event
(nio_client.py `as_message`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nio import RoomGetStateResponse, SyncResponse

from consultbot.adapters.matrix import room_policy
from consultbot.adapters.matrix.nio_client import from_decryption
from consultbot.adapters.matrix.session import Session
from consultbot.domain.chat import audience
from consultbot.ports import RoomRefused, UnsafeRoom

log = logging.getLogger(__name__)

#: Faults the bot sets right itself in a room it alone controls (`RoomBook.vet`).
REPAIRABLE = frozenset({"join_rule", "server_acl"})
WAIT_FOR_ROOM = 30.0
_UNKNOWN = audience.RoomFacts(encrypted=False, join_rule="", members=())


def state_facts(events: Sequence[Any]) -> tuple[audience.RoomFacts, str]:
    """A room's facts (domain/audience.py) and its creator, from raw state events: the room's
    state, or an invite's stripped state. Without a join-rule event a room is invite-only."""
    encrypted, join_rule, creator = False, "invite", ""
    members: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        kind, content = event.get("type"), event.get("content")
        content = content if isinstance(content, dict) else {}
        if kind == "m.room.encryption" and content.get("algorithm"):
            encrypted = True
        elif kind == "m.room.join_rules":
            join_rule = str(content.get("join_rule", ""))
        elif kind == "m.room.create":
            creator = str(event.get("sender", ""))
        elif kind == "m.room.member" and content.get("membership") in ("join", "invite"):
            members.append(str(event.get("state_key", "")))
    facts = audience.RoomFacts(encrypted=encrypted, join_rule=join_rule, members=tuple(members))
    return facts, creator


def joined(event: Mapping[str, Any], user: str) -> bool:
    """True for `user`'s own membership event saying they are in the room."""
    content = event.get("content")
    return (
        event.get("type") == "m.room.member"
        and event.get("state_key") == user
        and isinstance(content, dict)
        and content.get("membership") == "join"
    )


class RoomBook:
    """The state of the rooms the bot is in, as sync shows it, and who made each."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # Rooms the bot made, as sync shows them: the state `room_policy.room_faults` reads
        # (type → content).
        self.state: dict[str, dict[str, dict[str, Any]]] = {}
        # Who created each room the bot is in (its `m.room.create` sender): the bot's own
        # rooms are checked by their policy, rooms people opened by domain/audience.py.
        self.creators: dict[str, str] = {}
        self.own: set[str] = set()  # rooms the service says the bot made (`own_room`)
        # Rooms the bot left, was kicked or banned from: nio keeps them, members and all, in
        # its rooms until they are forgotten (then dropped here too: olm_ready.py).
        self.left: set[str] = set()
        self.unsafe: dict[str, tuple[str, ...]] = {}  # rooms that failed the policy: faults

    # -- learning from sync -------------------------------------------------------------------

    def learn(self, response: SyncResponse) -> None:
        """Keep the state `room_faults` reads, as this sync brings it (before anything waits on
        the rooms it names); rooms the bot left are forgotten."""
        for room_id, info in response.rooms.join.items():
            self.left.discard(room_id)
            for event in (*info.state, *info.timeline.events):
                source = getattr(event, "source", None)
                if isinstance(source, dict) and not from_decryption(event):
                    self.learn_state(room_id, source)
        for room_id in response.rooms.leave:
            self.forget(room_id)
            self.left.add(room_id)

    def learn_state(self, room: str, event: Mapping[str, Any]) -> None:
        """One raw state event of `room`, kept if the room policy reads it."""
        kind, content = event.get("type"), event.get("content")
        checked = kind in room_policy.CHECKED_TYPES and event.get("state_key") == ""
        if not checked or not isinstance(content, dict):
            return
        self.state.setdefault(room, {})[str(kind)] = content
        if kind == "m.room.create":
            self.creators[room] = str(event.get("sender", ""))

    def forget(self, room: str) -> None:
        """A room the bot left."""
        self.state.pop(room, None)
        self.creators.pop(room, None)

    # -- who made a room, who can read it -----------------------------------------------------

    async def fetch_state(self, room_id: str) -> list[dict[str, Any]] | None:
        """The room's current state events as the homeserver has them; None when unreadable."""
        answer = await self.session.nio.room_get_state(room_id)
        if not isinstance(answer, RoomGetStateResponse):
            return None
        return [e for e in answer.events if isinstance(e, dict)]

    async def made_by_bot(self, room_id: str) -> bool:
        """True for a room the bot created: its `m.room.create` event is the bot's (no one
        else can have written it). Read from the homeserver when sync has not shown it."""
        if room_id not in self.creators:
            state = await self.fetch_state(room_id)
            if state is None:
                return False  # unknown: checked as a room someone else opened
            self.creators[room_id] = state_facts(state)[1]
        return self.creators[room_id] == self.session.user_id

    def facts(self, room_id: str) -> audience.RoomFacts | None:
        """The room as the bot knows it now: the members it would share a room key with."""
        room = self.session.nio.rooms.get(room_id)
        if room is None:
            return None
        return audience.RoomFacts(
            encrypted=bool(room.encrypted),
            join_rule=str(room.join_rule),
            members=tuple(dict.fromkeys([*room.users, *room.invited_users])),
        )

    async def unfit(self, room_id: str) -> tuple[audience.Fault, ...] | None:
        """Why the bot may not answer in `room_id` (domain/audience.py): () for a room it made;
        None for a room that is not the bot's."""
        facts = self.facts(room_id)
        if facts is None:
            return None
        if await self.made_by_bot(room_id):
            return ()
        return audience.faults(facts, self.session.servers)

    def audience_check(
        self, room_id: str, *, numbers: bool, by_bot: bool
    ) -> Callable[[str], None] | None:
        """What `send` runs just before encrypting: raises RoomRefused when the room's
        audience at that moment may not read the message. None when there is nothing to check
        (a room the bot made, for a message without staff numbers: its policy checks it)."""
        if by_bot and not numbers:
            return None
        servers = self.session.servers

        def check(room: str) -> None:
            found = audience.faults(self.facts(room) or _UNKNOWN, servers)
            if by_bot:
                found = tuple(f for f in found if f is not audience.Fault.PUBLIC)
            if found:
                raise RoomRefused(room, found, fit=by_bot)

        return check

    # -- the room policy ----------------------------------------------------------------------

    def faults(self, room: str) -> tuple[str, ...]:
        """How a room the bot made fails the room policy, as sync showed its state."""
        return room_policy.room_faults(
            self.session.user_id,
            self.session.servers,
            self.creators.get(room, ""),
            self.state[room],
        )

    async def vet(self, room: str) -> None:
        """Raise `UnsafeRoom` unless `room`, if the bot made it, passes the room policy.

        Read from the state sync brought (or the creation itself): no request on a page's way.
        A join rule or ACL off the policy in a room the bot still controls alone is set right
        instead (as the start-up lockdown would); anything else is final for the room.
        """
        if room in self.unsafe:
            raise UnsafeRoom(room, self.unsafe[room])
        wait = self.session.wait
        if room not in self.own and self.creators.get(room) != self.session.user_id:
            return  # a room a user opened (or a room not the bot's): not this policy's
        if not await wait(lambda: room in self.creators, WAIT_FOR_ROOM):
            raise RuntimeError(f"the state of {room} not known after {WAIT_FOR_ROOM} s")
        if self.creators[room] == self.session.user_id:
            # A sync can show a room the bot is making half made: its first events only.
            await wait(lambda: "m.room.encryption" in self.state[room], WAIT_FOR_ROOM)
        faults = self.faults(room)
        if faults and set(faults) <= REPAIRABLE:
            sync_state = self.state[room]
            await self.lock_down(room, {t: sync_state.get(t) for t in room_policy.LOCKDOWN_TYPES})
            faults = self.faults(room)
        if faults:
            self.unsafe[room] = faults
            log.error("room %s fails the room policy (%s): nothing goes into it", room, faults)
            raise UnsafeRoom(room, faults)
        # nio encrypts by its own view of the room: it must have seen the encryption too.
        client = self.session.nio

        def encrypted() -> bool:
            known = client.rooms.get(room)
            return known is None or bool(known.encrypted)

        if not await wait(encrypted, WAIT_FOR_ROOM):
            raise RuntimeError(f"{room} is not encrypted in nio's view after sync")

    async def vet_any(self, room: str) -> None:
        """`vet`, and for a room the bot did not make: RoomRefused unless it is fit for the
        bot (domain/audience.py: encrypted, not public, nobody from elsewhere).

        For everything but a message (`send` has its own check, with its fall-backs): an
        image, an event, state or an invite never goes into a room a user opened that any
        reader could not be trusted with, whatever the caller believes about it.
        """
        await self.vet(room)
        if room in self.own or await self.made_by_bot(room):
            return
        found = audience.faults(self.facts(room) or _UNKNOWN, self.session.servers)
        if found:
            log.error("%s is not the bot's and not fit for it (%s): nothing sent", room, found)
            raise RoomRefused(room, found, fit=False)

    async def lock_down(self, room: str, current: Mapping[str, dict[str, Any] | None]) -> int:
        """Set the state events the policy changes in `room` (its `current` state of the
        locked types); how many it took."""
        session = self.session
        changes = room_policy.lockdown_changes(session.user_id, session.servers, current)
        for kind, content in changes:
            await session.put_state(room, kind, content)
            self.state.setdefault(room, {})[kind] = content
            log.info("room %s: %s set to the policy's", room, kind)
        return len(changes)
