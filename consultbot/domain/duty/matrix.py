"""The plan's matrix: for every service and contact path, who may use it, when, and its
routine (duty/routines.py) — what `!rutin` shows, what the web board lists, and which path is
open instead when a requester's kind is turned away from one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.routines import Routine
from consultbot.domain.types import RequesterKind, ServiceKind, Track


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One service on one path: who may use it, its hours in force, and its routine."""

    service: Service
    track: Track
    hours: Hours
    routine: Routine

    @property
    def open_to(self) -> tuple[RequesterKind, ...]:
        """The requester kinds the path is open to (unknown requesters always are)."""
        return self.routine.open_to


def path_hours(service: Service | None, track: Track, track_hours: Mapping[Track, Hours]) -> Hours:
    """The hours of `service` on `track`: its routine's, else the track's."""
    own = service.routine(track).hours if service is not None else None
    return own or track_hours[track]


def matrix(catalogue: Catalogue, track_hours: Mapping[Track, Hours]) -> list[Cell]:
    """Every service that is paged (not the units that only ask) on every path it serves, in
    catalogue order and the paths in `Track` order."""
    return [
        Cell(
            service=service,
            track=track,
            hours=path_hours(service, track, track_hours),
            routine=service.routine(track),
        )
        for service in catalogue.services
        if not service.asks_only
        for track in Track
        if track in service.tracks
    ]


@dataclass(frozen=True, kw_only=True)
class Instead:
    """Where a requester turned away from a path may go: the service's own paths open to
    them, and whether the fourth path (`!vc`, a vårdcentral's doctor on duty) is."""

    tracks: tuple[Track, ...] = ()
    primary_care: bool = False


def open_instead(catalogue: Catalogue, service: Service, kind: RequesterKind) -> Instead:
    """The paths open to `kind` in place of a closed one: the service's own (a conference
    aside: it needs other services too) and, unless the service is a vårdcentral itself, the
    fourth path when some vårdcentral keeps it open to them."""
    own = tuple(
        t
        for t in Track
        if t in service.tracks and t is not Track.MDK and service.routine(t).open_for(kind)
    )
    fourth = service.kind is not ServiceKind.PRIMARY_CARE and any(
        Track.PRIMARVARD in s.tracks and s.routine(Track.PRIMARVARD).open_for(kind)
        for s in catalogue.services
    )
    return Instead(tracks=own, primary_care=fourth and Track.PRIMARVARD not in own)
