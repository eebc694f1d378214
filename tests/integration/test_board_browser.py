"""The who's-on board in a real browser (issue 22, item 6): Debian's chromium driven by
Playwright, against a real bot (`[web] listen` on a loopback port) on a real Synapse.

One browser for the whole session and one bot for this module keep the run short. The
people are on the region's server of the suite's two federating Synapses, so that a real
account on the other server can try to log in. Each page is checked with axe-core (from
the npm registry, tests/integration/axe/) for serious or critical violations. With
BOARD_SCREENSHOT=1 the admin's board is saved as docs/board.png for the README. The calendar
feeds are served by the same bot's web server, without a login.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from icalendar import Calendar
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from consultbot.adapters.sql.stores import open_store
from consultbot.app import Bot, running_bot
from consultbot.config import WebConfig
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import UserId
from consultbot.engine.admin import datasets
from consultbot.engine.feeds import FeedDesk
from consultbot.resources import example_data_dir

from .harness import CATALOGUE, World, free_loopback_port, join_invite, world
from .js import install_node_modules

pytestmark = [pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent / "axe"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "board.png"
WAIT_MS = 30_000
# The suite's catalogue, with a routine for kardiologi's halvakut path (the matrix page).
ROUTINE = """
[service.routine.halvakut]
open_to = ["vårdcentral", "sjukhus"]
have_ready = ["EKG", "senaste Hb och kreatinin"]
call_when = "Pågående bröstsmärta: ring kardiologjouren."
documents = [{ label = "Gränsdragning hjärtsvikt", url = "https://region.example/hjartsvikt" }]
"""
VC_MORA = '\n[[service]]\nid = "vc-mora"'
assert VC_MORA in CATALOGUE
WITH_ROUTINE = CATALOGUE.replace(VC_MORA, ROUTINE + VC_MORA)


@dataclass
class Site:
    """The running bot, its board's address, its people, and a real account elsewhere."""

    w: World
    bot: Bot
    url: str
    outsider: tuple[str, str]  # (user id, password) on the server not allowed

    def person(self, key: str) -> tuple[str, str]:
        p = self.w.people[key]
        return p.user_id, p.password


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium: a failure naming the package when it is missing, never a skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need the Debian package chromium ({CHROMIUM})")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium))
        yield launched
        await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Site]:
    region, other = federation
    password = secrets.token_urlsafe(12)
    eve = await other.register_user(f"eve-{uuid.uuid4().hex[:8]}", password)
    folder = tmp_path_factory.mktemp("board")
    async with world(region, folder, "doctor", "l1", "cover") as w:
        config = w.config(ack_timeout=300, admins=[w.people["doctor"].user_id])
        port = free_loopback_port()
        config = replace(config, web=WebConfig(host="127.0.0.1", port=port))
        await w.seed(config, {1: ["l1"]}, catalogue=WITH_ROUTINE)
        store = await open_store(config.bot.database)
        try:
            directory = (example_data_dir() / "directory.csv").read_bytes()
            checked = datasets.check_directory_files([("directory.csv", directory)])
            await checked.activate(store, datetime.now(UTC))
        finally:
            await store.close()
        async with running_bot(config) as bot:
            yield Site(w=w, bot=bot, url=f"http://127.0.0.1:{port}", outsider=(eve, password))


async def new_page(
    browser: Browser, locale: str = "sv-SE", width: int = 1200, height: int = 900
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale=locale, viewport={"width": width, "height": height})
    context.set_default_timeout(WAIT_MS)
    return context, await context.new_page()


