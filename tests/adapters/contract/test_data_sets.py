"""The data-set port (`DataSets`) on every backend: versioned imports, lookups, rollback."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.outcomes import PRIMARY_CARE_OUTCOMES, SPECIALIST_OUTCOMES
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.routines import Document, Routine
from consultbot.domain.errors import NothingToRollBack
from consultbot.domain.types import Dataset, Outcome, RequesterKind, Track, UserId
from consultbot.ports import DataStore
from tests.adapters.contract.duty_values import (
    CATALOGUE,
    KARDIO,
    NEURO,
    NOW,
    at,
    periods,
    shift,
)


async def test_empty_store_has_nothing(data_store: DataStore) -> None:
    assert len(await data_store.catalogue()) == 0
    assert (await data_store.on_duty(KARDIO, NOW)).empty
    assert await data_store.staff() == []
    assert await data_store.directory() == []
    assert await data_store.versions(Dataset.ROSTER) == []


async def test_catalogue_round_trips_and_finds_aliases(data_store: DataStore) -> None:
    assert await data_store.import_catalogue(CATALOGUE, source="services.toml", now=NOW) == 1
    catalogue = await data_store.catalogue()
    assert catalogue.services == CATALOGUE.services
    assert catalogue.get("HJÄRTA").id == KARDIO


async def test_on_duty_groups_levels_and_respects_shift_ends(data_store: DataStore) -> None:
    shifts = [
        shift(KARDIO, 1, at(1, 7), 10, "anna"),
        shift(KARDIO, 1, at(1, 7), 10, "bertil"),
        shift(KARDIO, 2, at(1, 7), 24, "cecilia"),
        shift(KARDIO, 1, at(1, 17), 14, "david"),
        shift(NEURO, 1, at(1, 7), 10, "erik"),
    ]
    await data_store.import_roster(shifts, periods(shifts), source="r.csv", now=NOW)
    duty = await data_store.on_duty(KARDIO, at(1, 12))
    assert [(level, [s.name for s in people]) for level, people in duty.levels] == [
        (1, ["Anna", "Bertil"]),
        (2, ["Cecilia"]),
    ]
    # The end instant belongs to the next shift, not to the one ending.
    assert [s.name for s in (await data_store.on_duty(KARDIO, at(1, 17))).level(1)] == ["David"]
    assert (await data_store.on_duty(KARDIO, at(1, 6))).empty


async def test_import_replaces_only_that_services_period(data_store: DataStore) -> None:
    december = [shift(KARDIO, 1, at(d, 7), 10, "anna") for d in range(1, 11)]
    neuro = [shift(NEURO, 1, at(d, 7), 10, "erik") for d in range(1, 11)]
    await data_store.import_roster(december + neuro, periods(december + neuro), source="a", now=NOW)
    # A new file for kardiologi 5–6 December only: those days change, the rest stay.
    update = [shift(KARDIO, 1, at(d, 7), 10, "bertil") for d in (5, 6)]
    version = await data_store.import_roster(update, periods(update), source="b", now=NOW)
    assert version == 2
    names = {
        d: [s.name for s in (await data_store.on_duty(KARDIO, at(d, 12))).level(1)]
        for d in range(1, 11)
    }
    assert names[4] == ["Anna"] and names[5] == ["Bertil"] and names[6] == ["Bertil"]
    assert names[7] == ["Anna"]
    assert [s.name for s in (await data_store.on_duty(NEURO, at(5, 12))).level(1)] == ["Erik"]


async def test_roster_rollback_restores_the_previous_version(data_store: DataStore) -> None:
    first = [shift(KARDIO, 1, at(1, 7), 10, "anna")]
    second = [shift(KARDIO, 1, at(1, 7), 10, "bertil")]
    await data_store.import_roster(first, periods(first), source="a", now=NOW)
    await data_store.import_roster(second, periods(second), source="b", now=NOW)
    assert [s.name for s in (await data_store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Bertil"]
    assert await data_store.rollback(Dataset.ROSTER, now=NOW) == 1
    assert [s.name for s in (await data_store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Anna"]
    versions = await data_store.versions(Dataset.ROSTER)
    assert [(v.number, v.active, v.rolled_back) for v in versions] == [
        (2, False, True),
        (1, True, False),
    ]
    with pytest.raises(NothingToRollBack):
        await data_store.rollback(Dataset.ROSTER, now=NOW)
    assert [s.name for s in (await data_store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Anna"]


async def test_import_after_rollback_builds_on_the_restored_version(data_store: DataStore) -> None:
    one = [shift(KARDIO, 1, at(1, 7), 10, "anna")]
    two = [shift(KARDIO, 1, at(1, 7), 10, "bertil")]
    three = [shift(KARDIO, 1, at(2, 7), 10, "cecilia")]
    for rows, source in ((one, "1"), (two, "2")):
        await data_store.import_roster(rows, periods(rows), source=source, now=NOW)
    await data_store.rollback(Dataset.ROSTER, now=NOW)
    assert await data_store.import_roster(three, periods(three), source="3", now=NOW) == 3
    assert [s.name for s in (await data_store.on_duty(KARDIO, at(1, 12))).level(1)] == ["Anna"]
    assert [s.name for s in (await data_store.on_duty(KARDIO, at(2, 12))).level(1)] == ["Cecilia"]
    assert await data_store.rollback(Dataset.ROSTER, now=NOW) == 1
    assert (await data_store.on_duty(KARDIO, at(2, 12))).empty


async def test_shifts_lists_a_services_shifts_in_a_period(data_store: DataStore) -> None:
    rows = [shift(KARDIO, lvl, at(d, 7), 10, f"p{d}{lvl}") for d in range(1, 6) for lvl in (2, 1)]
    await data_store.import_roster(rows, periods(rows), source="a", now=NOW)
    found = await data_store.shifts(KARDIO, at(2, 0), at(4, 0))
    assert [(s.start.day, s.level) for s in found] == [(2, 1), (2, 2), (3, 1), (3, 2)]
    assert len(await data_store.shifts(KARDIO)) == 10
    assert await data_store.shifts(NEURO) == []


async def test_staff_and_directory_versions_and_rollback(data_store: DataStore) -> None:
    anna = StaffMember(user=UserId("@anna:localhost"), name="Anna", unit=KARDIO, phone="1")
    bo = StaffMember(user=UserId("@bo:localhost"), name="Bo", unit=NEURO)
    await data_store.import_staff([anna], source="a", now=NOW)
    await data_store.import_staff([anna, bo], source="b", now=NOW)
    assert await data_store.staff_member(UserId("@bo:localhost")) == bo
    await data_store.rollback(Dataset.STAFF, now=NOW)
    assert await data_store.staff_member(UserId("@bo:localhost")) is None
    assert await data_store.staff() == [anna]

    entry = DirectoryEntry(unit="falu", name="Falu lasarett växel", phone="023-49 00 00")
    await data_store.import_directory([entry], source="d", now=NOW)
    assert await data_store.directory() == [entry]
    with pytest.raises(NothingToRollBack):
        await data_store.rollback(Dataset.DIRECTORY, now=NOW)


async def test_catalogue_rollback(data_store: DataStore) -> None:
    await data_store.import_catalogue(CATALOGUE, source="a", now=NOW)
    smaller = Catalogue(CATALOGUE.services[:1])
    await data_store.import_catalogue(smaller, source="b", now=NOW)
    assert "neurologi" not in await data_store.catalogue()
    assert await data_store.rollback(Dataset.CATALOGUE, now=NOW) == 1
    assert "neurologi" in await data_store.catalogue()


async def test_a_catalogues_outcome_sets_are_versioned_with_it(data_store: DataStore) -> None:
    """Issue 23: the outcomes each path offers round-trip, and a rollback brings back the
    previous version's; a catalogue that names none offers the default sets."""
    assert (await data_store.catalogue()).outcomes(Track.PRIMARVARD) == PRIMARY_CARE_OUTCOMES
    await data_store.import_catalogue(CATALOGUE, source="a", now=NOW)
    sets = tuple(
        (t, (Outcome.HOME, Outcome.HOME_VISIT, Outcome.OTHER) if t is Track.PRIMARVARD else os)
        for t, os in CATALOGUE.outcome_sets
    )
    await data_store.import_catalogue(replace(CATALOGUE, outcome_sets=sets), source="b", now=NOW)
    catalogue = await data_store.catalogue()
    assert catalogue.outcome_sets == sets
    assert catalogue.outcomes(Track.PRIMARVARD) == (Outcome.HOME, Outcome.HOME_VISIT, Outcome.OTHER)
    assert catalogue.outcomes(Track.HALVAKUT) == SPECIALIST_OUTCOMES
    await data_store.rollback(Dataset.CATALOGUE, now=NOW)
    assert (await data_store.catalogue()).outcomes(Track.PRIMARVARD) == PRIMARY_CARE_OUTCOMES


