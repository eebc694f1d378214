"""The plan's matrix as catalogue data (issue 22, item 1): per service and path who may use it,
when, and its routine; every problem at its line, in Swedish; old catalogues stay valid; the
matrix the web board lists and the paths open instead of a closed one."""

from __future__ import annotations

from datetime import time

import pytest

from consultbot.domain.duty.catalogue import parse_catalogue
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.matrix import matrix, open_instead, path_hours
from consultbot.domain.duty.routines import KINDS, Document, Routine, from_dict, to_dict
from consultbot.domain.errors import Problem
from consultbot.domain.files.validation import DALARNA, FileRules
from consultbot.domain.types import RequesterKind, ServiceKind, Track
from consultbot.engine.admin.datasets import check_catalogue_files
from consultbot.resources import example_data_dir
from consultbot.text.render import Messages

KARDIO = """[[service]]
id = "kardiologi"
name = "Kardiologi, Falu lasarett"
kind = "specialty"
tracks = ["halvakut", "akut", "mdk"]
switchboard = "023-49 00 00"
"""
VC = """
[[service]]
id = "vc-mora"
name = "Vårdcentralen Mora"
kind = "primary_care"
tracks = ["primarvard"]
municipality = "Mora"
switchboard = "0250-49 30 00"
"""
AMBULANCE = """
[[service]]
id = "ambulans"
name = "Ambulanssjukvården Dalarna"
kind = "ambulance"
"""
ROUTINE = """
[service.routine.halvakut]
open_to = ["vårdcentral", "hospital"]
hours = "weekdays 08:00-16:00"
have_ready = ["EKG", "senaste Hb", "aktuell medicinlista"]
call_when = \"\"\"Pågående bröstsmärta:
  ring i stället.\"\"\"
refer_when = "Planerad utredning: remiss."
documents = [
  { label = "Gränsdragning hjärtsvikt", url = "https://example.org/hjartsvikt" },
]

[service.routine.akut]
have_ready = ["EKG"]
"""
HALVAKUT = "[service.routine.halvakut]\n"
TRACKS = {Track.HALVAKUT: Hours.parse("always"), Track.AKUT: Hours.parse("always")}
TRACKS |= {Track.PRIMARVARD: Hours.parse("weekdays 08:00-17:00"), Track.MDK: Hours.parse("always")}


def parsed(text: str) -> tuple[list[Problem], dict[str, tuple[Routine, ...]]]:
    catalogue, problems = parse_catalogue(text, "tjanster.toml")
    return problems, {s.id: s.routines for s in catalogue.services}


def test_a_catalogue_without_routines_stays_valid_and_every_path_is_open_to_all() -> None:
    catalogue, problems = parse_catalogue(KARDIO + VC, "tjanster.toml")
    assert problems == []
    kardio = catalogue.get("kardiologi")
    assert kardio.routines == ()
    for track in Track:
        routine = kardio.routine(track)
        assert routine.open_to == KINDS and routine.hours is None and routine.have_ready == ()
        assert all(routine.open_for(kind) for kind in RequesterKind)


def test_a_routine_is_read_with_every_field() -> None:
    problems, routines = parsed(KARDIO + ROUTINE + VC)
    assert problems == []
    halvakut, akut = routines["kardiologi"]
    assert halvakut == Routine(
        track=Track.HALVAKUT,
        open_to=(RequesterKind.PRIMARY_CARE, RequesterKind.HOSPITAL),
        hours=Hours(days="weekdays", opens=time(8), closes=time(16)),
        have_ready=("EKG", "senaste Hb", "aktuell medicinlista"),
        call_when="Pågående bröstsmärta: ring i stället.",  # one paragraph
        refer_when="Planerad utredning: remiss.",
        documents=(
            Document(label="Gränsdragning hjärtsvikt", url="https://example.org/hjartsvikt"),
        ),
    )
    assert akut == Routine(track=Track.AKUT, have_ready=("EKG",))
    assert routines["vc-mora"] == ()
    assert from_dict(to_dict(halvakut)) == halvakut and from_dict(to_dict(akut)) == akut


