"""`consultbot stats` for the plan's goals (issue 23): --month, the period column, the
requester-kind filter, --chart, and dates that cannot be computed, over the scripted month."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from PIL import Image

from consultbot.text.report import CHART_SIZE
from tests.cli.conftest import Run


def json_of(run: Run, *args: str) -> dict[str, object]:
    result = run("stats", *args, "--format", "json")
    assert result.code == 0, result.err
    report: dict[str, object] = json.loads(result.out)
    return report


def test_a_month_is_the_same_as_its_days(scripted: Run) -> None:
    by_month = json_of(scripted, "--month", "2026-11")
    assert by_month == json_of(scripted, "--from", "2026-11-01", "--to", "2026-11-30")
    assert by_month["consults"] == 7
    assert json_of(scripted, "--month", "2026-10")["consults"] == 1  # consult 7


def test_bad_months_and_a_month_with_a_period_get_one_line(scripted: Run) -> None:
    for bad in ("2026-13", "2026-1", "nov", "2026-11-01"):
        result = scripted("stats", "--month", bad)
        assert result.code == 1
        assert result.err.strip() == f"fel: ogiltig månad {bad} (ÅÅÅÅ-MM väntades)"
    result = scripted("stats", "--month", "2026-11", "--to", "2026-11-30")
    assert result.code == 1
    assert result.err.strip() == (
        "fel: --month går inte ihop med --from/--to: ange antingen en månad eller en period"
    )


def test_dates_that_cannot_be_computed_are_one_clear_line(scripted: Run) -> None:
    for flag, value in (("--to", "9999-12-31"), ("--from", "0001-01-01")):
        result = scripted("stats", flag, value)
        assert result.code == 1
        assert result.err.strip() == (
            f"fel: datumet {value} ligger utanför det som går att räkna med"
        )
        assert "Traceback" not in result.err and result.out == ""
    result = scripted("stats", "--month", "9999-12")
    assert result.code == 1
    assert result.err.strip() == "fel: datumet 9999-12-31 ligger utanför det som går att räkna med"
    # The last month that can be computed still works.
    assert json_of(scripted, "--month", "9999-11")["consults"] == 0


def test_the_csv_of_months_stacks_by_its_period_column(scripted: Run) -> None:
    stacked = []
    for month in ("2026-10", "2026-11"):
        result = scripted("stats", "--month", month, "--format", "csv")
        assert result.code == 0, result.err
        rows = list(csv.reader(io.StringIO(result.out.lstrip("\ufeff")), delimiter=";"))
        header, body = rows[0], rows[1:]
        stacked += [dict(zip(header, r, strict=True)) for r in body]
    totals = [r for r in stacked if r["indelning"] == "totalt"]
    assert [(r["period"], r["Konsultationer"]) for r in totals] == [
        ("2026-10", "1"),
        ("2026-11", "7"),
    ]
    goal = next(r for r in stacked if r["period"] == "2026-11" and r["grupp"].startswith("Tid"))
    assert (goal["värde"], goal["föregående"], goal["förändring"]) == ("150,0", "10,0", "140,0")
    goal = next(r for r in stacked if r["period"] == "2026-11" and r["grupp"] == "Andel obesvarade")
    assert (goal["värde"], goal["föregående"], goal["förändring"]) == ("0,143", "0,000", "0,143")
    # Not a whole month: both days.
    result = scripted("stats", "--from", "2026-11-02", "--to", "2026-11-15", "--format", "csv")
    assert result.out.splitlines()[1].startswith("2026-11-02 – 2026-11-15;totalt;")


def test_the_requester_kind_filter(scripted: Run) -> None:
    # The script's listed requesters work at vårdcentraler; one is not on the staff list.
    for name in ("unknown", "okänd", "OKÄND"):
        report = json_of(scripted, "--month", "2026-11", "--requester-kind", name)
        assert report["requester_kind"] == "unknown" and report["consults"] == 1
    for name in ("primary_care", "vårdcentral"):
        report = json_of(scripted, "--month", "2026-11", "--requester-kind", name)
        assert report["requester_kind"] == "primary_care" and report["consults"] == 6
    ambulance = json_of(scripted, "--month", "2026-11", "--requester-kind", "ambulans")
    assert ambulance["requester_kind"] == "ambulance"
    assert ambulance["consults"] == 0 and ambulance["by_track"] == {}
    goals = ambulance["goals"]
    assert goals["rows"]["ambulance_home"]["share"] is None  # type: ignore[index]
    table = scripted("stats", "--month", "2026-11", "--requester-kind", "kommun")
    assert table.code == 0, table.err
    assert table.out.splitlines()[:3] == [
        "Uppföljning 2026-11-01 – 2026-11-30",
        "Bara beställartyp kommun",
        "Inga konsultationer i perioden.",
    ]
    result = scripted("stats", "--requester-kind", "taxi")
    assert result.code == 1
    assert result.err.strip().startswith("fel: okänd beställartyp taxi (tillåtna: primary_care")
    assert "ambulance (ambulans)" in result.err


def test_the_chart_is_written_as_a_png(scripted: Run, tmp_path: Path) -> None:
    target = tmp_path / "mål.png"
    result = scripted("stats", "--month", "2026-11", "--chart", str(target), "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["consults"] == 7  # the report as usual
    image = Image.open(target)
    assert image.format == "PNG" and image.size == CHART_SIZE
    image.load()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert target.stat().st_mode & 0o777 == 0o600  # owner-only, like every export
    missing = tmp_path / "saknas" / "mål.png"
    result = scripted("stats", "--chart", str(missing))
    assert result.code == 1
    assert result.err.strip().startswith(f"fel: diagrammet kunde inte skrivas till {missing}: ")
