"""Values the consult-store contract suites build logs from: people, rooms, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consultbot.domain.consult.events import AckVia, Event, EventKind
from consultbot.domain.types import ConsultId, Outcome, UserId
from consultbot.ports import ConsultStore, OutboxKind, Outgoing

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


REQ = UserId("@vera:localhost")


K1 = UserId("@karin:localhost")


K2 = UserId("@bertil:localhost")


OTHER = UserId("@sven:localhost")


DM = "!dm-vera:localhost"


ROOM = "!consult:localhost"


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def requested(
    consult: ConsultId,
    *,
    requester: UserId = REQ,
    minutes: float = 0,
    unit: str = "",
    kind: str | None = None,
) -> Event:
    """The first entry; with `kind`, it records the requester's unit and kind, as the intake
    does; without, it is one written before they were recorded."""
    frozen = {"unit": unit, "requester_kind": kind} if kind is not None else {}
    return Event(
        kind=EventKind.REQUESTED,
        at=at(minutes),
        data={
            "consult": consult,
            "requester": requester,
            "service": "kardiologi",
            "track": "halvakut",
            "request_room": DM,
            "request_event": f"$ask-{consult}",
            **frozen,
        },
    )


def paged(level: int, user: UserId, minutes: float, deadline: float | None) -> Event:
    return Event(
        kind=EventKind.PAGED,
        at=at(minutes),
        data={
            "level": level,
            "people": [{"user": user, "name": user[1:4].title(), "phone": "070-111 11 11"}],
            "deadline": at(deadline).isoformat() if deadline is not None else None,
        },
    )


def room_created(room: str, minutes: float) -> Event:
    return Event(kind=EventKind.ROOM_CREATED, at=at(minutes), data={"room": room})


def acknowledged(user: UserId, minutes: float) -> Event:
    return Event(
        kind=EventKind.ACKNOWLEDGED,
        at=at(minutes),
        data={"user": user, "via": AckVia.REACTION.value, "remind_at": at(240).isoformat()},
    )


def closed(user: UserId, minutes: float) -> Event:
    return Event(
        kind=EventKind.CLOSED,
        at=at(minutes),
        data={"outcome": Outcome.ADVICE.value, "user": user},
    )


async def new_consult(
    store: ConsultStore,
    events: list[Event],
    *,
    minutes: float = 0,
    requester: UserId = REQ,
    unit: str = "",
    kind: str | None = None,
) -> ConsultId:
    """A consult whose log holds `requested` (at `minutes`) and then `events`."""
    consult = await store.allocate_consult(now=at(minutes))
    first = requested(consult, minutes=minutes, requester=requester, unit=unit, kind=kind)
    await store.record(consult, 0, [first, *events], [], now=at(minutes))
    return consult


def send(n: int, room: str = DM) -> Outgoing:
    return Outgoing(kind=OutboxKind.SEND, room=room, payload={"text": f"t{n}", "n": n})


DAY = 24 * 60  # minutes


def consult_in_room(room: str, minutes: float, *, close: bool = True) -> list[Event]:
    """Paged, a room, acknowledged and (unless `close` is False) closed, from `minutes` on."""
    events = [
        paged(1, K1, minutes, minutes + 1),
        room_created(room, minutes + 0.5),
        acknowledged(K1, minutes + 0.75),
    ]
    return [*events, closed(K1, minutes + 5)] if close else events


async def send_leaves(store: ConsultStore, now: datetime) -> None:
    """The outbox has left every room it was asked to."""
    for item in await store.pending():
        if item.kind is OutboxKind.LEAVE:
            await store.sent(item.id, now=now)
