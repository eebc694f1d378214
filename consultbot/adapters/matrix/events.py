"""Matrix events into the values the service reads (`Incoming*` in consultbot/ports.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nio import (
    BadEvent,
    ReactionEvent,
    RoomEncryptedFile,
    RoomMemberEvent,
    RoomMessage,
    RoomMessageFile,
    StickerEvent,
    UnknownBadEvent,
    UnknownEvent,
)

from consultbot.adapters.matrix import media, room_policy
from consultbot.adapters.matrix.message_text import event_texts, is_chat, shown_texts
from consultbot.adapters.matrix.rooms import RoomBook
from consultbot.adapters.matrix.session import Handler, Session
from consultbot.domain.consult import polls
from consultbot.domain.types import UserId
from consultbot.ports import (
    IncomingFile,
    IncomingInvite,
    IncomingMessage,
    IncomingReaction,
    IncomingVote,
)


def _content(source: Any) -> dict[str, Any]:
    """An event's (decrypted) content from its source as nio parsed it, {} when it has none."""
    content = source.get("content", {}) if isinstance(source, dict) else {}
    return content if isinstance(content, dict) else {}


def mentioned(source: dict[str, Any]) -> tuple[UserId, ...]:
    """The users a message mentions with a pill (`m.mentions.user_ids`), in order."""
    mentions = _content(source).get("m.mentions", {})
    users = mentions.get("user_ids", []) if isinstance(mentions, dict) else []
    if not isinstance(users, list):
        return ()
    return tuple(UserId(u) for u in users if isinstance(u, str))


def strip_reply_fallback(body: str, source: dict[str, Any]) -> str:
    """A reply's own text, without the quoted "> <@user> …" lines older clients put first."""
    relates = _content(source).get("m.relates_to", {})
    if not (isinstance(relates, dict) and "m.in_reply_to" in relates):
        return body
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    rest = lines[
        next((i for i, line in enumerate(lines) if not line.startswith(">")), len(lines)) :
    ]
    return "\n".join(rest).lstrip("\n")


class EventReader:
    """Hands each event of a room the bot is in to the service, as the value it reads."""

    def __init__(self, session: Session, rooms: RoomBook) -> None:
        self.session = session
        self.rooms = rooms

    async def deliver(self, room_id: str, event: Any) -> None:
        """Hand `event` (decrypted, not the bot's own) to the service, if it reads its kind."""
        at = datetime.fromtimestamp(getattr(event, "server_timestamp", 0) / 1000, UTC)
        if isinstance(event, (RoomMessageFile, RoomEncryptedFile)):
            await self._file(room_id, event, at)
        elif isinstance(event, RoomMessage):
            await self._message(room_id, event, at)
        elif isinstance(event, RoomMemberEvent):
            await self._member(room_id, event, at)
        elif isinstance(event, UnknownEvent) and event.type in polls.POLL_RESPONSE_TYPES:
            await self._vote(room_id, event, at)
        elif isinstance(event, ReactionEvent):
            await self._handler.handle_reaction(
                IncomingReaction(
                    room=room_id,
                    event_id=event.event_id,
                    sender=UserId(event.sender),
                    key=event.key,
                    reacts_to=event.reacts_to,
                    at=at,
                    unfit=await self.rooms.unfit(room_id) or (),
                )
            )
        elif isinstance(event, (BadEvent, UnknownBadEvent, StickerEvent, UnknownEvent)):
            await self._shown(room_id, event, at)

    @property
    def _handler(self) -> Handler:
        handler = self.session.handler
        assert handler is not None
        return handler

    async def _message(self, room_id: str, event: RoomMessage, at: datetime) -> None:
        # Every message that shows text (notices, emotes, media captions, edits too) is read
        # for personnummer; only a plain m.text is read as chat.
        content = _content(event.source)
        chat = is_chat(content)
        body = content.get("body") if chat else None
        await self._hand_message(
            room_id,
            event_id=event.event_id,
            sender=event.sender,
            at=at,
            body=strip_reply_fallback(body, event.source) if isinstance(body, str) else "",
            mentions=mentioned(event.source),
            texts=shown_texts(content),
            read_only=not chat,
        )

    async def _file(self, room_id: str, event: RoomMessage, at: datetime) -> None:
        content = _content(event.source)
        item = media.attachment(content)
        if item is None:
            return
        room = self.session.nio.rooms.get(room_id)
        await self._handler.handle_file(
            IncomingFile(
                room=room_id,
                event_id=event.event_id,
                sender=UserId(event.sender),
                name=item.name,
                mimetype=item.mimetype,
                size=item.size,
                ref=content,
                at=at,
                direct=room is not None and len(room.users) <= 2,
                other_text=shown_texts(content),
            )
        )

    async def _member(self, room_id: str, event: RoomMemberEvent, at: datetime) -> None:
        """Someone invited a person from a server that is not allowed: the service is told."""
        if (
            event.membership != "invite"
            or event.state_key == self.session.user_id
            or room_policy.invite_allowed(event.state_key, self.session.servers)
        ):
            return
        await self._handler.handle_invite(
            IncomingInvite(
                room=room_id,
                event_id=event.event_id,
                inviter=UserId(event.sender),
                invitee=UserId(event.state_key),
                at=at,
            )
        )

    async def _vote(self, room_id: str, event: UnknownEvent, at: datetime) -> None:
        vote = polls.poll_vote(event.type, _content(event.source))
        if vote is None:
            return
        await self._handler.handle_vote(
            IncomingVote(
                room=room_id,
                event_id=event.event_id,
                sender=UserId(event.sender),
                poll=vote.poll,
                outcome=vote.outcome,
                at=at,
            )
        )

    async def _shown(self, room_id: str, event: Any, at: datetime) -> None:
        # A sticker, a user's poll, a message nio could not parse (nio gives it no type: read
        # from its source): read for personnummer only. The bot's own outcome poll never comes
        # here (sync.py skips its events).
        source = event.source if isinstance(event.source, dict) else {}
        kind, event_id, sender = source.get("type"), source.get("event_id"), source.get("sender")
        texts = event_texts(kind, _content(source)) if isinstance(kind, str) else ()
        mine = sender == self.session.user_id
        if texts and isinstance(event_id, str) and isinstance(sender, str) and not mine:
            await self._hand_message(
                room_id, event_id=event_id, sender=sender, at=at, texts=texts, read_only=True
            )

    async def _hand_message(
        self,
        room_id: str,
        *,
        event_id: str,
        sender: str,
        at: datetime,
        texts: tuple[str, ...],
        read_only: bool,
        body: str = "",
        mentions: tuple[UserId, ...] = (),
    ) -> None:
        """Give the inbox a message of a room the bot is in (nothing for any other room)."""
        room = self.session.nio.rooms.get(room_id)
        unfit = await self.rooms.unfit(room_id)
        if room is None or unfit is None:
            return  # not a room of the bot's (any more)
        await self._handler.handle_message(
            IncomingMessage(
                room=room_id,
                event_id=event_id,
                sender=UserId(sender),
                body=body,
                at=at,
                direct=len(room.users) <= 2,
                mentions=mentions,
                other_text=texts,
                read_only=read_only,
                unfit=unfit,
            )
        )
