"""A consult as its log says it is now: the state both lifecycles (escalation.py for a
consult of one service, conference.py for a `!mdk`) fold their entries into. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from consultbot.domain.consult.events import Paged, Person, Requested
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId


class State(StrEnum):
    """Where a consult is in its lifecycle."""

    OFFERED = "offered"
    QUEUED = "queued"
    PAGING = "paging"
    ACKNOWLEDGED = "acknowledged"
    UNANSWERED = "unanswered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


OPEN_STATES = frozenset({State.OFFERED, State.QUEUED, State.PAGING, State.ACKNOWLEDGED})


@dataclass(frozen=True, kw_only=True)
class Page:
    """One escalation level paged at one instant (decided then; `sent` once it went out)."""

    level: int
    people: tuple[Person, ...]
    at: datetime
    sent: bool = True


@dataclass(frozen=True, kw_only=True)
class Policy:
    """The timing rules of one track, from the config."""

    ack_timeout: timedelta
    reminder_after: timedelta = timedelta(hours=4)
    auto_close_after: timedelta = timedelta(hours=24)
    meeting_reminder_before: timedelta = timedelta(minutes=15)  # conferences (`!möte`)
    # An unacknowledged page is repeated at this share of `ack_timeout` after it went out
    # (config `tracks.NAME.repeat_share`); 0 = never.
    repeat_share: float = 0.0

    def repeat_at(self, delivered: datetime) -> datetime | None:
        """When a page that went out at `delivered` is repeated, unacknowledged."""
        if self.repeat_share <= 0:
            return None
        return delivered + self.ack_timeout * self.repeat_share


@dataclass(frozen=True, kw_only=True)
class _Paged:
    """What a consult and each service of a conference have alike: its pages and its
    acknowledgement."""

    pages: tuple[Page, ...] = ()
    skipped: tuple[int, ...] = ()
    deadline: datetime | None = None
    acked_by: UserId | None = None
    acked_at: datetime | None = None
    repeat_at: datetime | None = None  # the current level's repeat, while it is due
    repeated_at: datetime | None = None  # the first repeat of any level (stats)

    @property
    def level(self) -> int:
        """The level paged last (0 before any page)."""
        return self.pages[-1].level if self.pages else 0

    @property
    def paged_users(self) -> frozenset[UserId]:
        """Everyone paged, at any level."""
        return frozenset(p.user for page in self.pages for p in page.people)

    def person(self, user: UserId) -> Person | None:
        """The paged person `user`, with the name and phone from their shift."""
        for page in reversed(self.pages):
            for person in page.people:
                if person.user == user:
                    return person
        return None


@dataclass(frozen=True, kw_only=True)
class Leg(_Paged):
    """One service of a conference, as its entries of the log say it is now."""

    service: ServiceId
    unanswered: bool = False

    @property
    def settled(self) -> bool:
        """Acknowledged, or nobody left to page."""
        return self.acked_by is not None or self.unanswered


@dataclass(frozen=True, kw_only=True)
class Consult(_Paged):
    """A consult, as its event log says it is now."""

    id: ConsultId
    requester: UserId
    service: ServiceId
    track: Track
    request_room: str
    request_event: str
    requested_at: datetime
    state: State = State.PAGING
    room: str = ""
    opens_at: datetime | None = None
    outcome: Outcome | None = None
    closed_by: UserId | None = None
    closed_at: datetime | None = None
    reminded: bool = False
    passed_on: int = 0
    phone_contacts: int = 0
    language: str = ""  # the requester's answers' language ("" = the config's)
    poll: str = ""  # the event id of the outcome poll in the consult room, once posted
    # A conference (`!mdk`): its services and each one's own escalation (domain/conference.py)
    services: tuple[ServiceId, ...] = ()
    legs: tuple[Leg, ...] = ()
    closing_deadline: datetime | None = None  # reminder / auto-close of an acknowledged one
    meeting_at: datetime | None = None
    meeting_remind_at: datetime | None = None
    meeting_reminded: datetime | None = None  # the meeting time the last reminder was for

    @property
    def is_conference(self) -> bool:
        """True for a multidisciplinary conference (several services, track mdk)."""
        return bool(self.services)

    def leg(self, service: str) -> Leg | None:
        """A conference's escalation of one of its services."""
        return next((leg for leg in self.legs if leg.service == service), None)

    @property
    def escalated(self) -> bool:
        """True when any level above the first was paged."""
        return any(page.level > 1 for page in self.pages)

    @property
    def repeats_due(self) -> list[datetime]:
        """When an unacknowledged page is to be repeated: the consult's current level, or each
        waiting service's of a conference. Nothing once acknowledged, unanswered or closed."""
        if self.state is not State.PAGING:
            return []
        if self.is_conference:
            waiting = [leg.repeat_at for leg in self.legs if not leg.settled]
            return [at for at in waiting if at is not None]
        return [self.repeat_at] if self.repeat_at is not None else []

    @property
    def page_on_its_way(self) -> bool:
        """True while the consult waits for its last page (a conference: that of any service
        still waiting) to go out: decided, not yet taken by the homeserver."""
        if self.state is not State.PAGING:
            return False
        if self.is_conference:
            pages = [leg.pages[-1] for leg in self.legs if leg.pages and not leg.settled]
        else:
            pages = list(self.pages[-1:])
        return not all(page.sent for page in pages)

    @property
    def due(self) -> datetime | None:
        """The earliest of the deadline and the repeats due: when the consult's timer fires."""
        times = self.repeats_due
        if self.deadline is not None:
            times.append(self.deadline)
        return min(times, default=None)

    @property
    def repeated(self) -> bool:
        """True when a page of the consult (of any service of a conference) was repeated."""
        return self.repeated_at is not None or any(leg.repeated_at for leg in self.legs)

    @property
    def is_open(self) -> bool:
        """True until the consult is closed, unanswered or withdrawn."""
        return self.state in OPEN_STATES

    def ack_seconds(self) -> float | None:
        """Seconds from the first page to the acknowledgement."""
        if self.acked_at is None or not self.pages:
            return None
        return (self.acked_at - self.pages[0].at).total_seconds()


def paged_page(payload: Paged, at: datetime) -> Page:
    """The page a `paged` entry records; one from before delivery was recorded counts as sent."""
    return Page(
        level=payload.level, people=payload.people, at=at, sent=payload.deadline is not None
    )


def started(payload: Requested, at: datetime) -> Consult:
    """The consult its first entry (`requested` at `at`) opens."""
    return Consult(
        id=payload.consult,
        requester=payload.requester,
        service=payload.service,
        track=payload.track,
        request_room=payload.request_room,
        request_event=payload.request_event,
        requested_at=at,
        state=State.PAGING,
        language=payload.language,
        services=payload.services,
        legs=tuple(Leg(service=s) for s in payload.services),
    )
