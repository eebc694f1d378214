"""A world for conferences (`!mdk`) on the hand-driven bot: kardiologi, neurologi and onkologi,
each with its own switchboard; onkologi has nobody at level 1, so its level 2 is paged at once.

`make(**conference_world())` (or `build(store, **conference_world())`) gives such a bot.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ServiceId, ServiceKind, Track, UserId
from tests.support.bots import NOW, make_config

KARD, NEURO, ONK = ServiceId("kardiologi"), ServiceId("neurologi"), ServiceId("onkologi")
A1, B1, B2, D2 = (
    UserId("@anna:localhost"),
    UserId("@bo:localhost"),
    UserId("@britt:localhost"),
    UserId("@dan:localhost"),
)
TIMEOUT = timedelta(minutes=30)  # the conference track's acknowledgement timeout
URL = "https://meet.region.example/mdk-{consult}"


def service(sid: ServiceId, name: str, *tracks: Track, board: str) -> Service:
    return Service(id=sid, name=name, kind=ServiceKind.SPECIALTY, tracks=tracks, switchboard=board)


CATALOGUE = Catalogue(
    (
        service(KARD, "Kardiologi", Track.HALVAKUT, Track.MDK, board="023-49 00 00"),
        service(NEURO, "Neurologi", Track.MDK, board="023-49 00 01"),
        service(ONK, "Onkologi", Track.MDK, board="023-49 00 02"),
        service(ServiceId("ortopedi"), "Ortopedi", Track.HALVAKUT, board="023-49 00 03"),
    )
)


def shifts() -> list[Shift]:
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=3)

    def on(sid: ServiceId, level: int, user: UserId, name: str) -> Shift:
        return Shift(
            service=sid, level=level, start=start, end=end, user=user, name=name, phone="070-1"
        )

    return [
        on(KARD, 1, A1, "Anna Alm"),
        on(NEURO, 1, B1, "Bo Berg"),
        on(NEURO, 2, B2, "Britt Bak"),
        on(ONK, 2, D2, "Dan Dahl"),
    ]


def conference_world() -> dict[str, Any]:
    """`build` options: this catalogue and roster, and a conference track with a meeting link."""
    config = make_config()
    tracks = dict(config.tracks)
    tracks[Track.MDK] = replace(
        tracks[Track.MDK], ack_timeout_seconds=int(TIMEOUT.total_seconds()), meeting_url=URL
    )
    return {"catalogue": CATALOGUE, "roster": shifts(), "config": replace(config, tracks=tracks)}
