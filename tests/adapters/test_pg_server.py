"""The throwaway PostgreSQL the tests use: a working server, separate databases, a clean stop."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg

from consultbot.adapters.pg_server import ThrowawayPostgres


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
