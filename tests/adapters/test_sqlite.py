"""SQLite specifics: migrations, refusing newer or foreign databases; and, on both SQL stores,
durability across reopen and concurrent steps on one connection."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from consultbot.adapters.sql.migrations import SCHEMA_VERSION
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.adapters.sql.stores import open_store
from consultbot.domain.duty.roster import Shift
from consultbot.domain.errors import StoreError
from consultbot.domain.types import ServiceId, UserId


async def test_new_database_gets_wal_and_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.db"
    store = await SqliteStore.open(path)
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    await (await SqliteStore.open(path)).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this consultbot knows"):
        await SqliteStore.open(path)


async def test_foreign_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE patients (x)")
    with pytest.raises(StoreError, match="not consultbot's"):
        await SqliteStore.open(path)
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master")]
    assert tables == ["patients"]


async def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        await SqliteStore.open(path)


async def test_instants_survive_reopen_in_utc(database: str) -> None:
    path = database
    start = datetime(2026, 3, 28, 19, 0, tzinfo=UTC)  # 20:00 local, the night of the DST change
    shift = Shift(
        service=ServiceId("kardiologi"),
        level=1,
        start=start,
        end=start + timedelta(hours=11),
        user=UserId("@a:localhost"),
        name="A",
    )
    store = await open_store(path)
    await store.import_roster(
        [shift], {shift.service: (shift.start, shift.end)}, source="x", now=start
    )
    await store.close()
    store = await open_store(path)
    try:
        assert await store.shifts(shift.service) == [shift]
    finally:
        await store.close()


async def test_concurrent_steps_share_one_connection_safely(database: str) -> None:
    """Many coroutines recording, marking sent and saving state at once: none may run its
    statements inside another's transaction ("cannot start a transaction within a transaction"
    would lose a consult)."""
    import asyncio

    from consultbot.domain.consult.escalation import Event
    from consultbot.ports import Outgoing

    store = await open_store(database)
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    try:
        consults = [await store.allocate_consult(now=now) for _ in range(30)]

        async def step(n: int) -> None:
            requested = Event(
                kind="requested",
                at=now,
                data={
                    "consult": consults[n],
                    "requester": "@a:localhost",
                    "service": "kardiologi",
                    "track": "halvakut",
                    "request_room": "!dm:localhost",
                    "request_event": f"$q{n}",
                },
            )
            ids = await store.record(
                consults[n],
                0,
                [requested],
                [Outgoing(kind="send", room="!dm:localhost", payload={"n": n})],
                handled=f"$q{n}",
                now=now,
            )
            await store.sent(ids[0], now=now)
            await store.set_meta(f"k{n}", str(n))
            await store.allocate_consult(now=now)

        await asyncio.gather(*(step(n) for n in range(30)))
        assert len(await store.open_consults()) == 30
        assert await store.pending() == []
        assert all([await store.is_handled(f"$q{n}") for n in range(30)])
        assert await store.get_meta("k29") == "29"
    finally:
        await store.close()


def database_bytes(folder: Path) -> bytes:
    """The database file and its WAL, as stored on disk."""
    return b"".join(p.read_bytes() for p in folder.glob("consultbot.db*"))


async def test_a_purged_consult_leaves_no_person_in_the_file_and_the_export_unchanged(
    tmp_path: Path,
) -> None:
    from consultbot.text.consult_export import as_record
    from tests.adapters.contract.consult_events import (
        DAY,
        DM,
        K1,
        REQ,
        ROOM,
        at,
        consult_in_room,
        new_consult,
        send_leaves,
    )

    path = tmp_path / "consultbot.db"
    store = await SqliteStore.open(path)
    tz = ZoneInfo("Europe/Stockholm")
    try:
        await new_consult(store, consult_in_room(ROOM, 0))
        before = [as_record(s, u, tz) for s, u in await store.consult_summaries(at(0), at(DAY))]
        await store.leave_closed_rooms(at(DAY), now=at(40 * DAY))
        await send_leaves(store, at(40 * DAY))
        purged = await store.purge_consults(at(DAY), now=at(731 * DAY))
        assert purged.consults == 1
        after = [as_record(s, u, tz) for s, u in await store.consult_summaries(at(0), at(DAY))]
        assert after == before and after[0]["requester_unit"] == "okänd"
    finally:
        await store.close()
    stored = database_bytes(tmp_path)
    for trace in (REQ, K1, DM, ROOM):
        assert trace.encode() not in stored, trace


async def test_the_statistics_keep_no_matrix_id_after_the_purge(tmp_path: Path) -> None:
    from tests.adapters.contract.consult_events import (
        DAY,
        at,
        consult_in_room,
        new_consult,
        send_leaves,
    )

    store = await SqliteStore.open(tmp_path / "consultbot.db")
    frozen = {"unit": "vc-mora", "kind": "primary_care"}
    try:
        old = await new_consult(store, consult_in_room("!old:localhost", 0), **frozen)
        await new_consult(
            store, consult_in_room("!new:localhost", 400 * DAY), minutes=400 * DAY, **frozen
        )
        # The code table packs units, never people.
        codes = await store._rows("SELECT kind, value FROM consult_stat_code")
        assert ("unit", "vc-mora") in codes and not any(v.startswith("@") for _, v in codes)
        await store.leave_closed_rooms(at(DAY), now=at(40 * DAY))
        await send_leaves(store, at(40 * DAY))
        assert (await store.purge_consults(at(DAY), now=at(731 * DAY))).consults == 1
        rows = await store._rows(
            "SELECT requester, unit, requester_kind FROM consult_stat WHERE consult_id = $1",
            (old,),
        )
        assert rows == [("#unit:vc-mora", "vc-mora", "primary_care")]
    finally:
        await store.close()
