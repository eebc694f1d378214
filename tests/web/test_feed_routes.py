"""The calendar feeds over real HTTP (aiohttp on a loopback port), as a calendar app fetches
them: a valid address gives a calendar that parses, anything else 404 — a revoked feed from
the very next request, also when the CLI revoked it in another connection to the database."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import icalendar
import pytest
from aiohttp import web

from consultbot.adapters.memory import ManualClock
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.cli.main import main
from consultbot.domain.duty.feeds import Feed, token_hash
from consultbot.domain.duty.handover import HandoverState
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import UserId
from consultbot.engine.feeds import FeedDesk, NewFeed
from consultbot.engine.web.feeds import (
    FeedSources,
    RedactingAccessLogger,
    add_feed_routes,
    redacted_path,
)
from consultbot.ports import Feeds
from consultbot.resources import example_config
from tests.adapters.contract.duty_values import CATALOGUE, KARDIO, NEURO, handover, periods, shift
from tests.support.waiting import eventually

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ADMIN = UserId("@admin:localhost")
ACCESS_LOG = "tests.web.feed_access"
ROSTER = [
    shift(KARDIO, 1, NOW - timedelta(days=20), 24, "gammal"),  # before the feed's window
    shift(KARDIO, 1, NOW - timedelta(hours=1), 24, "anna"),
    shift(KARDIO, 2, NOW - timedelta(hours=1), 24, "bertil"),
    shift(NEURO, 1, NOW + timedelta(days=2), 12, "anna"),
]


@dataclass
class FeedSite:
    store: SqliteStore
    desk: FeedDesk
    config: Path
    base: str
    session: aiohttp.ClientSession

    async def get(self, url: str) -> tuple[int, str, bytes]:
        async with self.session.get(url) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.read()

    def path(self, made: NewFeed) -> str:
        return self.base + made.url.removeprefix("https://jour.example.se")


def _config(tmp_path: Path) -> Path:
    text = example_config().read_text(encoding="utf-8").replace(".local/bot/", "data/")
    web_keys = '[web]\nlisten = "127.0.0.1:8080"\npublic_url = "https://jour.example.se"\n'
    text = text.replace("[web]\n", web_keys)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[FeedSite]:
    config = _config(tmp_path)
    store = await SqliteStore.open(tmp_path / "data" / "consultbot.db")
    await store.import_catalogue(CATALOGUE, source="test", now=NOW)
    await store.import_roster(ROSTER, periods(ROSTER), source="test", now=NOW)
    app = web.Application()
    add_feed_routes(app, FeedSources(feeds=store, datasets=store, clock=ManualClock(NOW)))
    # A logger of the test's own: the bot quiets "aiohttp" (app.py QUIET_LOGGERS).
    access = logging.getLogger(ACCESS_LOG)
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger, access_log=access)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    host, port = runner.addresses[0][:2]
    desk = FeedDesk(
        feeds=store, datasets=store, admin_log=store, base_url="https://jour.example.se"
    )
    try:
        async with aiohttp.ClientSession() as session:
            yield FeedSite(store, desk, config, f"http://{host}:{port}", session)
    finally:
        await runner.cleanup()
        await store.close()


def events(body: bytes) -> list[tuple[str, datetime]]:
    calendar = icalendar.Calendar.from_ical(body)
    return [(str(e["SUMMARY"]), e["DTSTART"].dt) for e in calendar.walk("VEVENT")]


async def test_a_service_feed_is_a_calendar_of_every_level_from_two_weeks_back(
    served: FeedSite,
) -> None:
    made = await served.desk.create(service="hjärta", by=ADMIN, now=NOW)  # an alias
    assert made.url.startswith("https://jour.example.se/feed/") and made.url.endswith(".ics")
    status, kind, body = await served.get(served.path(made))
    assert status == 200 and kind == "text/calendar; charset=utf-8"
    assert events(body) == [
        ("Kardiologi jour 1: Anna", NOW - timedelta(hours=1)),
        ("Kardiologi jour 2: Bertil", NOW - timedelta(hours=1)),
    ]
    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]) == "Kardiologi – jourlista"
    assert "070-000 00 00" in str(calendar.walk("VEVENT")[0]["DESCRIPTION"])


async def test_a_persons_feed_has_their_duties_in_every_service_with_handovers(
    served: FeedSite,
) -> None:
    # Bertil hands two hours of his duty to Anna: her feed shows them, his does not.
    start = NOW + timedelta(hours=2)
    given = handover("bertil", "anna", start, start + timedelta(hours=2), level=2)
    [added] = await served.store.add_handovers([given])
    await served.store.decide_handover(added.id, HandoverState.ACCEPTED, now=NOW)
    staff = [StaffMember(user=UserId("@anna:localhost"), name="Anna Andersson", unit=KARDIO)]
    await served.store.import_staff(staff, source="test", now=NOW)
    anna = await served.desk.create(person="@anna:localhost", by=ADMIN, now=NOW)
    _, _, body = await served.get(served.path(anna))
    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]) == "Mina jourer – Anna Andersson"
    assert events(body) == [
        ("Kardiologi jour 1: Anna", NOW - timedelta(hours=1)),
        ("Kardiologi jour 2: Anna", start),
        ("Neurologi jour 1: Anna", NOW + timedelta(days=2)),
    ]
    bertil = await served.desk.create(person="@bertil:localhost", by=ADMIN, now=NOW)
    _, _, body = await served.get(served.path(bertil))
    assert [at for _, at in events(body)] == [NOW - timedelta(hours=1), start + timedelta(hours=2)]


async def test_a_wrong_or_malformed_token_is_404_and_so_is_the_stored_hash(
    served: FeedSite,
) -> None:
    made = await served.desk.create(service="kardiologi", by=ADMIN, now=NOW)
    for token in ("A" * 43, made.token[:-1], made.token + "x", token_hash(made.token), "..%2F"):
        status, _, body = await served.get(f"{served.base}/feed/{token}.ics")
        assert status == 404 and b"BEGIN:VCALENDAR" not in body, token
    status, _, _ = await served.get(f"{served.base}/feed/{made.token}")  # no .ics
    assert status == 404


async def test_revoked_by_the_cli_the_address_answers_404_at_once(served: FeedSite) -> None:
    made = await served.desk.create(service="kardiologi", by=ADMIN, now=NOW)
    assert (await served.get(served.path(made)))[0] == 200
    out, err = io.StringIO(), io.StringIO()
    argv = ["feed", "revoke", str(made.feed.id), "-c", str(served.config)]
    # The CLI runs its own event loop and its own connection to the database file.
    code = await asyncio.to_thread(main, argv, out, err)
    assert code == 0, err.getvalue()
    assert (await served.get(served.path(made)))[0] == 404


class CountingFeeds(Feeds):
    """The lookups the route makes, and with what."""

    def __init__(self, feeds: Feeds) -> None:
        self.inner, self.asked = feeds, list[str]()

    async def add_feed(self, *a: object, **k: object) -> Feed:
        raise AssertionError("the route never makes a feed")

    async def feeds(self) -> list[Feed]:
        raise AssertionError("the route never lists feeds")

    async def feed_by_token_hash(self, token_hash: str) -> Feed | None:
        self.asked.append(token_hash)
        return await self.inner.feed_by_token_hash(token_hash)

    async def revoke_feed(self, *a: object, **k: object) -> Feed | None:
        raise AssertionError("the route never revokes")


async def test_a_guess_costs_one_lookup_of_its_hash_and_a_malformed_one_none(
    served: FeedSite, tmp_path: Path
) -> None:
    counting = CountingFeeds(served.store)
    app = web.Application()
    add_feed_routes(app, FeedSources(feeds=counting, datasets=served.store, clock=ManualClock(NOW)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        guess = "x" * 43
        status, _, _ = await served.get(f"http://{host}:{port}/feed/{guess}.ics")
        assert status == 404 and counting.asked == [token_hash(guess)]
        await served.get(f"http://{host}:{port}/feed/{'x' * 500}.ics")
        await served.get(f"http://{host}:{port}/feed/short.ics")
        assert counting.asked == [token_hash(guess)]
    finally:
        await runner.cleanup()


async def test_the_access_log_never_shows_a_token(
    served: FeedSite, caplog: pytest.LogCaptureFixture
) -> None:
    made = await served.desk.create(service="kardiologi", by=ADMIN, now=NOW)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOG):
        assert (await served.get(served.path(made)))[0] == 200
        assert (await served.get(f"{served.base}/feed/{'B' * 43}.ics"))[0] == 404
        await eventually(
            lambda: len([r for r in caplog.records if r.name == ACCESS_LOG]) == 2,
            within=5,
            what="two lines in the access log",
        )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert made.token not in logged and "B" * 43 not in logged
    assert "GET /feed/….ics 200" in logged and "GET /feed/….ics 404" in logged
    assert redacted_path("/board") == "/board"
