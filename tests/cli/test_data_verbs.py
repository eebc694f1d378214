"""The data verbs as an admin uses them: check, import, rollback, export, who."""

from __future__ import annotations

import io
from pathlib import Path

import icalendar
import openpyxl

from tests.cli.conftest import Run

ROSTER_HEADER = "service,level,start,end,matrix_id,name,phone\n"


def names_on_duty(run: Run, service: str, at: str) -> str:
    result = run("who", service, "--at", at)
    assert result.code == 0, result.err
    return result.out


def test_example_data_imports_and_who_answers(loaded: Run) -> None:
    out = names_on_duty(loaded, "kardiologi", "2026-11-23 10:00")
    lines = out.splitlines()
    level1 = lines.index("Nivå 1 (jour):")
    level2 = lines.index("Nivå 2 (bakjour):")
    assert "Karin Kardiolog" in lines[level1 + 1] and "@kardiolog1:localhost" in lines[level1 + 1]
    assert "Bo Bakjour" in lines[level2 + 1]
    assert "Växel: 023-49 00 00" in out
    # An alias works as well as the id, in any case.
    assert names_on_duty(loaded, "HJÄRTA", "2026-11-23 10:00") == out


def test_who_outside_hours_says_when_the_track_opens(loaded: Run) -> None:
    out = names_on_duty(loaded, "vc-mora", "2026-11-21 10:00")  # a Saturday
    assert "Ingen är i tjänst" in out
    assert "öppnar 2026-11-23 08:00" in out


def test_import_prints_the_version_and_rollback_goes_back(loaded: Run, tmp_path: Path) -> None:
    change = tmp_path / "byte.csv"
    change.write_text(
        ROSTER_HEADER
        + "kardiologi,1,2026-11-23 08:00,2026-11-23 17:00,@vikarie:localhost,Vera Vikarie,\n",
        encoding="utf-8",
    )
    result = loaded("roster", "import", str(change))
    assert result.code == 0, result.err
    assert "Schemat version 2 är aktiv" in result.out
    assert "Vera Vikarie" in names_on_duty(loaded, "kardiologi", "2026-11-23 10:00")
    # The rest of kardiologi's month is untouched by a one-day file.
    assert "Karin Kardiolog" in names_on_duty(loaded, "kardiologi", "2026-11-24 10:00")
    back = loaded("roster", "rollback")
    assert back.code == 0
    assert "version 2 ångrad, version 1 är aktiv igen" in back.out
    assert "Karin Kardiolog" in names_on_duty(loaded, "kardiologi", "2026-11-23 10:00")
    again = loaded("roster", "rollback")
    assert again.code == 1
    assert "ingen tidigare version" in again.err


def test_bad_roster_reports_every_error_and_changes_nothing(loaded: Run, tmp_path: Path) -> None:
    before = names_on_duty(loaded, "kardiologi", "2026-11-23 10:00")
    bad = tmp_path / "fel.csv"
    bad.write_text(
        ROSTER_HEADER
        + "kardiologi,1,2026-11-23 08:00,2026-11-23 17:00,@ny:localhost,Ny Person,\n"
        + "hjärtkirurgi,1,2026-11-23 08:00,2026-11-23 17:00,@a:localhost,A,\n"
        + "kardiologi,0,2026-11-23 08:00,2026-11-23 17:00,@b:localhost,B,\n"
        + "kardiologi,2,2026-11-23 17:00,2026-11-23 08:00,@c:localhost,C,\n"
        + "kardiologi,2,2026-11-31 08:00,2026-12-01 17:00,@d:localhost,D,\n"
        + "kardiologi,2,2026-11-24 08:00,2026-11-24 17:00,anna,Anna,\n",
        encoding="utf-8",
    )
    result = loaded("roster", "import", str(bad))
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("fel:")]
    assert [e.split(": ")[1] for e in errors] == [f"{bad}:{n}" for n in (3, 4, 5, 6, 7)]
    assert "okänd tjänst hjärtkirurgi" in errors[0]
    assert "5 fel – ingenting har ändrats" in result.err
    assert "Traceback" not in result.err
    assert names_on_duty(loaded, "kardiologi", "2026-11-23 10:00") == before
    assert loaded("roster", "check", str(bad)).code == 1


