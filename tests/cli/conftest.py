"""A CLI runner with its own config and database in a temporary folder."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.cli.main import main
from consultbot.config import load_config
from consultbot.resources import example_config, example_data_dir
from tests.support.november import november


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    text = example_config().read_text(encoding="utf-8").replace(".local/bot/", "data/")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def run(config_path: Path) -> Run:
    """`run("who", "kardiologi")` runs the CLI in process and captures its output."""

    def invoke(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        verb, rest = args[0], list(args[1:])
        argv = [verb, *rest, "-c", str(config_path)]
        code = main(argv, out, err)
        return Result(code, out.getvalue(), err.getvalue())

    return invoke


@pytest.fixture
def examples() -> Path:
    return example_data_dir()


@pytest.fixture
def loaded(run: Run, examples: Path) -> Run:
    """A runner whose database holds the example catalogue, staff, directory and roster."""
    for dataset, name in (
        ("catalogue", "services.toml"),
        ("staff", "staff.csv"),
        ("directory", "directory.csv"),
        ("roster", "roster-example.csv"),
    ):
        result = run(dataset, "import", str(examples / name))
        assert result.code == 0, result.err
    return run


@pytest.fixture
def scripted(loaded: Run, config_path: Path) -> Run:
    """The example data and the scripted consults in the CLI's database."""

    async def write() -> None:
        store = await SqliteStore.open(load_config(config_path).bot.database)
        try:
            await november(store)
        finally:
            await store.close()

    asyncio.run(write())
    return loaded
