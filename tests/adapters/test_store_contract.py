"""One contract suite for every DataStore backend: in-memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consultbot.adapters.memory import MemoryDataStore
from consultbot.adapters.sql.stores import open_store
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.roster import Shift
from consultbot.domain.errors import NothingToRollBack
from consultbot.domain.types import Dataset, ServiceId, ServiceKind, Track, UserId
from consultbot.ports import DataStore

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


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DataStore]:
    backend: DataStore
    if request.param == "memory":
        backend = MemoryDataStore()
    elif request.param == "sqlite":
        backend = await open_store(tmp_path / "db" / "consultbot.db")
    else:
        backend = await open_store(request.getfixturevalue("pg_store_url")())
    yield backend
    await backend.close()


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


async def test_empty_store_has_nothing(store: DataStore) -> None:
    assert len(await store.catalogue()) == 0
    assert (await store.on_duty(KARDIO, NOW)).empty
    assert await store.staff() == []
    assert await store.directory() == []
    assert await store.versions(Dataset.ROSTER) == []


async def test_catalogue_round_trips_and_finds_aliases(store: DataStore) -> None:
    assert await store.import_catalogue(CATALOGUE, source="services.toml", now=NOW) == 1
    catalogue = await store.catalogue()
    assert catalogue.services == CATALOGUE.services
    assert catalogue.get("HJÄRTA").id == KARDIO


async def test_on_duty_groups_levels_and_respects_shift_ends(store: DataStore) -> None:
    shifts = [
        shift(KARDIO, 1, at(1, 7), 10, "anna"),
        shift(KARDIO, 1, at(1, 7), 10, "bertil"),
        shift(KARDIO, 2, at(1, 7), 24, "cecilia"),
        shift(KARDIO, 1, at(1, 17), 14, "david"),
        shift(NEURO, 1, at(1, 7), 10, "erik"),
    ]
    await store.import_roster(shifts, periods(shifts), source="r.csv", now=NOW)
    duty = await store.on_duty(KARDIO, at(1, 12))
    assert [(level, [s.name for s in people]) for level, people in duty.levels] == [
        (1, ["Anna", "Bertil"]),
        (2, ["Cecilia"]),
    ]
    # The end instant belongs to the next shift, not to the one ending.
    assert [s.name for s in (await store.on_duty(KARDIO, at(1, 17))).level(1)] == ["David"]
    assert (await store.on_duty(KARDIO, at(1, 6))).empty


async def test_import_replaces_only_that_services_period(store: DataStore) -> None:
    december = [shift(KARDIO, 1, at(d, 7), 10, "anna") for d in range(1, 11)]
    neuro = [shift(NEURO, 1, at(d, 7), 10, "erik") for d in range(1, 11)]
    await store.import_roster(december + neuro, periods(december + neuro), source="a", now=NOW)
    # A new file for kardiologi 5–6 December only: those days change, the rest stay.
    update = [shift(KARDIO, 1, at(d, 7), 10, "bertil") for d in (5, 6)]
    version = await store.import_roster(update, periods(update), source="b", now=NOW)
    assert version == 2
    names = {
        d: [s.name for s in (await store.on_duty(KARDIO, at(d, 12))).level(1)] for d in range(1, 11)
    }
    assert names[4] == ["Anna"] and names[5] == ["Bertil"] and names[6] == ["Bertil"]
    assert names[7] == ["Anna"]
    assert [s.name for s in (await store.on_duty(NEURO, at(5, 12))).level(1)] == ["Erik"]


async def test_roster_rollback_restores_the_previous_version(store: DataStore) -> None:
    first = [shift(KARDIO, 1, at(1, 7), 10, "anna")]
    second = [shift(KARDIO, 1, at(1, 7), 10, "bertil")]
    await store.import_roster(first, periods(first), source="a", now=NOW)
    await store.import_roster(second, periods(second), source="b", now=NOW)
    assert [s.name for s in (await store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Bertil"]
    assert await store.rollback(Dataset.ROSTER, now=NOW) == 1
    assert [s.name for s in (await store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Anna"]
    versions = await store.versions(Dataset.ROSTER)
    assert [(v.number, v.active, v.rolled_back) for v in versions] == [
        (2, False, True),
        (1, True, False),
    ]
    with pytest.raises(NothingToRollBack):
        await store.rollback(Dataset.ROSTER, now=NOW)
    assert [s.name for s in (await store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Anna"]


async def test_import_after_rollback_builds_on_the_restored_version(store: DataStore) -> None:
    one = [shift(KARDIO, 1, at(1, 7), 10, "anna")]
    two = [shift(KARDIO, 1, at(1, 7), 10, "bertil")]
    three = [shift(KARDIO, 1, at(2, 7), 10, "cecilia")]
    for rows, source in ((one, "1"), (two, "2")):
        await store.import_roster(rows, periods(rows), source=source, now=NOW)
    await store.rollback(Dataset.ROSTER, now=NOW)
    assert await store.import_roster(three, periods(three), source="3", now=NOW) == 3
    assert [s.name for s in (await store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Anna"]
    assert [s.name for s in (await store.on_duty(KARDIO, at(2, 12))).level(1)] == ["Cecilia"]
    assert await store.rollback(Dataset.ROSTER, now=NOW) == 1
    assert (await store.on_duty(KARDIO, at(2, 12))).empty


async def test_shifts_lists_a_services_shifts_in_a_period(store: DataStore) -> None:
    rows = [shift(KARDIO, lvl, at(d, 7), 10, f"p{d}{lvl}") for d in range(1, 6) for lvl in (2, 1)]
    await store.import_roster(rows, periods(rows), source="a", now=NOW)
    found = await store.shifts(KARDIO, at(2, 0), at(4, 0))
    assert [(s.start.day, s.level) for s in found] == [(2, 1), (2, 2), (3, 1), (3, 2)]
    assert len(await store.shifts(KARDIO)) == 10
    assert await store.shifts(NEURO) == []


async def test_staff_and_directory_versions_and_rollback(store: DataStore) -> None:
    anna = StaffMember(user=UserId("@anna:localhost"), name="Anna", unit=KARDIO, phone="1")
    bo = StaffMember(user=UserId("@bo:localhost"), name="Bo", unit=NEURO)
    await store.import_staff([anna], source="a", now=NOW)
    await store.import_staff([anna, bo], source="b", now=NOW)
    assert await store.staff_member(UserId("@bo:localhost")) == bo
    await store.rollback(Dataset.STAFF, now=NOW)
    assert await store.staff_member(UserId("@bo:localhost")) is None
    assert await store.staff() == [anna]

    entry = DirectoryEntry(unit="falu", name="Falu lasarett växel", phone="023-49 00 00")
    await store.import_directory([entry], source="d", now=NOW)
    assert await store.directory() == [entry]
    with pytest.raises(NothingToRollBack):
        await store.rollback(Dataset.DIRECTORY, now=NOW)


async def test_catalogue_rollback(store: DataStore) -> None:
    await store.import_catalogue(CATALOGUE, source="a", now=NOW)
    smaller = Catalogue(CATALOGUE.services[:1])
    await store.import_catalogue(smaller, source="b", now=NOW)
    assert "neurologi" not in await store.catalogue()
    assert await store.rollback(Dataset.CATALOGUE, now=NOW) == 1
    assert "neurologi" in await store.catalogue()


async def test_an_upload_waits_per_admin_and_a_new_one_replaces_it(store: DataStore) -> None:
    from consultbot.domain.files.uploads import PendingUpload

    admin, other = UserId("@admin:localhost"), UserId("@other:localhost")
    first = PendingUpload(
        admin=admin,
        room="!dm:localhost",
        dataset=Dataset.ROSTER,
        name="schema.csv",
        data=b"service,level\n",
        uploaded_at=NOW,
    )
    assert await store.pending_upload(admin) is None
    await store.save_upload(first)
    assert await store.pending_upload(admin) == first
    assert await store.pending_upload(other) is None
    second = PendingUpload(
        admin=admin,
        room="!admin:localhost",
        dataset=Dataset.STAFF,
        name="personal.csv",
        data=b"\x00\xff binary kept as is",
        uploaded_at=NOW + timedelta(minutes=5),
    )
    await store.save_upload(second)
    assert await store.pending_upload(admin) == second
    assert await store.drop_upload(admin) is True
    assert await store.drop_upload(admin) is False
    assert await store.pending_upload(admin) is None


async def test_admin_actions_are_kept_in_order_with_who_and_when(store: DataStore) -> None:
    await store.record_admin_action(
        actor=UserId("@eve:localhost"), action="upload", allowed=False, detail="", now=NOW
    )
    later = NOW + timedelta(seconds=1)
    await store.record_admin_action(
        actor=UserId("@admin:localhost"),
        action="rollback",
        allowed=True,
        detail="roster: version 2 undone, version 1 active",
        now=later,
    )
    actions = await store.admin_actions()
    assert [(a.actor, a.action, a.allowed, a.at) for a in actions] == [
        ("@eve:localhost", "upload", False, NOW),
        ("@admin:localhost", "rollback", True, later),
    ]
    assert actions[1].detail.startswith("roster: version 2 undone")


# Handovers: a layer over the roster (SPEC §6)


def handover(giver: str, taker: str, start: datetime, end: datetime, **changes: object) -> Any:
    from consultbot.domain.duty.handover import Handover, HandoverState

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


async def test_an_accepted_handover_is_laid_over_the_roster_for_its_period(
    store: DataStore,
) -> None:
    from consultbot.domain.duty.handover import HandoverState

    await store.import_catalogue(CATALOGUE, source="c", now=NOW)
    day = [shift(KARDIO, 1, at(1, 8), 10, "anna"), shift(KARDIO, 2, at(1, 8), 10, "bo")]
    await store.import_roster(day, periods(day), source="r", now=NOW)
    [offered] = await store.add_handovers([handover("anna", "cilla", at(1, 10), at(1, 14))])
    assert offered.id > 0
    # Offered is not accepted: the roster's person is still on duty.
    assert [s.user for s in (await store.on_duty(KARDIO, at(1, 11))).level(1)] == [
        "@anna:localhost"
    ]
    accepted = await store.decide_handover(offered.id, HandoverState.ACCEPTED, now=at(1, 10))
    assert accepted is not None and accepted.state is HandoverState.ACCEPTED
    # Decided once: a lapse after the acceptance changes nothing.
    assert await store.decide_handover(offered.id, HandoverState.LAPSED, now=at(1, 11)) is None
    [cover] = (await store.on_duty(KARDIO, at(1, 11))).level(1)
    assert (cover.user, cover.name, cover.phone) == ("@cilla:localhost", "Cilla", "070-999 99 99")
    assert [s.user for s in (await store.on_duty(KARDIO, at(1, 11))).level(2)] == ["@bo:localhost"]
    # Before and after its period the roster stands; it ends by itself.
    assert [s.user for s in (await store.on_duty(KARDIO, at(1, 9))).level(1)] == ["@anna:localhost"]
    assert [s.user for s in (await store.on_duty(KARDIO, at(1, 15))).level(1)] == [
        "@anna:localhost"
    ]
    level1 = [(s.user, s.start, s.end) for s in await store.shifts(KARDIO) if s.level == 1]
    assert level1 == [
        ("@anna:localhost", at(1, 8), at(1, 10)),
        ("@cilla:localhost", at(1, 10), at(1, 14)),
        ("@anna:localhost", at(1, 14), at(1, 18)),
    ]
    # A roster import keeps the handover: it is a layer, not a change to the roster.
    again = [shift(KARDIO, 1, at(1, 8), 10, "anna"), shift(KARDIO, 2, at(1, 8), 10, "bo")]
    await store.import_roster(again, periods(again), source="r2", now=NOW)
    assert [s.user for s in (await store.on_duty(KARDIO, at(1, 11))).level(1)] == [
        "@cilla:localhost"
    ]
    assert [h.state for h in await store.handovers()] == [HandoverState.ACCEPTED]
