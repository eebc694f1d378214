"""The service catalogue: the shipped example, and every problem reported at its line."""

from __future__ import annotations

import pytest

from consultbot.domain.duty.catalogue import Catalogue, parse_catalogue
from consultbot.domain.errors import UnknownService
from consultbot.domain.types import ServiceKind, Track
from consultbot.resources import example_data_dir


def example() -> tuple[str, Catalogue]:
    text = (example_data_dir() / "services.toml").read_text(encoding="utf-8")
    catalogue, problems = parse_catalogue(text, "services.toml")
    assert problems == []
    return text, catalogue


def test_shipped_example_catalogue_has_no_problems() -> None:
    text, catalogue = example()
    headers = [line for line in text.splitlines() if line.startswith("[[service]]")]
    assert len(catalogue) == len(headers) > 60
    kardiologi = catalogue.get("kardiologi")
    assert kardiologi.kind is ServiceKind.SPECIALTY
    assert Track.HALVAKUT in kardiologi.tracks
    assert catalogue.get("HJÄRTA") is kardiologi
    mora = catalogue.get("vc-mora")
    assert (mora.kind, mora.municipality, mora.tracks) == (
        ServiceKind.PRIMARY_CARE,
        "Mora",
        (Track.PRIMARVARD,),
    )
    assert Track.PRIMARVARD not in kardiologi.tracks


def test_unknown_name_raises_unknown_service() -> None:
    _, catalogue = example()
    assert catalogue.find("tandvård") is None
    assert "tandvård" not in catalogue
    with pytest.raises(UnknownService) as caught:
        catalogue.get("tandvård")
    assert caught.value.name == "tandvård"


@pytest.mark.parametrize("name", ["Kardiologi", "KARDIO", " hjärta ", "HjÄrTa", "VC-MORA"])
def test_lookup_ignores_case_and_surrounding_space(name: str) -> None:
    _, catalogue = example()
    assert catalogue.find(name) is not None


GOOD_A = """[[service]]
id = "kardiologi"
name = "Kardiologi"
kind = "specialty"
tracks = ["halvakut"]
aliases = ["hjärta"]
switchboard = "023-49 00 00"
"""


def second(body: str) -> str:
    """A catalogue with a good service on lines 1–7, a blank line 8 and `body` from line 9."""
    return GOOD_A + "\n" + body


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        pytest.param(
            second(
                '[[service]]\nid = "kardiologi"\nname = "B"\nkind = "specialty"\n'
                'switchboard = "1"\n'
            ),
            "duplicate_name",
            9,
            id="duplicate-id",
        ),
        pytest.param(
            second(
                '[[service]]\nid = "neurologi"\nname = "N"\nkind = "specialty"\n'
                'aliases = ["HJÄRTA"]\n'
            ),
            "duplicate_name",
            9,
            id="duplicate-alias-other-case",
        ),
        pytest.param(
            second(
                '[[service]]\nid = "neurologi"\nname = "N"\nkind = "specialty"\n'
                'aliases = ["kardiologi"]\n'
            ),
            "duplicate_name",
            9,
            id="alias-equal-to-another-id",
        ),
        pytest.param(
            second('[[service]]\nid = "hjärta"\nname = "N"\nkind = "other"\n'),
            "bad_service_id",  # an id must be a lower-case ASCII slug
            9,
            id="non-slug-id",
        ),
        pytest.param(
            second(
                '[[service]]\nid = "hjarta"\nname = "N"\nkind = "other"\naliases = ["kardio"]\n'
            ).replace('aliases = ["hjärta"]', 'aliases = ["hjärta", "hjarta"]'),
            "duplicate_name",
            9,
            id="id-equal-to-an-earlier-alias",
        ),
        pytest.param(
            second('[[service]]\nid = "neurologi"\nname = "N"\nkind = "other"\ncolour = "red"\n'),
            "unknown_key",
            9,
            id="unknown-key",
        ),
        pytest.param(
            second('[[service]]\nid = "neurologi"\nname = "N"\nkind = "hospital"\n'),
            "bad_kind",
            9,
            id="bad-kind",
        ),
        pytest.param(
            second(
                '[[service]]\nid = "neurologi"\nname = "N"\nkind = "specialty"\n'
                'tracks = ["halvakut", "subakut"]\nswitchboard = "1"\n'
            ),
            "bad_track",
            9,
            id="bad-track",
        ),
        pytest.param(
            second(
                '[[service]]\nid = "neurologi"\nname = "N"\nkind = "specialty"\n'
                'tracks = ["halvakut"]\n'
            ),
            "missing_switchboard",
            9,
            id="missing-switchboard",
        ),
        pytest.param(
            second(
                '[[service]]\nid = "neurologi"\nname = "N"\nkind = "specialty"\n'
                'tracks = ["halvakut"]\nswitchboard = "  "\n'
            ),
            "missing_switchboard",
            9,
            id="blank-switchboard",
        ),
        pytest.param(
            second(
                '[[service]]\nid = "vc-mora"\nname = "VC Mora"\nkind = "primary_care"\n'
                'tracks = ["primarvard"]\nswitchboard = "1"\n'
            ),
            "missing_key",
            9,
            id="missing-municipality",
        ),
        pytest.param(
            second('[[service]]\nid = "neurologi"\nkind = "specialty"\n'),
            "missing_key",
            9,
            id="missing-name",
        ),
        pytest.param(
            # Comments and blank lines between services do not shift the line numbers.
            second(
                "# Neurologi\n\n[[service]]\n"
                'id = "neurologi"\nname = "N"\nkind = "specialty"\ntracks = ["akut"]\n'
            ),
            "missing_switchboard",
            11,
            id="after-comments",
        ),
        pytest.param(
            # TOML allows spaces inside the brackets of an array-of-tables header.
            second('[[ service ]]\nid = "neurologi"\nname = "N"\nkind = "hospital"\n'),
            "bad_kind",
            9,
            id="spaced-header",
        ),
    ],
)
def test_problem_is_reported_at_its_service_header(text: str, code: str, line: int) -> None:
    _, problems = parse_catalogue(text, "services.toml")
    assert [(p.file, p.line, p.code) for p in problems] == [("services.toml", line, code)]
    assert all(p.is_error for p in problems)


