"""`consultbot demo --followup` (issue 23 item 7): a year of consults from every requester kind,
in a store of its own that `stats` and `consults` read at once."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from consultbot.cli.main import main
from consultbot.devkit import followup
from tests.cli.conftest import Run


def run_with(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["-c", str(config), *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_year_for_the_analyst(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followup, "BASE_PER_MONTH", 40)  # a small year: the mix, not the size
    folder = tmp_path / "demo"
    (folder).mkdir()
    (folder / "consultbot.db").write_bytes(b"left from before")  # every demo starts afresh
    made = run("demo", "--followup", "--dir", str(folder))
    assert made.code == 0, made.err
    config = folder / "config.toml"
    assert f"-c {config} stats --month" in made.out
    months = [line.split()[-1] for line in made.out.splitlines() if "stats --month" in line]
    code, out, err = run_with(config, "stats", "--month", months[0], "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["consults"] > 30
    kinds = report["by_requester_kind"]
    for kind in ("primary_care", "hospital", "ambulance", "municipal_care"):
        assert kinds[kind]["consults"] > 0, kind
    ambulance = kinds["ambulance"]["outcomes"]
    assert ambulance["home"] + ambulance["primary_care"] > 0
    # The fourth path never counts an avoided referral; the specialist paths do.
    assert report["by_track"]["primarvard"]["referrals_avoided"] == 0
    assert report["referrals_avoided"] > 0
    goals = report["goals"]["rows"]
    assert goals["ambulance_requests"]["value"] == kinds["ambulance"]["consults"]
    assert goals["ambulance_requests"]["previous"] > 0  # the month before has data too
    code, out, err = run_with(config, "consults", "--month", months[0], "--format", "jsonl")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == report["consults"]
    assert {r["requester_kind"] for r in rows} >= {"primary_care", "ambulance", "municipal_care"}


def test_no_config_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followup, "BASE_PER_MONTH", 5)
    monkeypatch.chdir(tmp_path)  # no config.toml, no config.example.toml here
    out, err = io.StringIO(), io.StringIO()
    assert main(["demo", "--followup"], out, err) == 0, err.getvalue()
    assert out.getvalue().startswith("Uppföljningsdemo: ")
    assert (tmp_path / ".local/followup-demo/config.toml").is_file()