def test_roster_check_changes_nothing(loaded: Run, tmp_path: Path) -> None:
    good = tmp_path / "ok.csv"
    good.write_text(
        ROSTER_HEADER + "kardiologi,1,2026-11-23 08:00,2026-11-23 17:00,@ny:localhost,Ny,\n",
        encoding="utf-8",
    )
    result = loaded("roster", "check", str(good))
    assert result.code == 0
    assert "1 pass, 1 tjänst, 1 person" in result.out
    assert "Schemat: inga fel – kan importeras" in result.out
    assert "Ny" not in names_on_duty(loaded, "kardiologi", "2026-11-23 10:00")


def test_excel_exports_import(loaded: Run, tmp_path: Path) -> None:
    # Swedish Excel: semicolons, Windows-1252, Swedish headers, Swedish letters in names.
    legacy = tmp_path / "schema.csv"
    legacy.write_bytes(
        (
            "Tjänst;Nivå;Start;Slut;Matrix_id;Namn;Telefon\r\n"
            "hjärta;1;2026-11-25 08:00;2026-11-25 17:00;@ase:localhost;Åse Öberg;070-1\r\n"
        ).encode("cp1252")
    )
    result = loaded("roster", "import", str(legacy))
    assert result.code == 0, result.err
    assert "Windows-1252" in result.err  # a warning, not an error
    assert "Åse Öberg" in names_on_duty(loaded, "kardiologi", "2026-11-25 10:00")

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["tjänst", "nivå", "start", "slut", "matrix_id", "namn", "telefon"])
    from datetime import datetime

    sheet.append(
        [
            "kardiologi",
            1,
            datetime(2026, 11, 26, 8),
            datetime(2026, 11, 26, 17),
            "@xl:localhost",
            "Xl Xlsson",
            None,
        ]
    )
    xlsx = tmp_path / "schema.xlsx"
    book.save(xlsx)
    result = loaded("roster", "import", str(xlsx))
    assert result.code == 0, result.err
    assert "Xl Xlsson" in names_on_duty(loaded, "kardiologi", "2026-11-26 16:59")


def test_export_round_trips_through_csv_and_ics(loaded: Run, tmp_path: Path) -> None:
    csv_file = tmp_path / "kardio.csv"
    result = loaded(
        "roster",
        "export",
        "kardiologi",
        "--format",
        "csv",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-29",
        "-o",
        str(csv_file),
    )
    assert result.code == 0, result.err
    rows = csv_file.read_text(encoding="utf-8").splitlines()
    assert rows[0] == ROSTER_HEADER.strip()
    # 7 days × (day + night) × (level 1 + level 2), plus the night shift running into the
    # first day: an export lists every shift that overlaps the period.
    assert len(rows) - 1 == 7 * 4 + 2
    assert rows[1].startswith("kardiologi,1,2026-11-22 17:00,2026-11-23 08:00,")
    ics = loaded("roster", "export", "kardiologi", "--format", "ics")
    assert ics.code == 0
    calendar = icalendar.Calendar.from_ical(ics.out)
    events = list(calendar.walk("VEVENT"))
    assert (
        len(events)
        == len(
            [
                r
                for r in io.StringIO(
                    loaded("roster", "export", "kardiologi", "--format", "csv").out
                )
            ]
        )
        - 1
    )
    assert all(e.get("DTSTART").dt.tzinfo is not None for e in events)
    ics_file = tmp_path / "kardio.ics"
    ics_file.write_text(ics.out, encoding="utf-8")
    before = names_on_duty(loaded, "kardiologi", "2026-11-23 20:00")
    for exported in (csv_file, ics_file):
        again = loaded("roster", "import", str(exported))
        assert again.code == 0, again.err
        assert names_on_duty(loaded, "kardiologi", "2026-11-23 20:00") == before


def test_roster_before_catalogue_says_what_to_do(run: Run, examples: Path) -> None:
    result = run("roster", "check", str(examples / "roster-example.csv"))
    assert result.code == 1
    assert result.err.strip().startswith("fel: ingen tjänstekatalog är importerad")


