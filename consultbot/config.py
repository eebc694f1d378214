"""config.toml → one frozen Config. Every key is documented in config.example.toml.

Unknown keys are errors (they are usually typos). Secrets may come from the environment:
CONSULTBOT_MATRIX_PASSWORD, CONSULTBOT_MATRIX_ACCESS_TOKEN and CONSULTBOT_MATRIX_PICKLE_KEY
override the file. Relative paths are relative to the config file's folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consultbot.domain.duty.hours import Hours, HoursFormatError
from consultbot.domain.errors import ConfigError
from consultbot.domain.files.validation import DALARNA
from consultbot.domain.types import Track

DEFAULT_CONFIG = "config.toml"
EXAMPLE_CONFIG = "config.example.toml"
ENV_OVERRIDES = {
    "password": "CONSULTBOT_MATRIX_PASSWORD",
    "access_token": "CONSULTBOT_MATRIX_ACCESS_TOKEN",
    "pickle_key": "CONSULTBOT_MATRIX_PICKLE_KEY",
}

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class MatrixConfig:
    """How the bot reaches its homeserver."""

    homeserver: str
    user_id: str
    password: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    device_name: str = "consultbot"
    store_path: Path
    pickle_key: str = field(default="", repr=False)


@dataclass(frozen=True, kw_only=True)
class TrackConfig:
    """When a track is open and how long each escalation level may take to acknowledge."""

    hours: Hours
    ack_timeout_seconds: int
    # Conferences only ([tracks.mdk]): the video-meeting link (`{consult}` becomes the consult
    # number) and how long before a `!möte` meeting everyone is reminded.
    meeting_url: str = ""
    meeting_reminder_seconds: int = 15 * 60
    # An unacknowledged page is repeated (a new message with the mention) at this share of
    # the timeout, counted from when it went out; 0 = never.
    repeat_share: float = 0.5


@dataclass(frozen=True, kw_only=True)
class BotConfig:
    # A SQLite file, or a PostgreSQL URL (`postgresql://user@host:5432/db`) kept as text.
    database: Path | str
    timezone: ZoneInfo
    language: str = "sv"
    admins: tuple[str, ...] = ()
    allowed_servers: tuple[str, ...] = ("localhost",)
    admin_room: str = ""
    reminder_after_seconds: int = 4 * 3600
    auto_close_after_seconds: int = 24 * 3600
    shift_reminder_minutes: int = 60  # 0 = no duty reminders
    handover_answer_seconds: int = 600  # a handover offer lapses after this long
    room_pool: int = 20
    retention_days: int = 730  # consult metadata older than this is purged (docs/privacy.md)
    # No success answer from the homeserver this long: /healthz 503, the active one steps down.
    matrix_lost_seconds: int = 15

    repeat_window_seconds: int = 60
    request_limit: int = 5
    request_limit_seconds: int = 600
    # A new data-set version that removes more than this share of the active one's people,
    # entries, services or shifts waits for a confirmation (issue 20). 1.0 = never.
    shrink_guard_share: float = 0.2
    # The municipalities a catalogue may name (SPEC §4); Dalarna's 15 by default.
    county_municipalities: tuple[str, ...] = DALARNA
    # The delay of the notice the homeserver posts when the bot is gone (0 = off; SPEC §4).
    dead_man_seconds: int = 60


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Where `/healthz` and `/metrics` are served; off when `listen` is empty."""

    host: str = ""
    port: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True, kw_only=True)
