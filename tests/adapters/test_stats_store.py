"""The statistics summary kept beside the event log, in both SQL stores."""

from __future__ import annotations

from datetime import UTC, date, datetime

from consultbot.adapters.sql.stores import open_store
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ServiceId, UserId
from consultbot.text.report import period_report
from tests.support.november import FALUN, FALUN2, MORA, MORA2, STRANGER, november
from tests.support.scripted import TZ, local
from tests.support.sqldb import run_sql

EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


HALV, AKUT, MDK = "halvakut", "akut", "mdk"
KARD, NEURO, BOTH = ("kardiologi",), ("neurologi",), ("kardiologi", "neurologi")
DAY, Q = 24 * 3600, 36 * 3600  # Q: K-000009 waited in the queue 36 hours


def at(text: str) -> datetime:
    return local(f"2026-{text}")


# What the summary of each consult of `november` must say, worked out by hand from the script
# (its local Stockholm times): consult, requester, track, services, requested at; seconds from
# the request to the first page, the acknowledgement and the close; outcome, levels paged,
# escalated and/or unanswered, phone contacts. Oldest first. K-000008 is the out-of-hours offer
# that lapsed: not a consult, no summary. K-000009 was queued on Saturday 20:00 and paged at
# Monday's opening, 36 hours later.
NOVEMBER_SUMMARIES = [
    ("K-000007", MORA, HALV, KARD, at("10-31 23:30"), (0, 10, 10), "advice", (1,), "", 0),
    ("K-000001", MORA, HALV, KARD, at("11-02 09:00"), (0, 60, 900), "advice", (1,), "", 2),
    ("K-000002", FALUN, HALV, KARD, at("11-03 10:00"), (0, 700, 1500), "referral", (1, 2), "E", 0),
    ("K-000003", STRANGER, AKUT, NEURO, at("11-10 08:00"), (0, None, None), None, (1, 2), "EU", 0),
    ("K-000009", MORA2, HALV, KARD, at("11-14 20:00"), (Q, Q + 100, Q + 600), "visit", (1,), "", 0),
    ("K-000004", MORA, HALV, NEURO, at("11-16 13:00"), (0, 200, 200 + DAY), "unknown", (1,), "", 0),
    ("K-000010", MORA, MDK, BOTH, at("11-20 14:00"), (0, 400, 400 + 1800), "other", (1, 1), "", 1),
    ("K-000005", FALUN2, HALV, KARD, at("11-30 23:30"), (0, 30, 30), "admission", (1,), "", 0),
    ("K-000006", MORA, HALV, KARD, at("12-01 00:30"), (0, 10, 10), "advice", (1,), "", 0),
]  # fmt: skip


def seconds_after(start: datetime, at: datetime | None) -> int | None:
    return None if at is None else int((at - start).total_seconds())


async def test_the_summary_says_what_happened_to_each_consult(database: str) -> None:
    store = await open_store(database)
    try:
        await november(store)
        rows = await store.consult_summaries(*EVER)
    finally:
        await store.close()
    found = [
        (
            s.consult,
            s.requester,
            s.track,
            s.services,
            s.requested_at,
            tuple(
                seconds_after(s.requested_at, t)
                for t in (s.first_page_at, s.acknowledged_at, s.closed_at)
            ),
            s.outcome,
            s.levels,
            "E" * s.escalated + "U" * s.unanswered,
            s.phone_contacts,
        )
        for s, _ in rows
    ]
    assert found == NOVEMBER_SUMMARIES
    assert all(s.counted for s, _ in rows)


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
