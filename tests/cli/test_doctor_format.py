"""`consultbot doctor`: the pure parts (lines, exit code, clock skew, rate-limit answer) and the
database checks, which need no homeserver."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from consultbot.adapters.sql.migrations import SCHEMA_VERSION
from consultbot.adapters.sql.stores import open_store
from consultbot.cli.doctor import _database
from consultbot.cli.preflight import (
    Check,
    Level,
    clock_skew,
    delayed_events_check,
    exit_code,
    format_check,
    rate_limit_check,
    skew_check,
)
from consultbot.config import load_config
from consultbot.devkit.pg_server import ThrowawayPostgres
from consultbot.text.render import Messages
from tests.support.sqldb import query

SV, EN = Messages("sv"), Messages("en")


def test_one_line_per_check_with_its_level_in_both_languages() -> None:
    check = Check(
        "coverage", Level.WARNING, "coverage_gaps", {"count": 3, "services": 2, "days": 14}
    )
    assert format_check(check, SV) == (
        "VARNING  täckning nivå 1: 3 luckor hos 2 tjänster de närmaste 14 dagarna inom spårens "
        "öppettider"
    )
    assert format_check(check, EN).startswith("WARNING  level-1 coverage: 3 gaps at 2 services")
    ok = Check("rate_limits", Level.OK, "rate_exempt")
    assert format_check(ok, EN) == "OK       rate limits: the bot is exempt"


def test_only_a_failure_fails() -> None:
    ok = Check("clock", Level.OK, "clock_ok", {"seconds": "+0.1"})
    warn = Check("coverage", Level.WARNING, "coverage_ok", {"days": 14})
    failed = Check("login", Level.FAILED, "login_no_password", {"user": "@bot:x"})
    skipped = Check("admin_room", Level.SKIPPED, "not_checked_login")
    assert exit_code([ok, warn, skipped]) == 0  # a skipped check is not a second failure
    assert exit_code([ok, warn, failed]) == 1
    assert (
        format_check(skipped, SV) == "–        adminrum: hoppades över (inloggningen misslyckades)"
    )


def test_clock_skew_from_the_date_header() -> None:
    server = datetime(2026, 11, 26, 14, 0, 10, tzinfo=UTC)
    header = format_datetime(server, usegmt=True)
    ours = server.timestamp()
    # the request took 0.2 s around 14:00:10.5 our time: in step (the header has whole seconds)
    assert abs(clock_skew(header, ours + 0.4, ours + 0.6)) < 0.01
    assert round(clock_skew(header, ours - 3.5, ours - 3.5), 1) == 4.0
    assert skew_check(1.9).level is Level.OK
    assert skew_check(-2.5).level is Level.FAILED
    assert "-2.5 s" in format_check(skew_check(-2.5), SV) and "NTP" in format_check(
        skew_check(-2.5), SV
    )


def test_rate_limits_exempt_limited_or_unknown() -> None:
    user = "@konsultbot:region.se"
    exempt = rate_limit_check(200, {"messages_per_second": 0, "burst_count": 0}, user)
    assert exempt.level is Level.OK
    limited = rate_limit_check(200, {}, user)
    assert limited.level is Level.WARNING
    assert f"POST /_synapse/admin/v1/users/{user}/override_ratelimit" in format_check(limited, EN)
    unknown = rate_limit_check(403, {"errcode": "M_FORBIDDEN"}, user)
    assert unknown.level is Level.WARNING
    text = format_check(unknown, EN)
    assert (
        text.startswith("WARNING  rate limits: unknown")
        and "CONSULTBOT_SYNAPSE_ADMIN_TOKEN" in text
    )


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:1"\nuser_id = "@bot:localhost"\n'
        'password = "x"\npickle_key = "k"\n[bot]\ndatabase = "bot.db"\n',
        encoding="utf-8",
    )
    return path


def test_delayed_events_offered_missing_or_off() -> None:
    offered = {"versions": ["v1.11"], "unstable_features": {"org.matrix.msc4140": True}}
    old = {"versions": ["v1.11"], "unstable_features": {"org.matrix.msc4140": False}}
    ok = delayed_events_check(offered, 60)
    assert ok.level is Level.OK
    assert format_check(ok, SV) == (
        "OK       meddelande när boten är borta: hemservern erbjuder fördröjda händelser"
        " (MSC4140): varje öppet konsultrum får meddelandet efter 60 s utan bot"
    )
    for versions in (old, {"versions": ["v1.11"]}, {}):
        missing = delayed_events_check(versions, 60)
        assert missing.level is Level.WARNING and exit_code([missing]) == 0  # runs as today
        assert "max_event_delay_duration" in format_check(missing, SV)
        assert "does not offer delayed events" in format_check(missing, EN)
    assert delayed_events_check(old, 0).level is Level.OK  # off: nothing to warn about
    # Logged in, the capabilities say how long a delay may be.
    short = {"org.matrix.msc4140.delayed_events": {"max_delay_ms": 30000, "max_scheduled": 100}}
    too_long = delayed_events_check(offered, 60, short)
    assert too_long.level is Level.WARNING
    assert "högst 30 s, boten vill 60 s" in format_check(too_long, SV)
    assert delayed_events_check(offered, 30, short).level is Level.OK


def test_a_missing_or_old_database_fails(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path), environ={})
    checks: list[Check] = []
    asyncio.run(_database(config, datetime.now(UTC), checks))
    assert [(c.name, c.level, c.key) for c in checks] == [
        ("database", Level.FAILED, "db_missing"),
        ("data", Level.SKIPPED, "not_checked_database"),  # still a line each, no failure
        ("coverage", Level.SKIPPED, "not_checked_database"),
    ]

    with sqlite3.connect(tmp_path / "bot.db") as db:
        db.execute("PRAGMA user_version = 1")
    checks = []
    asyncio.run(_database(config, datetime.now(UTC), checks))
    check = checks[0]
    assert check.key == "db_not_migrated" and check.level is Level.FAILED
    assert "schemaversion 1, väntat" in format_check(check, SV)
    with sqlite3.connect(tmp_path / "bot.db") as db:  # doctor changed nothing
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_the_database_line_reads_a_postgresql_database_too(
    tmp_path: Path, pg_server: ThrowawayPostgres
) -> None:
    url = pg_server.create_database("doctor_database_line")
    path = tmp_path / "config.toml"
    path.write_text(_config(tmp_path).read_text().replace('"bot.db"', f'"{url}"'))
    config = load_config(path, environ={})

    def database_check() -> Check:
        checks: list[Check] = []
        asyncio.run(_database(config, datetime.now(UTC), checks))
        return checks[0]

    fresh = database_check()
    assert fresh.key == "db_not_migrated" and "schemaversion 0" in format_check(fresh, SV)
    assert query(
        url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    ) == [(0,)]  # doctor changed nothing
    asyncio.run(_open_and_close(url))
    migrated = database_check()
    assert migrated.level is Level.OK and f"schemaversion {SCHEMA_VERSION}" in format_check(
        migrated, SV
    )
    path.write_text(path.read_text().replace(url, "postgresql://x:pw@127.0.0.1:1/x"))
    gone = load_config(path, environ={})
    checks: list[Check] = []
    asyncio.run(_database(gone, datetime.now(UTC), checks))
    assert checks[0].key == "db_unreadable" and "pw" not in format_check(checks[0], SV)


async def _open_and_close(url: str) -> None:
    await (await open_store(url)).close()
