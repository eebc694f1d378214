"""Imports that would leave a service uncovered or remove most of a data set are held until
the admin confirms with --allow-gaps or --allow-shrink (issue 20 items 1 and 2)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run

ROSTER_HEADER = "service,level,start,end,matrix_id,name,phone\n"
# Tuesday 2026-11-24 in whole dates. The example roster has kardiologi's day shifts 08–17
# and night shifts 17–08 at both levels; this file replaces Tuesday's, night shift included,
# and nobody is on duty Wednesday 00:00–08:00 any more.
WHOLE_TUESDAY = (
    ROSTER_HEADER
    + "kardiologi,1,2026-11-24 00:00,2026-11-25 00:00,@nils:localhost,Nils Ny,\n"
    + "kardiologi,2,2026-11-24 00:00,2026-11-25 00:00,@nora:localhost,Nora Ny,\n"
)


def who_at(run: Run, at: str) -> str:
    result = run("who", "kardiologi", "--at", at)
    assert result.code == 0, result.err
    return result.out


def test_a_hole_past_the_files_period_stops_the_import_until_allow_gaps(
    loaded: Run, tmp_path: Path
) -> None:
    roster = tmp_path / "tisdag.csv"
    roster.write_text(WHOLE_TUESDAY, encoding="utf-8")
    before = who_at(loaded, "2026-11-25 03:00")
    assert "Nivå 1" in before

    held = loaded("roster", "import", str(roster))
    assert held.code == 1
    assert "kardiologi nivå 1: ingen i tjänst 2026-11-25 00:00–08:00, inom öppettiderna" in (
        held.out
    )
    assert "kardiologi nivå 2: ingen i tjänst 2026-11-25 00:00–08:00" in held.out
    assert "2 på nivå 1 inom öppettiderna" not in held.out  # one level-1 hole, not two
    assert "ingenting har ändrats" in held.err and "--allow-gaps" in held.err
    assert "--allow-shrink" not in held.err
    assert who_at(loaded, "2026-11-25 03:00") == before, "a held import changes nothing"

    checked = loaded("roster", "check", str(roster))
    assert checked.code == 0
    assert "väntar på en bekräftelse" in checked.out

    done = loaded("roster", "import", "--allow-gaps", str(roster))
    assert done.code == 0, done.err
    assert "Schemat version 2 är aktiv" in done.out
    assert "ingen i tjänst 2026-11-25 00:00–08:00" in done.out, "the holes are still listed"
    assert "Ingen är i tjänst" in who_at(loaded, "2026-11-25 03:00")


def test_a_file_that_keeps_every_level_covered_imports_at_once(loaded: Run, tmp_path: Path) -> None:
    roster = tmp_path / "tisdag.csv"
    roster.write_text(
        WHOLE_TUESDAY
        + "kardiologi,1,2026-11-25 00:00,2026-11-25 08:00,@nils:localhost,Nils Ny,\n"
        + "kardiologi,2,2026-11-25 00:00,2026-11-25 08:00,@nora:localhost,Nora Ny,\n",
        encoding="utf-8",
    )
    result = loaded("roster", "import", str(roster))
    assert result.code == 0, result.err
    assert "luckor" not in result.out
    assert "Nils Ny" in who_at(loaded, "2026-11-25 03:00")


def test_a_staff_list_of_one_replacing_249_is_held_until_allow_shrink(
    loaded: Run, tmp_path: Path, examples: Path
) -> None:
    staff = tmp_path / "personal.csv"
    staff.write_text(
        "matrix_id,name,unit,title,phone\n"
        "@kardiolog1:localhost,Karin Kardiolog,kardiologi,Specialistläkare,070-174 06 21\n",
        encoding="utf-8",
    )
    held = loaded("staff", "import", str(staff))
    assert held.code == 1
    assert "Den nya versionen tar bort 248 av 249 personer (100 %), bland andra" in held.out
    named = held.out.split("bland andra ", 1)[1].splitlines()[0].split(", ")
    listed = (examples / "staff.csv").read_text(encoding="utf-8")
    assert len(named) == 5 and all(f",{name}," in listed for name in named)
    assert "Karin Kardiolog" not in named, "she stays"
    assert "mer än 20 % av den aktiva versionen" in held.err and "--allow-shrink" in held.err
    again = loaded("staff", "import", str(staff))
    assert "Personallistan version 1" not in again.out and again.code == 1

    done = loaded("staff", "import", "--allow-shrink", str(staff))
    assert done.code == 0, done.err
    assert "Personallistan version 2 är aktiv" in done.out


def test_a_directory_cut_short_is_held_and_the_share_is_configurable(
    loaded: Run, tmp_path: Path, config_path: Path
) -> None:
    directory = tmp_path / "kontakter.csv"
    directory.write_text(
        "unit,name,phone,municipality,notes\n"
        'Region Dalarna,"Region Dalarna, växel",023-49 00 00,Falun,Regionens huvudväxel\n',
        encoding="utf-8",
    )
    held = loaded("directory", "import", str(directory))
    assert held.code == 1 and "--allow-shrink" in held.err
    assert "poster" in held.out
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace("[bot]\n", "[bot]\nshrink_guard_share = 1.0\n", 1), encoding="utf-8"
    )
    done = loaded("directory", "import", str(directory))
    assert done.code == 0, done.err
    assert "Kontaktlistan version 2 är aktiv" in done.out


def test_a_bad_shrink_share_is_one_config_line(loaded: Run, config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace("[bot]\n", "[bot]\nshrink_guard_share = 20\n", 1), encoding="utf-8"
    )
    result = loaded("who", "kardiologi")
    assert result.code == 1
    assert "bot.shrink_guard_share: måste vara mellan 0 och 1, inte 20" in result.err
