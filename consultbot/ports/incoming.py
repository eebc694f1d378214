"""What the messenger hands the bot: messages, files, invites, votes and reactions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consultbot.domain.chat.audience import Fault
from consultbot.domain.types import Outcome, UserId


@dataclass(frozen=True, kw_only=True)
class IncomingMessage:
    """A text message the bot can read (already decrypted)."""

    room: str
    event_id: str
    sender: UserId
    body: str
    at: datetime
    direct: bool = False
    mentions: tuple[UserId, ...] = ()  # users mentioned with a pill (`m.mentions`)
    # Everything else the event shows people, as plain text: a reply's quoted lines, the
    # formatted body's text, an edit's new content. Read for personnummer, never parsed.
    other_text: tuple[str, ...] = ()
    # An m.notice, m.emote, media caption or an edit: read for personnummer only, never a
    # command or an answer (an edit of a command is not a new command).
    read_only: bool = False
    # Why the bot may not answer in this room, a room a user opened (domain/audience.py);
    # () when it may, and always for a room the bot made (checked when it sends).
    unfit: tuple[Fault, ...] = ()


@dataclass(frozen=True, kw_only=True)
class IncomingFile:
    """A file someone sent (already decrypted as an event; its bytes are fetched on demand)."""

    room: str
    event_id: str
    sender: UserId
    name: str
    mimetype: str
    size: int | None
    ref: Mapping[str, Any]  # the event's content, to fetch it by: only the messenger reads it
    at: datetime
    direct: bool = False
    other_text: tuple[str, ...] = ()  # its name and caption as people see them (personnummer)


@dataclass(frozen=True, kw_only=True)
class IncomingInvite:
    """Someone in a room the bot is in invited someone on a server that is not allowed."""

    room: str
    event_id: str
    inviter: UserId
    invitee: UserId
    at: datetime


@dataclass(frozen=True, kw_only=True)
class IncomingVote:
    """A vote in a poll (the outcome poll): which poll, and the outcome chosen, if any."""

    room: str
    event_id: str
    sender: UserId
    poll: str
    outcome: Outcome | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class IncomingReaction:
    """A reaction (annotation) in a room the bot is in."""

    room: str
    event_id: str
    sender: UserId
    key: str
    reacts_to: str
    at: datetime
    # As for a message: why the bot may not answer in this room, () when it may.
    unfit: tuple[Fault, ...] = ()
