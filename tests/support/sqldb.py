"""Reaching under a store in tests: plain SQL on a SQLite file or a PostgreSQL database."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from consultbot.adapters.sql.stores import is_postgres_url


def run_sql(database: str, *statements: str) -> None:
    """Run `statements` in one transaction on the database `open_store(database)` opens."""
    if is_postgres_url(database):
        with psycopg.connect(database) as conn:
            for statement in statements:
                conn.execute(statement.encode())
        return
    with sqlite3.connect(database) as db:
        for statement in statements:
            db.execute(statement)
    db.close()


def query(database: str, statement: str) -> list[tuple[Any, ...]]:
    """The rows of one query on either kind of database."""
    if is_postgres_url(database):
        with psycopg.connect(database) as conn:
            return list(conn.execute(statement.encode()).fetchall())
    with sqlite3.connect(database) as db:
        rows = list(db.execute(statement).fetchall())
    db.close()
    return rows
