"""What every verb shares: the `Context` (config, messages, output streams, the store) and
the reasons of operating-system and database errors in the user's language."""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, cast
from zoneinfo import ZoneInfo

from consultbot.config import Config, find_config, load_config
from consultbot.domain.errors import ConsultbotError
from consultbot.text.render import Messages

if TYPE_CHECKING:
    from consultbot.adapters.sql.sqlite import SqliteStore

EXIT_OK, EXIT_ERROR = 0, 1


class CliError(ConsultbotError):
    """A usage problem, already rendered for the person at the terminal."""


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


@contextmanager
def replaced_atomically(path: Path, *, private: bool) -> Iterator[BinaryIO]:
    """A file to write `path`'s new content to: a temporary file in the same folder, renamed
    over `path` only when the block ends without an error (a full disk, Ctrl-C), so `path`
    is never left half written. Owner-only (0600) from its first byte when `private` (every
    export: names, phone numbers or consult figures), else what a new file gets (umask)."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def write_private(path: Path, data: bytes, *, private: bool = True) -> None:
    """Write `data` to `path` at once (see `replaced_atomically`)."""
    with replaced_atomically(path, private=private) as handle:
        handle.write(data)


class _TextSink(io.RawIOBase):
    """Bytes written to a text stream (a test's StringIO), as UTF-8."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._out.write(bytes(data).decode("utf-8"))
        return len(data)


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

    def database_name(self) -> str:
        """The database of the config, for an error line; "?" when the config was not read."""
        return str(self._config.bot.database) if self._config is not None else "?"

    @property
    def tz(self) -> ZoneInfo:
        return self.config.bot.timezone

    async def store(self) -> SqliteStore:
        from consultbot.adapters.sql.stores import open_store

        if self._store is None:
            database = self.config.bot.database
            use = getattr(self.args, "store_use", "write")
            if use != "write" and isinstance(database, Path) and not database.exists():
                if use == "read":
                    # A mistyped bot.database must not become an empty database that
                    # reports zero consults: read-only verbs never create a store.
                    raise self.fail("no_database", database=database)
                database = Path(":memory:")  # `check` against nothing imported yet
            self._store = await open_store(database)
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

    def write_output(self, data: bytes, *, private: bool = True) -> None:
        """`data` to the --output file (see `replaced_atomically`), else to stdout."""
        with self.output(private=private) as handle:
            handle.write(data)

    @contextmanager
    def output(self, *, private: bool = True) -> Iterator[BinaryIO]:
        """Where a verb writes its export: the --output file, replaced only when all of it is
        written (a failure leaves the old file as it was and ends the verb with one line;
        mode 0600), else stdout."""
        if not self.args.output:
            stream = getattr(self.out, "buffer", None)
            if stream is not None:
                self.out.flush()
                yield stream
                stream.flush()
                return
            yield cast(BinaryIO, _TextSink(self.out))
            return
        try:
            with replaced_atomically(Path(self.args.output), private=private) as handle:
                yield handle
        except OSError as exc:
            reason = os_reason(exc, self.messages)
            raise self.fail("cannot_write", file=self.args.output, reason=reason) from None

    def warn(self, *lines: str) -> None:
        """Write lines to stderr; a stderr that is gone is not an error of the verb."""
        try:
            for line in lines:
                print(line, file=self.err)
        except OSError:
            pass

    def day(self, text: str | None) -> date | None:
        """A --from/--to date (YYYY-MM-DD); None when not given."""
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self.fail("bad_date", value=text) from None

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
