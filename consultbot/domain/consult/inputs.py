"""What goes into a consult's step: an input, from a person, a timer or the outbox.

Named `…By` (who acts) so that they are not confused with the chat commands of commands.py:
`!kvittera` parses to `commands.Acknowledge`, which the intake turns into `AckBy` once it
knows the consult and who sent it. The outbox reports what it did as inputs too (`Delivered`,
`RoomReady`, `PollSent`, `Undeliverable`): the stepper (engine/stepper.py) steps and records
them like any other, so the log has one writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from consultbot.domain.consult.effects import EffectKind
from consultbot.domain.consult.events import AckVia, Requested
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId


@dataclass(frozen=True, kw_only=True)
class Request:
    """A new consult; `duty` and `open_now`/`opens_at` are resolved at `now` by the caller."""

    consult_id: ConsultId
    requester: UserId
    service: ServiceId
    track: Track
    request_room: str
    request_event: str
    duty: OnDuty
    open_now: bool
    opens_at: datetime | None = None
    language: str = ""
    # A conference: every service convened and who is on duty at each; the meeting link.
    services: tuple[ServiceId, ...] = ()
    duties: Mapping[ServiceId, OnDuty] = field(default_factory=dict)
    meeting_url: str = ""
    # The requester's unit and kind, frozen now (domain/consult/requester.py); "" for a
    # request made without them (a test's).
    unit: str = ""
    requester_kind: str = ""

    def requested(self) -> Requested:
        """The consult's first entry; a conference's names its first service, on track mdk."""
        return Requested(
            consult=self.consult_id,
            requester=self.requester,
            service=self.services[0] if self.services else self.service,
            track=Track.MDK if self.services else self.track,
            request_room=self.request_room,
            request_event=self.request_event,
            language=self.language,
            services=self.services,
            unit=self.unit,
            requester_kind=self.requester_kind,
        )


@dataclass(frozen=True, kw_only=True)
class Timer:
    """The consult's deadline has come; `duty` and opening state are resolved at `now`."""

    duty: OnDuty
    open_now: bool = True
    opens_at: datetime | None = None
    duties: Mapping[ServiceId, OnDuty] = field(default_factory=dict)  # a conference's services


@dataclass(frozen=True, kw_only=True)
class AckBy:
    """A reaction, `!kvittera` or a message from `user` in the consult room."""

    user: UserId
    via: AckVia


@dataclass(frozen=True, kw_only=True)
class PassOnBy:
    """`!vidare`: a paged person cannot take it; page the next level now."""

    user: UserId
    duty: OnDuty
    duties: Mapping[ServiceId, OnDuty] = field(default_factory=dict)  # a conference's services


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """The page of `level` (of `service`, in a conference; "" for the first page, which goes
    to every service at once) went out: its timeout starts now."""

    level: int
    service: str = ""


@dataclass(frozen=True, kw_only=True)
class CloseBy:
    """`!avsluta OUTCOME`, or a vote in the outcome poll."""

    user: UserId
    outcome: Outcome
    # The outcomes the consult's path offers (the active catalogue's); empty: the default
    # set of its path (domain/duty/outcomes.py).
    offered: tuple[Outcome, ...] = ()


@dataclass(frozen=True, kw_only=True)
class QueueBy:
    """`!kö`: the requester accepts queueing an out-of-hours consult for the next opening."""

    user: UserId


@dataclass(frozen=True, kw_only=True)
class CallBy:
    """`!ring`: `user` asks for the other party's number; counted as a phone contact."""

    user: UserId
    requester_phone: str = ""


@dataclass(frozen=True, kw_only=True)
class MeetingBy:
    """`!möte`: `user` sets the conference's meeting to the instant `meeting`."""

    user: UserId
    meeting: datetime


# What the outbox reports


@dataclass(frozen=True, kw_only=True)
class RoomReady:
    """The consult room exists: made now, or taken from the warm pool."""

    room: str


@dataclass(frozen=True, kw_only=True)
class PollSent:
    """The outcome poll is in the consult room as the event `event_id`."""

    event_id: str


@dataclass(frozen=True, kw_only=True)
class Undeliverable:
    """The outbox gave up on an effect of `kind` (a message after its attempts, or anything
    for a consult room that fails the room policy). Nothing in the consult changes: a page is
    never given up on, and one that cannot go out is reported when its time has run out."""

    kind: EffectKind


Input = (
    Request
    | Timer
    | AckBy
    | PassOnBy
    | Delivered
    | RoomReady
    | PollSent
    | Undeliverable
    | CloseBy
    | QueueBy
    | CallBy
    | MeetingBy
)
