"""Outcomes per contact path (issue 23, item 2; SPEC §6): each path's set, in poll order, the
catalogue's `[outcomes]` section that may name others, and its problems line by line."""

from __future__ import annotations

import pytest

from consultbot.domain.chat.commands import Close, Invalid, Reason, parse_command, parse_outcome
from consultbot.domain.duty.catalogue import Catalogue, parse_catalogue
from consultbot.domain.duty.outcomes import DEFAULT_SETS, OFFERABLE, by_set
from consultbot.domain.types import Outcome, Track
from consultbot.text.render import Messages, chat_names

SPECIALIST = (
    Outcome.ADVICE,
    Outcome.REFERRAL,
    Outcome.ADMISSION,
    Outcome.ED,
    Outcome.VISIT,
    Outcome.OTHER,
)
FOURTH = (
    Outcome.HOME,
    Outcome.PRIMARY_CARE,
    Outcome.HOME_VISIT,
    Outcome.ED,
    Outcome.ADMISSION,
    Outcome.OTHER,
)
SERVICE = '[[service]]\nid = "kardiologi"\nname = "Kardiologi"\nkind = "specialty"\n'
ALLOWED = "advice, referral, admission, ed, visit, other, home, primary_care, home_visit"


@pytest.mark.parametrize(
    ("track", "expected"),
    [
        (Track.HALVAKUT, SPECIALIST),
        (Track.AKUT, SPECIALIST),
        (Track.MDK, SPECIALIST),
        (Track.PRIMARVARD, FOURTH),
    ],
)
def test_each_path_offers_its_own_outcomes_in_poll_order(
    track: Track, expected: tuple[Outcome, ...]
) -> None:
    # A catalogue without the section (every file written before it) and the empty one.
    catalogue, problems = parse_catalogue(SERVICE, "c.toml")
    assert problems == []
    assert catalogue.outcomes(track) == expected
    assert Catalogue().outcomes(track) == expected


def test_nobody_can_choose_unknown() -> None:
    assert Outcome.UNKNOWN not in OFFERABLE
    assert all(Outcome.UNKNOWN not in outcomes for _, outcomes in DEFAULT_SETS)


def test_paths_with_one_set_are_listed_together() -> None:
    assert by_set(DEFAULT_SETS) == [
        ((Track.HALVAKUT, Track.AKUT, Track.MDK), SPECIALIST),
        ((Track.PRIMARVARD,), FOURTH),
    ]


def test_a_catalogue_names_a_paths_set_and_the_others_keep_theirs() -> None:
    text = '[outcomes]\nprimarvard = ["home", "ed", "other"]\nmdk = ["advice", "other"]\n\n'
    catalogue, problems = parse_catalogue(text + SERVICE, "c.toml")
    assert problems == []
    assert catalogue.outcomes(Track.PRIMARVARD) == (Outcome.HOME, Outcome.ED, Outcome.OTHER)
    assert catalogue.outcomes(Track.MDK) == (Outcome.ADVICE, Outcome.OTHER)
    assert catalogue.outcomes(Track.HALVAKUT) == SPECIALIST
    # Another set is another catalogue (a re-import of it is a change).
    assert catalogue != parse_catalogue(SERVICE, "c.toml")[0]


def test_the_section_may_follow_the_services() -> None:
    catalogue, problems = parse_catalogue(SERVICE + '\n[outcomes]\nakut = ["ed"]\n', "c.toml")
    assert problems == [] and catalogue.outcomes(Track.AKUT) == (Outcome.ED,)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        pytest.param(
            'natt = ["home"]',
            [(2, "bad_track", {"value": "natt", "allowed": "halvakut, akut, primarvard, mdk"})],
            id="unknown-path",
        ),
        pytest.param(
            'primarvard = ["home", "hemma"]',
            [
                (
                    2,
                    "unknown_outcome",
                    {"value": "hemma", "track": "primarvard", "allowed": ALLOWED},
                )
            ],
            id="unknown-outcome",
        ),
        pytest.param(
            'akut = ["unknown"]',
            [(2, "unknown_outcome", {"value": "unknown", "track": "akut", "allowed": ALLOWED})],
            id="unknown-is-not-offerable",
        ),
        pytest.param("mdk = []", [(2, "no_outcomes", {"track": "mdk"})], id="empty"),
        pytest.param(
            'halvakut = ["advice", "ed", "advice"]',
            [(2, "duplicate_outcome", {"value": "advice", "track": "halvakut"})],
            id="twice",
        ),
        pytest.param(
            'akut = "ed"',
            [(2, "bad_value", {"key": "outcomes.akut", "value": "ed"})],
            id="not-a-list",
        ),
        pytest.param(
            'akut = ["ed", 1]',
            [(2, "bad_value", {"key": "outcomes.akut", "value": "['ed', 1]"})],
            id="not-text",
        ),
        pytest.param(
            '# comment\n\nakut = ["ed"]\nmdk = ["x"]',
            [(5, "unknown_outcome", {"value": "x", "track": "mdk", "allowed": ALLOWED})],
            id="each-at-its-own-line",
        ),
    ],
)
def test_each_problem_of_the_section_is_reported_at_its_line(
    section: str, expected: list[tuple[int | None, str, dict[str, str]]]
) -> None:
    catalogue, problems = parse_catalogue("[outcomes]\n" + section + "\n\n" + SERVICE, "c.toml")
    assert [(p.line, p.code, p.params) for p in problems] == expected
    assert all(p.is_error for p in problems)
    # The services are read all the same; the bad set is not (the upload is refused anyway).
    assert [s.id for s in catalogue.services] == ["kardiologi"]


