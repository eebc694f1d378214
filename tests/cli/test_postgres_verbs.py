"""The CLI with `bot.database` a PostgreSQL URL: the data verbs work on it, and `backup`
says in one line that pg_dump makes its backups."""

from __future__ import annotations

from pathlib import Path

from consultbot.config import load_config
from tests.cli.conftest import Run


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
    again = run("roster", "import", str(examples / "roster-example.csv"))
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
