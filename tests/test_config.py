"""Config loading: one frozen object, one clear line for every mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consultbot.config import WebConfig, load_config
from consultbot.domain.errors import ConfigError
from consultbot.domain.types import Track
from consultbot.resources import example_config

MINIMAL = """
[matrix]
homeserver = "http://127.0.0.1:8008"
user_id = "@konsultbot:localhost"
password = "secret"
device_name = "consultbot"
store_path = "data/store"
pickle_key = "k"

[bot]
database = "data/consultbot.db"
timezone = "Europe/Stockholm"
language = "sv"
admins = ["@admin:localhost"]
allowed_servers = ["localhost"]
admin_room = ""
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_documents_every_key_and_loads() -> None:
    config = load_config(example_config(), environ={})
    assert config.bot.timezone.key == "Europe/Stockholm"
    assert config.tracks[Track.AKUT].ack_timeout_seconds == 180
    assert str(config.tracks[Track.HALVAKUT].hours) == "weekdays 08:00-17:00"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.bot.database == tmp_path / "data" / "consultbot.db"
    assert config.matrix.store_path == tmp_path / "data" / "store"
    # Tracks missing from the file take their documented defaults.
    assert config.tracks[Track.MDK].ack_timeout_seconds == 3600


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    env = {"CONSULTBOT_MATRIX_PASSWORD": "from-env", "CONSULTBOT_MATRIX_PICKLE_KEY": "pk"}
    config = load_config(write(tmp_path, MINIMAL), environ=env)
    assert config.matrix.password == "from-env"
    assert config.matrix.pickle_key == "pk"
    assert "from-env" not in repr(config)


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    with pytest.raises(AttributeError):
        config.bot = config.bot  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('language = "sv"', 'langauge = "sv"'), "bot.langauge: unknown key"),
        (('timezone = "Europe/Stockholm"', 'timezone = "Europe/Stokholm"'), "unknown time zone"),
        (('language = "sv"', 'language = "de"'), "must be one of sv, en"),
        (
            ('admins = ["@admin:localhost"]', 'admins = "@admin:localhost"'),
            "bot.admins: must be a list",
        ),
        (('admins = ["@admin:localhost"]', 'admins = ["admin"]'), "not a Matrix user id"),
        (('homeserver = "http://127.0.0.1:8008"', 'homeserver = "127.0.0.1:8008"'), "http(s) URL"),
        (('password = "secret"', ""), "set password or access_token"),
        (('admin_room = ""', "admin_room = 5"), "bot.admin_room: must be a string"),
        (("[bot]", "[bott]"), "unknown section"),
        (("[matrix]", "[matrix"), "not valid TOML"),
    ],
)
def test_mistakes_get_one_clear_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINIMAL.replace(old, new, 1)), environ={})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("track_table", "message"),
    [
        ('hours = "weekdays 8-17"', "tracks.halvakut.hours"),
        ('hours = "weekdays 17:00-08:00"', "closing time must be after opening"),
        ("ack_timeout_seconds = 0", "between 10 and 86400"),
        ('ack_timeout_seconds = "600"', "must be a whole number"),
        ("ack_timeout_seconds = true", "must be a whole number"),
        ("ack_timout_seconds = 600", "unknown key"),
    ],
)
def test_track_mistakes(tmp_path: Path, track_table: str, message: str) -> None:
    text = MINIMAL + "\n[tracks.halvakut]\n" + track_table + "\n"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, text), environ={})


def test_unknown_track_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tracks\.halvakt: unknown key"):
        load_config(write(tmp_path, MINIMAL + '\n[tracks.halvakt]\nhours = "always"\n'), environ={})


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml", environ={})


