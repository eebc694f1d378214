"""What a consult's step asks the outbox to do: effects, each of one kind.

`EffectKind` is the closed set of kinds; its values are the names the outbox stores an effect
under (codec.py). They are stored: never change one. A class is found by its kind
(`EFFECTS`), never by its Python name, so a class may be renamed freely. The values of the
kinds that existed before this table are the class names they were stored under then.

Two messages have kinds of their own because delivery treats them apart, by kind: the notice
that the next level is being paged (`EscalationNotice`: dropped once overtaken, never holds
up the page) and the requester's warning that a page has not gone out (`UndeliveredReply`:
dropped once the page is out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum, unique
from typing import Any, ClassVar, get_args

from consultbot.domain.consult.events import Event, Person
from consultbot.domain.consult.model import Consult
from consultbot.domain.types import Outcome, UserId


@unique
class EffectKind(StrEnum):
    """Every kind of effect, by the name it is stored under."""

    REPLY = "Reply"
    CREATE_ROOM = "CreateRoom"
    PAGE_LEVEL = "PageLevel"
    NOTICE = "Notice"
    ALERT_ADMINS = "AlertAdmins"
    DIRECT = "Direct"
    POST_POLL = "PostPoll"
    END_POLL = "EndPoll"
    ADD_WIDGET = "AddWidget"
    ESCALATION_NOTICE = "EscalationNotice"
    UNDELIVERED_REPLY = "UndeliveredReply"
    REPEAT_PAGE = "RepeatPage"
    INVITE = "Invite"


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A notice to the requester in the room where they asked."""

    KIND: ClassVar[EffectKind] = EffectKind.REPLY
    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class UndeliveredReply(Reply):
    """The requester's word that the page of `params["level"]` has not gone out in time."""

    KIND: ClassVar[EffectKind] = EffectKind.UNDELIVERED_REPLY
    template: str = "page_undelivered"


@dataclass(frozen=True, kw_only=True)
class CreateRoom:
    """Create the consult's encrypted room and invite these people (the paged ones: the
    requester follows the first page, `Invite`)."""

    KIND: ClassVar[EffectKind] = EffectKind.CREATE_ROOM
    invite: tuple[UserId, ...]


@dataclass(frozen=True, kw_only=True)
class PageLevel:
    """Invite a level's people into the consult room and page them (m.text with mentions)."""

    KIND: ClassVar[EffectKind] = EffectKind.PAGE_LEVEL
    level: int
    people: tuple[Person, ...]
    first: bool
    service: str = ""  # a conference's escalation of one service ("" for its first page)


@dataclass(frozen=True, kw_only=True)
class Invite:
    """Invite the requester into the consult room, in the consult's order right after its
    first page. The page's room key went to them with the page (`Messenger.expect`), so they
    read it once they join; their invite and join no longer stand in the homeserver's queue
    before the page. Never given up, never moot (acknowledged or closed, the room is theirs
    to read)."""

    KIND: ClassVar[EffectKind] = EffectKind.INVITE
    users: tuple[UserId, ...]


@dataclass(frozen=True, kw_only=True)
class RepeatPage:
    """Page a level's people again, unacknowledged (m.text with mentions, so phones notify
    again): no invite, and no timeout starts. Dropped once the level (the service, in a
    conference) acknowledged, passed on or escalated, or the consult closed."""

    KIND: ClassVar[EffectKind] = EffectKind.REPEAT_PAGE
    level: int
    people: tuple[Person, ...]
    service: str = ""  # a conference's service ("" for a consult)


@dataclass(frozen=True, kw_only=True)
class Notice:
    """A status notice (m.notice) in the consult room."""

    KIND: ClassVar[EffectKind] = EffectKind.NOTICE
    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EscalationNotice(Notice):
    """The notice in the consult room that the next level (of `params["service"]`, in a
    conference) is being paged."""

    KIND: ClassVar[EffectKind] = EffectKind.ESCALATION_NOTICE
    template: str = "escalating"


@dataclass(frozen=True, kw_only=True)
class AlertAdmins:
    """Tell the admins (admin room) about something that needs a person."""

    KIND: ClassVar[EffectKind] = EffectKind.ALERT_ADMINS
    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Direct:
    """A notice to one person in their direct chat with the bot."""

    KIND: ClassVar[EffectKind] = EffectKind.DIRECT
    user: UserId
    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PostPoll:
    """Post the outcome poll (MSC3381) in the consult room; one vote closes the consult."""

    KIND: ClassVar[EffectKind] = EffectKind.POST_POLL


@dataclass(frozen=True, kw_only=True)
class EndPoll:
    """End the outcome poll: the consult was closed with `outcome`."""

    KIND: ClassVar[EffectKind] = EffectKind.END_POLL
    outcome: str


@dataclass(frozen=True, kw_only=True)
class AddWidget:
    """Add the meeting link as a room widget (state, unencrypted: no patient data)."""

    KIND: ClassVar[EffectKind] = EffectKind.ADD_WIDGET
    url: str
    name: str


Effect = (
    Reply
    | UndeliveredReply
    | CreateRoom
    | PageLevel
    | Invite
    | RepeatPage
    | Notice
    | EscalationNotice
    | AlertAdmins
    | Direct
    | PostPoll
    | EndPoll
    | AddWidget
)

#: The class of each kind: the one table the stored names are read by.
EFFECTS: Mapping[EffectKind, type[Effect]] = {cls.KIND: cls for cls in get_args(Effect)}

#: A page, and the room it goes to: never given up (a lost page is a patient waiting).
CRITICAL = frozenset({EffectKind.PAGE_LEVEL, EffectKind.CREATE_ROOM})

#: What is never given up: a page, its room, and the requester's way into that room.
KEPT = CRITICAL | {EffectKind.INVITE}

#: The escalation of one level: what an acknowledgement makes moot.
ESCALATION = frozenset(
    {EffectKind.PAGE_LEVEL, EffectKind.CREATE_ROOM, EffectKind.ESCALATION_NOTICE}
)

#: What one step gives: the entries to append to the log, the effects to carry out.
Transition = tuple[list[Event], list[Effect]]


def undelivered(level: int) -> list[Effect]:
    """A page still not out when its time would have run out (the homeserver down, the consult
    room gone): the requester is told to call, the admins to look. It is still being sent."""
    return [
        UndeliveredReply(params={"level": level}),
        AlertAdmins(template="admin_page_undelivered", params={"level": level}),
    ]


def end_poll(consult: Consult, outcome: Outcome) -> list[Effect]:
    """Ending the outcome poll, when there is one: nobody votes on a closed consult (or
    conference)."""
    return [EndPoll(outcome=outcome.value)] if consult.poll else []


def late_reply(person: Person) -> Reply:
    """The requester, told that nobody answered, hears where they asked that someone has."""
    return Reply(template="late_acknowledged", params={"name": person.name, "phone": person.phone})
