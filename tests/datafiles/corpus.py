"""The corpus test's realistic active state and the CLI run against a copy of it.

The active state is the example data of rosters/ (catalogue, staff list, directory) and the
example roster moved by whole weeks to November–December 2030 (active/roster-2030.csv), all
imported through the CLI into a SQLite database once; each file is then imported into a copy
of that database, so that a file that is read cannot affect the next one.
"""

from __future__ import annotations

import gc
import hashlib
import io
import shutil
import sqlite3
import tomllib
from dataclasses import dataclass
from pathlib import Path

from consultbot.cli.main import main
from consultbot.resources import example_config, example_data_dir

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
ACTIVE_ROSTER = HERE / "active" / "roster-2030.csv"
DATABASE = "data/consultbot.db"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def manifest() -> list[dict[str, object]]:
    """The corpus entries, in file order."""
    with (HERE / "manifest.toml").open("rb") as source:
        return list(tomllib.load(source)["file"])


class State:
    """A folder with a config and a database holding the active state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "config.toml"
        self.database = folder / DATABASE

    @classmethod
    def create(cls, folder: Path) -> State:
        """Write a config and import the example data through the CLI."""
        state = cls(folder)
        folder.mkdir(parents=True, exist_ok=True)
        text = example_config().read_text(encoding="utf-8").replace(".local/bot/", "data/")
        state.config.write_text(text, encoding="utf-8")
        examples = example_data_dir()
        for kind, path in (
            ("catalogue", examples / "services.toml"),
            ("staff", examples / "staff.csv"),
            ("directory", examples / "directory.csv"),
            ("roster", ACTIVE_ROSTER),
        ):
            result = state.run(kind, "import", str(path))
            assert result.code == 0, result.err
        return state

    def copy(self, folder: Path) -> State:
        """The same state in another folder (config and database files)."""
        (folder / DATABASE).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.config, folder / "config.toml")
        for part in self.database.parent.glob(self.database.name + "*"):
            shutil.copy(part, folder / "data" / part.name)
        return State(folder)

    def run(self, verb: str, *args: str) -> Result:
        """The CLI in this process, as `consultbot VERB ARGS -c CONFIG`."""
        out, err = io.StringIO(), io.StringIO()
        try:
            code = main([verb, *args, "-c", str(self.config)], out, err)
        finally:
            gc.enable()  # `import` turns the collector off for its short-lived process
        return Result(code, out.getvalue(), err.getvalue())

    def coverage(self) -> dict[tuple[str, int], list[tuple[int, int]]]:
        """Who-ever-is-on coverage per (service, level): merged [start, end) in epoch seconds."""
        spans: dict[tuple[str, int], list[tuple[int, int]]] = {}
        with sqlite3.connect(self.database) as connection:
            for service, level, start, end in connection.execute(
                "SELECT service_id, level, start_ts, end_ts FROM shift WHERE removed_in IS NULL"
                " ORDER BY start_ts"
            ):
                merged = spans.setdefault((service, level), [])
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                else:
                    merged.append((start, end))
        connection.close()
        return spans

    def live_shifts(self) -> dict[str, set[tuple[object, ...]]]:
        """The shifts in force, per service."""
        found: dict[str, set[tuple[object, ...]]] = {}
        with sqlite3.connect(self.database) as connection:
            for row in connection.execute(
                "SELECT service_id, level, start_ts, end_ts, matrix_id, name, phone"
                " FROM shift WHERE removed_in IS NULL"
            ):
                found.setdefault(row[0], set()).add(row[1:])
        connection.close()
        return found

    def active_rows(self, table: str) -> int:
        """How many rows `table` (staff, directory_entry, service) has in its newest version."""
        with sqlite3.connect(self.database) as connection:
            (count,) = connection.execute(
                f'SELECT count(*) FROM "{table}"'
                f' WHERE version = (SELECT max(version) FROM "{table}")'
            ).fetchone()
        connection.close()
        return int(count)

    def digest(self) -> str:
        """A hash of every row of every table: equal digests, nothing changed."""
        hashed = hashlib.sha256()
        with sqlite3.connect(self.database) as connection:
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            for table in tables:
                hashed.update(table.encode())
                rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()
                for row in sorted(map(repr, rows)):
                    hashed.update(row.encode())
        connection.close()
        return hashed.hexdigest()
