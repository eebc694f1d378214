"""The order of delivery: which lane an item goes in, which items wait, which are never
given up, and which an acknowledgement or a close has made moot (see outbox.py). Each is
decided by the kind of effect (`effects.EffectKind`), never by a class or template name."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.codec import stored_kind
from consultbot.domain.consult.effects import CRITICAL, ESCALATION, KEPT, EffectKind
from consultbot.ports import OutboxItem, OutboxKind

MAX_DELIVERY_ATTEMPTS = 5
#: Replies that confirm a first page (the requester's "sent to …"): in a rush they wait while
#: its pages are read (outbox.py). Any other reply (the switchboard's number when nobody
#: answered, outside opening hours, …) waits at most while pages are being sent.
CONFIRMATIONS = frozenset({"created", "mdk_created", "queue_opened"})


class LaneKind(StrEnum):
    """Which lane of its consult (or room) an outbox entry is sent in."""

    CONSULT = "consult"  # the consult's own lane: its room, pages, notices, in order
    REPLY = "reply"  # replies to the requester: never hold up a page, nor a page them
    NOTICE = "notice"  # the escalation notice: the next level's page never waits for it
    ADMINS = "admins"  # admin alerts: one about a page that cannot go out never waits for it
    UNDELIVERED = "undelivered"  # the warning that a page is not out: never behind a reply
    INVITE = "invite"  # the requester's invite, after the first page: holds up nothing else
    ROOM = "room"  # a room's messages that belong to no consult


class Lane(NamedTuple):
    """A lane: in order within it, lanes side by side."""

    owner: str  # the consult, or the room of a message of no consult
    kind: LaneKind

    def __str__(self) -> str:
        return f"{self.owner}:{self.kind}"


#: The lane of each kind of effect that does not go in its consult's own lane.
_LANES = {
    EffectKind.REPLY: LaneKind.REPLY,
    EffectKind.UNDELIVERED_REPLY: LaneKind.UNDELIVERED,
    EffectKind.ALERT_ADMINS: LaneKind.ADMINS,
    EffectKind.ESCALATION_NOTICE: LaneKind.NOTICE,
    EffectKind.INVITE: LaneKind.INVITE,
}


def effect_kind(item: OutboxItem) -> EffectKind | None:
    """The kind of effect an item carries out, or None for an item that is no effect."""
    return stored_kind(item.payload) if item.kind is OutboxKind.EFFECT else None


def confirmation(item: OutboxItem, kind: EffectKind | None) -> bool:
    """True for a reply of kind `kind` that confirms a first page (`CONFIRMATIONS`)."""
    return kind is EffectKind.REPLY and item.payload.get("template") in CONFIRMATIONS


def kept(item: OutboxItem) -> bool:
    """Never given up: a page, the room it goes to, the requester's invite into that room."""
    return effect_kind(item) in KEPT


def lane(item: OutboxItem, kind: EffectKind | None) -> Lane:
    """The lane an item of kind `kind` is sent in: in order within a lane, lanes side by side."""
    if item.consult is None:
        return Lane(item.room, LaneKind.ROOM)
    return Lane(item.consult, _LANES.get(kind, LaneKind.CONSULT) if kind else LaneKind.CONSULT)


class Pending:
    """The unsent items as read once, with what each lane worker asks of them worked out once:
    a rush holds hundreds of items and a worker asks after every send (outbox.py)."""

    def __init__(self, items: Sequence[OutboxItem], before: Pending | None = None) -> None:
        """`before`: the last read, whose items' kinds need not be worked out again (an unsent
        item never changes)."""
        known: dict[int, EffectKind | None] = before.kinds if before is not None else {}
        self.items = list(items)
        self.kinds: dict[int, EffectKind | None] = {
            i.id: known[i.id] if i.id in known else effect_kind(i) for i in items
        }
        self.lanes: dict[Lane, list[OutboxItem]] = {}
        self.paging: set[int] = set()  # pages and the rooms they go to
        self._first_room: dict[str | None, int] = {}  # per consult: its earliest CreateRoom
        self._first_page: dict[str | None, int] = {}  # per consult: its earliest page or room
        for item in sorted(self.items, key=lambda i: i.id):
            kind = self.kinds[item.id]
            self.lanes.setdefault(lane(item, kind), []).append(item)
            if kind in CRITICAL:
                self.paging.add(item.id)
                self._first_page.setdefault(item.consult, item.id)
            if kind is EffectKind.CREATE_ROOM:
                self._first_room.setdefault(item.consult, item.id)

    def waits_for_room(self, item: OutboxItem) -> bool:
        """True for a reply whose consult room, created by an earlier entry, does not exist yet
        (the warning that a page is not out does not wait: the room may be what fails), and
        for the requester's invite while its consult's first page (or that page's room) is not
        out: the page is sent so that they can read it, then they are let in."""
        kind = self.kinds.get(item.id)
        first = (
            self._first_room
            if kind is EffectKind.REPLY
            else self._first_page
            if kind is EffectKind.INVITE
            else None
        )
        return first is not None and first.get(item.consult, item.id) < item.id


def overtaken(consult: esc.Consult, effect: esc.Effect) -> bool:
    """True for a page (or its escalation notice) that an ack or a close has made moot, and
    for the requester's word that a page has not gone out once it has. The requester's invite
    is never moot: acknowledged or closed, the consult room is theirs to read."""
    if effect.KIND is EffectKind.UNDELIVERED_REPLY:
        return not consult.page_on_its_way
    if isinstance(effect, esc.RepeatPage):
        return not _still_waiting(consult, effect)
    if effect.KIND not in ESCALATION:
        return False
    if consult.state in (esc.State.CLOSED, esc.State.WITHDRAWN):
        return True
    # The first page and its room stand: whoever acknowledged was paged by them.
    first = effect.KIND is EffectKind.CREATE_ROOM or (
        isinstance(effect, esc.PageLevel) and effect.first
    )
    if consult.is_conference and not first:
        # Each service on its own: only that service's acknowledgement makes its page moot.
        service = effect.service if isinstance(effect, esc.PageLevel) else ""
        if isinstance(effect, esc.Notice):
            service = str(effect.params.get("service", ""))
        leg = consult.leg(service)
        return leg is not None and leg.acked_by is not None
    return consult.acked_by is not None and not first


def _still_waiting(consult: esc.Consult, effect: esc.RepeatPage) -> bool:
    """True while the level a repeat is for still waits: not acknowledged, passed on,
    escalated or closed meanwhile (in a conference: that service's level)."""
    if consult.state is not esc.State.PAGING:
        return False
    if effect.service:
        leg = consult.leg(effect.service)
        return leg is not None and not leg.settled and leg.level == effect.level
    return consult.acked_by is None and consult.level == effect.level
