"""The CLI with `bot.database` a PostgreSQL URL: the data verbs and the follow-up verbs work
on it, and `backup` says in one line that pg_dump makes its backups."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from consultbot.adapters.sql.stores import open_store
from consultbot.config import load_config
from tests.cli.conftest import Run
from tests.cli.test_stats_verbs import EXPECTED
from tests.support.november import november


def _use(config_path: Path, url: str) -> None:
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace('database = "data/consultbot.db"', f'database = "{url}"'), encoding="utf-8"
    )


def test_the_data_verbs_work_on_a_postgresql_database(
    run: Run, config_path: Path, examples: Path, pg_url: str
) -> None:
    _use(config_path, pg_url)
    assert load_config(config_path).bot.database == pg_url
    for dataset, name in (("catalogue", "services.toml"), ("roster", "roster-example.csv")):
        result = run(dataset, "import", str(examples / name))
        assert result.code == 0, result.err
        assert "version 1 är aktiv" in result.out
    who = run("who", "kardiologi", "--at", "2026-11-23 10:00")
    assert who.code == 0 and "Karin Kardiolog" in who.out
    same = run("roster", "import", str(examples / "roster-example.csv"))
    assert same.code == 0 and "samma innehåll som den aktiva versionen 1" in same.out
    text = (examples / "roster-example.csv").read_text(encoding="utf-8")
    changed = config_path.parent / "roster-changed.csv"
    changed.write_text(text.replace("070-174 06 28", "070-174 06 29", 1), encoding="utf-8")
    again = run("roster", "import", str(changed))
    assert "version 2 är aktiv" in again.out
    back = run("roster", "rollback")
    assert back.code == 0 and "version 1 är aktiv igen" in back.out
    assert not (config_path.parent / "data" / "consultbot.db").exists()  # no SQLite file


def test_backup_of_a_postgresql_database_points_to_pg_dump(
    run: Run, config_path: Path, tmp_path: Path
) -> None:
    _use(config_path, "postgresql://bot@db.example:5432/consultbot")
    result = run("backup", str(tmp_path / "copy.db"))
    assert result.code == 1
    assert "pg_dump" in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "copy.db").exists()


def test_stats_and_consults_on_postgresql_are_those_of_the_script(
    run: Run, config_path: Path, examples: Path, pg_url: str
) -> None:
    """The follow-up numbers and the consult list, read from PostgreSQL, are exactly what the
    scripted consults give on SQLite (tests/cli/test_stats_verbs.py)."""
    _use(config_path, pg_url)
    for dataset, name in (
        ("catalogue", "services.toml"),
        ("staff", "staff.csv"),
        ("directory", "directory.csv"),
        ("roster", "roster-example.csv"),
    ):
        assert run(dataset, "import", str(examples / name)).code == 0

    async def write() -> None:
        store = await open_store(pg_url)
        try:
            await november(store)
        finally:
            await store.close()

    asyncio.run(write())
    result = run("stats", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    goals = report.pop("goals")
    assert report == EXPECTED
    assert goals["rows"]["referrals_avoided"] == {"value": 1, "previous": 1, "change": 0}
    listed = run("consults", "--from", "2026-10-01", "--to", "2026-12-31", "--format", "json")
    assert listed.code == 0 and len(json.loads(listed.out)) == 9


def test_an_unreachable_database_is_one_line_without_the_password(
    run: Run, config_path: Path
) -> None:
    _use(config_path, "postgresql://bot:hemligt@127.0.0.1:1/consultbot")
    result = run("who", "kardiologi")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "går inte att nå" in result.err
    assert "hemligt" not in result.err and "Traceback" not in result.err
