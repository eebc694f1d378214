"""Values the data-set contract suites build rosters and catalogues from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ServiceId, ServiceKind, Track, UserId

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


KARDIO = ServiceId("kardiologi")


NEURO = ServiceId("neurologi")


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, 0, tzinfo=UTC)


def shift(service: ServiceId, level: int, start: datetime, hours: int, who: str) -> Shift:
    return Shift(
        service=service,
        level=level,
        start=start,
        end=start + timedelta(hours=hours),
        user=UserId(f"@{who}:localhost"),
        name=who.title(),
        phone="070-000 00 00",
    )


def periods(shifts: list[Shift]) -> dict[ServiceId, tuple[datetime, datetime]]:
    result: dict[ServiceId, tuple[datetime, datetime]] = {}
    for s in shifts:
        lo, hi = result.get(s.service, (s.start, s.end))
        result[s.service] = (min(lo, s.start), max(hi, s.end))
    return result


CATALOGUE = Catalogue(
    (
        Service(
            id=KARDIO,
            name="Kardiologi",
            kind=ServiceKind.SPECIALTY,
            tracks=(Track.HALVAKUT, Track.AKUT),
            aliases=("hjärta",),
            switchboard="023-49 00 00",
        ),
        Service(id=NEURO, name="Neurologi", kind=ServiceKind.SPECIALTY, switchboard="1"),
    )
)


def handover(giver: str, taker: str, start: datetime, end: datetime, **changes: object) -> Any:

    fields: dict[str, Any] = {
        "id": 0,
        "service": KARDIO,
        "level": 1,
        "giver": UserId(f"@{giver}:localhost"),
        "taker": UserId(f"@{taker}:localhost"),
        "taker_name": taker.title(),
        "taker_phone": "070-999 99 99",
        "start": start,
        "end": end,
        "offered_by": UserId(f"@{giver}:localhost"),
        "offered_at": start,
        "answer_by": start + timedelta(minutes=10),
        "state": HandoverState.OFFERED,
    }
    fields.update(changes)
    return Handover(**fields)
