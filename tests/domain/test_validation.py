"""Checks that can fail (issue 20, item 3): each one has a row here that fails without it.

Control characters in names, Matrix ids on servers the config allows, municipalities of the
county, names unique ignoring case and diacritics, phone numbers that lost their leading 0.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

import openpyxl
import pytest

from consultbot.domain.duty.catalogue import parse_catalogue
from consultbot.domain.duty.people import parse_directory, parse_staff
from consultbot.domain.duty.roster import check_roster
from consultbot.domain.errors import Problem
from consultbot.domain.files.validation import (
    DALARNA,
    FileRules,
    control_character,
    municipality_problem,
    phone_problem,
    server_not_allowed,
    servers_of,
)
from tests.support.catalogue import CATALOGUE, TZ

RULES = FileRules(servers=frozenset({"localhost", "region.se"}), municipalities=DALARNA)
HEADER = "service,level,start,end,matrix_id,name,phone\n"


def roster_errors(row: str, rules: FileRules | None = RULES) -> list[tuple[int | None, str]]:
    data = (HEADER + row + "\n").encode()
    result = check_roster([("r.csv", data)], CATALOGUE, TZ, rules=rules)
    return [(p.line, p.code) for p in result.errors]


def row(user: str = "@anna:localhost", name: str = "Anna", phone: str = "") -> str:
    return f"kardiologi,1,2026-12-01 08:00,2026-12-01 17:00,{user},{name},{phone}"


# ---------------------------------------------------------------------------------------------
# Control characters


@pytest.mark.parametrize(
    ("text", "char"),
    [
        pytest.param("Anna\nBerg", "U+000A", id="newline"),
        pytest.param("Anna\rBerg", "U+000D", id="carriage-return"),
        pytest.param("Anna\tBerg", "U+0009", id="tab"),
        pytest.param("Anna\x1bBerg", "U+001B", id="escape"),
        pytest.param("Anna\u2028Berg", "U+2028", id="line-separator"),
        pytest.param("Anna\u2029Berg", "U+2029", id="paragraph-separator"),
        pytest.param("\u202egreB annA", "U+202E", id="bidi-override"),
        pytest.param("Anna\u2066Berg", "U+2066", id="bidi-isolate"),
        pytest.param("Anna\x85Berg", "U+0085", id="next-line"),
    ],
)
def test_a_control_character_in_a_name_is_named(text: str, char: str) -> None:
    assert control_character("name", text) == (
        "control_character",
        {"column": "name", "char": char},
    )


@pytest.mark.parametrize(
    "text", ["Åsa Öberg-Ek", "O'Brien", "Anna\u00a0Berg", "José María", "", "Jan 👨‍⚕️"]
)
def test_ordinary_names_pass(text: str) -> None:
    assert control_character("name", text) is None


def test_a_control_character_is_refused_in_every_file_kind() -> None:
    assert roster_errors(row(name='"Anna\u2028Berg"')) == [(2, "control_character")]
    assert roster_errors(row(phone="070-123\t45 67")) == [(2, "control_character")]
    staff = 'matrix_id,name,unit,title\n@a:localhost,A,kardiologi,"läk\nare"\n'
    _, problems = parse_staff(staff.encode(), "s.csv", CATALOGUE)
    assert [(p.line, p.code, p.params["column"]) for p in problems] == [
        (2, "control_character", "title")
    ]
    directory = 'unit,name,phone,notes\nAkuten,Växel,023-49 00 00,"ring\u2028först"\n'
    _, problems = parse_directory(directory.encode(), "d.csv")
    assert [(p.code, p.params["column"]) for p in problems] == [("control_character", "notes")]
    catalogue = CATALOGUE_HEAD + 'name = "Kardiologi\\nFalun"\nkind = "other"\n'
    _, problems = parse_catalogue(catalogue, "c.toml")
    assert [(p.code, p.params["column"]) for p in problems] == [("control_character", "name")]


def test_an_ical_name_with_a_control_character_is_refused_at_its_property() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        "DTSTART:20261201T070000Z\r\nDTEND:20261201T160000Z\r\n"
        "X-CONSULTBOT-SERVICE:kardiologi\r\nX-CONSULTBOT-LEVEL:1\r\n"
        # SUMMARY is TEXT: its \\n is a line break (the name falls back to it).
        "X-CONSULTBOT-MATRIX-ID:@anna:localhost\r\nSUMMARY:Anna\\nBerg\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    result = check_roster([("r.ics", text.encode())], CATALOGUE, TZ, rules=RULES)
    assert [(p.line, p.code) for p in result.errors] == [(11, "control_character")]


# ---------------------------------------------------------------------------------------------
# Matrix ids on allowed servers


def test_a_matrix_id_on_a_server_that_is_not_allowed_is_refused() -> None:
    assert roster_errors(row(user="@anna:evil.example")) == [(2, "server_not_allowed")]
    assert roster_errors(row(user="@anna:REGION.se")) == []
    assert roster_errors(row(user="@anna:region.se.evil.example")) == [(2, "server_not_allowed")]
    # A port makes another server name.
    assert roster_errors(row(user="@anna:localhost:8448")) == [(2, "server_not_allowed")]


def test_without_rules_servers_are_not_checked() -> None:
    assert roster_errors(row(user="@anna:evil.example"), rules=None) == []


def test_the_bots_own_server_is_allowed_too() -> None:
    servers = servers_of(["Region.SE", " "], "@konsultbot:bot.region.se")
    assert servers == frozenset({"region.se", "bot.region.se"})
    rules = FileRules(servers=servers)
    assert server_not_allowed("@a:bot.region.se", rules) is None
    found = server_not_allowed("@a:other.se", rules)
    assert found is not None
    assert found[1] == {
        "user": "@a:other.se",
        "server": "other.se",
        "allowed": "bot.region.se, region.se",
    }


def test_a_staff_member_on_a_server_that_is_not_allowed_is_refused() -> None:
    staff = "matrix_id,name,unit\n@a:localhost,A,kardiologi\n@b:evil.example,B,kardiologi\n"
    members, problems = parse_staff(staff.encode(), "s.csv", CATALOGUE, RULES)
    assert [(p.line, p.code) for p in problems] == [(3, "server_not_allowed")]
    assert [m.user for m in members] == ["@a:localhost"]


# ---------------------------------------------------------------------------------------------
# Municipalities of the county

CATALOGUE_HEAD = '[[service]]\nid = "x"\n'


def catalogue_problems(municipality: str, rules: FileRules = RULES) -> list[Problem]:
    text = (
        CATALOGUE_HEAD + 'name = "Vårdcentralen X"\nkind = "primary_care"\n'
        f'tracks = ["primarvard"]\nswitchboard = "0250-49 30 00"\nmunicipality = "{municipality}"\n'
    )
    return parse_catalogue(text, "c.toml", rules)[1]


@pytest.mark.parametrize("name", DALARNA)
def test_every_municipality_of_dalarna_is_accepted(name: str) -> None:
    assert catalogue_problems(name) == []


def test_a_municipality_outside_the_county_is_refused() -> None:
    (problem,) = catalogue_problems("Stockholm")
    assert (problem.line, problem.code, problem.params["value"]) == (
        1,
        "unknown_municipality",
        "Stockholm",
    )
    assert "Älvdalen" in problem.params["allowed"]


@pytest.mark.parametrize("written", ["Rattvik", "rättvik", "RÄTTVIK"])
def test_a_misspelt_municipality_is_refused_with_its_spelling(written: str) -> None:
    (problem,) = catalogue_problems(written)
    assert (problem.code, problem.params) == (
        "municipality_spelling",
        {"value": written, "right": "Rättvik"},
    )


def test_another_county_is_configured() -> None:
    uppsala = FileRules(municipalities=("Uppsala", "Enköping"))
    assert catalogue_problems("Enköping", uppsala) == []
    assert [p.code for p in catalogue_problems("Mora", uppsala)] == ["unknown_municipality"]
    assert municipality_problem("Mora", FileRules()) is None  # not checked without a list


# ---------------------------------------------------------------------------------------------
# Names unique ignoring case and diacritics


def two_services(first_aliases: str, second_aliases: str, second_name: str = "B") -> str:
    return (
        f'[[service]]\nid = "a"\nname = "A"\nkind = "other"\naliases = [{first_aliases}]\n\n'
        f'[[service]]\nid = "b"\nname = "{second_name}"\nkind = "other"\n'
        f"aliases = [{second_aliases}]\n"
    )


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [
        pytest.param('"hjärta"', '"Hjärta"', "duplicate_name", id="case-only"),
        pytest.param('"hjärta"', '"hjarta"', "similar_name", id="diacritic-only"),
        pytest.param('"hjärta"', '"HJARTA"', "similar_name", id="case-and-diacritic"),
        pytest.param('"röntgen"', '"ro\u0308ntgen"', "duplicate_name", id="nfd-equals-nfc"),
        pytest.param('"öron näsa"', '"oron  nasa"', "similar_name", id="spaces-and-diacritics"),
    ],
)
def test_two_services_cannot_share_a_name_that_differs_in_case_or_diacritics(
    first: str, second: str, code: str
) -> None:
    _, problems = parse_catalogue(two_services(first, second), "c.toml")
    assert [(p.line, p.code) for p in problems] == [(7, code)]


def test_one_service_may_have_aliases_that_differ_only_in_diacritics() -> None:
    _, problems = parse_catalogue(two_services('"önh", "onh"', '"kirurgi"'), "c.toml")
    assert problems == []


def test_a_full_name_that_is_another_services_alias_without_diacritics_is_refused() -> None:
    _, problems = parse_catalogue(two_services('"hjärta"', '"b2"', second_name="Hjarta"), "c")
    assert [p.code for p in problems] == ["duplicate_name"]


def test_a_blank_alias_is_refused() -> None:
    _, problems = parse_catalogue(two_services('"  "', '"b2"'), "c.toml")
    assert [(p.code, p.params["key"]) for p in problems] == [("bad_value", "aliases")]


# ---------------------------------------------------------------------------------------------
# Phone numbers that lost their leading 0


def workbook(rows: Sequence[Sequence[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for values in rows:
        sheet.append(list(values))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("text", "as_number", "expected"),
    [
        pytest.param(
            "701234567",
            True,
            ("phone_stored_as_number", {"value": "701234567", "fixed": "0701234567"}),
            id="xlsx-mobile",
        ),
        pytest.param(
            "23490000",
            True,
            ("phone_stored_as_number", {"value": "23490000", "fixed": "023490000"}),
            id="xlsx-landline",
        ),
        pytest.param(
            "701234567",
            False,
            ("phone_lost_zero", {"value": "701234567", "fixed": "0701234567"}),
            id="csv-saved-by-excel",
        ),
        pytest.param("0701234567", False, None, id="kept-its-zero"),
        pytest.param("+46701234567", False, None, id="international"),
        pytest.param("112", True, None, id="short-number"),
        pytest.param("1177", False, None, id="healthcare-guide"),
        pytest.param("12345", True, None, id="not-a-number-either-way"),
        pytest.param("070-123 45 67", False, None, id="written-with-separators"),
    ],
)
def test_a_number_that_lost_its_leading_zero_is_refused_with_the_fix(
    text: str, as_number: bool, expected: object
) -> None:
    assert phone_problem(text, as_number) == expected


def test_an_xlsx_phone_stored_as_a_number_is_refused_at_its_cell() -> None:
    header = ["service", "level", "start", "end", "matrix_id", "name", "phone"]
    start, end = datetime(2026, 12, 1, 8), datetime(2026, 12, 1, 17)
    data = workbook([header, ["kardiologi", 1, start, end, "@a:b", "A", 701234567]])
    result = check_roster([("r.xlsx", data)], CATALOGUE, TZ)
    assert [(p.cell, p.code) for p in result.errors] == [("G2", "phone_stored_as_number")]
    assert result.shifts == ()


def test_staff_and_directory_phone_cells_are_checked_too() -> None:
    staff = workbook([["matrix_id", "name", "unit", "phone"], ["@a:b", "A", "kardiologi", 7012]])
    _, problems = parse_staff(staff, "s.xlsx", CATALOGUE)
    assert [(p.cell, p.code) for p in problems] == [("D2", "undialable_phone")]
    staff = workbook(
        [["matrix_id", "name", "unit", "phone"], ["@a:b", "A", "kardiologi", 701234567]]
    )
    members, problems = parse_staff(staff, "s.xlsx", CATALOGUE)
    assert [(p.cell, p.code) for p in problems] == [("D2", "phone_stored_as_number")]
    assert members == []
    directory = workbook([["unit", "name", "phone"], ["Akuten", "Växel", 23490000.0]])
    entries, problems = parse_directory(directory, "d.xlsx")
    assert [(p.cell, p.code, p.params["fixed"]) for p in problems] == [
        ("C2", "phone_stored_as_number", "023490000")
    ]
    assert entries == []


def test_fold_ignores_case_diacritics_and_spacing() -> None:
    from consultbot.domain.files.validation import fold

    assert fold("  Öron  Näsa\tHals ") == "oron nasa hals"


def test_servers_are_compared_with_their_port() -> None:
    rules = FileRules(servers=servers_of(["region.se:8448"], "@bot:bot.region.se:8448"))
    assert rules.servers == frozenset({"region.se:8448", "bot.region.se:8448"})
    assert server_not_allowed("@anna:region.se:8448", rules) is None
    assert server_not_allowed("@anna:bot.region.se:8448", rules) is None
    found = server_not_allowed("@anna:region.se", rules)
    assert found is not None and found[1]["server"] == "region.se"


def test_servers_of_without_the_bots_id_is_the_allowed_list() -> None:
    assert servers_of(["a.se"]) == frozenset({"a.se"})


def test_the_county_list_is_named_in_full() -> None:
    found = municipality_problem("Uppsala", FileRules(municipalities=("Mora", "Orsa")))
    assert found == ("unknown_municipality", {"value": "Uppsala", "allowed": "Mora, Orsa"})


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("70-123 45 67", id="written-number-is-taken-as-written"),
        pytest.param("046701234567", id="a-leading-zero-is-not-lost"),
    ],
)
def test_only_a_bare_number_without_its_zero_has_lost_it(text: str) -> None:
    assert phone_problem(text, False) is None


def test_a_similar_name_is_said_with_both_spellings_and_the_first_line() -> None:
    from consultbot.text.render import Messages

    _, problems = parse_catalogue(two_services('"hjärta"', '"hjarta"'), "c.toml")
    assert [Messages("sv").problem(p) for p in problems] == [
        "c.toml:7: namnet hjarta går inte att skilja från hjärta (rad 1) – sökningen bortser "
        "från versaler och å, ä, ö"
    ]
