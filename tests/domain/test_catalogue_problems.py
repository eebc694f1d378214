"""The service catalogue, problem by problem (issue 20, item 3).

Each row is a catalogue text and the exact problems the reader reports (line, code and
values), so a check whose code, place or words change fails here.
"""

from __future__ import annotations

import pytest

from consultbot.domain.duty.catalogue import Catalogue, Service, parse_catalogue
from consultbot.domain.files.validation import DALARNA, FileRules
from consultbot.domain.types import ServiceId, ServiceKind, Track
from consultbot.text.render import Messages

# (line, code, params)
Expected = tuple[int | None, str, dict[str, str]]

KINDS = "specialty, primary_care, ambulance, municipal_care, other"
TRACKS = "halvakut, akut, primarvard, mdk"
HEAD = '[[service]]\nid = "kardiologi"\nname = "Kardiologi"\n'
# Line 1 is the [[service]] header; a problem in one entry is reported at its header.
GOOD = HEAD + 'kind = "specialty"\n'


def problems_of(text: str, rules: FileRules | None = None) -> list[Expected]:
    _, problems = parse_catalogue(text, "c.toml", rules)
    assert all(p.file == "c.toml" and p.is_error and p.cell == "" for p in problems)
    return [(p.line, p.code, p.params) for p in problems]


