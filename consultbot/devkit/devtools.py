"""The development set-up behind `make run`, `consultbot homeserver` and the demo.

- `consultbot homeserver` starts the embedded Synapse (loopback, SQLite, data under .local/),
  registers the bot, an admin and every person in the example staff list and roster (password
  DEMO_PASSWORD), and exempts the bot from rate limits through the admin API.
- `make run` (`consultbot dev`) does that, imports the example data, shifted by whole weeks so
  that its month covers today, and runs the bot with the who's-on board on `DEV_BOARD`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import aiohttp

from consultbot.config import Config
from consultbot.devkit.synapse import EmbeddedHomeserver, answers
from consultbot.resources import example_data_dir

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"
ADMIN = ("admin", "admin-password")
PASSWORDS = {"password": DEMO_PASSWORD, "admin_password": ADMIN[1]}  # as the ready texts say
BOT_DISPLAY_NAME = "Konsultbot (Chatbot)"
DEV_BOARD = ("127.0.0.1", 8088)  # `make run`'s who's-on board, unless the config has [web]


def example_users(data_dir: Path | None = None) -> list[tuple[str, str]]:
    """(Matrix id, name) of everyone in the example staff list and roster."""
    folder = data_dir or example_data_dir()
    people: dict[str, str] = {}
    for name in ("staff.csv", "roster-example.csv"):
        with (folder / name).open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                if user := (row.get("matrix_id") or "").strip():
                    people.setdefault(user, (row.get("name") or "").strip())
    return sorted(people.items())


def shifted_roster(text: str, today: date) -> str:
    """The example roster moved by whole weeks so that it covers `today` (weekdays kept)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return text
    starts = [datetime.fromisoformat(r["start"]).date() for r in rows]
    first, last = min(starts), max(starts)
    weeks = 0 if first <= today <= last else (today - first).days // 7 - 1
    delta = timedelta(weeks=weeks)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0].keys()), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        for column in ("start", "end"):
            moved = datetime.fromisoformat(row[column]) + delta
            row[column] = moved.strftime("%Y-%m-%d %H:%M")
        writer.writerow(row)
    return out.getvalue()


def with_board(config: Config) -> Config:
    """`make run`'s config with the who's-on board on (`DEV_BOARD`) unless it names its own."""
    if config.web.enabled:
        return config
    return replace(config, web=replace(config.web, host=DEV_BOARD[0], port=DEV_BOARD[1]))


async def provision(
    server: EmbeddedHomeserver, config: Config, users: Iterable[tuple[str, str]]
) -> None:
    """Register the bot, the admin and demo users; exempt the bot from rate limits."""
    bot_localpart = config.matrix.user_id.split(":", 1)[0][1:]
    await server.register_user(bot_localpart, config.matrix.password, displayname=BOT_DISPLAY_NAME)
    admin_id = await server.register_user(*ADMIN, admin=True, displayname="Regional Admin")
    for user, name in users:
        localpart = user.split(":", 1)[0][1:]
        if user.endswith(f":{server.server_name}") and user != admin_id:
            await server.register_user(localpart, DEMO_PASSWORD, displayname=name or None)
    token = await server.login(admin_id, ADMIN[1])
    await server.exempt_from_rate_limits(config.matrix.user_id, token)


@asynccontextmanager
async def dev_homeserver(
    config: Config, data_dir: Path
) -> AsyncIterator[EmbeddedHomeserver | None]:
    """The embedded Synapse, provisioned; None when the config names one that already runs."""
    url = config.matrix.homeserver
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        running = await answers(session, url)
    parsed = urlparse(url)
    if running or (parsed.hostname or "") not in ("127.0.0.1", "localhost", "::1"):
        log.info("using the homeserver at %s", url)
        yield None
        return
    server = EmbeddedHomeserver(data_dir=data_dir, port=parsed.port or 8008, fast_passwords=True)
    await server.start()
    try:
        await provision(server, config, example_users())
        yield server
    finally:
        with contextlib.suppress(Exception):
            await server.stop()
