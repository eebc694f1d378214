"""The statistics summary kept beside the event log, in both SQL stores."""

from __future__ import annotations

from datetime import UTC, date, datetime

from consultbot.adapters.sql.stores import open_store
from consultbot.domain.consult.stats import summarise
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ServiceId, UserId
from consultbot.text.report import period_report
from tests.cli.scripted import TZ
from tests.cli.test_stats_verbs import MORA, november
from tests.sqldb import run_sql

EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


async def test_the_summary_is_the_event_log_s_after_every_append(database: str) -> None:
    store = await open_store(database)
    try:
        await november(store)
        rows = await store.consult_summaries(*EVER)
        assert len(rows) == 9  # ten requests, one lapsed offer is not a consult
        for summary, _ in rows:
            assert summary == summarise(await store.events(summary.consult))
    finally:
        await store.close()


async def test_consults_from_before_the_summary_are_summarised_on_open(database: str) -> None:
    path = database
    store = await open_store(path)
    try:
        await november(store)
        before = await period_report(store, date(2026, 10, 1), date(2026, 12, 31), TZ)
    finally:
        await store.close()
    # As a database migrated from schema 2 is: events, no summaries, the backfill flag set.
    run_sql(
        path,
        *(
            f"DELETE FROM {t}"
            for t in ("consult_stat_service", "consult_stat", "consult_stat_code")
        ),
        "INSERT INTO meta VALUES ('consult_stat_backfill', 'pending')",
    )
    store = await open_store(path)
    try:
        after = await period_report(store, date(2026, 10, 1), date(2026, 12, 31), TZ)
        assert await store.get_meta("consult_stat_backfill") is None
    finally:
        await store.close()
    assert after == before
    assert after["consults"] == 9


async def test_the_requesting_unit_comes_from_the_active_staff_list(database: str) -> None:
    store = await open_store(database)
    try:
        await november(store)
        november_days = (date(2026, 11, 1), date(2026, 11, 30))

        async def units() -> dict[str, int]:
            report = await period_report(store, *november_days, TZ)
            return {k: v["consults"] for k, v in report["by_requester_unit"].items()}

        assert await units() == {"okänd": 7}
        member = StaffMember(user=UserId(MORA), name="Anna Demo", unit=ServiceId("vc-mora"))
        await store.import_staff([member], source="test", now=datetime.now(UTC))
        # consults 1, 4 and the conference came from this doctor
        assert await units() == {"vc-mora": 3, "okänd": 4}
    finally:
        await store.close()
