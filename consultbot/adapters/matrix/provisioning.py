"""Making rooms: consult, private and pool rooms under the room policy, invites into them, and
bringing rooms made under an older policy up to the current one.

Rooms the bot makes carry no guessable alias (anyone on the server could squat the next one):
a room made just before a crash is found again by its creation content, sent by the bot
(`Provisioner.create_room`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from nio import RoomCreateError, RoomCreateResponse, RoomInviteError, RoomPreset
from nio.api import Api

from consultbot.adapters.matrix import room_policy
from consultbot.adapters.matrix.room_policy import CREATION_KEY
from consultbot.adapters.matrix.rooms import RoomBook, joined
from consultbot.adapters.matrix.session import Session
from consultbot.domain.types import UserId

log = logging.getLogger(__name__)

ROOM_POLICY = "room_policy"
ROOM_INTENT = "room-intent:"  # + key: the creation content of a room about to be made


POOL_ROOM_SEEN = 10.0  # seconds for a new pool room to show in sync (its members then fetched)


class Provisioner:
    """Makes the bot's rooms and invites people into them."""

    def __init__(self, session: Session, rooms: RoomBook) -> None:
        self.session = session
        self.rooms = rooms

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        """Create an encrypted room for `key`, or find the one made for it before a crash.

        The intent (`key` and a random nonce) is recorded before the room is made and goes
        into its creation content; the caller records the room's id after. A call that finds
        an intent recorded repeats that very creation (`_create`): if the room was made, it is
        taken, with the proof only the bot can give; if not, it is made now. An intent whose
        room the bot cannot use (left, or failing the policy) gives way to a new one.
        """
        earlier = await self.session.store.get_meta(ROOM_INTENT + key)
        if earlier:
            room = await self._create(earlier, name=name, topic=topic, invite=invite)
            if room is not None:
                await self.invite(room, invite)  # again: the crash may have come before
                return room
        mark = f"{key}/{secrets.token_hex(16)}"
        await self.session.store.set_meta(ROOM_INTENT + key, mark)
        room = await self._create(mark, name=name, topic=topic, invite=invite)
        if room is None:
            # One bad invitee must not stop the others from being reached.
            room = await self._create(mark, name=name, topic=topic, invite=())
            if room is None:
                raise RuntimeError(f"could not create the room for {key}")
            await self.invite(room, invite)
        return room

    async def _create(
        self, mark: str, *, name: str, topic: str, invite: Sequence[str]
    ) -> str | None:
        """One createRoom with the policy's state and `mark` in the creation content; the
        room, or None when the homeserver refused it.

        Under the alias `consultbot-<the mark's nonce>`: nobody can guess it, so it is taken
        only when this very creation was asked for before (before a crash; or nio repeated a
        request that timed out while the homeserver was making the room). That room is taken
        only with the proof `_proven` asks for, never by its alias alone.
        """
        client = self.session.nio
        alias = f"consultbot-{mark.rpartition('/')[2]}"
        method, path, data = Api.room_create(
            client.access_token,
            alias=alias,
            name=name,
            topic=topic,
            preset=RoomPreset.private_chat,
            invite=list(invite),
            initial_state=room_policy.locked_state(self.session.servers),
            power_level_override=room_policy.power_levels(),
        )
        body = json.loads(data) | {"creation_content": {room_policy.CREATION_KEY: mark}}
        response = await client._send(RoomCreateResponse, method, path, json.dumps(body))
        if isinstance(response, RoomCreateError) and response.status_code == "M_ROOM_IN_USE":
            return await self._made_already(alias, mark)
        if not isinstance(response, RoomCreateResponse):
            log.warning("room creation for %s failed: %s", mark, response)
            return None
        room = str(response.room_id)
        self.rooms.own.add(room)
        return room

    async def _made_already(self, alias: str, mark: str) -> str | None:
        """The room an earlier try of the same createRoom made, proven the bot's and still in
        use; None otherwise."""
        client = self.session.nio
        server = self.session.user_id.split(":", 1)[1]
        resolved = await client.room_resolve_alias(f"#{alias}:{server}")
        room = str(getattr(resolved, "room_id", "") or "")
        if room and await self._proven(room, mark):
            log.info("the room for %s was made already: %s", mark, room)
            return room
        log.warning("the alias %s leads to no room of the bot's in use", alias)
        return None

    async def _proven(self, room: str, mark: str) -> bool:
        """True when the bot is in `room`, sent its m.room.create with `mark` in it, and has
        not found it failing the policy (asked for once when sync has not shown the room)."""
        bot = self.session.user_id
        if room in self.rooms.unsafe:
            return False
        if room not in self.rooms.creators:
            events = await self.rooms.fetch_state(room)
            if events is None or not any(joined(event, bot) for event in events):
                return False  # unreadable, or a room the bot left: its state as it was then
            for event in events:
                self.rooms.learn_state(room, event)
        create = self.rooms.state.get(room, {}).get("m.room.create", {})
        if self.rooms.creators.get(room) != bot or create.get(CREATION_KEY) != mark:
            return False
        self.rooms.own.add(room)
        return True

    async def create_pool_room(self) -> str:
        response = await self.session.nio.room_create(
            preset=RoomPreset.private_chat,
            initial_state=room_policy.locked_state(self.session.servers),
            power_level_override=room_policy.power_levels(),
        )
        if isinstance(response, RoomCreateError):
            raise RuntimeError(f"could not make a pool room: {response.status_code}")
        room = str(response.room_id)
        self.rooms.own.add(room)
        # The member list nio wants before a room's first encrypted message, fetched now: a
        # consult taking the room then invites and pages without asking for it (`fill_room`).
        client = self.session.nio
        if await self.session.wait(lambda: room in client.rooms, POOL_ROOM_SEEN):
            await client.joined_members(room)
        return room

    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        client = self.session.nio
        await self.rooms.vet(room)
        # The invites side by side, with the member list nio wants before the room's first
        # encrypted message: the invite is the page's first signal and waits for nothing else.
        inviting = asyncio.gather(*(self._invite(room, user) for user in invite))
        known = client.rooms.get(room)
        if known is not None and not known.members_synced:
            invited, _ = await asyncio.gather(inviting, client.joined_members(room))
        else:
            invited = await inviting
        self._learn_invited(room, [user for user, ok in zip(invite, invited, strict=True) if ok])

    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        known = self.session.nio.rooms.get(room)
        if known is not None and known.name == name and known.topic == topic:
            return  # named so already (a restart names open consults' rooms again)
        await self.rooms.vet_any(room)
        await asyncio.gather(
            self.session.put_state(room, "m.room.name", {"name": name}),
            self.session.put_state(room, "m.room.topic", {"topic": topic}),
        )

    def expect(self, room: str, users: Sequence[str]) -> None:
        """Users to be invited right after the next message (the requester, after the first
        page): nio learns them as invited now, so the message's room key goes to their devices
        with it. A key shared only after the message could not decrypt it (a Megolm session
        moves on; it is not rewound for a newcomer)."""
        self._learn_invited(room, users)

    def _learn_invited(self, room: str, users: Sequence[str]) -> None:
        """The page need not wait for invites to come back through sync: nio learns the
        invitees now, so their device keys are queried and the room key goes to them with the
        page (an invitee can then decrypt it as soon as they join)."""
        client = self.session.nio
        known = client.rooms.get(room)
        if known is None or not users:
            return
        added = [user for user in users if user not in known.users]
        for user in added:
            known.add_member(user, None, None, invited=True)
        if known.encrypted and client.olm is not None:
            client.olm.update_tracked_users(known)
            if added:
                # As nio does when a membership event arrives through sync: a new room key,
                # shared with everyone now in the room. Without this the page would go out
                # under the key shared before the invite, which the invitee never received.
                client.invalidate_outbound_session(room)

    async def invite(self, room: str, users: Sequence[UserId]) -> None:
        await self.rooms.vet_any(room)
        invited = [user for user in users if await self._invite(room, user)]
        self._learn_invited(room, invited)

    async def let_in(self, room: str, user: UserId) -> bool:
        """Invite one user: True when they are invited (or were already), False when the
        homeserver refused it for good (a 4xx answer: logged); an error that may pass (no
        answer, a 5xx from a proxy while the homeserver restarts) raises, to be tried again."""
        await self.rooms.vet_any(room)
        refused = await self._refused(room, user)
        if refused is not None:
            status = getattr(getattr(refused, "transport_response", None), "status", None)
            if not (isinstance(status, int) and 400 <= status < 500):
                raise RuntimeError(f"inviting {user} to {room} failed: {refused}")
            log.error("could not invite %s to %s: %s", user, room, refused.status_code)
            return False
        self._learn_invited(room, [user])
        return True

    async def _invite(self, room: str, user: str) -> bool:
        """Invite one user; True when they are invited (or were already)."""
        refused = await self._refused(room, user)
        if refused is not None:
            log.error("could not invite %s to %s: %s", user, room, refused.status_code)
        return refused is None

    async def _refused(self, room: str, user: str) -> RoomInviteError | None:
        """Invite one user; the homeserver's refusal, or None when they are invited (or were
        already)."""
        response = await self.session.nio.room_invite(room, user)
        if isinstance(response, RoomInviteError) and "already" not in (response.message or ""):
            return response
        return None

    # -- consult rooms created before the room policy ------------------------------------------

    async def own_recorded_rooms(self) -> int:
        """Hold the consult rooms the database knows, that somebody else made, to the room
        policy (rooms adopted by their alias before the bot checked who made them); how many.
        They fail it: the first thing on its way to one leaves it and tells the admins."""
        client = self.session.nio
        adopted = 0
        for room_id in list(client.rooms):
            creator = self.rooms.creators.get(room_id)
            if creator is None or creator == self.session.user_id or room_id in self.rooms.own:
                continue
            if await self.session.store.consult_for_room(room_id) is not None:
                self.rooms.own.add(room_id)
                adopted += 1
        if adopted:
            log.warning("%d consult rooms were made by somebody else", adopted)
        return adopted

    async def lock_down_rooms(self) -> int:
        """Bring the rooms the bot made before the current room policy up to it, once; how
        many state events that took.

        A migration step for the rooms: it runs after start-up (the first sync has brought
        every room's state) until every room whose creation event the bot sent has the
        policy's ACL, guest access, join rule and power levels (nobody else above
        `OTHERS_CEILING`), then is recorded as done for this policy and these servers (a
        failure leaves it to the next start). Rooms somebody else made are not the bot's to
        change: one recorded as the bot's fails `RoomBook.vet` and is left.
        """
        client = self.session.nio
        marker = f"{room_policy.LOCKDOWN_VERSION}:{','.join(self.session.servers)}"
        if await self.session.store.get_meta(ROOM_POLICY) == marker:
            return 0
        changed = 0
        for room_id, creator in list(self.rooms.creators.items()):
            if creator != self.session.user_id or room_id not in client.rooms:
                continue
            # Read from the server, not from sync: a migration, once, and exact.
            current: dict[str, dict[str, Any] | None] = {}
            for kind in room_policy.LOCKDOWN_TYPES:
                answer = await client.room_get_state_event(room_id, kind)
                content = getattr(answer, "content", None)
                current[kind] = content if isinstance(content, dict) else None
            changed += await self.rooms.lock_down(room_id, current)
        await self.session.store.set_meta(ROOM_POLICY, marker)
        log.info("room policy %s applied: %d state events", marker, changed)
        return changed