class WebConfig(MetricsConfig):
    """The web server of `consultbot run`: the who's-on board and the calendar feeds ([web];
    off when `listen` is empty; docs/operations.md). `public_url` is where people reach it."""

    public_url: str = ""
    session_seconds: int = 8 * 3600  # a login lasts this long (one working shift)
    secure_cookies: bool = False  # True behind TLS: the session cookie is sent over https only

    @property
    def base_url(self) -> str:
        """The start of the addresses people are given: `public_url`, else `http://` and
        `listen`; "" when neither is set."""
        if self.public_url or not self.host:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration, parsed once."""

    path: Path
    matrix: MatrixConfig
    bot: BotConfig
    tracks: Mapping[Track, TrackConfig]
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    web: WebConfig = field(default_factory=WebConfig)

    def hours_of(self) -> dict[Track, Hours]:
        return {track: cfg.hours for track, cfg in self.tracks.items()}


DEFAULT_TRACKS = {
    Track.HALVAKUT: ("weekdays 08:00-17:00", 600),
    Track.AKUT: ("always", 180),
    Track.PRIMARVARD: ("weekdays 08:00-17:00", 600),
    Track.MDK: ("always", 3600),
}


class _Section:
    """Reads typed keys from one TOML table and remembers which were used."""

    def __init__(self, path: str, name: str, data: Any) -> None:
        self.path, self.name = path, name
        if not isinstance(data, dict):
            raise config_error(path, "not_table", section=name)
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def error(self, key: str, code: str, **params: Any) -> ConfigError:
        return config_error(self.path, code, key=f"{self.name}.{key}", **params)

    def get(self, key: str, kind: type[T], default: T | None = None) -> T:
        self.used.add(key)
        if key not in self.data:
            if default is None:
                raise self.error(key, "missing")
            return default
        value = self.data[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise self.error(key, _TYPE_CODES.get(kind, "not_string"), value=repr(value))
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(v, str) for v in value):
            raise self.error(key, "not_strings")
        return tuple(value)

    def finish(self) -> None:
        if unknown := sorted(set(self.data) - self.used):
            raise self.error(unknown[0], "unknown_key")


_TYPE_CODES = {
    str: "not_string",
    int: "not_integer",
    bool: "not_boolean",
    list: "not_list",
    dict: "not_table_value",
}


def config_error(path: str, code: str, **params: Any) -> ConfigError:
    """A ConfigError whose reason comes from templates/messages ([config] section)."""
    from consultbot.text.render import Messages

    values = {k: str(v) for k, v in params.items()}
    reason = Messages("en").text("config", code, **values)
    return ConfigError(path, reason, code=code, params=values)


def find_config(explicit: str | None) -> Path:
    """The config file to use: the one given, else config.toml, else config.example.toml."""
    if explicit:
        return Path(explicit)
    for name in (DEFAULT_CONFIG, EXAMPLE_CONFIG):
        if Path(name).is_file():
            return Path(name)
    return Path(DEFAULT_CONFIG)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file; raise ConfigError with one clear reason."""
    env = os.environ if environ is None else environ
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise config_error(name, "no_file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise config_error(name, "unreadable", detail=exc) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise config_error(name, "bad_toml", detail=exc) from None
    return parse_config(data, path, env)


def _database(value: str, rel: Callable[[str], Path]) -> Path | str:
    """`bot.database`: a PostgreSQL URL as it is, else a SQLite file (relative to the config)."""
    if value.startswith(("postgresql://", "postgres://")):
        return value
    return rel(value)


def parse_config(data: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> Config:
    name = str(path)
    base = path.resolve().parent
    if unknown := sorted(set(data) - {"matrix", "bot", "tracks", "metrics", "web"}):
        raise config_error(name, "unknown_section", section=unknown[0])
    for section in ("matrix", "bot"):
        if section not in data:
            raise config_error(name, "section_missing", section=section)

    def rel(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    m = _Section(name, "matrix", data["matrix"])
    from_file = {key: m.get(key, str, "") for key in ENV_OVERRIDES}
    secrets = {key: env.get(var) or from_file[key] for key, var in ENV_OVERRIDES.items()}
    matrix = MatrixConfig(
        homeserver=_url(m, "homeserver", None).rstrip("/"),
        user_id=_user_id(m, m.get("user_id", str)),
        device_name=m.get("device_name", str, "consultbot"),
        store_path=rel(m.get("store_path", str, "data/store")),
        **secrets,
    )
    if not matrix.password and not matrix.access_token:
        raise m.error("password", "no_credentials")
    m.finish()

    b = _Section(name, "bot", data["bot"])
    bot = BotConfig(
        database=_database(b.get("database", str, "data/consultbot.db"), rel),
        timezone=_zone(b, b.get("timezone", str, "Europe/Stockholm")),
        language=_choice(b, "language", ("sv", "en"), "sv"),
        admins=tuple(_user_id(b, u, "admins") for u in b.strings("admins", ())),
        allowed_servers=b.strings("allowed_servers", ("localhost",)),
        admin_room=b.get("admin_room", str, ""),
        reminder_after_seconds=_bounded(b, "reminder_after_seconds", 4 * 3600),
        auto_close_after_seconds=_bounded(b, "auto_close_after_seconds", 24 * 3600),
        shift_reminder_minutes=_bounded(b, "shift_reminder_minutes", 60, low=0, high=24 * 60),
        handover_answer_seconds=_bounded(b, "handover_answer_seconds", 600, low=5),
        room_pool=_bounded(b, "room_pool", 20, low=0, high=500),
        retention_days=_bounded(b, "retention_days", 730, low=1, high=36500),
        matrix_lost_seconds=_bounded(b, "matrix_lost_seconds", 15, low=3, high=600),
        repeat_window_seconds=_bounded(b, "repeat_window_seconds", 60, low=0, high=3600),
        request_limit=_bounded(b, "request_limit", 5, low=0, high=1000),
        request_limit_seconds=_bounded(b, "request_limit_seconds", 600, low=10, high=86400),
        shrink_guard_share=_share(b, "shrink_guard_share", 0.2),
        dead_man_seconds=_bounded(b, "dead_man_seconds", 60, low=0, high=3600),
        county_municipalities=tuple(
            m.strip() for m in b.strings("county_municipalities", DALARNA) if m.strip()
        ),
    )
    if bot.auto_close_after_seconds <= bot.reminder_after_seconds:
        raise b.error("auto_close_after_seconds", "close_before_reminder")
    b.finish()
    return Config(
        path=path,
        matrix=matrix,
        bot=bot,
        tracks=_tracks(name, data.get("tracks", {})),
        metrics=(metrics := _metrics(name, data.get("metrics", {}))),
        web=_web(name, data.get("web", {}), metrics),
    )


def _listen(section: _Section) -> tuple[str, int]:
    """`listen = "HOST:PORT"` of a section: ("", 0) when empty (off)."""
    listen = section.get("listen", str, "").strip()
    if not listen:
        return "", 0
    host, colon, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise section.error("listen", "bad_listen", value=repr(listen))
    return host, int(port)


def _url(section: _Section, key: str, default: str | None = "") -> str:
    """An http(s) address; "" when it is optional (`default` "") and not set."""
    url = section.get(key, str, default).strip()
    if (url or default is None) and not url.startswith(("https://", "http://")):
        raise section.error(key, "bad_url", value=repr(url))
    return url


def _metrics(name: str, data: Any) -> MetricsConfig:
    section = _Section(name, "metrics", data)
    host, port = _listen(section)
    section.finish()
    return MetricsConfig(host=host, port=port)


def _web(name: str, data: Any, metrics: MetricsConfig) -> WebConfig:
    section = _Section(name, "web", data)
    host, port = _listen(section)
    if host and (host, port) == (metrics.host, metrics.port):
        raise section.error("listen", "same_listen", other="metrics.listen")
    url = _url(section, "public_url")
    lifetime = _bounded(section, "session_seconds", 8 * 3600, low=60, high=7 * 86400)
    secure = section.get("secure_cookies", bool, False)
    section.finish()
    return WebConfig(
        host=host, port=port, public_url=url, session_seconds=lifetime, secure_cookies=secure
    )


def _tracks(name: str, data: Any) -> dict[Track, TrackConfig]:
    tables = _Section(name, "tracks", data)
    tracks: dict[Track, TrackConfig] = {}
    for track, (hours_default, timeout_default) in DEFAULT_TRACKS.items():
        t = _Section(name, f"tracks.{track.value}", tables.get(track.value, dict, {}))
        text = t.get("hours", str, hours_default)
        try:
            hours = Hours.parse(text)
        except HoursFormatError as exc:
            raise t.error("hours", f"bad_hours_{exc.code}", value=text) from None
        timeout = _bounded(t, "ack_timeout_seconds", timeout_default, high=86400)
        meeting: dict[str, Any] = {}
        if track is Track.MDK:
            url = _url(t, "meeting_url")
            reminder = _bounded(t, "meeting_reminder_seconds", 15 * 60, low=0, high=86400)
            meeting = {"meeting_url": url, "meeting_reminder_seconds": reminder}
        repeat = _share(t, "repeat_share", 0.5)
        if repeat >= 1:  # at the timeout the next level is paged: a repeat then is too late
            raise t.error("repeat_share", "out_of_range_below", low=0, high=1, value=repeat)
        t.finish()
        tracks[track] = TrackConfig(
            hours=hours, ack_timeout_seconds=timeout, repeat_share=repeat, **meeting
        )
    tables.finish()
    return tracks


def _bounded(
    section: _Section, key: str, default: int, low: int = 10, high: int = 7 * 86400
) -> int:
    value = section.get(key, int, default)
    if not low <= value <= high:
        raise section.error(key, "out_of_range", low=low, high=high, value=value)
    return value


def _share(section: _Section, key: str, default: float) -> float:
    """A share from 0 to 1; a whole number (0 or 1) is accepted as well."""
    section.used.add(key)
    value = section.data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise section.error(key, "not_number", value=repr(value))
    if not 0 <= value <= 1:
        raise section.error(key, "out_of_range", low=0, high=1, value=value)
    return float(value)


def _choice(section: _Section, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = section.get(key, str, default)
    if value not in allowed:
        raise section.error(key, "bad_choice", allowed=", ".join(allowed), value=repr(value))
    return value


def _zone(section: _Section, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise section.error("timezone", "bad_timezone", value=repr(value)) from None


def _user_id(section: _Section, value: str, key: str = "user_id") -> str:
    from consultbot.domain.chat.matrix_ids import is_matrix_id

    if not is_matrix_id(value):
        raise section.error(key, "bad_user_id", value=repr(value))
    return value
