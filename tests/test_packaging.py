"""`pip install .` gives a consultbot that works from any folder, templates and examples inside."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("consultbot-*.whl")
    return built


def test_wheel_ships_templates_and_example_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "consultbot/templates/messages/sv.toml",
        "consultbot/templates/messages/en.toml",
        "consultbot/example_data/services.toml",
        "consultbot/example_data/roster-example.csv",
        "consultbot/example_data/staff.csv",
        "consultbot/example_data/directory.csv",
        "consultbot/example_data/config.example.toml",
    ):
        assert required in names


def test_installed_wheel_runs_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    examples = target / "consultbot" / "example_data"
    config = work / "config.toml"
    config.write_text(
        (examples / "config.example.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )

    def consultbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "consultbot", *args, "-c", str(config)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    probe = subprocess.run(
        [sys.executable, "-c", "import consultbot; print(consultbot.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(target))
    assert consultbot("catalogue", "import", str(examples / "services.toml")).returncode == 0
    assert consultbot("roster", "import", str(examples / "roster-example.csv")).returncode == 0
    who = consultbot("who", "kardiologi", "--at", "2026-11-23 10:00")
    assert who.returncode == 0, who.stderr
    assert "Karin Kardiolog" in who.stdout
    assert (work / ".local" / "bot" / "consultbot.db").exists()
    bad = consultbot("who", "okänd")
    assert bad.returncode == 1
    assert bad.stderr == "fel: okänd tjänst okänd\n"
