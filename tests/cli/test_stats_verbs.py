"""`consultbot stats` after a scripted month of consults (SPEC §7).

The consults go through the real state machine into the real SQLite store (tests/support/
scripted.py, november.py); the expected numbers below are worked out by hand from the script.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from consultbot.domain.consult.stats import OUTCOME_KEYS
from tests.cli.conftest import Run


def group(
    consults: int,
    acknowledged: int,
    escalated: int,
    unanswered: int,
    mdk: int,
    phone: int,
    ack: tuple[float | None, float | None],
    outcomes: dict[str, int],
    with_outcome: int,
    share: float | None,
) -> dict[str, Any]:
    keys = OUTCOME_KEYS
    assert set(outcomes) <= set(keys)
    return {
        "consults": consults,
        "acknowledged": acknowledged,
        "escalated": escalated,
        "unanswered": unanswered,
        "mdk": mdk,
        "phone_contacts": phone,
        "acknowledged_after_repeat": 0,  # the script's consults are never repeated
        "ack_seconds": {"median": ack[0], "p90": ack[1]},
        "outcomes": {k: outcomes.get(k, 0) for k in keys},
        # Every consult of the script is on a specialist path: each advice avoided a referral.
        "referrals_avoided": outcomes.get("advice", 0),
        "closed_with_outcome": with_outcome,
        "closed_with_outcome_share": share,
    }


EXPECTED: dict[str, Any] = {
    "from": "2026-11-01",
    "to": "2026-11-30",
    # consults 1-5, 9, 10; acks 30 60 100 200 400 700 → median 150, p90 the 6th of 6
    **group(
        7,
        6,
        2,
        1,
        1,
        3,
        (150.0, 700.0),
        {
            "advice": 1,
            "referral": 1,
            "admission": 1,
            "visit": 1,
            "other": 1,
            "unknown": 1,
            "open": 1,
        },
        5,
        0.714,
    ),
    "by_track": {
        # 1 2 4 5 9: acks 30 60 100 200 700 → median 100, p90 the 5th of 5
        "halvakut": group(
            5,
            5,
            1,
            0,
            0,
            2,
            (100.0, 700.0),
            {"advice": 1, "referral": 1, "admission": 1, "visit": 1, "unknown": 1},
            4,
            0.8,
        ),
        "akut": group(1, 0, 1, 1, 0, 0, (None, None), {"open": 1}, 0, 0.0),
        "mdk": group(1, 1, 0, 0, 1, 1, (400.0, 400.0), {"other": 1}, 1, 1.0),
    },
    "by_service": {
        # 1 2 5 9 10: acks 30 60 100 400 700
        "kardiologi": group(
            5,
            5,
            1,
            0,
            1,
            3,
            (100.0, 700.0),
            {"advice": 1, "referral": 1, "admission": 1, "visit": 1, "other": 1},
            5,
            1.0,
        ),
        # 3 4 10: acks 200 400 → median 300, p90 the 2nd of 2
        "neurologi": group(
            3,
            2,
            1,
            1,
            1,
            1,
            (300.0, 400.0),
            {"unknown": 1, "other": 1, "open": 1},
            1,
            0.333,
        ),
    },
    "by_requester_unit": {
        # 2 5: acks 30 700
        "vc-falun-norr": group(
            2, 2, 1, 0, 0, 0, (365.0, 700.0), {"referral": 1, "admission": 1}, 2, 1.0
        ),
        # 1 4 9 10: acks 60 100 200 400 → median 150, p90 the 4th of 4
        "vc-mora": group(
            4,
            4,
            0,
            0,
            1,
            3,
            (150.0, 400.0),
            {"advice": 1, "unknown": 1, "visit": 1, "other": 1},
            3,
            0.75,
        ),
        "okänd": group(1, 0, 1, 1, 0, 0, (None, None), {"open": 1}, 0, 0.0),
    },
}

# The kinds frozen at request time: every listed requester works at a vårdcentral.
EXPECTED["by_requester_kind"] = {
    # 1 2 4 5 9 10: acks 30 60 100 200 400 700 → median 150, p90 the 6th of 6
    "primary_care": group(
        6,
        6,
        1,
        0,
        1,
        3,
        (150.0, 700.0),
        {
            "advice": 1,
            "referral": 1,
            "admission": 1,
            "visit": 1,
            "other": 1,
            "unknown": 1,
        },
        5,
        0.833,
    ),
    # 3: the requester not on the staff list
    "unknown": EXPECTED["by_requester_unit"]["okänd"],
}


def test_stats_json_has_every_number_of_the_script(scripted: Run) -> None:
    result = scripted("stats", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    goals = report.pop("goals")
    assert report == EXPECTED
    # The plan's goals against October (consult 7: advice, acknowledged by closing at 10 s).
    rows = goals["rows"]
    assert goals["previous"] == {"from": "2026-10-01", "to": "2026-10-31"}
    assert rows["referrals_avoided"] == {"value": 1, "previous": 1, "change": 0}
    assert rows["referrals"] == {"value": 1, "previous": 0, "change": 1}
    assert rows["phone_contacts"] == {"value": 3, "previous": 0, "change": 3}
    assert rows["admissions"] == {"value": 1, "previous": 0, "change": 1}
    assert rows["ambulance_home"]["share"] is None  # no ambulance request, no division
    assert rows["ack_median"] == {"value": 150.0, "previous": 10.0, "change": 140.0}
    assert rows["unanswered_share"] == {"value": 0.143, "previous": 0.0, "change": 0.143}
    assert list(goals["by_requester_kind"]) == ["primary_care", "unknown"]
    # Dict order is part of what the analyst sees: tracks in the plan's order, okänd last.
    assert list(report["by_track"]) == ["halvakut", "akut", "mdk"]
    assert list(report["by_requester_unit"]) == ["vc-falun-norr", "vc-mora", "okänd"]


def test_the_period_is_local_and_inclusive(scripted: Run) -> None:
    def consults(*period: str) -> int:
        result = scripted("stats", *period, "--format", "json")
        assert result.code == 0, result.err
        return int(json.loads(result.out)["consults"])

    assert consults("--from", "2026-11-30", "--to", "2026-11-30") == 1  # consult 5
    assert consults("--from", "2026-12-01", "--to", "2026-12-01") == 1  # consult 6
    assert consults("--from", "2026-10-31", "--to", "2026-10-31") == 1  # consult 7
    assert consults("--from", "2026-10-01", "--to", "2026-12-31") == 9
    # Without --from: the first day of --to's month.
    assert consults("--to", "2026-10-31") == 1


def test_bad_periods_get_one_line(scripted: Run) -> None:
    result = scripted("stats", "--from", "2026-11-31")
    assert result.code == 1
    assert result.err.strip() == "fel: ogiltigt datum 2026-11-31 (ÅÅÅÅ-MM-DD väntades)"
    result = scripted("stats", "--from", "2026-11-20", "--to", "2026-11-10")
    assert result.code == 1
    assert result.err.strip() == "fel: --from 2026-11-20 är efter --to 2026-11-10"


def test_stats_table_has_advice_on_its_own_line(scripted: Run) -> None:
    result = scripted("stats", "--from", "2026-11-01", "--to", "2026-11-30")
    assert result.code == 0, result.err
    everything = result.out.splitlines()
    assert everything[0] == "Uppföljning 2026-11-01 – 2026-11-30"
    # First the plan's goals against October, then the tables.
    goals = everything[: everything.index("Per spår")]
    goal = next(line for line in goals if line.startswith("Remiss undviken (råd, specialistspår)"))
    assert goal.split()[-3:] == ["1", "1", "±0"]
    assert any(line.startswith("Vårdtillfällen syns inte för boten") for line in goals)
    lines = everything[len(goals) :]

    def row(label: str, occurrence: int = 0) -> list[str]:
        found = [line for line in lines if line.strip().startswith(label)]
        return found[occurrence].strip()[len(label) :].split()

    # First table: Totalt, halvakut, akut, mdk.
    header = next(line for line in lines if "Totalt" in line).split()
    assert header[-4:] == ["Totalt", "halvakut", "akut", "mdk"]
    assert row("Konsultationer") == ["7", "5", "1", "1"]
    assert row("Remiss undviken (råd, specialistspår)") == ["1", "1", "0", "0"]
    assert row("Råd (alla spår)") == ["1", "1", "0", "0"]
    assert row("Tid till kvittens, median (s)") == ["150,0", "100,0", "–", "400,0"]
    assert row("Andel med utfall") == ["71,4", "%", "80,0", "%", "0,0", "%", "100,0", "%"]
    # Then by service and by unit.
    assert row("Konsultationer", 1) == ["5", "3"]
    assert row("Konsultationer", 2) == ["2", "4", "1"]
    assert "okänd" in result.out


def test_stats_csv_opens_in_swedish_excel(scripted: Run, tmp_path: Path) -> None:
    target = tmp_path / "stats.csv"
    result = scripted(
        "stats", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv", "-o", str(target)
    )
    assert result.code == 0, result.err
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    assert header[:5] == ["period", "indelning", "grupp", "Konsultationer", "Kvitterade"]
    assert {r[0] for r in rows[1:]} == {"2026-11"}  # months stack
    by_group = {
        (r[1], r[2]): dict(zip(header, r, strict=True))
        for r in rows[1:]
        if not r[1].startswith("mål")
    }
    assert set(by_group) == {
        ("totalt", "totalt"),
        ("spår", "halvakut"),
        ("spår", "akut"),
        ("spår", "mdk"),
        ("tjänst", "kardiologi"),
        ("tjänst", "neurologi"),
        ("enhet", "vc-falun-norr"),
        ("enhet", "vc-mora"),
        ("enhet", "okänd"),
        ("beställartyp", "vårdcentral"),
        ("beställartyp", "okänd"),
    }
    total = by_group[("totalt", "totalt")]
    assert total["Konsultationer"] == "7"
    assert total["Remiss undviken (råd, specialistspår)"] == "1"
    assert total["Råd (alla spår)"] == "1"
    assert total["Tid till kvittens, median (s)"] == "150,0"
    assert total["Andel med utfall"] == "0,714"
    assert by_group[("spår", "akut")]["Tid till kvittens, p90 (s)"] == ""
    assert by_group[("enhet", "vc-falun-norr")]["Tid till kvittens, median (s)"] == "365,0"
    # The goals as rows of their own, with the month before and the change.
    goals = {(r[1], r[2]): dict(zip(header, r, strict=True)) for r in rows[1:] if r[1] == "mål"}
    referrals = goals[("mål", "Remisser")]
    assert (referrals["värde"], referrals["föregående"], referrals["förändring"]) == ("1", "0", "1")
    assert referrals["Konsultationer"] == ""
    home = goals[("mål", "Ambulans: slutbehandlad på plats")]
    assert (home["värde"], home["andel av ambulansens"]) == ("0", "")
    assert ("mål, okänd", "Remisser") in {(r[1], r[2]) for r in rows[1:]}


def test_stats_of_an_empty_database(loaded: Run) -> None:
    run = loaded  # a database with data sets but no consults
    result = run("stats", "--from", "2026-01-01", "--to", "2026-01-31", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["consults"] == 0 and report["by_service"] == {}
    table = run("stats", "--from", "2026-01-01", "--to", "2026-01-31")
    assert "Inga konsultationer i perioden." in table.out
