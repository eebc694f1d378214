"""The data verbs with the files of issue 7: periods, change summary, export, errors in Swedish."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from consultbot.cli.context import database_reason
from consultbot.cli.duty import shifts_to_csv
from consultbot.cli.main import main
from consultbot.domain.duty.roster import check_roster
from consultbot.text.render import Messages
from tests.cli.conftest import Run
from tests.support.catalogue import CATALOGUE, TZ

HEADER = "service,level,start,end,matrix_id,name,phone\n"


def write(path: Path, *rows: str) -> str:
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return str(path)


def on_duty(run: Run, at: str) -> str:
    result = run("who", "kardiologi", "--at", at)
    assert result.code == 0, result.err
    return result.out


def test_two_files_imported_together_keep_the_days_between(loaded: Run, tmp_path: Path) -> None:
    # The example roster covers 2026-11-16 … 2026-11-29; Wednesday 11-25 is between the files.
    before = on_duty(loaded, "2026-11-25 10:00")
    assert "Karin Kardiolog" in before
    monday = write(
        tmp_path / "mon.csv", "kardiologi,1,2026-11-23 08:00,2026-11-23 17:00,@ny:localhost,Ny,"
    )
    friday = write(
        tmp_path / "fri.csv", "kardiologi,1,2026-11-27 08:00,2026-11-27 17:00,@ny:localhost,Ny,"
    )
    result = loaded("roster", "import", monday, friday)
    assert result.code == 0, result.err
    assert on_duty(loaded, "2026-11-25 10:00") == before
    assert "Ny" in on_duty(loaded, "2026-11-23 10:00")
    assert "Ny" in on_duty(loaded, "2026-11-27 10:00")


def test_check_and_import_say_what_changes_per_service(loaded: Run, tmp_path: Path) -> None:
    # Monday 08–17 has Karin (level 1) and Bo (level 2); the file keeps Karin, moves level 1
    # to Ny in the afternoon and has no level 2: Bo is removed.
    roster = write(
        tmp_path / "mon.csv",
        "kardiologi,1,2026-11-23 08:00,2026-11-23 12:00,@kardiolog1:localhost,Karin Kardiolog,"
        "070-174 06 21",
        "kardiologi,1,2026-11-23 12:00,2026-11-23 17:00,@ny:localhost,Ny,",
    )
    for action in ("check", "import"):
        result = loaded("roster", action, roster)
        assert result.code == 0, result.err
        assert "kardiologi: nya pass 2, ersätts 1, tas bort 1, oförändrade 0" in result.out, (
            result.out
        )
        if action == "import":
            lines = result.out.splitlines()
            summary = next(i for i, line in enumerate(lines) if "nya pass" in line)
            imported = next(i for i, line in enumerate(lines) if "är aktiv" in line)
            assert summary < imported


def test_a_roster_with_a_mistyped_year_changes_nothing(loaded: Run, tmp_path: Path) -> None:
    before = on_duty(loaded, "2026-11-25 10:00")
    roster = write(
        tmp_path / "typo.csv",
        "kardiologi,1,2026-11-23 08:00,2026-11-23 17:00,@ny:localhost,Ny,",
        "kardiologi,1,2062-11-24 08:00,2062-11-24 17:00,@ny:localhost,Ny,",
    )
    result = loaded("roster", "import", roster)
    assert result.code == 1
    assert f"{roster}:3: kardiologi: hål på mer än 31 dagar" in result.err
    assert on_duty(loaded, "2026-11-25 10:00") == before


def test_dropping_a_service_with_coming_shifts_is_refused(
    loaded: Run, examples: Path, tmp_path: Path
) -> None:
    blocks = (examples / "services.toml").read_text(encoding="utf-8").split("[[service]]")
    target = tmp_path / "services.toml"
    target.write_text(
        "[[service]]".join(b for b in blocks if 'id = "kardiologi"' not in b), encoding="utf-8"
    )
    result = loaded("catalogue", "import", str(target))
    assert result.code == 1
    assert "tjänsten kardiologi saknas i den nya katalogen men har" in result.err
    assert "Karin Kardiolog" in on_duty(loaded, "2026-11-23 10:00")


# ---------------------------------------------------------------------------------------------
# Export


def test_csv_export_escapes_formulas_and_keeps_the_autumn_hour(tmp_path: Path) -> None:
    text = (
        HEADER
        # 02:30 of the second pass through the repeated hour (CET), written with its offset.
        + "kardiologi,1,2026-10-24 20:00,2026-10-25T02:30+01:00,@a:localhost,"
        + '"=HYPERLINK(""http://x"")",+46 70 123\n'
        + "kardiologi,1,2026-10-25T02:30+01:00,2026-10-25 08:00,@b:localhost,@bo,-\n"
    )
    original = check_roster([("r.csv", text.encode())], CATALOGUE, TZ)
    assert original.ok, original.problems
    exported = shifts_to_csv(original.shifts, TZ)
    assert ",\"'=HYPERLINK" in exported and ",'+46 70 123" in exported and ",'@bo," in exported
    assert "2026-10-25T02:30+01:00" in exported
    again = check_roster([("e.csv", exported.encode())], CATALOGUE, TZ)
    assert again.shifts == original.shifts


def test_export_to_a_folder_or_a_missing_folder_is_one_line(loaded: Run, tmp_path: Path) -> None:
    for target, reason in (
        (tmp_path, "det är en mapp, inte en fil"),
        (tmp_path / "saknas" / "x.ics", "filen eller mappen finns inte"),
    ):
        result = loaded("roster", "export", "kardiologi", "-o", str(target))
        assert result.code == 1
        assert result.err == f"fel: kan inte skriva {target}: {reason}\n"


def test_dates_in_year_1_or_9999_are_a_clear_error(loaded: Run, tmp_path: Path) -> None:
    for args in (("--to", "9999-12-31"), ("--from", "0001-01-01")):
        result = loaded("roster", "export", "kardiologi", *args)
        assert result.code == 1
        assert result.err.startswith("fel: orimligt år i")
        assert len(result.err.splitlines()) == 1
    result = loaded("who", "kardiologi", "--at", "9999-12-31 23:59")
    assert result.code == 1 and "Traceback" not in result.err
    roster = write(
        tmp_path / "r.csv", "kardiologi,1,9999-12-31 20:00,9999-12-31 23:00,@ny:localhost,Ny,"
    )
    result = loaded("roster", "check", roster)
    assert result.code == 1
    assert "året i start är orimligt" in result.err


# ---------------------------------------------------------------------------------------------
# Messages


def test_operating_system_and_database_errors_are_swedish() -> None:
    messages = Messages("sv")
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    assert database_reason(readonly, messages) == "databasen är skrivskyddad" + (
        " (behörighet på filen eller mappen?)"
    )


def test_a_database_that_is_not_ours_is_one_swedish_line(config_path: Path) -> None:
    other = config_path.parent / "data" / "consultbot.db"
    other.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE kunder (namn TEXT)")
    out, err = io.StringIO(), io.StringIO()
    assert main(["who", "kardiologi", "-c", str(config_path)], out, err) == 1
    assert err.getvalue() == f"fel: {other}: filen är en SQLite-databas men inte konsultbotens\n"


def test_a_missing_file_is_one_swedish_line(loaded: Run, tmp_path: Path) -> None:
    missing = tmp_path / "saknas.csv"
    result = loaded("roster", "check", str(missing))
    assert result.err == f"fel: kan inte läsa {missing}: filen eller mappen finns inte\n"


def test_a_bad_hours_setting_is_one_swedish_line(config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace("[tracks.halvakut]\n", '[tracks.halvakut]\nhours = "weekdays 17:00-08:00"\n#'),
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    assert main(["who", "kardiologi", "-c", str(config_path)], out, err) == 1
    assert "stängningstiden måste vara efter öppningstiden" in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1


def test_one_unit_is_enhet(loaded: Run, tmp_path: Path) -> None:
    staff = tmp_path / "staff.csv"
    staff.write_text("matrix_id,name,unit\n@a:localhost,A,kardiologi\n", encoding="utf-8")
    result = loaded("staff", "check", str(staff))
    assert "1 person på 1 enhet" in result.out


def test_a_listed_header_has_no_none(loaded: Run, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["service", None, "level", "start"])
    book.active.append(["kardiologi", None, 1, "2026-11-23 08:00"])
    path = tmp_path / "r.xlsx"
    book.save(path)
    result = loaded("roster", "check", str(path))
    assert result.code == 1
    assert "rubrikraden har: service, level, start)" in result.err
    assert "None" not in result.err


def test_times_in_messages_are_local(loaded: Run, tmp_path: Path) -> None:
    # Tove's kept night shift 2026-11-23 17:00 → 11-24 08:00 (local), not 16:00Z → 07:00Z.
    roster = write(
        tmp_path / "r.csv",
        "kardiologi,2,2026-11-24 07:00,2026-11-24 17:00,@tove.aberg:localhost,Tove Åberg,",
    )
    result = loaded("roster", "check", roster)
    assert "(2026-11-23 17:00–2026-11-24 08:00, från ett tidigare schema)" in result.err
