"""Units that ask but are never paged (catalogue kinds `ambulance`, `municipal_care`), and the
requester's unit and kind frozen from the staff list's unit and the catalogue (issue 23)."""

from __future__ import annotations

import pytest

from consultbot.domain.consult.requester import frozen_requester
from consultbot.domain.duty.catalogue import Catalogue, parse_catalogue
from consultbot.domain.duty.roster import check_roster
from consultbot.domain.duty.service_search import find_service
from consultbot.domain.types import RequesterKind, ServiceKind
from consultbot.text.render import Messages
from tests.support.catalogue import CATALOGUE_TOML, TZ

UNITS = """
[[service]]
id = "ambulans-dalarna"
name = "Ambulanssjukvården Dalarna"
kind = "ambulance"
aliases = ["ambulans"]

[[service]]
id = "kommun-mora-hsl"
name = "Kommunal hälso- och sjukvård Mora"
kind = "municipal_care"
aliases = ["hemsjukvård-mora"]
switchboard = "070-174 06 13"

[[service]]
id = "regionkansliet"
name = "Regionkansliet"
kind = "other"
"""


def catalogue() -> Catalogue:
    parsed, problems = parse_catalogue(CATALOGUE_TOML + UNITS, "services.toml")
    assert problems == []
    return parsed


def test_units_that_only_ask_are_read_without_tracks() -> None:
    found = catalogue()
    assert found.get("ambulans").kind is ServiceKind.AMBULANCE and found.get("ambulans").asks_only
    assert found.get("kommun-mora-hsl").asks_only
    assert not found.get("regionkansliet").asks_only and not found.get("kardiologi").asks_only


@pytest.mark.parametrize("kind", ["ambulance", "municipal_care"])
def test_a_unit_that_only_asks_may_not_have_tracks(kind: str) -> None:
    text = f'[[service]]\nid = "a"\nname = "A"\nkind = "{kind}"\ntracks = ["akut"]\n'
    text += 'switchboard = "112"\n'
    _, problems = parse_catalogue(text, "c.toml")
    assert [(p.line, p.code) for p in problems] == [(1, "asks_only_tracks")]
    assert Messages("sv").problem(problems[0]) == (
        f"c.toml:1: en enhet av sorten {kind} ställer frågor men söks aldrig"
        " – ta bort dess spår (tracks = [])"
    )


def test_a_roster_with_shifts_for_a_unit_that_only_asks_is_refused() -> None:
    row = "ambulans-dalarna,1,2026-03-02 08:00,2026-03-02 17:00,@olle:localhost,Olle,"
    text = f"service,level,start,end,matrix_id,name,phone\n{row}\n"
    result = check_roster([("roster.csv", text.encode())], catalogue(), TZ)
    assert not result.ok and result.shifts == ()
    [problem] = result.problems
    assert (problem.line, problem.code) == (2, "asks_only_shift")
    assert Messages("sv").problem(problem).startswith(
        "roster.csv:2"
    ) and "ambulans-dalarna ställer frågor men söks aldrig" in Messages("sv").problem(problem)


def test_a_guess_never_lands_on_a_unit_that_only_asks() -> None:
    found = catalogue()
    # "mora" names the vårdcentral's municipality and a word of the municipal unit's name.
    assert find_service(found, "mora").service is not None
    assert find_service(found, "mora").service.id == "vc-mora"  # type: ignore[union-attr]
    assert find_service(found, "ambulanse").suggestion is None
    # Its exact name still finds it, for the caller to say it cannot be asked.
    assert find_service(found, "ambulans").service is found.get("ambulans-dalarna")


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("kardiologi", ("kardiologi", RequesterKind.HOSPITAL)),
        ("vc-mora", ("vc-mora", RequesterKind.PRIMARY_CARE)),
        ("ambulans", ("ambulans-dalarna", RequesterKind.AMBULANCE)),  # an alias: its id
        ("kommun-mora-hsl", ("kommun-mora-hsl", RequesterKind.MUNICIPAL_CARE)),
        ("regionkansliet", ("regionkansliet", RequesterKind.OTHER)),
        ("tandvard", ("", RequesterKind.UNKNOWN)),  # a unit the catalogue does not name
        (None, ("", RequesterKind.UNKNOWN)),  # not on the staff list
        ("", ("", RequesterKind.UNKNOWN)),
    ],
)
def test_the_requester_kind_follows_the_units_kind(
    unit: str | None, expected: tuple[str, RequesterKind]
) -> None:
    assert frozen_requester(unit, catalogue()) == expected