def test_a_section_that_is_not_a_table_is_reported_at_its_line() -> None:
    _, problems = parse_catalogue(SERVICE + 'outcomes = "ed"\n', "c.toml")
    # A key after [[service]] belongs to the service: reported there, as any unknown key.
    assert [p.code for p in problems] == ["unknown_key"]
    _, problems = parse_catalogue('outcomes = "ed"\n' + SERVICE, "c.toml")
    assert [(p.line, p.code) for p in problems] == [(1, "bad_value")]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            'primarvard = ["hemma"]',
            f"c.toml:2: okänt utfall hemma för primarvard (tillåtna: {ALLOWED})",
        ),
        (
            "mdk = []",
            "c.toml:2: mdk: listan över utfall är tom – ange minst ett, eller ta bort raden"
            " för standardutfallen",
        ),
        ('akut = ["ed", "ed"]', "c.toml:2: utfallet ed står två gånger för akut"),
        ('natt = ["ed"]', "c.toml:2: okänt spår natt (tillåtna: halvakut, akut, primarvard, mdk)"),
    ],
)
def test_section_problems_read_as_swedish(section: str, message: str) -> None:
    _, problems = parse_catalogue("[outcomes]\n" + section + "\n" + SERVICE, "c.toml")
    assert [Messages("sv").problem(p) for p in problems] == [message]


@pytest.mark.parametrize(
    ("typed", "outcome"),
    [
        *[(w, Outcome.HOME) for w in ("hemma", "Hemma", "kvar hemma", "slutbehandlad", "home")],
        *[
            (w, Outcome.PRIMARY_CARE)
            for w in ("vårdcentral", "vårdcentralen", "vardcentral", "VC", "primary_care")
        ],
        *[(w, Outcome.HOME_VISIT) for w in ("hembesök", "hembesok", "home_visit", "home visit")],
        *[(w, Outcome.ADMISSION) for w in ("inläggning", "inlaggning", "admission")],
        *[(w, Outcome.ED) for w in ("akuten", "ed")],
        *[(w, Outcome.OTHER) for w in ("annat", "other")],
        *[(w, Outcome.ADVICE) for w in ("råd", "rad", "advice")],
    ],
)
def test_avsluta_reads_every_paths_outcomes_in_swedish_ascii_and_english(
    typed: str, outcome: Outcome
) -> None:
    assert parse_outcome(typed) is outcome
    assert parse_command(f"!avsluta {typed}") == Close(outcome=outcome)
    assert parse_command(f"!close {typed}") == Close(outcome=outcome)


def test_a_word_that_names_no_outcome_is_still_refused() -> None:
    assert parse_command("!avsluta hemmet") == Invalid(
        command="avsluta", reason=Reason.UNKNOWN_OUTCOME
    )


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_word_shown_for_each_outcome_is_one_avsluta_reads(language: str) -> None:
    words = chat_names(language)["outcome_word"]
    names = chat_names(language)["outcome"]
    for outcome in OFFERABLE:
        assert parse_outcome(words[outcome.value]) is outcome
        assert names[outcome.value]


def test_the_poll_names_read_as_the_plan_says_in_swedish() -> None:
    names = chat_names("sv")["outcome"]
    assert [names[o.value] for o in FOURTH] == [
        "kvar hemma / slutbehandlad på plats",
        "till vårdcentralen",
        "läkarbesök i hemmet",
        "akuten",
        "direkt inläggning",
        "annat",
    ]


def test_every_name_the_poll_shows_can_be_typed_too() -> None:
    """`!avsluta direkt inläggning` — what the poll and the close notice call an outcome."""
    import tomllib

    from consultbot.resources import templates_dir

    names = tomllib.loads((templates_dir() / "chat" / "names.toml").read_text(encoding="utf-8"))
    for language, verb in (("sv", "!avsluta"), ("en", "!close")):
        for key, name in names[language]["outcome"].items():
            if key == "unknown":
                continue  # never typed: only the bot closes as unknown
            command = parse_command(f"{verb} {name}")
            assert getattr(command, "outcome", None) == key, (language, name, command)