def test_a_closed_path_keeps_unknown_requesters_and_turns_away_the_others() -> None:
    _, routines = parsed(KARDIO + ROUTINE)
    halvakut = routines["kardiologi"][0]
    assert halvakut.open_for(RequesterKind.PRIMARY_CARE)
    assert not halvakut.open_for(RequesterKind.AMBULANCE)
    assert not halvakut.open_for(RequesterKind.MUNICIPAL_CARE)
    # Not on the staff list: the bot cannot tell what they are, and lets them ask.
    assert halvakut.open_for(RequesterKind.UNKNOWN)


@pytest.mark.parametrize(
    ("routine", "line", "code", "message"),
    [
        (
            "[service.routine.akutt]\nhave_ready = []\n",
            7,
            "bad_track",
            "tjanster.toml:7: okänt spår akutt (tillåtna: halvakut, akut, primarvard, mdk)",
        ),
        (
            "[service.routine.primarvard]\n",
            7,
            "routine_not_served",
            "tjanster.toml:7: rutinen gäller spåret primarvard, som tjänsten inte har – lägg till"
            " det i tracks eller ta bort rutinen",
        ),
        (
            HALVAKUT + 'have_ready = ["EKG"]\nha_till_hands = ["Hb"]\n',
            9,
            "unknown_key",
            "tjanster.toml:9: okänd nyckel routine.halvakut.ha_till_hands (felstavad?)",
        ),
        (
            HALVAKUT + 'open_to = ["vårdcentral", "ambulanser"]\n',
            8,
            "unknown_requester_kind",
            "tjanster.toml:8: okänd beställartyp ambulanser (tillåtna: primary_care, hospital,"
            " ambulance, municipal_care, other, vårdcentral, sjukhus, ambulans, kommun, övrigt)",
        ),
        (
            HALVAKUT + "open_to = []\n",
            8,
            "routine_open_to_nobody",
            "tjanster.toml:8: open_to är tom – ange vilka beställartyper spåret är öppet för,"
            " eller ta bort raden så är det öppet för alla",
        ),
        (
            HALVAKUT + 'hours = "vardagar 8-16"\n',
            8,
            "bad_hours",
            "tjanster.toml:8: ogiltiga öppettider vardagar 8-16 (always, weekdays TT:MM-TT:MM"
            " eller daily TT:MM-TT:MM väntades)",
        ),
        (
            '[service.routine.mdk]\nhave_ready = ["EKG"]\nhours = "always"\n',
            9,
            "routine_mdk_hours",
            "tjanster.toml:9: en multidisciplinär konferens har spårets öppettider"
            " (tracks.mdk.hours i konfigurationen) – ta bort hours ur rutinen för mdk",
        ),
        (
            HALVAKUT + 'have_ready = "EKG, Hb"\n',
            8,
            "bad_value",
            "tjanster.toml:8: ogiltigt värde för have_ready: EKG, Hb",
        ),
        (
            HALVAKUT + "have_ready = [" + ", ".join(['"EKG"'] * 13) + "]\n",
            8,
            "routine_too_many",
            "tjanster.toml:8: have_ready har för många rader – högst 12",
        ),
        (
            HALVAKUT + f'call_when = "{"Ring. " * 80}"\n',
            8,
            "routine_text_too_long",
            "tjanster.toml:8: call_when är för lång – högst 400 tecken",
        ),
        (
            HALVAKUT + 'refer_when = "Remiss\u202eredan"\n',
            8,
            "control_character",
            "tjanster.toml:8: refer_when innehåller ett styrtecken (U+202E, t.ex. radbrytning"
            " eller tabb) – ta bort det",
        ),
        (
            HALVAKUT + "documents = [\n"
            '  { label = "Bra", url = "https://example.org/a" },\n'
            '  { label = "Gränsdragning", url = "http://example.org/b" },\n]\n',
            10,
            "bad_document_url",
            "tjanster.toml:10: länken för Gränsdragning är ingen https-adress:"
            " http://example.org/b (https://… väntades)",
        ),
        (
            HALVAKUT + 'documents = [{ label = "X", url = "javascript:alert(1)" }]\n',
            8,
            "bad_document_url",
            "tjanster.toml:8: länken för X är ingen https-adress: javascript:alert(1)"
            " (https://… väntades)",
        ),
        (
            HALVAKUT + 'documents = [{ url = "https://example.org/a" }]\n',
            8,
            "missing_key",
            "tjanster.toml:8: nyckeln documents.label saknas",
        ),
    ],
)
def test_each_problem_is_one_swedish_line_at_its_place(
    routine: str, line: int, code: str, message: str
) -> None:
    problems, routines = parsed(KARDIO + routine + VC)
    assert [(p.line, p.code) for p in problems] == [(line, code)]
    assert Messages("sv").problem(problems[0]) == message
    assert "kardiologi" not in routines  # the entry is refused, not half read


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@example.org/",
        "https://exa mple.org/",
        'https://example.org/"onmouseover="x',
        "https:///no-host",
        "ftp://example.org/",
        "//example.org/",
    ],
)
def test_only_plain_https_addresses_are_links(url: str) -> None:
    text = KARDIO + HALVAKUT + f"documents = [{{ label = 'L', url = '{url}' }}]\n"
    problems, _ = parsed(text)
    assert [p.code for p in problems] == ["bad_document_url"]


