"""`consultbot migrate-store FROM TO`: a SQLite database copied into PostgreSQL, verified; bad
input is one clear line, exit 1, and changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.adapters.sql.stores import open_store
from consultbot.config import load_config
from consultbot.devkit.pg_server import ThrowawayPostgres
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.files.uploads import PendingUpload
from consultbot.domain.types import Dataset, ServiceId, UserId
from consultbot.ports import Outgoing
from consultbot.text.report import period_report
from tests.cli.conftest import Run
from tests.support.november import november
from tests.support.scripted import TZ
from tests.support.sqldb import query

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
ADMIN = UserId("@admin:localhost")


async def _fill(path: Path) -> None:
    """Consults with their logs and statistics, and a row in every other table."""
    store = await SqliteStore.open(path)
    try:
        await november(store)
        await store.record(
            None, 0, [], [Outgoing(kind="send", room="!r:localhost", payload={"å": 1})], now=NOW
        )
        await store.pending()  # names the instance (the outbox's transaction ids)
        await store.add_pool_room("!pool:localhost", policy="p1", now=NOW)
        await store.record_admin_action(
            actor=ADMIN, action="import", allowed=True, detail="roster v1", now=NOW
        )
        await store.save_upload(
            PendingUpload(
                admin=ADMIN,
                room="!admin:localhost",
                dataset=Dataset.STAFF,
                name="personal.xlsx",
                data=bytes(range(256)) * 4,
                uploaded_at=NOW,
            )
        )
        await store.record_reminders(
            [],
            [
                SentReminder(
                    user=UserId("@k:localhost"), start=NOW, end=NOW + timedelta(hours=8), told="x"
                )
            ],
            [],
            now=NOW,
        )
        await store.add_handovers(
            [
                Handover(
                    id=0,
                    service=ServiceId("kardiologi"),
                    level=1,
                    giver=UserId("@k:localhost"),
                    taker=UserId("@t:localhost"),
                    taker_name="Tove",
                    taker_phone="070-1",
                    start=NOW,
                    end=NOW + timedelta(hours=2),
                    offered_by=UserId("@k:localhost"),
                    offered_at=NOW,
                    answer_by=None,
                    state=HandoverState.ACCEPTED,
                )
            ]
        )
    finally:
        await store.close()


async def _everything(database: str | Path) -> dict[str, object]:
    """What a user of the store can see, read through the store."""
    store = await open_store(database)
    try:
        return {
            "consults": await store.consults_between(*EVER),
            "report": await period_report(store, date(2026, 10, 1), date(2026, 12, 31), TZ),
            "outbox": await store.pending(),
            "pool": await store.pool_rooms(),
            "admin": await store.admin_actions(),
            "upload": await store.pending_upload(ADMIN),
            "reminders": await store.duty_reminders(NOW - timedelta(days=1)),
            "handovers": await store.handovers(),
            "catalogue": await store.catalogue(),
            "staff": await store.staff(),
            "directory": await store.directory(),
            "versions": [await store.versions(d) for d in Dataset],
            "shifts": await store.shifts(ServiceId("kardiologi")),
        }
    finally:
        await store.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_sqlite_database_is_copied_whole_and_verified(
    loaded: Run, config_path: Path, pg_url: str
) -> None:
    source = Path(load_config(config_path).bot.database)
    asyncio.run(_fill(source))
    before = _digest(source)
    result = loaded("migrate-store", str(source), pg_url)
    assert result.code == 0, result.err
    [(consults,)] = query(str(source), "SELECT count(*) FROM consult")
    assert "Kopierat" in result.out and f"{consults} konsultationer" in result.out
    assert "kontrollerat" in result.out
    assert _digest(source) == before  # the source is left as it was
    assert asyncio.run(_everything(pg_url)) == asyncio.run(_everything(source))

    async def next_outbox_id() -> list[int]:
        store = await open_store(pg_url)
        try:
            return await store.record(
                None, 0, [], [Outgoing(kind="send", room="!r", payload={})], now=NOW
            )
        finally:
            await store.close()

    copied_ids = [item.id for item in asyncio.run(_everything(pg_url))["outbox"]]  # type: ignore[attr-defined]
    assert asyncio.run(next_outbox_id())[0] > max(copied_ids)  # ids go on after the copy

    # A second copy into the now filled database is refused, and nothing changes.
    counted = query(pg_url, "SELECT count(*) FROM consult_event")
    again = loaded("migrate-store", str(source), pg_url)
    assert again.code == 1
    assert "är inte tom" in again.err and "ingenting har ändrats" in again.err
    assert query(pg_url, "SELECT count(*) FROM consult_event") == counted


def test_bad_input_is_one_line_and_changes_nothing(
    loaded: Run, config_path: Path, pg_server: ThrowawayPostgres, tmp_path: Path
) -> None:
    source = Path(load_config(config_path).bot.database)
    empty = pg_server.create_database("migrate_bad_input")

    def tables() -> list[tuple[object, ...]]:
        return query(
            empty, "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
        )

    missing = loaded("migrate-store", str(tmp_path / "nope.db"), empty)
    assert missing.code == 1 and "nope.db finns inte" in missing.err
    not_pg = loaded("migrate-store", str(source), str(tmp_path / "other.db"))
    assert not_pg.code == 1 and "ingen PostgreSQL-adress" in not_pg.err
    unreachable = loaded("migrate-store", str(source), "postgresql://bot:hemligt@127.0.0.1:1/x")
    assert unreachable.code == 1 and "går inte att nå" in unreachable.err
    assert "hemligt" not in unreachable.err
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"not a database at all" * 50)
    junk = loaded("migrate-store", str(foreign), empty)
    assert junk.code == 1 and junk.err.count("\n") == 1
    for result in (missing, not_pg, unreachable):
        assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert tables() == []
