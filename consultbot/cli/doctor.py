"""`consultbot doctor`: preflight checks, one line each; exit 1 when any check fails.

Each check gives a `Check` (ok, warning or failure, and a message key of the `[doctor]` section
of templates/messages); `preflight.format_check` turns it into the line printed. Nothing is changed:
the database is opened read-only first, the encryption store is only read, and the login uses
the saved device (a password login without a saved device logs its temporary device out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from consultbot.cli.preflight import (
    ADMIN_TOKEN_ENV,
    Check,
    Level,
    clock_skew,
    delayed_events_check,
    rate_limit_check,
    skew_check,
)
from consultbot.config import Config

COVERAGE_DAYS = 14
TIMEOUT = aiohttp.ClientTimeout(total=10)


class _Homeserver:
    """HTTP to the homeserver, as the bot (token) or anonymously."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.token = ""

    async def call(
        self, method: str, path: str, *, token: str | None = None, body: Any = None
    ) -> tuple[int, dict[str, Any], Mapping[str, str]]:
        use = self.token if token is None else token
        headers = {"Authorization": f"Bearer {use}"} if use else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers, timeout=TIMEOUT
        ) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = {}
            return response.status, data if isinstance(data, dict) else {}, response.headers


def _saved_credentials(config: Config) -> dict[str, str]:
    """The device the bot saved (adapters/matrix/session.py), if it is this bot's."""
    try:
        path = config.matrix.store_path / "credentials.json"
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if data.get("user_id") != config.matrix.user_id:
        return {}
    if data.get("homeserver") != config.matrix.homeserver:
        return {}
    return {k: str(v) for k, v in data.items()}


async def _homeserver(hs: _Homeserver, checks: list[Check]) -> bool:
    try:
        sent = time.time()
        status, body, headers = await hs.call("GET", "/_matrix/client/versions", token="")
        received = time.time()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        params = {"url": hs.base, "reason": str(exc) or type(exc).__name__}
        checks.append(Check("homeserver", Level.FAILED, "hs_unreachable", params))
        return False
    versions = body.get("versions") if status == 200 else None
    if not isinstance(versions, list) or not versions:
        found = {"url": hs.base, "status": status}
        checks.append(Check("homeserver", Level.FAILED, "hs_not_matrix", found))
        return False
    server = "?"
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
        code, info, _ = await hs.call("GET", "/_synapse/admin/v1/server_version", token="")
        if code == 200 and info.get("server_version"):
            server = f"Synapse {info['server_version']}"
    params = {"url": hs.base, "server": server, "matrix": str(versions[-1])}
    checks.append(Check("homeserver", Level.OK, "hs_ok", params))
    if "Date" in headers:
        checks.append(skew_check(clock_skew(headers["Date"], sent, received)))
    else:
        checks.append(Check("clock", Level.WARNING, "clock_unknown"))
    return True


async def _delayed_events(hs: _Homeserver, config: Config) -> Check:
    """Whether the homeserver offers delayed events, for the notice when the bot is gone."""
    capabilities: dict[str, Any] = {}
    try:
        status, body, _ = await hs.call("GET", "/_matrix/client/versions", token="")
        if hs.token:
            code, answer, _ = await hs.call("GET", "/_matrix/client/v3/capabilities")
            capabilities = answer.get("capabilities", {}) if code == 200 else {}
    except (aiohttp.ClientError, TimeoutError, OSError):
        status, body = 0, {}
    versions = body if status == 200 else {}
    return delayed_events_check(versions, config.bot.dead_man_seconds, capabilities)


async def _login(hs: _Homeserver, config: Config) -> tuple[str, Check]:
    """Log in as the bot the way it does; the device id ("" when the login failed or made a
    temporary device) and the check's line."""
    matrix = config.matrix
    user = {"user": matrix.user_id}
    saved = _saved_credentials(config)
    for token, how in ((matrix.access_token, "token"), (saved.get("access_token", ""), "saved")):
        if not token:
            continue
        status, body, _ = await hs.call("GET", "/_matrix/client/v3/account/whoami", token=token)
        if status == 200 and body.get("user_id") == matrix.user_id:
            hs.token = token
            device = str(body.get("device_id") or saved.get("device_id", ""))
            return device, Check("login", Level.OK, f"login_{how}", {**user, "device": device})
        if how == "token":
            return "", Check("login", Level.FAILED, "login_token_refused", user)
    if not matrix.password:
        return "", Check("login", Level.FAILED, "login_no_password", user)
    request: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": matrix.user_id},
        "password": matrix.password,
    }
    if saved.get("device_id"):
        request["device_id"] = saved["device_id"]  # the bot's own device, not a new one
    else:
        request["initial_device_display_name"] = "consultbot doctor"
    status, body, _ = await hs.call("POST", "/_matrix/client/v3/login", token="", body=request)
    if status != 200 or "access_token" not in body:
        reason = str(body.get("errcode") or f"HTTP {status}")
        return "", Check("login", Level.FAILED, "login_refused", {**user, "reason": reason})
    hs.token = str(body["access_token"])
    device = str(body.get("device_id", ""))
    check = Check("login", Level.OK, "login_password", {**user, "device": device})
    # Without a saved device this is a temporary one: logged out once the other checks used it.
    return (device if saved.get("device_id") else ""), check


