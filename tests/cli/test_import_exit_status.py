"""A CLI import either applies and exits 0, or changes nothing and exits non-zero — also when
stdout is a closed pipe, the terminal goes away (SIGHUP), or SIGINT/SIGTERM arrive mid-import
(issue 20, item 5; docs/decisions.md "Exit status of an import").

Each test runs the real CLI in a subprocess against a database holding the example data
(roster version 1), imports it with one number changed (version 2 when it is applied) and
then reads the active version back from the database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consultbot.adapters.sql.stores import open_store
from consultbot.config import load_config
from consultbot.domain.types import Dataset

from .conftest import Run

ROOT = Path(__file__).resolve().parents[2]
PAUSED_CLI = Path(__file__).with_name("paused_cli.py")
TIMEOUT = 60.0
CLI = (sys.executable, "-m", "consultbot")


def active_roster(config_path: Path) -> int | None:
    async def read() -> int | None:
        store = await open_store(load_config(config_path, environ={}).bot.database)
        try:
            versions = await store.versions(Dataset.ROSTER)
        finally:
            await store.close()
        return next((v.number for v in versions if v.active), None)

    return asyncio.run(read())


def environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("CONSULTBOT_MATRIX_PASSWORD", None)
    return env


def wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    """Wait until `path` exists (the CLI reached its pause); fail if the CLI ended first."""
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the import never reached its pause"
        time.sleep(0.02)


@pytest.fixture
def setup(
    loaded: Run, config_path: Path, examples: Path, tmp_path: Path
) -> Iterator[tuple[Path, Path]]:
    assert active_roster(config_path) == 1
    # The example roster with one phone number changed: an identical one makes no version.
    text = (examples / "roster-example.csv").read_text(encoding="utf-8")
    changed = tmp_path / "roster-changed.csv"
    changed.write_text(text.replace("070-174 06 28", "070-174 06 29", 1), encoding="utf-8")
    yield config_path, changed


def paused_import(
    config_path: Path, roster: Path, folder: Path, at: str, **popen: object
) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(PAUSED_CLI), "roster", "import", str(roster), "-c"]
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [*args, str(config_path)],
        cwd=ROOT,
        env=environment(PAUSE_AT=at, PAUSE_DIR=str(folder)),
        stderr=subprocess.PIPE,
        **({"stdout": subprocess.PIPE} | popen),
    )


@pytest.mark.parametrize(
    "signum",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_a_stop_signal_before_the_commit_changes_nothing_and_exits_non_zero(
    setup: tuple[Path, Path], tmp_path: Path, signum: signal.Signals
) -> None:
    config_path, roster = setup
    process = paused_import(config_path, roster, tmp_path, "before-commit")
    wait_for(tmp_path / "paused", process)  # every shift is written; COMMIT is not
    process.send_signal(signum)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 128 + signum
    assert f"avbrutet ({signum.name}) – ingenting har ändrats" in err.decode()
    assert active_roster(config_path) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_after_the_commit_exits_0_and_says_it_was_saved(
    setup: tuple[Path, Path], tmp_path: Path, signum: signal.Signals
) -> None:
    config_path, roster = setup
    process = paused_import(config_path, roster, tmp_path, "after-commit")
    wait_for(tmp_path / "paused", process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err.decode()
    assert f"Schemat version 2 hann sparas före avbrottet ({signum.name})" in err.decode()
    assert active_roster(config_path) == 2


def test_stdout_closed_before_the_commit_changes_nothing_and_exits_non_zero(
    setup: tuple[Path, Path],
) -> None:
    config_path, roster = setup
    read, write = os.pipe()
    os.close(read)  # like `| head -0` once head has gone: every write fails (EPIPE)
    try:
        result = subprocess.run(
            [*CLI, "roster", "import", str(roster), "-c", str(config_path)],
            cwd=ROOT,
            env=environment(),
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write)
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "utdata kunde inte skrivas (stängd pipe eller terminal) – ingenting har ändrats"
    ]
    assert active_roster(config_path) == 1


def test_stdout_closed_after_the_commit_exits_0_and_says_so_on_stderr(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    config_path, roster = setup
    read, write = os.pipe()
    try:
        process = paused_import(config_path, roster, tmp_path, "after-commit", stdout=write)
    finally:
        os.close(write)
    wait_for(tmp_path / "paused", process)
    os.close(read)  # the reader goes away after the summary, before "version 2 är aktiv"
    (tmp_path / "go").write_text("", encoding="utf-8")
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err.decode()
    assert err.decode().splitlines() == [
        "Schemat version 2 är aktiv, men resultatet kunde inte skrivas ut "
        "(stängd pipe eller terminal)"
    ]
    assert active_roster(config_path) == 2


def test_piped_into_head_the_exit_status_says_whether_the_import_happened(
    setup: tuple[Path, Path],
) -> None:
    # The report's case: `consultbot roster import FILE | head -0`. Whether head has gone
    # before the summary is written is a race; either way the status must match the data.
    config_path, roster = setup
    command = (
        f'"{sys.executable}" -m consultbot roster import "{roster}" -c "{config_path}" | head -0;'
        ' exit "${PIPESTATUS[0]}"'
    )
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    applied = active_roster(config_path) == 2
    assert (result.returncode == 0) == applied, result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()
    assert "Broken pipe" not in result.stderr.decode()
