"""Command line: the parser of every verb and the dispatch to its handler.

The verbs live by group: cli/data.py (check, import, rollback), cli/duty.py (who, roster
export), cli/stats.py (stats, consults), cli/operate.py (run, dev, homeserver, demo, doctor,
backup, migrate-store). Every verb takes -c/--config after the verb. Bad input ends as one
line per problem on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TextIO

from consultbot.cli import data, duty, operate, stats
from consultbot.cli.context import EXIT_ERROR, Context, database_reason, os_reason
from consultbot.domain.errors import ConfigError, ConsultbotError, StoreError
from consultbot.domain.types import Dataset

Handler = Callable[[Context], Awaitable[int]]
_ALLOW_GAPS = "import even when it leaves new holes at level 1 within opening hours"
_ALLOW_SHRINK = "import even when it removes more than bot.shrink_guard_share of the active version"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", help="config file (default config.toml, else config.example.toml)"
    )
    parser = argparse.ArgumentParser(
        prog="consultbot",
        description="Konsultbot: nå den som har jour – reach the colleague on duty.",
        parents=[common],
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        text: str,
        handler: Handler | None = None,
        **defaults: str,
    ) -> argparse.ArgumentParser:
        """A verb (or action) that takes -c/--config and runs `handler`."""
        p = group.add_parser(name, parents=[common], help=text)
        if handler is not None:
            p.set_defaults(handler=handler, **defaults)
        return p

    for dataset, file_help in (
        (Dataset.ROSTER, "roster files: CSV, XLSX or iCalendar"),
        (Dataset.CATALOGUE, "service catalogue (TOML)"),
        (Dataset.STAFF, "staff list (CSV or XLSX)"),
        (Dataset.DIRECTORY, "contact directory (CSV or XLSX)"),
    ):
        name = dataset.value
        p = verb(verbs, name, f"{name}: check, import, rollback")
        actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
        many = dataset is Dataset.ROSTER
        for action, handler in (("check", data.cmd_check), ("import", data.cmd_import)):
            a = verb(actions, action, f"{action} {file_help}", handler, dataset=name)
            a.add_argument("files", nargs="+" if many else 1, metavar="FILE", help=file_help)
            if action == "import" and many:
                a.add_argument("--allow-gaps", action="store_true", help=_ALLOW_GAPS)
            if action == "import":
                a.add_argument("--allow-shrink", action="store_true", help=_ALLOW_SHRINK)
        text = "make the previous version active again"
        verb(actions, "rollback", text, data.cmd_rollback, dataset=name)
        if many:
            e = verb(actions, "export", "export a service's shifts", duty.cmd_export)
            e.add_argument("service", metavar="SERVICE")
            e.add_argument("--format", choices=("ics", "csv"), default="ics")
            e.add_argument("--from", dest="start", metavar="YYYY-MM-DD")
            e.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day included")
            e.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    w = verb(verbs, "who", "who is on duty for a service", duty.cmd_who)
    w.add_argument("service", metavar="SERVICE")
    w.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="local time (default now)")
    verb(verbs, "run", "run the bot", operate.cmd_run)
    h = verb(verbs, "homeserver", "start the embedded dev homeserver", operate.cmd_homeserver)
    h.add_argument("--dir", metavar="DIR", help="data folder (default .local/synapse)")
    h.add_argument("--port", metavar="N", type=int, help="port on 127.0.0.1 (default 8008)")
    text = "a consistent copy of the database, also while running"
    b = verb(verbs, "backup", text, operate.cmd_backup)
    b.add_argument("file", metavar="FILE", help="the copy to write (must not exist)")
    text = "copy a SQLite database into an empty PostgreSQL database, verified"
    ms = verb(verbs, "migrate-store", text, operate.cmd_migrate_store)
    ms.add_argument("source", metavar="FROM", help="the SQLite file (read only, left as it is)")
    ms.add_argument("target", metavar="TO", help="postgresql://user@host:5432/db (empty)")
    verb(verbs, "dev", "make run: homeserver, example data, bot", operate.cmd_dev)
    text = "preflight: one line per check, exit 1 on a failure"
    verb(verbs, "doctor", text, operate.cmd_doctor)
    verb(verbs, "demo", "scripted end-to-end demo conversation", operate.cmd_demo)
    for name, formats, handler, text in (
        ("stats", ("table", "csv", "json"), stats.cmd_stats, "follow-up statistics"),
        ("consults", ("csv", "json"), stats.cmd_consults, "one row per consult, metadata only"),
    ):
        st = verb(verbs, name, text, handler)
        st.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (local)")
        st.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day, included")
        st.add_argument("--format", choices=formats, default=formats[0])
        st.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
        if name == "stats":
            st.add_argument("--month", metavar="YYYY-MM", help="a month instead of --from/--to")
            st.add_argument("--requester-kind", metavar="KIND", help="only this requester kind")
            st.add_argument("--chart", metavar="FILE.png", help="the goals' chart, 12 months")
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    ctx = Context(args, out, err)
    handler: Handler = args.handler

    async def run() -> int:
        try:
            return await handler(ctx)
        finally:
            await ctx.close()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line = _error_line(exc, ctx)
        if line is None:
            raise
        print(f"{ctx.messages.cli('error')}: {line}", file=err)
    return EXIT_ERROR


def _error_line(exc: Exception, ctx: Context) -> str | None:
    """What follows "error: " for the error a verb ended with; None for a bug (a traceback)."""
    messages = ctx.messages
    if isinstance(exc, ConfigError):
        reason = messages.text("config", exc.code, **exc.params) if exc.code else exc.reason
        return f"{exc.path}: {reason}"
    if isinstance(exc, StoreError):
        return f"{exc.path}: {database_reason(sqlite3.Error(exc.reason), messages)}"
    if isinstance(exc, sqlite3.Error):
        return f"{ctx.database_name()}: {database_reason(exc, messages)}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return where + os_reason(exc, messages)
    if isinstance(exc, ConsultbotError):
        return str(exc)
    if not type(exc).__module__.startswith("psycopg"):
        return None
    # The PostgreSQL server went away or refused mid-verb: one line, no traceback.
    from consultbot.adapters.sql.postgres import redact

    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{redact(ctx.database_name())}: {messages.cli('database_other', detail=detail)}"
