"""Verbs that run or look after the bot and its database (run, dev, doctor, backup, …)."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from consultbot.cli.context import EXIT_OK, Context, database_reason, os_reason
from consultbot.domain.errors import ConfigError
from consultbot.domain.types import ServiceId


async def cmd_run(ctx: Context) -> int:
    from consultbot import app

    app.setup_logging()
    return await app.run(ctx.config)


def _absolute(path: str) -> Path:
    return Path(path).resolve()


def _needs_synapse(
    verb: Callable[[Context], Awaitable[int]],
) -> Callable[[Context], Awaitable[int]]:
    """`homeserver`, `dev`, `demo` after a plain `pip install .`: one line naming the extra."""

    @functools.wraps(verb)
    async def wrapped(ctx: Context) -> int:
        from consultbot.devkit.synapse import SynapseMissing

        try:
            return await verb(ctx)
        except SynapseMissing:
            raise ctx.fail("needs_homeserver_extra") from None

    return wrapped


@_needs_synapse
async def cmd_homeserver(ctx: Context) -> int:
    from consultbot.devkit import devtools
    from consultbot.devkit.synapse import EmbeddedHomeserver

    config = ctx.config
    data = _absolute(ctx.args.dir or ".local/synapse")
    port = ctx.args.port or 8008
    async with EmbeddedHomeserver(data_dir=data, port=port, fast_passwords=True) as server:
        await devtools.provision(server, config, devtools.example_users())
        where = {"url": server.url, "data": str(data), "server": server.server_name}
        ctx.print(ctx.messages.cli("homeserver_ready", **where, **devtools.PASSWORDS))
        await asyncio.Event().wait()  # until Ctrl-C
    return EXIT_OK


async def _load_examples(ctx: Context) -> None:
    """Import the example data unless the database already has it; keep today covered."""
    from consultbot.devkit import devtools
    from consultbot.engine.admin import datasets
    from consultbot.resources import example_data_dir

    store = await ctx.store()
    folder = example_data_dir()
    now = datetime.now(UTC)
    await datasets.ensure_reference_data(store, folder, now)
    if (await store.on_duty(ServiceId("kardiologi"), now)).empty:
        path, today = folder / "roster-example.csv", now.astimezone(ctx.tz).date()
        shifted = devtools.shifted_roster(path.read_text(encoding="utf-8"), today)
        roster = [(str(path), shifted.encode())]
        checked = await datasets.check_roster_files(roster, store, ctx.tz, ctx.config.hours_of())
        await checked.activate(store, now)


@_needs_synapse
async def cmd_dev(ctx: Context) -> int:
    from consultbot import app
    from consultbot.devkit import devtools

    app.setup_logging()
    config = devtools.with_board(ctx.config)
    async with devtools.dev_homeserver(config, _absolute(".local/synapse")) as server:
        await _load_examples(ctx)
        await ctx.close()
        name = server.server_name if server else config.matrix.user_id.split(":", 1)[1]
        where = {
            "url": config.matrix.homeserver,
            "server": name,
            "bot": config.matrix.user_id,
            "board": f"http://{config.web.host}:{config.web.port}/",
        }
        ctx.print(ctx.messages.cli("dev_ready", **where, **devtools.PASSWORDS))
        await app.run(config)
    return EXIT_OK


async def cmd_doctor(ctx: Context) -> int:
    from consultbot.cli import doctor, preflight

    checks = await doctor.run_checks(ctx.config, os.environ)
    ctx.print(*(preflight.format_check(check, ctx.messages) for check in checks))
    return preflight.exit_code(checks)


@_needs_synapse
async def cmd_demo(ctx: Context) -> int:
    if ctx.args.followup:
        from consultbot.devkit import followup

        folder = Path(ctx.args.dir or ".local/followup-demo")
        try:
            tz, language = ctx.config.bot.timezone, ctx.config.bot.language
        except ConfigError:  # no config needed: the demo writes one of its own
            tz, language = followup.STOCKHOLM, "sv"
        return await followup.main(tz, language, folder, ctx.messages, ctx.out)
    from consultbot.devkit import demo

    return await demo.main(ctx.config, ctx.out)


async def cmd_backup(ctx: Context) -> int:
    from consultbot.adapters.sql.sqlite import backup_database

    source = ctx.config.bot.database
    target = _absolute(ctx.args.file)
    if isinstance(source, str):  # a PostgreSQL URL: its own tools make its backups
        raise ctx.fail("backup_postgres")
    if not source.exists():
        raise ctx.fail("backup_no_database", database=source)
    if target.exists():
        raise ctx.fail("backup_exists", file=target)
    try:
        consults = await asyncio.to_thread(backup_database, source, target)
    except OSError as exc:
        raise ctx.fail("backup_failed", file=target, reason=os_reason(exc, ctx.messages)) from None
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        reason = database_reason(exc, ctx.messages)
        raise ctx.fail("backup_failed", file=target, reason=reason) from None
    ctx.print(ctx.messages.cli("backup_done", database=source, file=target, consults=consults))
    return EXIT_OK


async def cmd_migrate_store(ctx: Context) -> int:
    from consultbot.cli.migrate_store import MigrateError, migrate_store

    source = _absolute(ctx.args.source)
    try:
        with ctx.step("migrate_copying", source=source):
            copied = await migrate_store(source, ctx.args.target)
    except MigrateError as exc:
        raise ctx.fail(exc.code, **exc.params) from None
    from consultbot.adapters.sql.postgres import redact

    ctx.print(
        ctx.messages.cli(
            "migrate_done",
            source=source,
            target=redact(ctx.args.target),
            rows=sum(copied.values()),
            tables=len(copied),
            consults=copied.get("consult", 0),
            events=copied.get("consult_event", 0),
        )
    )
    return EXIT_OK
