"""SQLite gets each numbered parameter `$N` as `?N`, its own "the Nth value"; nothing else."""

from __future__ import annotations

import sqlite3

from consultbot.adapters.sql.sqlite import sqlite_spelling


def test_only_parameter_marks_change() -> None:
    sql = "SELECT $1, '$x', $12 FROM t WHERE a = $1 AND b LIKE '$%'"
    assert sqlite_spelling(sql) == "SELECT ?1, '$x', ?12 FROM t WHERE a = ?1 AND b LIKE '$%'"


def test_a_reused_or_unordered_parameter_takes_its_own_value() -> None:
    db = sqlite3.connect(":memory:")
    sql = sqlite_spelling("SELECT $2, $1, $2 || $1")
    assert db.execute(sql, ("a", "b")).fetchone() == ("b", "a", "ba")
