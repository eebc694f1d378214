"""An in-memory messenger: records what would go to Matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consultbot.domain.chat.audience import Fault
from consultbot.domain.types import UserId
from consultbot.ports import Content, Messenger, RoomRefused, UnsafeRoom


@dataclass
class Sent:
    """One thing the in-memory messenger was asked to do."""

    action: str
    room: str
    content: Content | None = None
    users: tuple[UserId, ...] = ()
    txn: str = ""
    event_id: str = ""
    data: bytes = b""  # an image's bytes (action "image")
    name: str = ""  # an image's file name
    event: dict[str, Any] = field(default_factory=dict)  # a non-message event's content


@dataclass
class MemoryMessenger(Messenger):
    """Records what would go to Matrix; deduplicates transaction ids as a homeserver does."""

    log: list[Sent] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    state: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0
    _txns: dict[str, str] = field(default_factory=dict)
    _rooms: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    policy: str = "1"
    _pooled: int = 0
    # Who can read a room, as the Matrix adapter would find it when sending: rooms people
    # opened that are unfit for answers, and rooms where someone from elsewhere is invited.
    unfit_rooms: dict[str, tuple[Fault, ...]] = field(default_factory=dict)
    outsiders: set[str] = field(default_factory=set)
    _made: int = 0
    owned: set[str] = field(default_factory=set)  # rooms the bot made, or the service says so
    #: Rooms the bot made that fail the room policy (room → faults), as a test sets them up.
    unsafe: dict[str, tuple[str, ...]] = field(default_factory=dict)

    prepared: list[tuple[UserId, ...]] = field(default_factory=list)  # each `prepare`'s users

    def own_room(self, room: str) -> None:
        self.owned.add(room)

    async def prepare(self, users: Sequence[UserId]) -> int:
        self.prepared.append(tuple(users))
        return 0  # no devices here

    def _vet(self, room: str) -> None:
        """As the Matrix adapter: nothing goes into a room of the bot's that fails the policy
        (a room the bot neither made nor was told it made is not the policy's)."""
        if room in self.unsafe and room in self.owned:
            raise UnsafeRoom(room, self.unsafe[room])

    def _post(self, sent: Sent) -> str:
        """Log `sent` under a new event id; a transaction id seen before gives that event's."""
        if sent.txn in self._txns:
            return self._txns[sent.txn]
        sent.event_id = self._txns[sent.txn] = f"$sent{len(self.log) + 1}"
        self.log.append(sent)
        return sent.event_id

    def _maybe_fail(self, room: str | None = None) -> None:
        """Fail while `fail_next` says so; then, given a `room`, vet it."""
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("homeserver unreachable (simulated)")
        if room is not None:
            self._vet(room)

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        self._maybe_fail()
        if key in self._rooms and self._rooms[key] not in self.unsafe:
            return self._rooms[key]
        self._made += 1
        room = f"!room{self._made}:localhost"
        self._rooms[key] = room
        self.owned.add(room)
        self.log.append(Sent(action="create", room=room, users=tuple(invite)))
        return room

    async def create_pool_room(self) -> str:
        self._maybe_fail()
        self._pooled += 1
        room = f"!pool{self._pooled}:localhost"
        self.owned.add(room)
        self.log.append(Sent(action="create", room=room))
        return room

    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        await self.invite(room, invite)

    async def let_in(self, room: str, user: UserId) -> bool:
        await self.invite(room, (user,))
        return True

    async def expect(self, room: str, users: Sequence[UserId]) -> None:
        self._maybe_fail(room)
        self.log.append(Sent(action="expect", room=room, users=tuple(users)))

    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        self._maybe_fail(room)
        self.names[room] = name

    async def joined_by_someone(self, room: str, seconds: float) -> None:
        """At once: in memory, whoever is invited has joined."""

    def pool_policy(self) -> str:
        return self.policy

    async def invite(self, room: str, users: Sequence[UserId]) -> None:
        self._maybe_fail(room)
        self.log.append(Sent(action="invite", room=room, users=tuple(users)))

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        self._maybe_fail()
        if room in self.unfit_rooms:
            raise RoomRefused(room, self.unfit_rooms[room], fit=False)
        if numbers and room in self.outsiders:
            raise RoomRefused(room, (Fault.FOREIGN_MEMBER,), fit=True)
        self._vet(room)
        return self._post(Sent(action="send", room=room, content=content, txn=txn))

    async def kick(self, room: str, user: UserId, *, reason: str) -> None:
        self._maybe_fail()
        self.log.append(Sent(action="kick", room=room, users=(user,)))

    async def send_event(
        self, room: str, event_type: str, content: Mapping[str, Any], *, txn: str
    ) -> str:
        self._maybe_fail(room)
        return self._post(Sent(action=event_type, room=room, txn=txn, event=dict(content)))

    async def send_image(
        self, room: str, data: bytes, *, name: str, width: int, height: int, txn: str
    ) -> str:
        self._maybe_fail(room)
        return self._post(Sent(action="image", room=room, txn=txn, data=data, name=name))

    async def redact(self, room: str, event_id: str, *, reason: str, txn: str) -> bool:
        self._maybe_fail()
        self.log.append(Sent(action="redact", room=room, txn=txn, event_id=event_id))
        return True

    async def leave(self, room: str) -> None:
        self.log.append(Sent(action="leave", room=room))

    async def put_state(
        self, room: str, kind: str, state_key: str, content: dict[str, Any]
    ) -> None:
        self._maybe_fail(room)
        self.state[(room, kind, state_key)] = content
        self.log.append(Sent(action="state", room=room))

    async def message_text(self, room: str, event_id: str) -> str | None:
        return self.texts.get(event_id)
