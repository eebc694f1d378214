"""Command line: argument parsing and output only. Formatting functions are pure and tested.

Every verb takes -c/--config after the verb. Bad input ends as one line per problem on stderr
and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

from consultbot.config import Config, find_config, load_config
from consultbot.domain.errors import ConfigError, ConsultbotError, NothingToRollBack, StoreError
from consultbot.domain.types import Dataset, ServiceId
from consultbot.text.render import Messages

if TYPE_CHECKING:
    from consultbot.adapters.sql.sqlite import SqliteStore
    from consultbot.domain.duty.catalogue import Service
    from consultbot.domain.duty.oncall import OnDuty
    from consultbot.domain.duty.roster import Shift
    from consultbot.engine.admin.datasets import Checked

EXIT_OK, EXIT_ERROR = 0, 1


class CliError(ConsultbotError):
    """A usage problem, already rendered for the person at the terminal."""


# ---------------------------------------------------------------------------------------------
# Pure formatting


def format_who(
    service: Service, duty: OnDuty, tz: ZoneInfo, messages: Messages, closed_note: str = ""
) -> list[str]:
    """The escalation chain on duty, one line per person, with the switchboard last."""
    at = duty.at.astimezone(tz)
    lines = [
        messages.cli("who_title", name=service.name, service=service.id, at=f"{at:%Y-%m-%d %H:%M}")
    ]
    if closed_note:
        lines.append(closed_note)
    if duty.empty:
        lines.append(messages.cli("who_nobody"))
    for level, shifts in duty.levels:
        lines.append(messages.cli("who_level", level=level) + ":")
        for shift in shifts:
            until = shift.end.astimezone(tz)
            until_text = (
                f"{until:%H:%M}" if until.date() == at.date() else f"{until:%Y-%m-%d %H:%M}"
            )
            parts = [f"  {shift.name}", shift.user]
            if shift.phone:
                parts.append(shift.phone)
            parts.append(messages.cli("who_until", until=until_text))
            lines.append("  ".join(parts))
    if service.switchboard:
        lines.append(messages.cli("switchboard", phone=service.switchboard))
    return lines


def local_time_text(instant: datetime, tz: ZoneInfo) -> str:
    """`YYYY-MM-DD HH:MM` in `tz`; in the repeated autumn hour with its offset
    (`YYYY-MM-DDTHH:MM+02:00`), so that reading it back gives the same instant."""
    local = instant.astimezone(tz)
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        return local.isoformat(timespec="minutes")
    return f"{local:%Y-%m-%d %H:%M}"


def shifts_to_csv(shifts: Iterable[Shift], tz: ZoneInfo) -> str:
    """Shifts as a roster CSV in the import format, local times. Free text that a spreadsheet
    would run as a formula is escaped (and unescaped again on import)."""
    import csv
    import io

    from consultbot.domain.duty.roster import escape_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["service", "level", "start", "end", "matrix_id", "name", "phone"])
    for s in shifts:
        writer.writerow(
            [
                s.service,
                s.level,
                local_time_text(s.start, tz),
                local_time_text(s.end, tz),
                s.user,
                escape_cell(s.name),
                escape_cell(s.phone),
            ]
        )
    return buffer.getvalue()


def os_reason(exc: OSError, messages: Messages) -> str:
    """The reason of an operating-system error in the user's language."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    if name and messages.has("oserror", name):
        return messages.text("oserror", name)
    return exc.strerror or str(exc)


def database_reason(exc: sqlite3.Error, messages: Messages) -> str:
    """The reason of a database error in the user's language."""
    text = str(exc).lower()
    for marker, key in (
        ("a postgresql database but not", "database_not_consultbot_pg"),
        ("cannot be reached", "database_unreachable"),
        ("not consultbot's", "database_not_consultbot"),
        ("is newer than", "database_newer"),
        ("readonly", "database_readonly"),
        ("unable to open", "database_cannot_open"),
        ("locked", "database_locked"),
        ("disk is full", "database_full"),
        ("not a database", "database_not_ours"),
    ):
        if marker in text:
            detail = str(exc).split("cannot be reached: ", 1)[-1]
            return messages.cli(key, detail=detail)
    return messages.cli("database_other", detail=str(exc))