def _encryption(config: Config, device: str) -> Check:
    from nio.crypto import OlmAccount

    store = config.matrix.store_path / f"{config.matrix.user_id}_{device}.db"
    if not device or not store.is_file():
        folder = {"path": str(config.matrix.store_path)}
        return Check("encryption", Level.WARNING, "e2ee_none", folder)
    try:
        with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT account, shared FROM accounts WHERE user_id = ? AND device_id = ?",
                (config.matrix.user_id, device),
            ).fetchone()
    except sqlite3.Error as exc:
        params = {"path": str(store), "reason": str(exc)}
        return Check("encryption", Level.FAILED, "e2ee_unreadable", params)
    if row is None:
        return Check("encryption", Level.WARNING, "e2ee_none", {"path": str(store)})
    account = row[0] if isinstance(row[0], bytes) else str(row[0]).encode()
    try:
        OlmAccount.from_pickle(account, config.matrix.pickle_key or "consultbot", bool(row[1]))
    except Exception:
        return Check("encryption", Level.FAILED, "e2ee_wrong_key", {"path": str(store)})
    return Check("encryption", Level.OK, "e2ee_ok", {"path": str(store), "device": device})


async def _rate_limits(hs: _Homeserver, config: Config, environ: Mapping[str, str]) -> Check:
    user = config.matrix.user_id
    path = f"/_synapse/admin/v1/users/{quote(user, safe='')}/override_ratelimit"
    token = environ.get(ADMIN_TOKEN_ENV) or hs.token
    status, body, _ = await hs.call("GET", path, token=token)
    return rate_limit_check(status, body, user)


async def _creator(hs: _Homeserver, room_id: str) -> str:
    """Who sent the room's `m.room.create` ("" when it cannot be read)."""
    path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/m.room.create/"
    status, body, _ = await hs.call("GET", path + "?format=event")
    return str(body.get("sender", "")) if status == 200 else ""


async def _admin_room(hs: _Homeserver, config: Config) -> Check:
    room = config.bot.admin_room
    if not room:
        return Check("admin_room", Level.OK, "admin_room_none")
    room_id = room
    if room.startswith("#"):
        path = f"/_matrix/client/v3/directory/room/{quote(room, safe='')}"
        status, body, _ = await hs.call("GET", path)
        if status != 200 or "room_id" not in body:
            return Check("admin_room", Level.FAILED, "admin_room_unknown", {"room": room})
        room_id = str(body["room_id"])
    status, body, _ = await hs.call("GET", "/_matrix/client/v3/joined_rooms")
    if status == 200 and room_id in body.get("joined_rooms", []):
        creator = await _creator(hs, room_id)
        if creator != config.matrix.user_id and creator not in config.bot.admins:
            # The bot leaves it at start (adapters/matrix/membership.py): alerts go privately.
            found = {"room": room, "creator": creator or "?"}
            return Check("admin_room", Level.FAILED, "admin_room_foreign", found)
        return Check("admin_room", Level.OK, "admin_room_ok", {"room": room})
    # The bot joins the room at start when it is invited; doctor cannot see invites.
    return Check("admin_room", Level.WARNING, "admin_room_not_joined", {"room": room})


def _schema_version(path: Path) -> int:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        row = db.execute("PRAGMA user_version").fetchone()
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return int(row[0])


async def _database(config: Config, now: datetime, checks: list[Check]) -> None:
    """The database, then the data in it and the coverage; a line each, also when skipped."""
    schema = await _schema(config)
    checks.append(schema)
    if schema.level is not Level.OK:
        checks.append(Check("data", Level.SKIPPED, "not_checked_database"))
        checks.append(Check("coverage", Level.SKIPPED, "not_checked_database"))
    elif not await _data(config, now, checks):
        checks.append(Check("coverage", Level.SKIPPED, "not_checked_data"))


