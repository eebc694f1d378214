"""The board's pages (issue 22, item 3): on duty now and at a chosen time, handovers in force,
the directory search, English on request, the admin's gaps and chart, the printed phone list
and the live update's event stream."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from aiohttp import web

from consultbot.config import WebConfig
from consultbot.devkit.devtools import DEV_BOARD, with_board
from consultbot.engine.web.context import Board
from consultbot.engine.web.server import make_app
from consultbot.text.web import language_of
from tests.support.bots import NOW, TZ, make_config

from .conftest import Site, handover


async def board_text(site: Site, path: str = "/", **headers: str) -> str:
    answer = await site.get(path, headers=headers)
    assert answer.status == 200, answer.status
    return str(await answer.text())


async def test_who_is_on_duty_now_per_service_and_level_with_tel_links(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    text = await board_text(site)
    assert "I tjänst nu, 2026-11-23 10:00" in text
    kardio = text.split("Kardiologi, Falu lasarett", 1)[1].split("</article>", 1)[0]
    assert kardio.index("Nivå 1") < kardio.index("Karin Kardio") < kardio.index("Nivå 2")
    assert kardio.index("Nivå 2") < kardio.index("Bertil Bakjour")
    assert 'href="tel:+46702222222"' in kardio and 'href="tel:+4623490000"' in kardio
    mora = text.split("Vårdcentralen Mora", 1)[1].split("</article>", 1)[0]
    assert "ingen i tjänst" in mora
    order = ("Specialiserad vård", "Kardiologi, Falu", "Vårdcentraler", "Vårdcentralen Mora")
    places = [text.index(words) for words in order]
    assert places == sorted(places)  # grouped under their kind of service


async def test_a_chosen_time_after_the_roster_shows_nobody(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    later = (NOW + timedelta(days=5)).astimezone(TZ).strftime("%Y-%m-%dT%H:%M")
    text = await board_text(site, f"/?at={later}")
    assert "I tjänst 2026-11-28 10:00" in text and "Karin Kardio" not in text
    for typed in ("igår", "0001-01-01T00:00"):
        bad = await board_text(site, f"/?at={typed}")
        assert f"{typed} är ingen tid" in bad and "Karin Kardio" in bad


async def test_a_handover_in_force_is_listed_and_marked(site: Site) -> None:
    await site.board.data.add_handovers([handover()])
    await site.log_in("anna", "rätt lösen")
    text = await board_text(site)
    handovers = text.split("Överlämningar som gäller", 1)[1]
    assert "Karin Kardio" in handovers and "2026-11-23 12:00" in handovers
    assert "genom överlämning" in text
    later = (NOW + timedelta(hours=3)).astimezone(TZ).strftime("%Y-%m-%dT%H:%M")
    assert "Inga överlämningar gäller." in await board_text(site, f"/?at={later}")


async def test_the_directory_search_is_blind_to_diacritics(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    for query in ("alvdalen", "Älvdalen", "hemsjukvarden"):
        text = await board_text(site, f"/?q={query}")
        assert "Hemsjukvården Älvdalen" in text and 'href="tel:+46251800' in text
        assert "Falu lasarett, växel" not in text
    assert "Inget hittades för xyz." in await board_text(site, "/?q=xyz")


async def test_english_when_the_browser_asks_for_it_first(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    text = await board_text(site, **{"Accept-Language": "en-GB,en;q=0.9,sv;q=0.8"})
    assert '<html lang="en">' in text and "On duty now" in text and "I tjänst" not in text
    assert language_of("sv-SE,en;q=0.5") == "sv"
    assert language_of("de, en;q=0.4") == "en"
    assert language_of("de") == language_of("") == "sv"
    assert language_of("en;q=0, sv;q=0.1") == "sv"


async def test_admins_see_the_gaps_of_the_coming_two_weeks_and_the_chart(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    text = await board_text(site)
    assert "Luckor" not in text and "/chart.png" not in text
    assert (await site.get("/chart.png")).status == 403
    site.client.session.cookie_jar.clear()
    await site.log_in("@admin:localhost", "admin lösen")
    text = await board_text(site)
    gaps = text.split("Luckor de kommande 14 dagarna", 1)[1]
    # The roster ends three days from now; Vårdcentralen Mora has no one at all.
    assert "Kardiologi, Falu lasarett</td><td>2026-11-26 10:00" in gaps
    assert "Vårdcentralen Mora</td><td>2026-11-23 10:00" in gaps
    assert 'src="/chart.png"' in text


async def test_the_phone_list_prints_one_area_per_page(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    text = await board_text(site, "/print/phones")
    areas = text.split('<section class="area"')[1:]
    titles = [a.split("<h2", 1)[1].split(">", 1)[1].split("<", 1)[0] for a in areas]
    assert titles == ["Hela länet", "Falun", "Mora", "Älvdalen"]
    assert "1177 Vårdguiden" in areas[0] and 'href="tel:1177"' in areas[0]
    assert "Vårdcentralen Mora" in areas[2] and 'href="tel:+46250493000"' in areas[2]
    css = await (await site.get("/static/board.css")).text()
    assert "@media print" in css and "break-after: page" in css


async def test_every_answer_forbids_frames_and_foreign_scripts(site: Site) -> None:
    for answer in (await site.get("/"), await site.get("/login")):
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["X-Frame-Options"] == "DENY"


async def test_a_change_reaches_an_open_board_as_an_event(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    stream = await site.client.get("/events")
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert await stream.content.readline() == b"retry: 5000\n"
    await stream.content.readline()
    assert site.board.changes.listeners == 1  # listening before the first line is written
    site.board.changes.notify("handover")
    async with asyncio.timeout(5):
        assert await stream.content.readline() == b"event: change\n"
        assert await stream.content.readline() == b"data: handover\n"
    stream.close()


async def test_public_route_tables_are_served_without_a_login(site: Site) -> None:
    feeds = web.RouteTableDef()

    @feeds.get("/feed/{token}.ics")
    async def feed(request: web.Request) -> web.Response:
        return web.Response(text="BEGIN:VCALENDAR")

    board: Board = site.board
    app = make_app(board, public=(feeds,))
    client_app = app  # served through the test client's server below
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(client_app)) as client:
        assert (await client.get("/feed/abc.ics")).status == 200
        assert (await client.get("/live")).status == 401


def test_make_run_serves_the_board_unless_the_config_has_its_own() -> None:
    config = make_config()
    assert not config.web.enabled
    assert (with_board(config).web.host, with_board(config).web.port) == DEV_BOARD
    own = replace(config, web=WebConfig(host="0.0.0.0", port=9000))
    assert with_board(own) is own