async def log_in(page: Page, site: Site, user: str, password: str) -> None:
    await page.goto(site.url + "/")
    assert page.url.endswith("/login")  # no page without a login
    await page.get_by_label("Användarnamn eller Matrix-id").fill(user)
    await page.get_by_label("Lösenord").fill(password)
    await page.get_by_role("button", name="Logga in").click()


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    await install_node_modules(AXE)
    await page.evaluate((AXE / "node_modules" / "axe-core" / "axe.min.js").read_text())
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document)).violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"""
    )
    return found


async def test_another_servers_account_is_refused_and_an_allowed_one_sees_the_board(
    browser: Browser, site: Site
) -> None:
    context, page = await new_page(browser)
    try:
        await log_in(page, site, *site.outsider)
        alert = page.get_by_role("alert")
        server = site.w.homeserver.server_name
        assert await alert.inner_text() == f"Bara konton på {server} kan logga in."
        assert not any(c["name"] == "consultbot_session" for c in await context.cookies())
        user, password = site.person("doctor")
        await log_in(page, site, user, password)
        await page.wait_for_url(site.url + "/")
        l1 = site.w.people["l1"]
        card = page.locator("article", has_text="Kardiologi, Falu lasarett")
        assert l1.name in await card.inner_text()
        link = card.get_by_role("link", name=l1.phone)
        assert await link.get_attribute("href") == "tel:+46700000001"
        cookie = next(c for c in await context.cookies() if c["name"] == "consultbot_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    finally:
        await context.close()


async def test_the_directory_search_finds_with_and_without_diacritics(
    browser: Browser, site: Site
) -> None:
    context, page = await new_page(browser)
    try:
        await log_in(page, site, *site.person("l1"))
        search = page.get_by_label("Sök enhet, namn eller kommun")
        for query in ("vardcentralen sater", "Vårdcentralen Säter"):
            await search.fill(query)
            await search.press("Enter")
            table = page.locator("table.directory")
            await table.wait_for()
            text = await table.inner_text()
            assert "Vårdcentralen Säter" in text and "Vårdcentralen Älvdalen" not in text
            search = page.get_by_label("Sök enhet, namn eller kommun")
    finally:
        await context.close()


async def test_a_handover_appears_without_a_reload(browser: Browser, site: Site) -> None:
    w = site.w
    l1, cover = w.people["l1"], w.people["cover"]
    context, page = await new_page(browser)
    try:
        await log_in(page, site, *site.person("cover"))
        await page.wait_for_url(site.url + "/")
        assert await page.get_by_text("Inga överlämningar gäller.").is_visible()
        await page.evaluate("window.notReloaded = true")
        dm = await l1.c.create_dm(w.bot_id)
        await l1.c.send_text(dm, f"!lämna {cover.user_id}")
        private = await join_invite(cover.c)
        question = await cover.c.wait_for(
            lambda s: s.room == private and s.sender == w.bot_id and "vill lämna över" in s.body,
            30,
        )
        await cover.c.react(private, question.event_id, "✅")
        handovers = page.locator("table.handovers")
        await handovers.wait_for()
        assert cover.name in await handovers.inner_text()
        card = page.locator("article", has_text="Kardiologi, Falu lasarett")
        assert "genom överlämning" in await card.inner_text()
        assert await page.evaluate("window.notReloaded") is True
    finally:
        await context.close()


async def test_logout_ends_the_session(browser: Browser, site: Site) -> None:
    context, page = await new_page(browser)
    try:
        await log_in(page, site, *site.person("l1"))
        await page.wait_for_url(site.url + "/")
        await page.get_by_role("button", name="Logga ut").click()
        await page.wait_for_url("**/login?out=1")
        assert await page.get_by_role("status").inner_text() == "Du är utloggad."
        await page.goto(site.url + "/print/phones")
        assert page.url.endswith("/login")
    finally:
        await context.close()


async def test_an_expired_session_goes_back_to_the_login(browser: Browser, site: Site) -> None:
    assert site.bot.web_server is not None
    sessions = site.bot.web_server.board.sessions
    lifetime, sessions.lifetime = sessions.lifetime, 3.0  # `[web] session_seconds`, shortened
    context, page = await new_page(browser)
    try:
        await log_in(page, site, *site.person("l1"))
        await page.wait_for_url(site.url + "/")
        # The open board is sent to the login when its session ends, without a click.
        await page.wait_for_url("**/login", timeout=15_000)
        await page.goto(site.url + "/")
        assert page.url.endswith("/login")
    finally:
        sessions.lifetime = lifetime
        await context.close()


async def test_every_page_passes_axe_and_english_is_served_when_asked(
    browser: Browser, site: Site
) -> None:
    context, page = await new_page(browser)
    try:
        await page.goto(site.url + "/login")
        assert await serious_violations(page) == []
        await log_in(page, site, *site.person("doctor"))  # an admin: gaps and the chart too
        await page.wait_for_url(site.url + "/")
        await page.locator("img.chart").evaluate("img => img.decode()")
        assert await serious_violations(page) == []
        if os.environ.get("BOARD_SCREENSHOT"):
            await page.screenshot(path=str(SCREENSHOT))
        await page.goto(site.url + "/?q=röntgen")
        assert await serious_violations(page) == []
        await page.goto(site.url + "/print/phones")
        assert await page.locator("section.area").count() > 5
        assert await serious_violations(page) == []
    finally:
        await context.close()
    context, page = await new_page(browser, locale="en-GB")
    try:
        await page.goto(site.url + "/login")
        assert await page.get_by_role("heading", level=1).inner_text() == "Log in"
        assert await serious_violations(page) == []
    finally:
        await context.close()


async def test_the_matrix_page_shows_a_routine_and_its_print_view_one_page_per_area(
    browser: Browser, site: Site
) -> None:
    context, page = await new_page(browser)
    try:
        await log_in(page, site, *site.person("l1"))
        await page.wait_for_url(site.url + "/")
        await page.get_by_role("link", name="Kontaktvägar och rutiner", exact=True).click()
        await page.wait_for_url(site.url + "/matrix")
        card = page.locator("article#service-kardiologi")
        have_ready = card.locator("ul.have-ready")
        assert await have_ready.locator("li").all_inner_texts() == [
            "EKG",
            "senaste Hb och kreatinin",
        ]
        assert "ambulanssjukvården" in await card.locator("dd.closed").inner_text()
        switchboard = card.get_by_role("link", name="023-49 00 00")
        assert await switchboard.get_attribute("href") == "tel:+4623490000"
        document = card.get_by_role("link", name="Gränsdragning hjärtsvikt")
        assert await document.get_attribute("href") == "https://region.example/hjartsvikt"
        assert await serious_violations(page) == []
        await page.get_by_role("link", name="Kontaktvägar och rutiner för utskrift").click()
        await page.wait_for_url(site.url + "/print/matrix")
        areas = page.locator("section.area h2")
        assert await areas.all_inner_texts() == ["Hela länet", "Mora"]
        assert await serious_violations(page) == []
    finally:
        await context.close()


async def test_the_calendar_feed_is_served_by_the_bot_without_a_login(site: Site) -> None:
    store = await open_store(site.bot.config.bot.database)
    try:
        desk = FeedDesk(feeds=store, datasets=store, admin_log=store, base_url=site.url)
        admin = UserId(site.w.people["doctor"].user_id)
        made = await desk.create(service="kardiologi", by=admin, now=datetime.now(UTC))
    finally:
        await store.close()
    assert made.url.startswith(site.url + "/feed/")
    async with aiohttp.ClientSession() as browserless:  # no cookie: no session
        async with browserless.get(made.url) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
            body = await answer.text()
        summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(body).walk("VEVENT")]
        assert summaries and all(
            s.startswith("Kardiologi, Falu lasarett jour 1: ") for s in summaries
        )
        wrong = f"{site.url}/feed/{secrets.token_urlsafe(32)}.ics"
        async with browserless.get(wrong) as answer:
            assert answer.status == 404


async def test_the_board_fits_a_phone_without_sideways_scrolling(
    browser: Browser, site: Site
) -> None:
    context, page = await new_page(browser, width=360, height=740)
    try:
        await log_in(page, site, *site.person("doctor"))
        await page.wait_for_url(site.url + "/")
        for path in ("/", "/?q=röntgen", "/matrix", "/print/matrix", "/print/phones"):
            await page.goto(site.url + path)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (path, width)
    finally:
        await context.close()