def _pg_schema_version(url: str) -> int:
    """The schema version of a PostgreSQL database (0: no consultbot tables yet), read only."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        conn.read_only = True
        found = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not found or not found[0]:
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


async def _schema(config: Config) -> Check:
    """The database exists and is at this consultbot's schema version (read-only)."""
    from consultbot.adapters.sql.migrations import SCHEMA_VERSION

    database = config.bot.database
    if isinstance(database, str):  # a PostgreSQL URL
        import psycopg

        from consultbot.adapters.sql.postgres import redact

        shown = redact(database)
        try:
            version = await asyncio.to_thread(_pg_schema_version, database)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            params: dict[str, Any] = {"path": shown, "reason": reason}
            return Check("database", Level.FAILED, "db_unreadable", params)
    else:
        shown = str(database)
        if not database.is_file():
            return Check("database", Level.FAILED, "db_missing", {"path": shown})
        try:
            version = _schema_version(database)
        except sqlite3.Error as exc:
            params = {"path": shown, "reason": str(exc)}
            return Check("database", Level.FAILED, "db_unreadable", params)
    if version != SCHEMA_VERSION:
        key = "db_newer" if version > SCHEMA_VERSION else "db_not_migrated"
        params = {"path": shown, "version": version, "expected": SCHEMA_VERSION}
        return Check("database", Level.FAILED, key, params)
    return Check("database", Level.OK, "db_ok", {"path": shown, "version": version})


async def _data(config: Config, now: datetime, checks: list[Check]) -> bool:
    """Catalogue and rosters present, then the level-1 gaps of the next 14 days (as the
    Monday coverage check in admin_posts.py finds them). False when the data is missing."""
    from consultbot.adapters.sql.stores import open_store
    from consultbot.domain.duty.roster import coverage_gaps
    from consultbot.domain.types import Dataset

    store = await open_store(config.bot.database)
    try:
        catalogue = await store.catalogue()
        rosters = [v for v in await store.versions(Dataset.ROSTER) if v.active]
        if not len(catalogue):
            checks.append(Check("data", Level.FAILED, "data_no_catalogue"))
            return False
        if not rosters:
            params: dict[str, Any] = {"services": len(catalogue)}
            checks.append(Check("data", Level.FAILED, "data_no_roster", params))
            return False
        params = {"services": len(catalogue), "version": rosters[0].number}
        checks.append(Check("data", Level.OK, "data_ok", params))
        end = now + timedelta(days=COVERAGE_DAYS)
        shifts = []
        periods = {}
        for service in catalogue.services:
            periods[service.id] = [(now, end)]
            shifts.extend(await store.shifts(service.id, now, end))
        gaps = coverage_gaps(shifts, periods, catalogue, config.hours_of(), config.bot.timezone)
    finally:
        await store.close()
    if gaps:
        services = len({gap.service for gap in gaps})
        params = {"count": len(gaps), "services": services, "days": COVERAGE_DAYS}
        checks.append(Check("coverage", Level.WARNING, "coverage_gaps", params))
    else:
        checks.append(Check("coverage", Level.OK, "coverage_ok", {"days": COVERAGE_DAYS}))
    return True


def config_check(config: Config) -> Check:
    """Whether the config file holds a Matrix secret that other users of the machine may read."""
    from consultbot.app import readable_secret

    path = str(config.path)
    if readable_secret(config):
        return Check("config", Level.WARNING, "config_readable", {"path": path})
    return Check("config", Level.OK, "config_private", {"path": path})


async def run_checks(
    config: Config, environ: Mapping[str, str], now: datetime | None = None
) -> list[Check]:
    """Every check, in the order printed."""
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    async with aiohttp.ClientSession() as session:
        hs = _Homeserver(session, config.matrix.homeserver)
        if await _homeserver(hs, checks):
            device, login = await _login(hs, config)
            checks.append(login)
            temporary = bool(hs.token) and not device
            try:
                saved = _saved_credentials(config).get("device_id", "")
                checks.append(_encryption(config, device or saved))
                if hs.token:
                    checks.append(await _rate_limits(hs, config, environ))
                    checks.append(await _admin_room(hs, config))
                else:
                    for name in ("rate_limits", "admin_room"):
                        checks.append(Check(name, Level.SKIPPED, "not_checked_login"))
                checks.append(await _delayed_events(hs, config))
            finally:
                if temporary:
                    await hs.call("POST", "/_matrix/client/v3/logout", body={})
        else:
            for name in (
                "login",
                "encryption",
                "rate_limits",
                "admin_room",
                "clock",
                "delayed_events",
            ):
                checks.append(Check(name, Level.SKIPPED, "not_checked"))
    await _database(config, now, checks)
    checks.append(config_check(config))
    return checks
