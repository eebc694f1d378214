"""The messenger port: what the service needs from Matrix, and how sending can fail."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consultbot.domain.chat.audience import Fault
from consultbot.domain.types import UserId
from consultbot.ports.incoming import IncomingFile


class FileTooLarge(Exception):
    """A file is larger than the caller accepts."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


class UnsafeRoom(Exception):
    """A room the bot made is no longer as the room policy has it: nothing goes into it.

    `faults` are the words of `adapters/room_policy.room_faults` (`encryption`, `creator`, …).
    """

    def __init__(self, room: str, faults: Sequence[str]) -> None:
        super().__init__(f"{room}: {', '.join(faults)}")
        self.room = room
        self.faults = tuple(faults)


class FileSource(ABC):
    """Fetches the bytes of files people sent (decrypting them where needed)."""

    @abstractmethod
    async def fetch_file(self, file: IncomingFile, *, max_bytes: int) -> bytes:
        """The file's bytes; FileTooLarge past `max_bytes`, OSError when it cannot be had."""


@dataclass(frozen=True, kw_only=True)
class Content:
    """A message body in plain text and HTML, with the users it mentions."""

    text: str
    html: str
    mentions: tuple[UserId, ...] = ()
    notice: bool = True


class RoomRefused(Exception):
    """A message was not sent: the room's audience, as it is at the moment of sending, may not
    read it (domain/audience.py). `fit` is True when the room may still get a message
    without staff numbers (a room the bot made, where someone from elsewhere is invited)."""

    def __init__(self, room: str, faults: Sequence[Fault], *, fit: bool) -> None:
        super().__init__(f"not sent to {room}: {', '.join(faults)}")
        self.room = room
        self.faults = tuple(faults)
        self.fit = fit


class Messenger(ABC):
    """What the service needs from Matrix. Every send carries a transaction id for retries."""

    @abstractmethod
    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        """Create (or, for the same `key`, find again) an encrypted room; return its id."""

    @abstractmethod
    async def create_pool_room(self) -> str:
        """Create an empty encrypted consult room for the warm pool: no name, no topic, no
        invitees; the state and power levels of a consult room. Return its id."""

    @abstractmethod
    async def expect(self, room: str, users: Sequence[UserId]) -> None:
        """`users` are invited into `room` right after the next message: it is sent so that
        they can read it once they join (in an encrypted room, its key goes to their devices
        with it). Their invite is still to be sent (`invite`)."""

    @abstractmethod
    async def let_in(self, room: str, user: UserId) -> bool:
        """Invite one user, and be sure of it: True when they are invited (or were already),
        False when the homeserver refused it for good (logged); an error that may pass (no
        answer, a 5xx) raises, for the caller to try again."""

    async def prepare(self, users: Sequence[UserId]) -> int:
        """Set up ahead of time what a first page to `users` needs (in Matrix: Olm sessions
        with their devices), so that it goes out like any other; how many devices were made
        ready. Best effort: a failure is logged, and the page does the work itself. Nothing to
        set up by default."""
        return 0

    @abstractmethod
    async def fill_room(self, room: str, *, invite: Sequence[UserId]) -> None:
        """Invite into a pool room (again: no change); the invitees can read the next message."""

    @abstractmethod
    async def name_room(self, room: str, *, name: str, topic: str) -> None:
        """Set a room's name and topic (the same again: no change)."""

    @abstractmethod
    async def joined_by_someone(self, room: str, seconds: float) -> None:
        """Return once someone besides the bot has joined `room`, or after `seconds`."""

    @abstractmethod
    def own_room(self, room: str) -> None:
        """`room` is one the bot made (a consult, pool, private or admin room): from now on
        nothing goes into it (message, invite, name, state) unless it passes the room policy;
        a room that does not raises `UnsafeRoom`. Rooms whose creation event the bot sent are
        held to it anyway; this covers rooms recorded before the bot checked their creator."""

    @abstractmethod
    def pool_policy(self) -> str:
        """The room policy rooms are made under now; pool rooms made under another are stale."""

    @abstractmethod
    async def invite(self, room: str, users: Sequence[UserId]) -> None:
        """Invite users; someone already in the room or invited is fine."""

    @abstractmethod
    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        """Send a message; first make sure `recipients` can decrypt it. Return the event id.

        Raises RoomRefused, sending nothing, when at the moment of sending a room a user
        opened is not fit for answers, or (`numbers`: the message carries staff phone numbers)
        the room is unencrypted or someone joined or invited is on a server not allowed.
        """

    @abstractmethod
    async def send_image(
        self, room: str, data: bytes, *, name: str, width: int, height: int, txn: str
    ) -> str:
        """Upload a PNG and post it (an encrypted attachment in an encrypted room); event id."""

    @abstractmethod
    async def redact(self, room: str, event_id: str, *, reason: str, txn: str) -> bool:
        """Redact an event; False when the bot may not."""

    @abstractmethod
    async def leave(self, room: str) -> None:
        """Leave a room and forget it (it leaves the bot's room list); a room the bot is no
        longer in is fine."""

    @property
    def user_id(self) -> str:
        """The bot's Matrix id ("" when unknown)."""
        return ""

    @abstractmethod
    async def put_state(
        self, room: str, kind: str, state_key: str, content: dict[str, Any]
    ) -> None:
        """Set a room state event (e.g. a widget); setting the same content again is harmless."""

    @abstractmethod
    async def message_text(self, room: str, event_id: str) -> str | None:
        """The text of a message (fetched and decrypted), or None when it cannot be read."""

    @abstractmethod
    async def kick(self, room: str, user: UserId, *, reason: str) -> None:
        """Remove `user` from `room`, or withdraw their invitation."""

    @abstractmethod
    async def send_event(
        self, room: str, event_type: str, content: Mapping[str, Any], *, txn: str
    ) -> str:
        """Send an event of another type than a message (a poll); its id. Same `txn` = same
        event: a retry cannot double it."""
