"""The order of delivery: which lane an item goes in, which items wait, which are never
given up, and which an acknowledgement or a close has made moot (see outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence

from consultbot.domain.consult import escalation as esc
from consultbot.ports import OutboxItem, OutboxKind

MAX_DELIVERY_ATTEMPTS = 5


def effect_type(item: OutboxItem) -> str | None:
    """The effect an item carries out (its class name), or None for a plain message."""
    if item.kind is not OutboxKind.EFFECT:
        return None
    kind = item.payload.get("type")
    return kind if isinstance(kind, str) else None


def critical(item: OutboxItem) -> bool:
    """A page, or the room it goes to: never given up."""
    return effect_type(item) in (esc.PageLevel.__name__, esc.CreateRoom.__name__)


def escalation_notice(item: OutboxItem) -> bool:
    """The notice in the consult room that the next level is being paged."""
    return effect_type(item) == esc.Notice.__name__ and item.payload.get("template") == (
        "escalating"
    )


def lane(item: OutboxItem) -> str:
    """The lane an item is sent in: in order within a lane, lanes side by side.

    Replies to the requester and the escalation notice have lanes of their own: neither holds
    up a page (the next level's invite is its first signal). Admin alerts have theirs: one
    about a page that cannot be sent must not wait behind that page.
    """
    if item.consult is None:
        return f"room:{item.room}"
    if undelivered_warning(item):
        return f"{item.consult}:undelivered"  # never behind a reply that waits for the room
    if effect_type(item) == esc.Reply.__name__:
        return f"{item.consult}:reply"
    if effect_type(item) == esc.AlertAdmins.__name__:
        return f"{item.consult}:admins"
    if escalation_notice(item):
        return f"{item.consult}:notice"
    return item.consult


def undelivered_warning(item: OutboxItem) -> bool:
    """The requester's word that a page has not gone out (the room may be what fails)."""
    return effect_type(item) == esc.Reply.__name__ and item.payload.get("template") == (
        "page_undelivered"
    )


def waits_for_room(item: OutboxItem, pending: Sequence[OutboxItem]) -> bool:
    """True for a reply whose consult room, created by an earlier entry, does not exist yet."""
    if undelivered_warning(item):
        return False
    return effect_type(item) == esc.Reply.__name__ and any(
        other.id < item.id
        and other.consult == item.consult
        and effect_type(other) == esc.CreateRoom.__name__
        for other in pending
    )


def overtaken(consult: esc.Consult, effect: esc.Effect) -> bool:
    """True for a page (or its escalation notice) that an ack or a close has made moot, and
    for the requester's word that a page has not gone out once it has."""
    if isinstance(effect, esc.Reply) and effect.template == "page_undelivered":
        waiting = [leg.pages[-1] for leg in consult.legs if leg.pages and not leg.settled]
        pages = waiting if consult.is_conference else consult.pages[-1:]
        return consult.state is not esc.State.PAGING or all(page.sent for page in pages)
    paging = isinstance(effect, esc.PageLevel | esc.CreateRoom)
    if not paging and not (isinstance(effect, esc.Notice) and effect.template == "escalating"):
        return False
    if consult.state in (esc.State.CLOSED, esc.State.WITHDRAWN):
        return True
    # The first page and its room stand: whoever acknowledged was paged by them.
    first = isinstance(effect, esc.CreateRoom) or (
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