def test_a_conference_meeting_link_is_optional_and_checked(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.tracks[Track.MDK].meeting_url == ""
    assert config.tracks[Track.MDK].meeting_reminder_seconds == 900
    mdk = '[tracks.mdk]\nmeeting_url = "https://meet.example/mdk-{consult}"\n'
    config = load_config(write(tmp_path, MINIMAL + mdk), environ={})
    assert config.tracks[Track.MDK].meeting_url == "https://meet.example/mdk-{consult}"
    with pytest.raises(ConfigError, match="meeting_url"):
        load_config(write(tmp_path, MINIMAL + '[tracks.mdk]\nmeeting_url = "meet"\n'), {})
    with pytest.raises(ConfigError, match=r"tracks\.halvakut\.meeting_url: unknown key"):
        load_config(write(tmp_path, MINIMAL + '[tracks.halvakut]\nmeeting_url = "https://m"\n'), {})


def test_metrics_are_off_by_default_and_listen_is_checked(tmp_path: Path) -> None:
    assert not load_config(write(tmp_path, MINIMAL), environ={}).metrics.enabled
    on = load_config(write(tmp_path, MINIMAL + '[metrics]\nlisten = "127.0.0.1:9464"\n'), {})
    assert (on.metrics.host, on.metrics.port) == ("127.0.0.1", 9464)
    for bad, message in (
        ('listen = "9464"', "metrics.listen: must be HOST:PORT"),
        ('listen = "localhost:http"', "metrics.listen: must be HOST:PORT"),
        ("port = 9464", "metrics.port: unknown key"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, MINIMAL + f"[metrics]\n{bad}\n"), environ={})
        assert message in str(caught.value)


def test_the_feed_addresses_start_at_public_url_else_at_web_listen(tmp_path: Path) -> None:
    def web(keys: str) -> WebConfig:
        return load_config(write(tmp_path, MINIMAL + f"[web]\n{keys}\n"), environ={}).web

    assert load_config(write(tmp_path, MINIMAL), environ={}).web.base_url == ""
    assert web('listen = "127.0.0.1:8080"').base_url == "http://127.0.0.1:8080"
    assert web('listen = "[::1]:8080"').base_url == "http://[::1]:8080"
    proxied = web('listen = "127.0.0.1:8080"\npublic_url = "https://jour.region.se/"')
    assert proxied.base_url == "https://jour.region.se"
    for bad, message in (
        ('public_url = "jour.region.se"', "web.public_url: must be an http(s) URL"),
        ('listen = "8080"', "web.listen: must be HOST:PORT"),
    ):
        with pytest.raises(ConfigError) as caught:
            web(bad)
        assert message in str(caught.value)


def test_a_repeat_share_is_half_by_default_off_at_zero_and_below_one(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert {t.repeat_share for t in config.tracks.values()} == {0.5}
    off = "[tracks.akut]\nrepeat_share = 0\n[tracks.mdk]\nrepeat_share = 0.25\n"
    config = load_config(write(tmp_path, MINIMAL + off), environ={})
    assert config.tracks[Track.AKUT].repeat_share == 0.0
    assert config.tracks[Track.MDK].repeat_share == 0.25
    assert config.tracks[Track.HALVAKUT].repeat_share == 0.5
    for bad, message in [
        ("1", "tracks.akut.repeat_share: must be at least 0 and below 1, not 1.0"),
        ("1.5", "tracks.akut.repeat_share: must be between 0 and 1, not 1.5"),
        ("-0.1", "tracks.akut.repeat_share: must be between 0 and 1, not -0.1"),
        ('"half"', "tracks.akut.repeat_share"),
    ]:
        text = MINIMAL + f"[tracks.akut]\nrepeat_share = {bad}\n"
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, text), environ={})
        assert message in str(caught.value) and "\n" not in str(caught.value)


def test_dead_man_seconds_defaults_to_60_and_0_turns_it_off(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL), environ={}).bot.dead_man_seconds == 60
    off = MINIMAL + "dead_man_seconds = 0\n"
    assert load_config(write(tmp_path, off), environ={}).bot.dead_man_seconds == 0
    too_long = MINIMAL + "dead_man_seconds = 7200\n"
    with pytest.raises(ConfigError, match="dead_man_seconds"):
        load_config(write(tmp_path, too_long), environ={})


def test_the_board_is_off_by_default_and_its_keys_are_checked(tmp_path: Path) -> None:
    off = load_config(write(tmp_path, MINIMAL), environ={}).web
    assert not off.enabled and off.session_seconds == 8 * 3600 and not off.secure_cookies
    text = '[web]\nlisten = "127.0.0.1:8088"\nsession_seconds = 600\nsecure_cookies = true\n'
    on = load_config(write(tmp_path, MINIMAL + text), {}).web
    assert (on.host, on.port, on.session_seconds, on.secure_cookies) == (
        "127.0.0.1",
        8088,
        600,
        True,
    )
    for bad, reason in (
        ('listen = "8088"', "web.listen: must be HOST:PORT"),
        ("session_seconds = 5", "web.session_seconds: must be between 60 and 604800"),
        ('secure_cookies = "yes"', "web.secure_cookies: must be true or false"),
        ("password = 1", "web.password: unknown key"),
    ):
        with pytest.raises(ConfigError, match=reason):
            load_config(write(tmp_path, MINIMAL + f"[web]\n{bad}\n"), environ={})
    both = '[metrics]\nlisten = "127.0.0.1:9000"\n[web]\nlisten = "127.0.0.1:9000"\n'
    with pytest.raises(ConfigError, match=r"web\.listen: the same HOST:PORT as metrics\.listen"):
        load_config(write(tmp_path, MINIMAL + both), environ={})
