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
user_id = "@konsultbot:region.example"
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
    fields = {"homeserver": REAL, "password": "a-long-real-secret", "pickle_key": "x" * 40}
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


def test_the_example_secrets_are_fine_for_the_embedded_dev_homeserver(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        homeserver="http://127.0.0.1:8008",
        password=EXAMPLE_PASSWORD,
        pickle_key=EXAMPLE_PICKLE_KEY,
    )
    check_secrets(load_config(path, {}))


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
    from consultbot.adapters.sqlite import SqliteStore

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
        password=EXAMPLE_PASSWORD,
        pickle_key=EXAMPLE_PICKLE_KEY,
    )
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(path, {}))
    assert not caplog.records, "its secrets are public: it ships with the code"


def test_doctor_warns_about_a_readable_config_with_a_password(tmp_path: Path) -> None:
    from consultbot.doctor import Level, config_check

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
    path.write_text(text.replace('"data/consultbot.db"', '"postgresql://konsultbot@db/k"'))
    with caplog.at_level(logging.WARNING, logger="consultbot.app"):
        check_secrets(load_config(path, {"CONSULTBOT_MATRIX_PASSWORD": "from-the-environment"}))
    assert not caplog.records
