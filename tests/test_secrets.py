"""The bot's secrets: example values refused on a real homeserver, private files on disk."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from consultbot.app import check_secrets
from consultbot.config import load_config
from consultbot.domain.errors import ConfigError

CONFIG = """
[matrix]
homeserver = "{homeserver}"
user_id = "{user_id}"
password = "{password}"
store_path = "data/store"
pickle_key = "{pickle_key}"

[bot]
database = "data/consultbot.db"
allowed_servers = ["region.example"]
"""
EXAMPLE_PASSWORD = "konsultbot-dev-password"
EXAMPLE_PICKLE_KEY = "dev-only-pickle-key-change-me"
REAL = "https://matrix.region.example"


def config_file(tmp_path: Path, *, mode: int = 0o600, **values: str) -> Path:
    fields = {
        "homeserver": REAL,
        "user_id": "@konsultbot:region.example",
        "password": "a-long-real-secret",
        "pickle_key": "x" * 40,
    }
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(**(fields | values)), encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"password": EXAMPLE_PASSWORD}, "matrix.password"),
        ({"pickle_key": EXAMPLE_PICKLE_KEY}, "matrix.pickle_key"),
    ],
)
def test_an_example_secret_is_refused_on_a_real_homeserver(
    tmp_path: Path, values: dict[str, str], key: str
) -> None:
    config = load_config(config_file(tmp_path, **values), {})
    with pytest.raises(ConfigError) as refused:
        check_secrets(config)
    assert key in str(refused.value) and "config.example.toml" in str(refused.value)


@pytest.mark.parametrize("homeserver", ["http://127.0.0.1:8008", "http://localhost:8008"])
def test_the_example_secrets_are_fine_for_the_embedded_dev_homeserver(
    tmp_path: Path, homeserver: str
) -> None:
    path = config_file(
        tmp_path,
        homeserver=homeserver,
        user_id="@konsultbot:localhost",
        password=EXAMPLE_PASSWORD,
        pickle_key=EXAMPLE_PICKLE_KEY,
    )
    check_secrets(load_config(path, {}))


@pytest.mark.parametrize(
    ("homeserver", "user_id"),
    [
        # A tunnel or proxy on this machine to the region's homeserver: loopback, real server.
        ("http://127.0.0.1:8008", "@konsultbot:region.example"),
        ("http://[::1]:8008", "@konsultbot:region.example"),
        # Named localhost, but reached over the network.
        ("https://matrix.region.example", "@konsultbot:localhost"),
        ("http://10.0.0.5:8008", "@konsultbot:localhost"),
    ],
)
def test_the_example_pickle_key_is_refused_unless_both_name_and_address_are_local(
    tmp_path: Path, homeserver: str, user_id: str
) -> None:
    path = config_file(
        tmp_path, homeserver=homeserver, user_id=user_id, pickle_key=EXAMPLE_PICKLE_KEY
    )
    with pytest.raises(ConfigError) as refused:
        check_secrets(load_config(path, {}))
    assert "matrix.pickle_key" in str(refused.value)


def test_a_pickle_key_in_a_readable_config_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config_file(tmp_path, mode=0o644)
    text = path.read_text(encoding="utf-8").replace('password = "a-long-real-secret"\n', "")
    path.write_text(text, encoding="utf-8")
    environment = {"CONSULTBOT_MATRIX_PASSWORD": "from-the-environment"}
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(path, environment))
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    assert all("x" * 40 not in r.getMessage() for r in caplog.records)
    caplog.clear()
    # The same key given in the environment instead: nothing secret is left in the file.
    path.write_text(text.replace(f'pickle_key = "{"x" * 40}"\n', ""), encoding="utf-8")
    environment["CONSULTBOT_MATRIX_PICKLE_KEY"] = "y" * 40
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(path, environment))
    assert not caplog.records


def test_a_config_with_a_password_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(config_file(tmp_path, mode=0o644), {}))
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    assert all("a-long-real-secret" not in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(config_file(tmp_path, mode=0o600), {}))
    assert not caplog.records


async def test_the_database_is_owner_only(tmp_path: Path) -> None:
    from consultbot.adapters.sql.sqlite import SqliteStore

    store = await SqliteStore.open(tmp_path / "db" / "consultbot.db")
    try:
        await store.set_meta("x", "y")
        for path in (tmp_path / "db").iterdir():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    finally:
        await store.close()


def test_the_shipped_example_config_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config_file(
        tmp_path,
        mode=0o644,
        homeserver="http://127.0.0.1:8008",
        user_id="@konsultbot:localhost",
        password=EXAMPLE_PASSWORD,
        pickle_key=EXAMPLE_PICKLE_KEY,
    )
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(path, {}))
    assert not caplog.records, "its secrets are public: it ships with the code"


def test_doctor_warns_about_a_readable_config_with_a_password(tmp_path: Path) -> None:
    from consultbot.cli.doctor import config_check
    from consultbot.cli.preflight import Level

    readable = config_check(load_config(config_file(tmp_path, mode=0o644), {}))
    assert readable.level is Level.WARNING and readable.key == "config_readable"
    private = config_check(load_config(config_file(tmp_path, mode=0o600), {}))
    assert private.level is Level.OK


def test_a_database_password_in_a_readable_config_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config_file(tmp_path, mode=0o644)
    text = path.read_text(encoding="utf-8").replace('password = "a-long-real-secret"\n', "")
    url = "postgresql://konsultbot:db-secret-123@db.region.example:5432/konsultbot"
    path.write_text(text.replace('"data/consultbot.db"', f'"{url}"'), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(path, {"CONSULTBOT_MATRIX_PASSWORD": "from-the-environment"}))
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    assert all("db-secret-123" not in r.getMessage() for r in caplog.records)
    caplog.clear()
    # The same URL without its password (PGPASSWORD or ~/.pgpass) is no secret in the file.
    text = text.replace(f'pickle_key = "{"x" * 40}"\n', "")
    path.write_text(text.replace('"data/consultbot.db"', '"postgresql://konsultbot@db/k"'))
    environment = {
        "CONSULTBOT_MATRIX_PASSWORD": "from-the-environment",
        "CONSULTBOT_MATRIX_PICKLE_KEY": "y" * 40,
    }
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(path, environment))
    assert not caplog.records


def test_a_backup_is_owner_only_from_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made 0600 as it is created, not chmod-ed after: with an open umask and chmod doing
    nothing, the copy is still private."""
    import asyncio
    import os

    from consultbot.adapters.sql import sqlite as sqlite_adapter

    async def make() -> None:
        await (await sqlite_adapter.SqliteStore.open(tmp_path / "consultbot.db")).close()

    asyncio.run(make())
    monkeypatch.setattr(sqlite_adapter.os, "chmod", lambda *args, **kwargs: None)
    old = os.umask(0)
    try:
        target = tmp_path / "backup.db"
        sqlite_adapter.backup_database(tmp_path / "consultbot.db", target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):  # never written over, nor its mode changed
        sqlite_adapter.backup_database(tmp_path / "consultbot.db", target)


def test_an_export_is_owner_only_from_its_first_byte(tmp_path: Path) -> None:
    import os

    from consultbot.cli.context import write_private

    old = os.umask(0)
    try:
        write_private(tmp_path / "shifts.csv", b"kardiologi;Karin;070-000 00 00\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shifts.csv").stat().st_mode) == 0o600