async def test_a_catalogues_routines_are_versioned_with_it(data_store: DataStore) -> None:
    """Issue 22: each service's routines (the plan's matrix) round-trip on every backend, and
    a rollback brings back the previous version's; a version without any has the defaults."""
    await data_store.import_catalogue(CATALOGUE, source="a", now=NOW)
    assert (await data_store.catalogue()).get("kardiologi").routine(Track.HALVAKUT) == Routine(
        track=Track.HALVAKUT
    )
    halvakut = Routine(
        track=Track.HALVAKUT,
        open_to=(RequesterKind.PRIMARY_CARE, RequesterKind.HOSPITAL),
        hours=Hours.parse("weekdays 08:00-16:00"),
        have_ready=("EKG", "senaste Hb", "aktuell medicinlista"),
        call_when="Pågående bröstsmärta: ring.",
        refer_when="Planerad utredning: remiss.",
        documents=(Document(label="Gränsdragning hjärtsvikt", url="https://example.org/h"),),
    )
    akut = Routine(track=Track.AKUT, have_ready=("EKG",))
    kardio = replace(CATALOGUE.services[0], routines=(halvakut, akut))
    await data_store.import_catalogue(
        Catalogue((kardio, *CATALOGUE.services[1:])), source="b", now=NOW
    )
    catalogue = await data_store.catalogue()
    assert catalogue.get("kardiologi").routines == (halvakut, akut)
    assert catalogue.get("neurologi").routines == ()
    await data_store.rollback(Dataset.CATALOGUE, now=NOW)
    assert (await data_store.catalogue()).get("kardiologi").routines == ()
