"""The statistics port (`Stats`) on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from consultbot.adapters.memory import MemoryConsultStore, MemoryDataStore
from consultbot.domain.consult.stats import aggregate
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ServiceId, ServiceKind, UserId
from consultbot.ports import ConsultStore, DataStore
from tests.adapters.contract.consult_events import (
    K1,
    NOW,
    OTHER,
    REQ,
    ROOM,
    acknowledged,
    at,
    closed,
    new_consult,
    paged,
    room_created,
)


async def test_consults_between_is_by_request_time_half_open(store: ConsultStore) -> None:
    early = await new_consult(store, [], minutes=0)
    middle = await new_consult(store, [], minutes=10)
    await new_consult(store, [], minutes=20)
    found = await store.consults_between(at(0), at(20))
    assert sorted(c.id for c in found) == sorted([early, middle])


async def test_stats_table_counts_the_consults_requested_in_the_period(
    store: ConsultStore,
) -> None:
    """What `!statistik` and the monthly report count: the same facts from every backend."""
    await new_consult(
        store,
        [
            paged(1, K1, 0, 1),
            room_created(ROOM, 0),
            acknowledged(K1, 2),
            closed(K1, 5),
        ],
    )
    await new_consult(store, [paged(1, K1, 10, 11)], minutes=10)
    await new_consult(store, [paged(1, K1, 60 * 24, None)], minutes=60 * 24)  # the next day
    await new_consult(store, [], minutes=20)  # nobody paged, not queued: not counted
    table = await store.stats_table(at(0), at(60 * 24))
    report = aggregate(table, date(2026, 11, 23), date(2026, 11, 23))
    assert report["consults"] == 2 and report["acknowledged"] == 1
    assert report["outcomes"]["advice"] == 1 and report["outcomes"]["open"] == 1
    assert report["ack_seconds"] == {"median": 120.0, "p90": 120.0}
    assert list(report["by_requester_unit"]) == ["okänd"]


async def test_the_fourth_paths_outcomes_round_trip_through_the_stats_table(
    store: ConsultStore,
) -> None:
    """Issue 23: `home`, `primary_care` and `home_visit` are stored (4-bit status after `open`)
    and counted as themselves, beside the older outcomes."""
    outcomes = ["home", "primary_care", "home_visit", "home", "advice", "ed"]
    for n, outcome in enumerate(outcomes):
        close = replace(closed(K1, 5 + n), data={"outcome": outcome, "user": K1})
        await new_consult(
            store, [paged(1, K1, n, n + 1), acknowledged(K1, n + 2), close], minutes=n
        )
    table = await store.stats_table(at(0), at(60))
    report = aggregate(table, date(2026, 11, 23), date(2026, 11, 23))
    assert {k: v for k, v in report["outcomes"].items() if v} == {
        "home": 2,
        "primary_care": 1,
        "home_visit": 1,
        "advice": 1,
        "ed": 1,
    }
    summaries = sorted(
        c.outcome.value for c in await store.consults_between(at(0), at(60)) if c.outcome
    )
    assert summaries == sorted(outcomes)


CATALOGUE = Catalogue(
    (
        Service(id=ServiceId("vc-mora"), name="Vårdcentralen Mora", kind=ServiceKind.PRIMARY_CARE),
        Service(id=ServiceId("ambulans-dalarna"), name="Ambulansen", kind=ServiceKind.AMBULANCE),
        Service(
            id=ServiceId("kommun-mora-hsl"), name="Hemsjukvård", kind=ServiceKind.MUNICIPAL_CARE
        ),
    )
)


async def give_lists(store: ConsultStore, units: dict[UserId, str]) -> None:
    """The catalogue above and a staff list of `units` (for memory: the store's `staff`)."""
    members = [StaffMember(user=u, name=u[1:5], unit=ServiceId(unit)) for u, unit in units.items()]
    data: DataStore
    if isinstance(store, DataStore):
        data = store
    else:
        assert isinstance(store, MemoryConsultStore)
        data = store.staff = store.staff or MemoryDataStore()
    await data.import_catalogue(CATALOGUE, source="test", now=NOW)
    await data.import_staff(members, source="test", now=NOW)


async def who_asked(store: ConsultStore) -> tuple[dict[str, int], dict[str, int]]:
    day = date(2026, 11, 23)
    report = aggregate(await store.stats_table(at(0), at(60 * 24)), day, day)
    units = {k: v["consults"] for k, v in report["by_requester_unit"].items()}
    return units, {k: v["consults"] for k, v in report["by_requester_kind"].items()}


async def test_the_requester_is_counted_as_frozen_at_request_time(store: ConsultStore) -> None:
    await give_lists(store, {REQ: "vc-mora", OTHER: "ambulans-dalarna"})
    page = [paged(1, K1, 0, 1)]
    await new_consult(store, page, unit="vc-mora", kind="primary_care")
    await new_consult(store, page, requester=OTHER, unit="ambulans-dalarna", kind="ambulance")
    await new_consult(store, page, requester=K1, kind="unknown")  # not on the staff list
    # Written before the requested entry recorded them: frozen from the lists on first record.
    await new_consult(store, page, requester=OTHER)
    frozen = (
        {"ambulans-dalarna": 2, "vc-mora": 1, "okänd": 1},
        {"primary_care": 1, "ambulance": 2, "unknown": 1},
    )
    assert await who_asked(store) == frozen
    # The staff list changes: the requester leaves, the ambulance nurse moves to the
    # municipality, the stranger is added. What was asked stays as it was asked.
    await give_lists(store, {OTHER: "kommun-mora-hsl", K1: "vc-mora"})
    await new_consult(store, [paged(1, K1, 5, 6)], minutes=5, requester=OTHER)
    assert await who_asked(store) == (
        {"ambulans-dalarna": 2, "kommun-mora-hsl": 1, "vc-mora": 1, "okänd": 1},
        {"primary_care": 1, "ambulance": 2, "municipal_care": 1, "unknown": 1},
    )