def test_a_bad_routine_changes_nothing_when_checked_as_an_upload() -> None:
    bad = KARDIO + HALVAKUT + 'open_to = ["ambulanser"]\n' + VC
    checked = check_catalogue_files([("tjanster.toml", bad.encode())])
    assert not checked.ok
    assert [e.code for e in checked.errors] == ["unknown_requester_kind"]


def test_the_matrix_lists_every_paged_service_on_each_of_its_paths() -> None:
    catalogue, problems = parse_catalogue(KARDIO + ROUTINE + VC + AMBULANCE, "tjanster.toml")
    assert problems == []
    cells = matrix(catalogue, TRACKS)
    assert [(c.service.id, c.track) for c in cells] == [
        ("kardiologi", Track.HALVAKUT),
        ("kardiologi", Track.AKUT),
        ("kardiologi", Track.MDK),
        ("vc-mora", Track.PRIMARVARD),
    ]  # the ambulance asks but is never paged: not in the matrix
    halvakut = cells[0]
    assert halvakut.hours == Hours.parse("weekdays 08:00-16:00")  # the service's own
    assert halvakut.open_to == (RequesterKind.PRIMARY_CARE, RequesterKind.HOSPITAL)
    assert halvakut.routine.have_ready == ("EKG", "senaste Hb", "aktuell medicinlista")
    assert cells[1].hours == TRACKS[Track.AKUT] and cells[1].open_to == KINDS  # the defaults
    assert path_hours(None, Track.PRIMARVARD, TRACKS) == TRACKS[Track.PRIMARVARD]


def test_an_ambulance_turned_away_from_halvakut_is_shown_the_acute_line_and_the_fourth_path() -> (
    None
):
    vc = VC + '[service.routine.primarvard]\nopen_to = ["sjukhus", "ambulans", "kommun"]\n'
    catalogue, problems = parse_catalogue(KARDIO + ROUTINE + vc, "tjanster.toml")
    assert problems == []
    kardio, mora = catalogue.get("kardiologi"), catalogue.get("vc-mora")
    instead = open_instead(catalogue, kardio, RequesterKind.AMBULANCE)
    assert instead.tracks == (Track.AKUT,) and instead.primary_care
    # A vårdcentral is not sent to the fourth path, which is closed to it here anyway.
    assert not open_instead(catalogue, mora, RequesterKind.PRIMARY_CARE).primary_care
    assert not open_instead(catalogue, kardio, RequesterKind.PRIMARY_CARE).primary_care


def test_the_example_catalogue_has_routines_and_closes_halvakut_to_ambulances() -> None:
    text = (example_data_dir() / "services.toml").read_text(encoding="utf-8")
    catalogue, problems = parse_catalogue(text, "services.toml", FileRules(municipalities=DALARNA))
    assert problems == []
    kardio = catalogue.get("kardiologi")
    assert "EKG" in kardio.routine(Track.HALVAKUT).have_ready
    assert all(d.url.startswith("https://") for d in kardio.routine(Track.HALVAKUT).documents)
    assert not kardio.routine(Track.HALVAKUT).open_for(RequesterKind.AMBULANCE)
    instead = open_instead(catalogue, kardio, RequesterKind.AMBULANCE)
    assert instead.tracks == (Track.AKUT,) and instead.primary_care
    vcs = [s for s in catalogue.services if s.kind is ServiceKind.PRIMARY_CARE]
    assert vcs and all(s.routine(Track.PRIMARVARD).have_ready for s in vcs)
