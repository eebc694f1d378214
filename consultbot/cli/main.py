"""Command line: the parser of every verb and the dispatch to its handler.

The verbs live by group: cli/data.py (check, import, rollback, versions, audit), cli/duty.py
(who, roster export), cli/stats.py (stats), cli/export.py (consults, open-consults),
cli/feeds.py (feed create, list, revoke),
cli/operate.py (run, dev, homeserver, demo, doctor, backup, migrate-store). -c/--config goes
before or after the verb. Help and argparse's errors are Swedish (cli/usage.py). Bad input
ends as one line per problem on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

from consultbot.cli import data, duty, export, feeds, operate, stats
from consultbot.cli.context import EXIT_ERROR, Context, database_reason, os_reason
from consultbot.cli.usage import SwedishParser, help_text, swedish_argparse
from consultbot.domain.errors import ConfigError, ConsultbotError, StoreError
from consultbot.domain.types import Dataset

Handler = Callable[[Context], Awaitable[int]]
# What a verb does with the database (Context.store): "read" never creates one.
READ, CHECK, WRITE = "read", "check", "write"


def build_parser() -> argparse.ArgumentParser:
    h = help_text
    # -c before the verb sets the default; after it (default SUPPRESS) it wins.
    common = SwedishParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help=h("config"))
    parser = SwedishParser(prog="consultbot", description=h("description"))
    parser.add_argument("-c", "--config", default=None, help=h("config"))
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(
        group: argparse._SubParsersAction[Any],
        name: str,
        text: str,
        handler: Handler | None = None,
        store: str = WRITE,
        **defaults: str,
    ) -> argparse.ArgumentParser:
        """A verb (or action) that takes -c/--config and runs `handler`."""
        p: argparse.ArgumentParser = group.add_parser(
            name, parents=[common], help=text, description=text
        )
        if handler is not None:
            p.set_defaults(handler=handler, store_use=store, **defaults)
        return p

    for dataset in (Dataset.ROSTER, Dataset.CATALOGUE, Dataset.STAFF, Dataset.DIRECTORY):
        name = dataset.value
        file_help = h(f"files_{name}")
        p = verb(verbs, name, h("dataset", name=h(f"name_{name}")))
        actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
        many = dataset is Dataset.ROSTER
        for action, handler, use in (
            ("check", data.cmd_check, CHECK),
            ("import", data.cmd_import, WRITE),
        ):
            a = verb(actions, action, h(action, files=file_help), handler, use, dataset=name)
            a.add_argument("files", nargs="+" if many else 1, metavar="FILE", help=file_help)
            if action == "import" and many:
                a.add_argument("--allow-gaps", action="store_true", help=h("allow_gaps"))
            if action == "import":
                a.add_argument("--allow-shrink", action="store_true", help=h("allow_shrink"))
        # Rollback needs a database that exists (READ: never made by a mistyped path).
        verb(actions, "rollback", h("rollback"), data.cmd_rollback, READ, dataset=name)
        if many:
            e = verb(actions, "export", h("roster_export"), duty.cmd_export, READ)
            e.add_argument("service", metavar="SERVICE", help=h("service"))
            e.add_argument("--format", choices=("ics", "csv"), default="ics", help=h("format"))
            e.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help=h("from"))
            e.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help=h("to"))
            e.add_argument("-o", "--output", metavar="FILE", help=h("output"))

    w = verb(verbs, "who", h("who"), duty.cmd_who, READ)
    w.add_argument("service", metavar="SERVICE", help=h("service"))
    w.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help=h("at"))
    v = verb(verbs, "versions", h("versions"), data.cmd_versions, READ)
    v.add_argument("kind", nargs="?", choices=[d.value for d in Dataset], metavar="KIND")
    a = verb(verbs, "audit", h("audit"), data.cmd_audit, READ)
    a.add_argument("--limit", type=int, default=50, metavar="N", help=h("limit"))
    verb(verbs, "run", h("run"), operate.cmd_run)
    hs = verb(verbs, "homeserver", h("homeserver"), operate.cmd_homeserver)
    hs.add_argument("--dir", metavar="DIR", help=h("dir"))
    hs.add_argument("--port", metavar="N", type=int, help=h("port"))
    b = verb(verbs, "backup", h("backup"), operate.cmd_backup)
    b.add_argument("file", metavar="FILE", help=h("backup_file"))
    ms = verb(verbs, "migrate-store", h("migrate_store"), operate.cmd_migrate_store)
    ms.add_argument("source", metavar="FROM", help=h("migrate_from"))
    ms.add_argument("target", metavar="TO", help=h("migrate_to"))
    verb(verbs, "dev", h("dev"), operate.cmd_dev)
    verb(verbs, "doctor", h("doctor"), operate.cmd_doctor, READ)
    dm = verb(verbs, "demo", h("demo"), operate.cmd_demo)
    dm.add_argument("--followup", action="store_true", help=h("followup"))
    dm.add_argument("--dir", metavar="DIR", help=h("followup_dir"))
    for name, formats, handler in (
        ("stats", ("table", "csv", "json"), stats.cmd_stats),
        ("consults", ("csv", "json", "jsonl"), export.cmd_consults),
    ):
        st = verb(verbs, name, h(name), handler, READ)
        st.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help=h("from"))
        st.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help=h("to"))
        st.add_argument("--month", metavar="YYYY-MM", help=h("month"))
        st.add_argument("--format", choices=formats, default=formats[0], help=h("format"))
        st.add_argument("-o", "--output", metavar="FILE", help=h("output"))
        if name == "stats":
            st.add_argument("--requester-kind", metavar="KIND", help=h("requester_kind"))
            st.add_argument("--chart", metavar="FILE.png", help=h("chart"))
        if name == "consults":
            st.add_argument("--with-people", action="store_true", help=h("with_people"))
    verb(verbs, "open-consults", h("open_consults"), export.cmd_open, READ)
    f = verb(verbs, "feed", h("feed"))
    actions = f.add_subparsers(dest="action", required=True, metavar="ACTION")
    fc = verb(actions, "create", h("feed_create"), feeds.cmd_feed_create)
    fc.add_argument("service", nargs="?", metavar="SERVICE", help=h("service"))
    fc.add_argument("--person", metavar="MXID", help=h("feed_person"))
    verb(actions, "list", h("feed_list"), feeds.cmd_feed_list, READ)
    fr = verb(actions, "revoke", h("feed_revoke"), feeds.cmd_feed_revoke, READ)
    fr.add_argument("number", type=int, metavar="ID", help=h("feed_number"))
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    with swedish_argparse(err, out):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as stop:
            return stop.code if isinstance(stop.code, int) else EXIT_ERROR
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