def test_bad_catalogue_changes_nothing(loaded: Run, tmp_path: Path) -> None:
    bad = tmp_path / "services.toml"
    bad.write_text('[[service]]\nid = "x"\nname = "X"\nkind = "hospital"\n', encoding="utf-8")
    result = loaded("catalogue", "import", str(bad))
    assert result.code == 1
    assert f"{bad}:1: okänd kind hospital" in result.err
    assert "kardiologi" in names_on_duty(loaded, "kardiologi", "2026-11-23 10:00")


def test_staff_with_unknown_unit_is_refused(loaded: Run, tmp_path: Path) -> None:
    bad = tmp_path / "staff.csv"
    bad.write_text(
        "matrix_id,name,unit,title,phone\n@a:localhost,A,kardiologi,,\n@b:localhost,B,nowhere,,\n",
        encoding="utf-8",
    )
    result = loaded("staff", "import", str(bad))
    assert result.code == 1
    assert f"{bad}:3: okänd tjänst nowhere" in result.err


def test_one_clear_line_for_bad_input(loaded: Run, tmp_path: Path) -> None:
    cases = [
        (("who", "hjärtkirurgi"), "fel: okänd tjänst hjärtkirurgi"),
        (("who", "kardiologi", "--at", "i morgon"), "fel: ogiltig tid i morgon"),
        (
            ("who", "kardiologi", "--at", "2027-10-31 02:30"),
            "fel: tiden 2027-10-31 02:30 finns två gånger (sommartid slutar)",
        ),
        (
            ("who", "kardiologi", "--at", "2027-03-28 02:30"),
            "fel: tiden 2027-03-28 02:30 finns inte",
        ),
        (("roster", "import", str(tmp_path / "saknas.csv")), "fel: kan inte läsa"),
        (("roster", "export", "kardiologi", "--from", "23/11"), "fel: ogiltigt datum 23/11"),
    ]
    for args, message in cases:
        result = loaded(*args)
        assert result.code == 1, args
        assert result.err.startswith(message), (args, result.err)
        assert len(result.err.strip().splitlines()) == 1
        assert result.out == ""


def test_output_is_quiet_when_not_a_terminal(run: Run, examples: Path) -> None:
    result = run("catalogue", "import", str(examples / "services.toml"))
    assert result.code == 0
    assert result.err == ""


def test_a_new_file_may_not_double_book_someone_still_on_a_kept_shift(
    loaded: Run, tmp_path: Path
) -> None:
    # Tove's night shift 2026-11-23 17:00 → 11-24 08:00 stays (it starts before this file);
    # the file puts her on a shift starting at 07:00 the next morning in the same service.
    change = tmp_path / "dubbelbokad.csv"
    change.write_text(
        ROSTER_HEADER
        + "kardiologi,2,2026-11-24 07:00,2026-11-24 17:00,@tove.aberg:localhost,Tove Åberg,\n",
        encoding="utf-8",
    )
    result = loaded("roster", "import", str(change))
    assert result.code == 1
    assert f"{change}:2: @tove.aberg:localhost har redan ett pass i kardiologi" in result.err
    ok = tmp_path / "ok.csv"
    ok.write_text(
        ROSTER_HEADER
        + "kardiologi,1,2026-11-24 08:00,2026-11-24 17:00,@kardiolog1:localhost,Karin Kardiolog,\n"
        + "kardiologi,2,2026-11-24 08:00,2026-11-24 17:00,@tove.aberg:localhost,Tove Åberg,\n",
        encoding="utf-8",
    )
    assert loaded("roster", "import", str(ok)).code == 0


def test_config_mistakes_are_one_swedish_line(tmp_path: Path) -> None:
    from consultbot.cli.main import main

    bad = tmp_path / "config.toml"
    bad.write_text('[matrix]\nhomeserver = "http://127.0.0.1:8008"\n', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["who", "kardiologi", "-c", str(bad)], out, err) == 1
    assert err.getvalue() == f"fel: {bad}: [bot] saknas\n"
