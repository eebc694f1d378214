"""The statistics summary kept beside the event log, in both SQL stores."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from consultbot.adapters.sql.stores import open_store
from consultbot.domain.duty.catalogue import parse_catalogue
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ServiceId, UserId
from consultbot.text.report import period_report
from tests.support.november import FALUN, FALUN2, MORA, MORA2, STRANGER, november
from tests.support.scripted import TZ, local
from tests.support.sqldb import query, run_sql

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


CATALOGUE = """
[[service]]
id = "kardiologi"
name = "Kardiologi"
kind = "specialty"
tracks = ["halvakut", "akut", "mdk"]
switchboard = "023-49 00 00"

[[service]]
id = "neurologi"
name = "Neurologi"
kind = "specialty"
tracks = ["halvakut", "akut", "mdk"]
switchboard = "023-49 00 00"

[[service]]
id = "vc-mora"
name = "Vårdcentralen Mora"
kind = "primary_care"
tracks = ["primarvard"]
municipality = "Mora"
switchboard = "0250-49 30 00"

[[service]]
id = "ambulans-dalarna"
name = "Ambulanssjukvården Dalarna"
kind = "ambulance"

[[service]]
id = "kommun-mora-hsl"
name = "Kommunal hälso- och sjukvård Mora"
kind = "municipal_care"
"""
NOV = (date(2026, 11, 1), date(2026, 11, 30))


async def give_lists(store: Any, staff: dict[str, str], *, catalogue: bool = True) -> None:
    """Import the catalogue above (unless told not to) and a staff list of `staff`."""
    now = datetime.now(UTC)
    if catalogue:
        parsed, problems = parse_catalogue(CATALOGUE, "services.toml")
        assert not problems
        await store.import_catalogue(parsed, source="test", now=now)
    members = [
        StaffMember(user=UserId(user), name=user[1:5], unit=ServiceId(unit))
        for user, unit in staff.items()
    ]
    await store.import_staff(members, source="test", now=now)


async def who_asked(store: Any) -> tuple[dict[str, int], dict[str, int]]:
    """November's consults by requesting unit and by requester kind."""
    report = await period_report(store, *NOV, TZ)
    units = {k: v["consults"] for k, v in report["by_requester_unit"].items()}
    return units, {k: v["consults"] for k, v in report["by_requester_kind"].items()}


# Consults 1, 4 and 10 asked by MORA, 9 by MORA2, 2 by FALUN, 5 by FALUN2, 3 by STRANGER.
FROZEN = (
    {
        "ambulans-dalarna": 1,
        "kardiologi": 1,
        "kommun-mora-hsl": 1,
        "vc-mora": 3,
        "okänd": 1,
    },
    {"primary_care": 3, "hospital": 1, "ambulance": 1, "municipal_care": 1, "unknown": 1},
)


async def test_the_requester_unit_and_kind_are_frozen_at_request_time(database: str) -> None:
    store = await open_store(database)
    try:
        staff = {MORA: "vc-mora", MORA2: "kardiologi", FALUN: "ambulans-dalarna"}
        await give_lists(store, staff | {FALUN2: "kommun-mora-hsl"})
        await november(store)
        assert await who_asked(store) == FROZEN
        # Later: MORA leaves, FALUN moves to a vårdcentral, STRANGER is added, a unit gone
        # from the catalogue: November stays as it was asked.
        await give_lists(store, {FALUN: "vc-mora", STRANGER: "vc-mora", FALUN2: "x"})
        assert await who_asked(store) == FROZEN
    finally:
        await store.close()
    store = await open_store(database)  # and after a restart
    try:
        assert await who_asked(store) == FROZEN
    finally:
        await store.close()


async def test_older_consults_are_frozen_once_by_the_migration(database: str) -> None:
    store = await open_store(database)
    try:
        await give_lists(store, {})
        await november(store, freeze=False)  # requested before the unit was recorded
        # The staff list and catalogue active when the store is next opened freeze them.
        await give_lists(store, {MORA: "vc-mora", MORA2: "kardiologi", FALUN2: "kommun-mora-hsl"})
    finally:
        await store.close()
    # As a database from before migration 9: no frozen unit or kind, the requester's code
    # packed where the unit now is, and one consult purged (its requester replaced by the
    # unit it had then, `#unit:`).
    run_sql(
        database,
        "UPDATE consult_stat SET unit = '', requester_kind = '', code = code | (1 << 40)",
        "UPDATE consult_stat SET requester = '#unit:ambulans-dalarna'"
        " WHERE consult_id = 'K-000002'",
        "INSERT INTO consult_stat_code VALUES ('requester', '@doktor.vc:localhost', 7)",
        "INSERT INTO meta VALUES ('consult_stat_freeze', 'pending')",
    )
    store = await open_store(database)
    try:
        assert await store.get_meta("consult_stat_freeze") is None
        assert await who_asked(store) == FROZEN
        # Once: a later staff list changes nothing, nor does the next open.
        await give_lists(store, {}, catalogue=False)
        assert await who_asked(store) == FROZEN
    finally:
        await store.close()
    store = await open_store(database)
    try:
        assert await who_asked(store) == FROZEN
    finally:
        await store.close()
    assert query(database, "SELECT count(*) FROM consult_stat_code WHERE kind = 'requester'") == [
        (0,)
    ]