def test_problem_params_name_the_offending_value() -> None:
    text = second(
        '[[service]]\nid = "neurologi"\nname = "N"\nkind = "specialty"\n'
        'tracks = ["subakut"]\naliases = ["hjärta"]\nswitchboard = "1"\ncolour = "red"\n'
    )
    _, problems = parse_catalogue(text, "s.toml")
    by_code = {p.code: p.params for p in problems}
    assert by_code["unknown_key"]["key"] == "colour"
    assert by_code["bad_track"]["value"] == "subakut"


def test_duplicate_name_points_to_the_first_line() -> None:
    text = second(
        '[[service]]\nid = "neurologi"\nname = "N"\nkind = "other"\naliases = ["kardio"]\n'
    )
    text = text.replace('aliases = ["hjärta"]', 'aliases = ["hjärta", "kardio"]')
    _, problems = parse_catalogue(text, "s.toml")
    (problem,) = problems
    assert (problem.line, problem.params["name"], problem.params["first_line"]) == (
        9,
        "kardio",
        "1",
    )


def test_every_bad_service_is_reported() -> None:
    text = (
        GOOD_A
        + '\n[[service]]\nid = "a"\nname = "A"\nkind = "hospital"\n'  # header line 9
        + '\n[[service]]\nid = "b"\nname = "B"\nkind = "other"\ncolour = "red"\n'  # 14
        + '\n[[service]]\nid = "c"\nname = "C"\nkind = "primary_care"\n'  # 20
    )
    _, problems = parse_catalogue(text, "s.toml")
    assert [(p.line, p.code) for p in problems] == [
        (9, "bad_kind"),
        (14, "unknown_key"),
        (20, "missing_key"),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(GOOD_A + '\n[[service]]\nid = "x"\nname "X"\n', 11, id="missing-equals"),
        pytest.param('[[service]]\nid = "x\nname = "X"\n', 2, id="unterminated-string"),
        pytest.param(GOOD_A + "\n[[service]\n", 9, id="bad-header"),
        pytest.param('[[service]]\nid = "x"\nid = "y"\n', 3, id="duplicate-key"),
    ],
)
def test_toml_syntax_error_reports_its_line(text: str, line: int) -> None:
    catalogue, problems = parse_catalogue(text, "services.toml")
    assert len(catalogue) == 0
    assert [(p.file, p.line, p.code) for p in problems] == [("services.toml", line, "toml")]


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", 'title = "x"\n', "service = []\n"],
)
def test_catalogue_without_services_is_an_error(text: str) -> None:
    catalogue, problems = parse_catalogue(text, "s.toml")
    assert len(catalogue) == 0
    assert "no_services" in [p.code for p in problems]
    assert all(p.is_error for p in problems)


@pytest.mark.parametrize(
    "query", ["hjärta", "HJÄRTA", "Hjärt Medicin", "hjärt   medicin", "KARDIO"]
)
def test_aliases_written_in_capitals_are_found_in_any_case(query: str) -> None:
    text = GOOD_A.replace('aliases = ["hjärta"]', 'aliases = ["Hjärta", "Hjärt medicin", "KARDIO"]')
    catalogue, problems = parse_catalogue(text, "s.toml")
    assert problems == []
    assert catalogue.get(query).id == "kardiologi"


def test_a_full_name_may_not_name_another_service() -> None:
    # Rosters may name a service by its full name; a name that is another service's alias
    # would send that roster row to the wrong service.
    text = """
[[service]]
id = "kardiologi"
name = "Kardiologi"
kind = "specialty"

[[service]]
id = "kardiologi-mora"
name = "Hjärta"
kind = "specialty"

[[service]]
id = "hjartmottagning"
name = "Hjärtmottagning"
kind = "specialty"
aliases = ["hjärta"]
"""
    _, problems = parse_catalogue(text, "services.toml")
    assert [(p.line, p.code, p.params["name"]) for p in problems] == [
        (7, "duplicate_name", "Hjärta")
    ]