def parse_local_time(text: str, tz: ZoneInfo) -> datetime:
    """`YYYY-MM-DD HH:MM` in `tz` (or ISO 8601 with an offset) → aware UTC datetime."""
    from consultbot.domain.duty.roster import InstantParser, TimeProblem

    try:
        return InstantParser(tz)(text)
    except TimeProblem as problem:
        # The DST change's own words: "occurs twice" or "does not exist", not "invalid".
        raise ValueError(str(problem)) from None


# ---------------------------------------------------------------------------------------------
# Running verbs


class Context:
    """What a verb needs: config, messages, output streams, and the store (opened lazily)."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out, self.err = out, err
        self._config: Config | None = None
        self.messages = Messages("sv")
        self._store: SqliteStore | None = None
        self._out_closed = False

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_config(self.args.config))
            self.messages = Messages(self._config.bot.language)
        return self._config

    @property
    def tz(self) -> ZoneInfo:
        return self.config.bot.timezone

    async def store(self) -> SqliteStore:
        from consultbot.adapters.sql.stores import open_store

        if self._store is None:
            self._store = await open_store(self.config.bot.database)
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    def print(self, *lines: str) -> None:
        """Write lines to stdout; once stdout is gone (a closed pipe, a hung-up terminal)
        nothing more is written there and `shown()` says so."""
        if self._out_closed:
            return
        try:
            for line in lines:
                print(line, file=self.out)
        except OSError:
            self._close_out()

    def shown(self) -> bool:
        """Flush stdout; False when what was printed cannot reach anyone."""
        if not self._out_closed:
            try:
                self.out.flush()
            except OSError:
                self._close_out()
        return not self._out_closed

    def _close_out(self) -> None:
        self._out_closed = True
        try:
            fd = self.out.fileno()
        except (OSError, ValueError):
            return  # not a file (tests write to a StringIO)
        # What is still buffered goes nowhere, instead of failing again when Python exits.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)

    def warn(self, *lines: str) -> None:
        """Write lines to stderr; a stderr that is gone is not an error of the verb."""
        try:
            for line in lines:
                print(line, file=self.err)
        except OSError:
            pass

    def fail(self, key: str, **params: Any) -> CliError:
        return CliError(self.messages.cli(key, **params))

    @contextmanager
    def step(self, key: str, **params: Any) -> Iterator[None]:
        """Show a spinner for a long step on a terminal; nothing when output is redirected."""
        if not self.err.isatty():
            yield
            return
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=Console(file=self.err), transient=True) as progress:
            progress.add_task(self.messages.cli(key, **params), total=None)
            yield


def _read_files(ctx: Context, names: Sequence[str]) -> list[tuple[str, bytes]]:
    files = []
    for name in names:
        with ctx.step("step_read", file=name):
            try:
                files.append((name, Path(name).read_bytes()))
            except OSError as exc:
                reason = os_reason(exc, ctx.messages)
                raise ctx.fail("cannot_read", file=name, reason=reason) from None
    return files


async def _check(ctx: Context, dataset: Dataset, names: Sequence[str]) -> Checked:
    from consultbot.engine.admin import datasets

    files = _read_files(ctx, names)
    store = await ctx.store()
    with ctx.step("step_check"):
        try:
            return await datasets.check_files(
                dataset,
                files,
                store,
                ctx.tz,
                ctx.config.hours_of(),
                datetime.now(UTC),
                ctx.config.bot.shrink_guard_share,
                datasets.file_rules(ctx.config),
            )
        except datasets.NoCatalogue:
            raise ctx.fail("no_catalogue") from None


async def _check_and_report(ctx: Context, dataset: Dataset) -> Checked:
    """Check the files named on the command line and print the summary and every problem."""
    from consultbot.engine.admin import datasets

    checked = await _check(ctx, dataset, ctx.args.files)
    out, err = datasets.format_check(checked, ctx.messages)
    ctx.warn(*err)
    ctx.print(*out)
    return checked


async def cmd_check(ctx: Context) -> int:
    dataset = Dataset(ctx.args.dataset)
    checked = await _check_and_report(ctx, dataset)
    if not checked.ok:
        return EXIT_ERROR
    verdict = "check_held" if checked.held() else "check_ok"
    ctx.print(ctx.messages.cli(verdict, what=ctx.messages.dataset(dataset.value)))
    return EXIT_OK


def _held(ctx: Context, checked: Checked) -> bool:
    """True (and why, on stderr) when an import must wait for --allow-gaps/--allow-shrink."""
    from consultbot.engine.admin import datasets

    allow = {
        "allow_gaps": getattr(ctx.args, "allow_gaps", False),
        "allow_shrink": ctx.args.allow_shrink,
    }
    if not checked.held(**allow):
        return False
    share = f"{ctx.config.bot.shrink_guard_share * 100:g}"
    reasons = datasets.hold_reasons(checked, **allow)
    ctx.warn(ctx.messages.cli("held", share=share, **reasons))
    return True


# The signals that end an import early: Ctrl-C, `kill`, the terminal going away.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def _active_version(ctx: Context, dataset: Dataset) -> int | None:
    versions = await (await ctx.store()).versions(dataset)
    return next((v.number for v in versions if v.active), None)


async def _decided_by_the_database(
    ctx: Context, dataset: Dataset, change: Callable[[], Awaitable[int]]
) -> int:
    """Run a verb that changes a data set so that its exit status tells the truth: 0 when
    the change is in the database, non-zero when nothing changed (docs/decisions.md).

    A stop signal cancels the change; the transaction then rolls back unless it had
    committed. Which of the two happened is read back from the database (the active
    version), never assumed: after a commit the exit status is 0 even if stopped."""
    before = await _active_version(ctx, dataset)
    task = asyncio.ensure_future(change())
    stopped: list[int] = []

    def stop(signum: int) -> None:
        if not stopped and not task.done():
            stopped.append(signum)
            task.cancel()

    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await task
    except asyncio.CancelledError:
        if not stopped:
            raise
    # The handlers stay until the loop closes: a later signal only waits for the answer.
    after = await _active_version(ctx, dataset)
    name = signal.Signals(stopped[0]).name
    if after != before:
        what = ctx.messages.dataset(dataset.value)
        ctx.warn(ctx.messages.cli("interrupted_after_save", what=what, version=after, signal=name))
        return EXIT_OK
    ctx.warn(ctx.messages.cli("interrupted", signal=name))
    return 128 + stopped[0]


async def cmd_import(ctx: Context) -> int:
    dataset = Dataset(ctx.args.dataset)
    # Millions of small objects and no cycles: the cyclic collector would only cost time
    # (a third of a national import). This process ends after the import.
    gc.disable()
    return await _decided_by_the_database(ctx, dataset, lambda: _import(ctx, dataset))


async def _import(ctx: Context, dataset: Dataset) -> int:
    checked = await _check_and_report(ctx, dataset)
    if not checked.ok or _held(ctx, checked):
        return EXIT_ERROR
    if not ctx.shown():
        # Nobody can see what the import would do (stdout is a closed pipe): do not do it.
        ctx.warn(ctx.messages.cli("output_closed"))
        return EXIT_ERROR
    with ctx.step("step_save"):
        version = await checked.activate(await ctx.store(), datetime.now(UTC))
    what = ctx.messages.dataset(dataset.value)
    ctx.print(ctx.messages.cli("imported", what=what, version=version))
    if not ctx.shown():
        ctx.warn(ctx.messages.cli("output_closed_after_save", what=what, version=version))
    return EXIT_OK


async def cmd_rollback(ctx: Context) -> int:
    dataset = Dataset(ctx.args.dataset)
    return await _decided_by_the_database(ctx, dataset, lambda: _rollback(ctx, dataset))


async def _rollback(ctx: Context, dataset: Dataset) -> int:
    what = ctx.messages.dataset(dataset.value)
    store = await ctx.store()
    undone = await _active_version(ctx, dataset)
    try:
        version = await store.rollback(dataset, now=datetime.now(UTC))
    except NothingToRollBack:
        raise ctx.fail("nothing_to_roll_back", what=what) from None
    ctx.print(ctx.messages.cli("rolled_back", what=what, undone=undone, version=version))
    if not ctx.shown():
        ctx.warn(ctx.messages.cli("output_closed_after_save", what=what, version=version))
    return EXIT_OK


async def _service(ctx: Context, name: str) -> Service:
    catalogue = await (await ctx.store()).catalogue()
    if not len(catalogue):
        raise ctx.fail("no_catalogue")
    service = catalogue.find(name)
    if service is None:
        raise ctx.fail("unknown_service", service=name)
    return service


async def cmd_who(ctx: Context) -> int:
    tz = ctx.tz
    if ctx.args.at:
        try:
            at = parse_local_time(ctx.args.at, tz)
        except ValueError as error:
            code = {"ambiguous_time": "at_ambiguous", "nonexistent_time": "at_nonexistent"}
            raise ctx.fail(code.get(str(error), "bad_at"), value=ctx.args.at) from None
    else:
        at = datetime.now(UTC).replace(microsecond=0)
    service = await _service(ctx, ctx.args.service)
    duty = await (await ctx.store()).on_duty(ServiceId(service.id), at)
    notes = []
    for track in service.tracks:
        hours = ctx.config.tracks[track].hours
        if not hours.is_open(at, tz):
            opens = hours.next_opening(at, tz)
            notes.append(
                ctx.messages.cli(
                    "closed_now",
                    track=track.value,
                    hours=str(hours),
                    opens=f"{opens:%Y-%m-%d %H:%M}",
                )
            )
    ctx.print(*format_who(service, duty, tz, ctx.messages, "\n".join(notes)))
    return EXIT_OK


def _date(ctx: Context, text: str | None) -> datetime | None:
    if not text:
        return None
    from consultbot.domain.duty.roster import YEARS

    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ctx.fail("bad_date", value=text) from None
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise ctx.fail("bad_year", value=text, first=YEARS[0], last=YEARS[1])
    return datetime(day.year, day.month, day.day, tzinfo=ctx.tz).astimezone(UTC)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, a new file made owner-only (0600) as it is created: exports hold
    staff names and numbers or consult figures. A file that exists keeps its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _emit(ctx: Context, data: bytes) -> None:
    if not ctx.args.output:
        ctx.out.write(data.decode("utf-8"))
        return
    try:
        write_private(Path(ctx.args.output), data)
    except OSError as exc:
        reason = os_reason(exc, ctx.messages)
        raise ctx.fail("cannot_write", file=ctx.args.output, reason=reason) from None


async def cmd_export(ctx: Context) -> int:
    from consultbot.domain.duty.ical import shifts_to_ical

    service = await _service(ctx, ctx.args.service)
    start = _date(ctx, ctx.args.start)
    end = _date(ctx, ctx.args.end)
    if end is not None:
        end += timedelta(days=1)
    shifts = await (await ctx.store()).shifts(ServiceId(service.id), start, end)
    if ctx.args.format == "ics":
        stamp = datetime.now(UTC)
        data = shifts_to_ical(shifts, service.name, {service.id: service.name}, stamp)
    else:
        data = shifts_to_csv(shifts, ctx.tz).encode("utf-8")
    _emit(ctx, data)
    if not shifts:
        ctx.warn(ctx.messages.cli("no_shifts", service=service.id))
    return EXIT_OK


def _period(ctx: Context) -> tuple[date, date]:
    """--from/--to as local dates, inclusive; by default the current month.

    Without --from the period starts on the first of --to's month (or of this month); without
    --to it ends on the last day of this month.
    """
    from consultbot.domain.consult.stats import month_of

    def day(text: str | None) -> date | None:
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ctx.fail("bad_date", value=text) from None

    today = datetime.now(UTC).astimezone(ctx.tz).date()
    end = day(ctx.args.end)
    start = day(ctx.args.start) or month_of(end or today)[0]
    end = end or month_of(today)[1]
    if start > end:
        raise CliError(ctx.messages.text("stats", "bad_period", start=start, end=end))
    return start, end


def _write(ctx: Context, text: str) -> None:
    if ctx.args.output:
        write_private(Path(ctx.args.output), text.encode("utf-8"))
    else:
        ctx.out.write(text)


async def cmd_stats(ctx: Context) -> int:
    from consultbot.text import report

    start, end = _period(ctx)
    result = await report.period_report(await ctx.store(), start, end, ctx.tz)
    if ctx.args.format == "json":
        _write(ctx, report.stats_json(result))
    elif ctx.args.format == "csv":
        _write(ctx, report.stats_csv(result, ctx.messages))
    else:
        _write(ctx, report.stats_table(result, ctx.messages))
    return EXIT_OK


async def cmd_consults(ctx: Context) -> int:
    from consultbot.text import report

    start, end = _period(ctx)
    low, high = report.local_bounds(start, end, ctx.tz)
    rows = await (await ctx.store()).consult_summaries(low, high)
    records = report.consult_records(rows, ctx.tz)
    if ctx.args.format == "json":
        _write(ctx, report.consults_json(records))
    else:
        _write(ctx, report.consults_csv(records))
    return EXIT_OK


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
            rows=copied.rows,
            tables=len(copied.tables),
            consults=copied.count("consult"),
            events=copied.count("consult_event"),
        )
    )
    return EXIT_OK


async def cmd_not_yet(ctx: Context) -> int:
    raise ctx.fail("not_yet", verb=ctx.args.verb)


async def cmd_run(ctx: Context) -> int:
    from consultbot import app

    app.setup_logging()
    return await app.run(ctx.config)


def _absolute(path: str) -> Path:
    return Path(path).resolve()


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


async def cmd_homeserver(ctx: Context) -> int:
    from consultbot.devkit import devtools
    from consultbot.devkit.synapse import EmbeddedHomeserver

    config = ctx.config
    data = _absolute(ctx.args.dir or ".local/synapse")
    port = ctx.args.port or 8008
    async with EmbeddedHomeserver(data_dir=data, port=port, fast_passwords=True) as server:
        await devtools.provision(server, config, devtools.example_users())
        ctx.print(
            ctx.messages.cli(
                "homeserver_ready",
                url=server.url,
                data=str(data),
                password=devtools.DEMO_PASSWORD,
                server=server.server_name,
                admin_password=devtools.ADMIN[1],
            )
        )
        await devtools.wait_forever()
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
        text = _read_text(folder / "roster-example.csv")
        shifted = devtools.shifted_roster(text, now.astimezone(ctx.tz).date())
        roster = [(str(folder / "roster-example.csv"), shifted.encode())]
        checked = await datasets.check_roster_files(roster, store, ctx.tz, ctx.config.hours_of())
        await checked.activate(store, now)


async def cmd_dev(ctx: Context) -> int:
    from consultbot import app
    from consultbot.devkit import devtools

    app.setup_logging()
    config = ctx.config
    async with devtools.dev_homeserver(config, _absolute(".local/synapse")) as server:
        await _load_examples(ctx)
        await ctx.close()
        ctx.print(
            ctx.messages.cli(
                "dev_ready",
                url=config.matrix.homeserver,
                server=server.server_name if server else config.matrix.user_id.split(":", 1)[1],
                password=devtools.DEMO_PASSWORD,
                admin_password=devtools.ADMIN[1],
                bot=config.matrix.user_id,
            )
        )
        await app.run(config)
    return EXIT_OK


async def cmd_doctor(ctx: Context) -> int:
    import os

    from consultbot.cli import doctor

    checks = await doctor.run_checks(ctx.config, os.environ)
    ctx.print(*(doctor.format_check(check, ctx.messages) for check in checks))
    return doctor.exit_code(checks)


async def cmd_demo(ctx: Context) -> int:
    from consultbot.devkit import demo

    return await demo.main(ctx.config, ctx.out)


# ---------------------------------------------------------------------------------------------
# Parser


def _confirmation_flags(parser: argparse.ArgumentParser, *, roster: bool) -> None:
    """--allow-shrink (every data set) and --allow-gaps (rosters): import what is held."""
    if roster:
        parser.add_argument(
            "--allow-gaps",
            action="store_true",
            help="import even when it leaves new holes at level 1 within opening hours",
        )
    parser.add_argument(
        "--allow-shrink",
        action="store_true",
        help="import even when it removes more than bot.shrink_guard_share of the active version",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every verb."""
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

    for dataset, file_help in (
        (Dataset.ROSTER, "roster files: CSV, XLSX or iCalendar"),
        (Dataset.CATALOGUE, "service catalogue (TOML)"),
        (Dataset.STAFF, "staff list (CSV or XLSX)"),
        (Dataset.DIRECTORY, "contact directory (CSV or XLSX)"),
    ):
        p = verbs.add_parser(
            dataset.value, help=f"{dataset.value}: check, import, rollback", parents=[common]
        )
        actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
        many = dataset is Dataset.ROSTER
        for action, handler in (("check", cmd_check), ("import", cmd_import)):
            a = actions.add_parser(action, parents=[common], help=f"{action} {file_help}")
            a.add_argument("files", nargs="+" if many else 1, metavar="FILE", help=file_help)
            a.set_defaults(handler=handler, dataset=dataset.value)
            if action == "import":
                _confirmation_flags(a, roster=many)
        r = actions.add_parser(
            "rollback", parents=[common], help="make the previous version active again"
        )
        r.set_defaults(handler=cmd_rollback, dataset=dataset.value)
        if many:
            e = actions.add_parser("export", parents=[common], help="export a service's shifts")
            e.add_argument("service", metavar="SERVICE")
            e.add_argument("--format", choices=("ics", "csv"), default="ics")
            e.add_argument("--from", dest="start", metavar="YYYY-MM-DD")
            e.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day included")
            e.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
            e.set_defaults(handler=cmd_export)

    w = verbs.add_parser("who", parents=[common], help="who is on duty for a service")
    w.add_argument("service", metavar="SERVICE")
    w.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="local time (default now)")
    w.set_defaults(handler=cmd_who)

    r = verbs.add_parser("run", parents=[common], help="run the bot")
    r.set_defaults(handler=cmd_run)
    h = verbs.add_parser("homeserver", parents=[common], help="start the embedded dev homeserver")
    h.add_argument("--dir", metavar="DIR", help="data folder (default .local/synapse)")
    h.add_argument("--port", metavar="N", type=int, help="port on 127.0.0.1 (default 8008)")
    h.set_defaults(handler=cmd_homeserver)
    b = verbs.add_parser(
        "backup", parents=[common], help="a consistent copy of the database, also while running"
    )
    b.add_argument("file", metavar="FILE", help="the copy to write (must not exist)")
    b.set_defaults(handler=cmd_backup)
    ms = verbs.add_parser(
        "migrate-store",
        parents=[common],
        help="copy a SQLite database into an empty PostgreSQL database, verified",
    )
    ms.add_argument("source", metavar="FROM", help="the SQLite file (read only, left as it is)")
    ms.add_argument("target", metavar="TO", help="postgresql://user@host:5432/db (empty)")
    ms.set_defaults(handler=cmd_migrate_store)
    d = verbs.add_parser("dev", parents=[common], help="make run: homeserver, example data, bot")
    d.set_defaults(handler=cmd_dev)
    dr = verbs.add_parser(
        "doctor", parents=[common], help="preflight: one line per check, exit 1 on a failure"
    )
    dr.set_defaults(handler=cmd_doctor)
    m = verbs.add_parser("demo", parents=[common], help="scripted end-to-end demo conversation")
    m.set_defaults(handler=cmd_demo)
    for verb, formats, handler, text in (
        ("stats", ("table", "csv", "json"), cmd_stats, "follow-up statistics"),
        ("consults", ("csv", "json"), cmd_consults, "one row per consult, metadata only"),
    ):
        st = verbs.add_parser(verb, parents=[common], help=text)
        st.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (local)")
        st.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day, included")
        st.add_argument("--format", choices=formats, default=formats[0])
        st.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
        st.set_defaults(handler=handler)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Entry point; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    ctx = Context(args, out, err)
    handler: Callable[[Context], Awaitable[int]] = args.handler

    async def run() -> int:
        try:
            return await handler(ctx)
        finally:
            await ctx.close()

    try:
        return asyncio.run(run())
    except ConfigError as exc:
        reason = ctx.messages.text("config", exc.code, **exc.params) if exc.code else exc.reason
        print(f"{ctx.messages.cli('error')}: {exc.path}: {reason}", file=err)
    except StoreError as exc:
        reason = database_reason(sqlite3.Error(exc.reason), ctx.messages)
        print(f"{ctx.messages.cli('error')}: {exc.path}: {reason}", file=err)
    except sqlite3.Error as exc:
        database = ctx.config.bot.database if ctx._config is not None else "?"
        reason = database_reason(exc, ctx.messages)
        print(f"{ctx.messages.cli('error')}: {database}: {reason}", file=err)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{ctx.messages.cli('error')}: {where}{os_reason(exc, ctx.messages)}", file=err)
    except ConsultbotError as exc:
        print(f"{ctx.messages.cli('error')}: {exc}", file=err)
    except Exception as exc:
        if not type(exc).__module__.startswith("psycopg"):
            raise
        # The PostgreSQL server went away or refused mid-verb: one line, no traceback.
        from consultbot.adapters.sql.postgres import redact

        database = ctx.config.bot.database if ctx._config is not None else "?"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = ctx.messages.cli("database_other", detail=detail)
        print(f"{ctx.messages.cli('error')}: {redact(str(database))}: {reason}", file=err)
    except KeyboardInterrupt:
        return 130
    return EXIT_ERROR
