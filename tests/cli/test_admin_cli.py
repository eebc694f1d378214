"""The admin's command line, tried as a new admin would (issue 23 item 8): read-only verbs
never create a database, -c before the verb, Swedish help and usage errors, the audit
trail of CLI imports and rollbacks, the versions and open-consults verbs, an identical
re-import, exports written whole, and the dev verbs without the homeserver extra."""

from __future__ import annotations

import io
import stat
import sys
from pathlib import Path

import pytest

from consultbot.cli.main import main
from tests.cli.conftest import Result, Run


def cli(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return Result(code, out.getvalue(), err.getvalue())


def database(config_path: Path) -> Path:
    return config_path.parent / "data" / "consultbot.db"


@pytest.mark.parametrize(
    "verb",
    [
        ("stats",),
        ("consults",),
        ("who", "kardiologi"),
        ("roster", "export", "kardiologi"),
        ("versions",),
        ("audit",),
        ("open-consults",),
        ("staff", "rollback"),  # writes, but only to a database that exists
        ("roster", "rollback"),
    ],
    ids=lambda v: " ".join(v),
)
def test_a_read_only_verb_never_creates_a_database(
    run: Run, config_path: Path, verb: tuple[str, ...]
) -> None:
    result = run(*verb)
    assert result.code == 1 and result.out == ""
    assert result.err == (
        f"fel: {database(config_path)} finns inte – stämmer bot.database i konfigurationen?"
        " (ingen databas har skapats)\n"
    )
    assert not database(config_path).exists()
    assert not database(config_path).parent.exists()


def test_check_against_a_missing_database_creates_none(
    run: Run, config_path: Path, examples: Path
) -> None:
    result = run("catalogue", "check", str(examples / "services.toml"))
    assert result.code == 0, result.err
    assert "inga fel" in result.out
    roster = run("roster", "check", str(examples / "roster-example.csv"))
    assert roster.code == 1 and "ingen tjänstekatalog är importerad" in roster.err
    assert not database(config_path).exists()


def test_a_config_before_the_verb_is_honoured(loaded: Run, config_path: Path) -> None:
    result = cli("-c", str(config_path), "versions", "catalogue")
    assert result.code == 0, result.err
    assert "version 1" in result.out and "aktiv" in result.out
    # After the verb it wins over one before it.
    other = cli("-c", "/nonexistent/config.toml", "versions", "-c", str(config_path))
    assert other.code == 0, other.err


def test_help_and_usage_errors_are_swedish() -> None:
    help_ = cli("--help")
    assert help_.code == 0
    assert help_.out.startswith("användning: consultbot")
    assert "flaggor:" in help_.out and "visa den här hjälpen och avsluta" in help_.out
    assert "vem som har jour för en tjänst" in help_.out
    verb_help = cli("consults", "--help")
    assert "--with-people" in verb_help.out and "loggas i adminloggen" in verb_help.out
    wrong = cli("stats", "--format", "xml")
    assert wrong.code == 2 and wrong.out == ""
    assert wrong.err.startswith("användning: consultbot stats")
    assert "consultbot stats: fel: argumentet --format: ogiltigt val: 'xml'" in wrong.err
    missing = cli("who")
    assert "fel: följande argument saknas: SERVICE" in missing.err
    unknown = cli("statistik")
    assert "fel: argumentet VERB: ogiltigt val: 'statistik' (välj bland" in unknown.err


def test_imports_are_in_the_audit_trail_with_the_os_user(loaded: Run) -> None:
    import getpass

    result = loaded("audit")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    imports = [line for line in lines if "  import  " in line]
    assert len(imports) == 4  # catalogue, staff, directory, roster of the `loaded` fixture
    assert all(f"  cli:{getpass.getuser()}  " in line for line in imports)
    assert any("Schemat version 1: " in line and "roster-example.csv" in line for line in imports)


def test_rollback_is_audited_and_limit_keeps_the_latest(
    loaded: Run, examples: Path, tmp_path: Path
) -> None:
    text = (examples / "roster-example.csv").read_text(encoding="utf-8")
    changed = tmp_path / "roster-changed.csv"
    changed.write_text(text.replace("070-174 06 28", "070-174 06 29", 1), encoding="utf-8")
    assert loaded("roster", "import", str(changed)).code == 0
    assert loaded("roster", "rollback").code == 0
    result = loaded("audit", "--limit", "2")
    assert result.code == 0, result.err
    first, second = result.out.splitlines()
    assert "  import  Schemat version 2: " in first and "roster-changed.csv" in first
    assert "  återställning  Schemat: version 2 ångrad, version 1 aktiv" in second
    assert loaded("audit", "--limit", "0").err == "fel: --limit måste vara minst 1, inte 0\n"


def test_an_identical_reimport_makes_no_version(loaded: Run, examples: Path) -> None:
    for dataset, name in (
        ("catalogue", "services.toml"),
        ("staff", "staff.csv"),
        ("directory", "directory.csv"),
        ("roster", "roster-example.csv"),
    ):
        again = loaded(dataset, "import", str(examples / name))
        assert again.code == 0, again.err
        assert "samma innehåll som den aktiva versionen 1 – ingen ny version skapades" in again.out
    versions = loaded("versions")
    assert "version 2" not in versions.out
    # Nothing to roll back to: the identical import did not make a version of the same data.
    back = loaded("roster", "rollback")
    assert back.code == 1 and "ingen tidigare version" in back.err


def test_a_catalogue_changing_only_its_outcome_sets_is_a_new_version(
    loaded: Run, examples: Path, tmp_path: Path
) -> None:
    text = (examples / "services.toml").read_text(encoding="utf-8")
    lines = [
        'primarvard = ["home", "primary_care", "ed", "other"]'
        if line.startswith("primarvard = ")
        else line
        for line in text.splitlines()
    ]
    changed = tmp_path / "services.toml"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = loaded("catalogue", "import", str(changed))
    assert result.code == 0, result.err
    assert "Tjänstekatalogen version 2 är aktiv" in result.out
    again = loaded("catalogue", "import", str(changed))
    assert "samma innehåll som den aktiva versionen 2" in again.out


def test_versions_lists_each_kind_newest_first(loaded: Run, examples: Path, tmp_path: Path) -> None:
    text = (examples / "roster-example.csv").read_text(encoding="utf-8")
    changed = tmp_path / "roster-changed.csv"
    changed.write_text(text.replace("070-174 06 28", "070-174 06 29", 1), encoding="utf-8")
    loaded("roster", "import", str(changed))
    loaded("roster", "rollback")
    result = loaded("versions", "roster")
    assert result.code == 0, result.err
    title, two, one = result.out.splitlines()
    assert title == "Schemat:"
    assert two.startswith("  version 2 ") and "  ångrad  " in two and "roster-changed.csv" in two
    assert one.startswith("  version 1 ") and "  aktiv  " in one
    every = loaded("versions").out
    for name in ("Tjänstekatalogen:", "Schemat:", "Personallistan:", "Kontaktlistan:"):
        assert name in every


def test_open_consults_lists_what_is_not_closed(loaded: Run, config_path: Path) -> None:
    import asyncio

    from consultbot.adapters.sql.sqlite import SqliteStore
    from consultbot.config import load_config
    from tests.support.november import MORA, november
    from tests.support.scripted import Script, local

    assert loaded("open-consults").out == "inga öppna konsultationer\n"

    async def write() -> None:
        store = await SqliteStore.open(load_config(config_path).bot.database)
        try:
            await november(store)  # every one closed, unanswered or withdrawn
            await Script(store).request(MORA, "kardiologi", local("2026-12-01 08:00"))
        finally:
            await store.close()

    asyncio.run(write())
    result = loaded("open-consults")
    assert result.code == 0, result.err
    [line] = result.out.splitlines()
    assert line.startswith("K-000011  2026-12-01 08:00  halvakut  kardiologi  söker")


def test_roster_and_stats_exports_are_owner_only_and_whole(loaded: Run, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    roster = folder / "kardiologi.csv"
    roster.write_text("old", encoding="utf-8")
    roster.chmod(0o644)
    result = loaded("roster", "export", "kardiologi", "--format", "csv", "-o", str(roster))
    assert result.code == 0, result.err
    assert stat.S_IMODE(roster.stat().st_mode) == 0o600  # names and phone numbers
    assert roster.read_text(encoding="utf-8").startswith("service,level,start")
    stats = folder / "stats.csv"
    assert loaded("stats", "--format", "csv", "-o", str(stats)).code == 0
    assert stat.S_IMODE(stats.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["kardiologi.csv", "stats.csv"]
    nowhere = loaded("roster", "export", "kardiologi", "-o", str(tmp_path / "no" / "x.ics"))
    assert nowhere.code == 1
    assert nowhere.err.startswith(f"fel: kan inte skriva {tmp_path / 'no' / 'x.ics'}: ")


@pytest.mark.parametrize("verb", ["homeserver", "demo"])
def test_the_dev_verbs_without_synapse_name_the_extra(
    run: Run, monkeypatch: pytest.MonkeyPatch, verb: str, tmp_path: Path
) -> None:
    """A plain `pip install .` has no matrix-synapse: one line naming the extra."""
    monkeypatch.setitem(sys.modules, "synapse", None)  # `import synapse` raises ImportError
    monkeypatch.chdir(tmp_path)
    result = run(verb)
    assert result.code == 1
    assert result.err == (
        "fel: den inbyggda Matrix-servern (Synapse) är inte installerad – installera tillägget:"
        " pip install 'consultbot[homeserver]'\n"
    )


def test_dev_without_synapse_names_the_extra_when_it_would_start_one(
    run: Run, config_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`dev` starts the embedded homeserver only when none answers at the config's local
    address: a port nobody listens on, so it would, and says what to install instead."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace('"http://127.0.0.1:8008"', f'"http://127.0.0.1:{port}"'), encoding="utf-8"
    )
    monkeypatch.setattr("consultbot.app.setup_logging", lambda: None)
    monkeypatch.setitem(sys.modules, "synapse", None)
    monkeypatch.chdir(tmp_path)
    result = run("dev")
    assert result.code == 1
    assert result.err.endswith("pip install 'consultbot[homeserver]'\n")
    assert result.err.count("\n") == 1
