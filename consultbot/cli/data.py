"""Data set verbs that change or check the database: `check`, `import` and `rollback` of
rosters, the catalogue, staff lists and the directory.

A verb that changes a data set exits 0 exactly when the change is in the database."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from consultbot.cli.context import EXIT_ERROR, EXIT_OK, Context, os_reason
from consultbot.domain.errors import NothingToRollBack
from consultbot.domain.types import Dataset

if TYPE_CHECKING:
    from consultbot.engine.admin.datasets import Checked


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


async def _check_and_report(ctx: Context, dataset: Dataset) -> Checked:
    """Check the files named on the command line and print the summary and every problem."""
    from consultbot.engine.admin import datasets

    files = _read_files(ctx, ctx.args.files)
    store = await ctx.store()
    with ctx.step("step_check"):
        try:
            now = datetime.now(UTC)
            checked = await datasets.check_configured(ctx.config, dataset, files, store, now)
        except datasets.NoCatalogue:
            raise ctx.fail("no_catalogue") from None
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
    reasons = checked.hold_reasons(
        allow_gaps=getattr(ctx.args, "allow_gaps", False), allow_shrink=ctx.args.allow_shrink
    )
    if not any(reasons.values()):
        return False
    share = f"{ctx.config.bot.shrink_guard_share * 100:g}"
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
    what = ctx.messages.dataset(dataset.value)
    if checked.unchanged:
        # The same data again: no new version (a rollback would restore the same data).
        version = await _active_version(ctx, dataset)
        ctx.print(ctx.messages.cli("already_active", what=what, version=version))
        return EXIT_OK
    store = await ctx.store()
    with ctx.step("step_save"):
        now = datetime.now(UTC)
        version = await checked.activate(store, now)
    detail = f"{dataset.value} version {version}: {', '.join(checked.files)}"
    await record(ctx, "import", detail, now)
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
    now = datetime.now(UTC)
    try:
        version = await store.rollback(dataset, now=now)
    except NothingToRollBack:
        raise ctx.fail("nothing_to_roll_back", what=what) from None
    detail = f"{dataset.value}: version {undone} undone, version {version} active"
    await record(ctx, "rollback", detail, now)
    ctx.print(ctx.messages.cli("rolled_back", what=what, undone=undone, version=version))
    if not ctx.shown():
        ctx.warn(ctx.messages.cli("output_closed_after_save", what=what, version=version))
    return EXIT_OK


def os_user() -> str:
    """Who ran the command, as the audit trail names them: `cli:` and the OS user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for the uid (a container)
        import os

        return f"cli:uid {os.getuid()}"


async def record(ctx: Context, action: str, detail: str, now: datetime) -> None:
    """Into the admin audit trail, like the admins' actions by chat (`consultbot audit`)."""
    from consultbot.domain.types import UserId

    store = await ctx.store()
    await store.record_admin_action(
        actor=UserId(os_user()), action=action, allowed=True, detail=detail, now=now
    )


async def cmd_versions(ctx: Context) -> int:
    """The versions of one data set or of all, newest first; the active one marked."""
    from consultbot.text.stored import summary_text

    kinds = [Dataset(ctx.args.kind)] if ctx.args.kind else list(Dataset)
    store = await ctx.store()
    for dataset in kinds:
        versions = await store.versions(dataset)
        ctx.print(ctx.messages.cli("versions_title", what=ctx.messages.dataset(dataset.value)))
        if not versions:
            ctx.print(ctx.messages.cli("versions_none"))
        for v in versions:
            at = f"{v.imported_at.astimezone(ctx.tz):%Y-%m-%d %H:%M}"
            state = "active" if v.active else "rolled_back" if v.rolled_back else "kept"
            ctx.print(
                ctx.messages.cli(
                    "version_line",
                    version=v.number,
                    at=at,
                    state=state,
                    source=v.source,
                    summary=summary_text(v.summary, ctx.messages),
                )
            )
    return EXIT_OK


async def cmd_audit(ctx: Context) -> int:
    """The admin audit trail, the latest `--limit` entries, oldest first."""
    from consultbot.text.stored import action_text, detail_text

    if ctx.args.limit < 1:
        raise ctx.fail("bad_limit", value=ctx.args.limit)
    actions = (await (await ctx.store()).admin_actions())[-ctx.args.limit :]
    if not actions:
        ctx.print(ctx.messages.cli("audit_none"))
    for a in actions:
        at = f"{a.at.astimezone(ctx.tz):%Y-%m-%d %H:%M:%S}"
        ctx.print(
            ctx.messages.cli(
                "audit_line",
                at=at,
                actor=a.actor,
                action=action_text(a.action, ctx.messages),
                allowed=a.allowed,
                detail=detail_text(a.detail, ctx.messages),
            )
        )
    return EXIT_OK
