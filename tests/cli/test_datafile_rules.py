"""The config's rules reach the data-file checks by the CLI (issue 20, item 3), and each
refusal names the real cause (item 4)."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import Run


def test_a_roster_naming_a_user_on_a_server_not_allowed_is_refused(
    loaded: Run, tmp_path: Path
) -> None:
    roster = tmp_path / "schema.csv"
    roster.write_text(
        "tjänst;nivå;start;slut;matrix_id;namn\n"
        "kardiologi;1;2026-12-01 08:00;2026-12-01 17:00;@anna:localhost;Anna\n"
        "kardiologi;1;2026-12-01 17:00;2026-12-02 08:00;@mallory:evil.example;Mallory\n",
        encoding="utf-8",
    )
    result = loaded("roster", "import", str(roster))
    assert result.code == 1
    assert (
        f"fel: {roster}:3: @mallory:evil.example finns på servern evil.example, "
        "som inte är tillåten (tillåtna: localhost)"
    ) in result.err


def test_a_staff_list_naming_a_user_on_a_server_not_allowed_is_refused(
    loaded: Run, tmp_path: Path
) -> None:
    staff = tmp_path / "personal.csv"
    staff.write_text("matrix_id,namn,enhet\n@m:evil.example,M,kardiologi\n", encoding="utf-8")
    result = loaded("staff", "import", str(staff))
    assert result.code == 1
    assert "som inte är tillåten" in result.err


def catalogue_with(examples: Path, old: str, new: str) -> str:
    text = (examples / "services.toml").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_a_catalogue_naming_a_municipality_outside_the_county_is_refused(
    loaded: Run, examples: Path, tmp_path: Path
) -> None:
    catalogue = tmp_path / "services.toml"
    catalogue.write_text(
        catalogue_with(examples, 'municipality = "Mora"', 'municipality = "Stockholm"'),
        encoding="utf-8",
    )
    result = loaded("catalogue", "import", str(catalogue))
    assert result.code == 1
    assert "kommunen Stockholm ligger inte i länet" in result.err


def test_the_county_is_configured(
    loaded: Run, examples: Path, tmp_path: Path, config_path: Path
) -> None:
    text = config_path.read_text(encoding="utf-8")
    county = re.sub(
        r"county_municipalities = \[.*?\]", 'county_municipalities = ["Mora"]', text, flags=re.S
    )
    assert county != text
    config_path.write_text(county, encoding="utf-8")
    result = loaded("catalogue", "check", str(examples / "services.toml"))
    assert result.code == 1
    assert "kommunen Falun ligger inte i länet (länets kommuner: Mora)" in result.err


def test_a_service_entry_with_an_error_is_not_reported_as_dropped(
    loaded: Run, examples: Path, tmp_path: Path
) -> None:
    # kardiologi has shifts; its entry has a typo in kind. The cause is the typo, not the
    # shifts: no advice to remove them.
    catalogue = tmp_path / "services.toml"
    catalogue.write_text(
        catalogue_with(examples, 'kind = "specialty"', 'kind = "specialitet"'), encoding="utf-8"
    )
    result = loaded("catalogue", "import", str(catalogue))
    assert result.code == 1
    assert "okänd kind specialitet" in result.err
    assert "pass" not in result.err.replace("passar", "")


def test_a_service_really_dropped_with_shifts_still_says_so(
    loaded: Run, examples: Path, tmp_path: Path
) -> None:
    catalogue = tmp_path / "services.toml"
    catalogue.write_text(
        catalogue_with(examples, 'id = "kardiologi"', 'id = "kardiologen"'), encoding="utf-8"
    )
    result = loaded("catalogue", "import", str(catalogue))
    assert result.code == 1
    assert "tjänsten kardiologi saknas i den nya katalogen men har" in result.err
    assert "behåll den i katalogen" in result.err


def test_a_broken_toml_catalogue_is_one_swedish_line(loaded: Run, tmp_path: Path) -> None:
    catalogue = tmp_path / "services.toml"
    catalogue.write_text('[[service]]\nid = "x"\nname "X"\n', encoding="utf-8")
    result = loaded("catalogue", "import", str(catalogue))
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("fel: ")]
    assert errors == [
        f"fel: {catalogue}:3: inte giltig TOML (kolumn 6) – kontrollera "
        "citattecken, = och hakparenteser"
    ]


def test_the_cli_says_a_structural_problem_in_the_words_the_chat_uses(
    loaded: Run, tmp_path: Path
) -> None:
    # tests/test_admin_chat.py::test_a_broken_upload_gets_the_same_one_message_as_the_cli
    header = "tjänst;nivå;start;slut;matrix_id;namn;telefon\n"
    roster = tmp_path / "schema.csv"
    roster.write_text(
        header + "kardiologi;1;2026-12-01 08:00;2026-12-01 17:00;@a:localhost;A;\n" + header,
        encoding="utf-8",
    )
    result = loaded("roster", "check", str(roster))
    assert result.code == 1
    assert result.err.splitlines() == [
        f"fel: {roster}:3: rubrikraden kommer igen här – två filer ihopklistrade? "
        "Ta bort den andra rubrikraden",
        "1 fel – ingenting har ändrats",
    ]