ENTRY_CASES = [
    pytest.param(
        GOOD + "foo = 1\nbar = 2\n",
        [(1, "unknown_key", {"key": "bar"}), (1, "unknown_key", {"key": "foo"})],
        id="unknown-keys-sorted",
    ),
    pytest.param(
        '[[service]]\nname = "K"\nkind = "other"\n', [(1, "missing_key", {"key": "id"})], id="no-id"
    ),
    pytest.param(
        '[[service]]\nid = "k"\nkind = "other"\n',
        [(1, "missing_key", {"key": "name"})],
        id="no-name",
    ),
    pytest.param(
        '[[service]]\nid = "k"\nname = "K"\n', [(1, "missing_key", {"key": "kind"})], id="no-kind"
    ),
    pytest.param(
        '[[service]]\nid = "Bad Id"\nfoo = 1\n',
        [
            (1, "unknown_key", {"key": "foo"}),
            *((1, "missing_key", {"key": k}) for k in ("name", "kind")),
        ],
        id="missing-keys-stop-the-entry",
    ),
    pytest.param(
        '[[service]]\nid = "Bad Id"\nname = "K"\nkind = "other"\nfoo = 1\n',
        [(1, "unknown_key", {"key": "foo"}), (1, "bad_service_id", {"value": "Bad Id"})],
        id="an-unknown-key-does-not-stop-the-other-checks",
    ),
    pytest.param(
        '[[service]]\nid = 12\nname = "K"\nkind = "other"\n',
        [(1, "bad_service_id", {"value": "12"})],
        id="id-not-text",
    ),
    pytest.param(
        '[[service]]\nid = "-k"\nname = "K"\nkind = "other"\n',
        [(1, "bad_service_id", {"value": "-k"})],
        id="id-starts-with-dash",
    ),
    pytest.param(
        '[[service]]\nid = "k"\nname = "  "\nkind = "other"\n',
        [(1, "bad_value", {"key": "name", "value": "  "})],
        id="blank-name",
    ),
    pytest.param(
        '[[service]]\nid = "k"\nname = 3\nkind = "other"\n',
        [(1, "bad_value", {"key": "name", "value": "3"})],
        id="name-not-text",
    ),
    pytest.param(
        HEAD + 'kind = "akut"\n',
        [(1, "bad_kind", {"value": "akut", "allowed": KINDS})],
        id="unknown-kind",
    ),
    pytest.param(
        GOOD + 'tracks = "akut"\nswitchboard = "023-49 00 00"\n',
        [(1, "bad_value", {"key": "tracks", "value": "akut"})],
        id="tracks-not-a-list",
    ),
    pytest.param(
        GOOD + 'tracks = ["akut", 1]\nswitchboard = "023-49 00 00"\n',
        [(1, "bad_value", {"key": "tracks", "value": "['akut', 1]"})],
        id="a-track-not-text",
    ),
    pytest.param(
        GOOD + 'tracks = ["akut", "natt"]\nswitchboard = "023-49 00 00"\n',
        [(1, "bad_track", {"value": "natt", "allowed": TRACKS})],
        id="unknown-track",
    ),
    pytest.param(
        GOOD + 'aliases = "hjärta"\n',
        [(1, "bad_value", {"key": "aliases", "value": "hjärta"})],
        id="aliases-not-a-list",
    ),
    pytest.param(
        GOOD + 'aliases = ["hjärta", " "]\n',
        [(1, "bad_value", {"key": "aliases", "value": " "})],
        id="blank-alias",
    ),
    pytest.param(
        GOOD + "switchboard = 234900\n",
        [(1, "bad_value", {"key": "switchboard", "value": "234900"})],
        id="switchboard-not-text",
    ),
    pytest.param(
        GOOD + "municipality = 5\n",
        [(1, "bad_value", {"key": "municipality", "value": "5"})],
        id="municipality-not-text",
    ),
    pytest.param(
        GOOD + 'switchboard = "023\\u0007"\n',
        [(1, "control_character", {"column": "switchboard", "char": "U+0007"})],
        id="control-in-switchboard",
    ),
    pytest.param(
        GOOD + 'municipality = "Mo\\u2028ra"\n',
        [(1, "control_character", {"column": "municipality", "char": "U+2028"})],
        id="control-in-municipality",
    ),
    pytest.param(
        GOOD + 'aliases = ["hj\\u202eärta"]\n',
        [(1, "control_character", {"column": "aliases", "char": "U+202E"})],
        id="control-in-alias",
    ),
    pytest.param(
        GOOD + 'tracks = ["akut"]\n',
        [(1, "missing_switchboard", {})],
        id="tracks-need-a-switchboard",
    ),
    pytest.param(
        GOOD + 'tracks = ["akut"]\nswitchboard = " "\n',
        [(1, "missing_switchboard", {})],
        id="blank-switchboard",
    ),
    pytest.param(
        GOOD + 'tracks = ["akut"]\nswitchboard = 1\n',
        [(1, "bad_value", {"key": "switchboard", "value": "1"})],
        id="a-number-switchboard-once",
    ),
    pytest.param(
        HEAD + 'kind = "primary_care"\n',
        [(1, "missing_key", {"key": "municipality"})],
        id="primary-care-needs-a-municipality",
    ),
    pytest.param(
        HEAD + 'kind = "primary_care"\nmunicipality = "Mora"\n',
        [],
        id="primary-care-with-a-municipality",
    ),
    pytest.param(GOOD, [], id="no-tracks-no-switchboard"),
    pytest.param(
        '[[service]]\nid = "k\\u0007"\nname = "K"\nkind = "other"\n',
        [
            (1, "bad_service_id", {"value": "k\u0007"}),
            (1, "control_character", {"column": "id", "char": "U+0007"}),
        ],
        id="control-in-id",
    ),
    pytest.param(
        'service = ["kardiologi", 2]\n',
        [(None, "not_a_table", {}), (None, "not_a_table", {})],
        id="entries-not-tables",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ENTRY_CASES)
def test_each_catalogue_problem_is_reported_at_its_entry(
    text: str, expected: list[Expected]
) -> None:
    assert problems_of(text) == expected


def test_an_entry_is_found_at_its_own_header_line() -> None:
    text = GOOD + "\n# Radiologi\n" + '[[service]]\nid = "radiologi"\nname = "R"\nkind = "x"\n'
    assert problems_of(text) == [(7, "bad_kind", {"value": "x", "allowed": KINDS})]
    catalogue, _ = parse_catalogue(text, "c.toml")
    assert [s.id for s in catalogue.services] == ["kardiologi"]


def test_an_inline_entry_has_no_line() -> None:
    text = 'service = [{id = "k", name = "K", kind = "x"}]\n'
    assert problems_of(text) == [(None, "bad_kind", {"value": "x", "allowed": KINDS})]


def test_a_service_is_read_trimmed_with_each_track_once() -> None:
    text = (
        '[[service]]\nid = "vc-mora"\nname = "  Vårdcentralen Mora "\nkind = "primary_care"\n'
        'tracks = ["primarvard", "akut", "primarvard"]\naliases = [" mora vc "]\n'
        'switchboard = " 0250-49 30 00 "\nmunicipality = " Mora "\n'
    )
    catalogue, problems = parse_catalogue(text, "c.toml", FileRules(municipalities=DALARNA))
    assert problems == []
    assert catalogue.services == (
        Service(
            id=ServiceId("vc-mora"),
            name="Vårdcentralen Mora",
            kind=ServiceKind.PRIMARY_CARE,
            tracks=(Track.PRIMARVARD, Track.AKUT),
            aliases=("mora vc",),
            switchboard="0250-49 30 00",
            municipality="Mora",
        ),
    )


def test_a_service_without_optional_keys_has_none() -> None:
    catalogue, _ = parse_catalogue(GOOD, "c.toml")
    assert catalogue.services == (
        Service(id=ServiceId("kardiologi"), name="Kardiologi", kind=ServiceKind.SPECIALTY),
    )


def test_with_rules_a_municipality_outside_the_county_is_refused() -> None:
    rules = FileRules(municipalities=DALARNA)
    text = HEAD + 'kind = "primary_care"\nmunicipality = " Uppsala "\n'
    [(line, code, params)] = problems_of(text, rules)
    assert (line, code, params["value"]) == (1, "unknown_municipality", "Uppsala")
    assert problems_of(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[[service]\n", [(1, "toml", {"column": "10"})], id="place-of-a-syntax-error"),
        pytest.param("x = 1\nx = 2\n", [(2, "toml", {"column": "6"})], id="key-twice"),
        pytest.param('a = "', [(None, "toml", {"column": "?"})], id="at-end-of-document"),
        pytest.param("", [(None, "no_services", {})], id="empty"),
        pytest.param("service = []\n", [(None, "no_services", {})], id="no-entries"),
        pytest.param('service = "k"\n', [(None, "no_services", {})], id="service-not-a-list"),
        pytest.param(
            "foo = 1\nbar = 2\n",
            [(None, "unknown_key", {"key": "bar, foo"}), (None, "no_services", {})],
            id="only-unknown-keys",
        ),
        pytest.param(
            "foo = 1\n" + GOOD, [(None, "unknown_key", {"key": "foo"})], id="unknown-top-level-key"
        ),
    ],
)
def test_file_level_problems(text: str, expected: list[Expected]) -> None:
    assert problems_of(text) == expected


def test_a_file_with_an_unknown_key_still_reads_its_services() -> None:
    catalogue, _ = parse_catalogue("foo = 1\n" + GOOD, "c.toml")
    assert [s.id for s in catalogue.services] == ["kardiologi"]
    assert parse_catalogue("", "c.toml")[0] == Catalogue()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            HEAD + 'kind = "akut"\n', f"c.toml:1: okänd kind akut (tillåtna: {KINDS})", id="kind"
        ),
        pytest.param(
            GOOD + 'tracks = ["akut"]\n',
            "c.toml:1: växelnummer (switchboard) saknas – behövs när ingen svarar",
            id="switchboard",
        ),
        pytest.param(
            "[[service]\n",
            "c.toml:1: inte giltig TOML (kolumn 10) – kontrollera citattecken, = och hakparenteser",
            id="toml",
        ),
        pytest.param('[[service]]\nid = "k"\n', "c.toml:1: nyckeln name saknas", id="missing-key"),
    ],
)
def test_catalogue_problems_read_as_swedish(text: str, message: str) -> None:
    _, problems = parse_catalogue(text, "c.toml")
    assert Messages("sv").problem(problems[0]) == message


def test_a_full_name_used_twice_is_refused_at_the_second_entry() -> None:
    text = GOOD + '[[service]]\nid = "hjarta"\nname = "kardiologi"\nkind = "other"\n'
    assert problems_of(text) == [(5, "duplicate_name", {"name": "kardiologi", "first_line": "1"})]
