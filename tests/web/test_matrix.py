"""The board's matrix of paths and routines (issue 22, item 3): each service's paths with who
may use them, when and the routine, a path closed to a kind with where that kind goes instead,
boundary-document links, the switchboard as a `tel:` link, in English on request, and its
print view with one page per service area."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.duty.routines import Document, Routine
from consultbot.domain.types import RequesterKind, Track
from tests.support.bots import CATALOGUE, KARDIO, NOW

from .conftest import Site

HALVAKUT = Routine(
    track=Track.HALVAKUT,
    open_to=(RequesterKind.PRIMARY_CARE, RequesterKind.HOSPITAL),
    have_ready=("EKG", "senaste Hb och kreatinin"),
    call_when="Pågående bröstsmärta: ring kardiologjouren.",
    refer_when="Planerad utredning utan brådska skrivs som remiss.",
    documents=(
        Document(label="Gränsdragning hjärtsvikt", url="https://region.example/hjartsvikt"),
    ),
)


@pytest.fixture
async def routines(site: Site) -> Site:
    kardio, mora = CATALOGUE.services
    catalogue = Catalogue((replace(kardio, routines=(HALVAKUT,)), mora))
    await site.board.data.import_catalogue(catalogue, source="test", now=NOW)
    await site.log_in("anna", "rätt lösen")
    return site


async def page_text(site: Site, path: str, **headers: str) -> str:
    answer = await site.get(path, headers=headers)
    assert answer.status == 200, answer.status
    return str(await answer.text())


def path_part(text: str, service: str, path: str) -> str:
    """The part of the page about one service's one path."""
    card = text.split(f'id="service-{service}"', 1)[1].split("</article>", 1)[0]
    return card.split(f"<h4>{path}</h4>", 1)[1].split("</dl>", 1)[0]


async def test_each_path_shows_who_when_and_its_routine(routines: Site) -> None:
    text = await page_text(routines, "/matrix")
    assert "<h1>Kontaktvägar och rutiner</h1>" in text
    halvakut = path_part(text, KARDIO, "Det halvakuta spåret")
    assert "!konsult kardiologi …" in halvakut and "När</dt><dd>dygnet runt</dd>" in halvakut
    assert "Öppen för</dt><dd>vårdcentraler, sjukhusläkare</dd>" in halvakut
    assert "<li>EKG</li><li>senaste Hb och kreatinin</li>" in halvakut
    assert "Ring i stället</dt><dd>Pågående bröstsmärta: ring kardiologjouren.</dd>" in halvakut
    assert "Remiss</dt><dd>Planerad utredning utan brådska skrivs som remiss.</dd>" in halvakut
    assert '<a href="https://region.example/hjartsvikt">Gränsdragning hjärtsvikt</a>' in halvakut
    # A path without a routine is open to everyone at the track's hours (the config's: always).
    akut = path_part(text, KARDIO, "Akutspåret")
    assert "Öppen för</dt><dd>alla</dd>" in akut and "dygnet runt" in akut
    assert "Stängd för" not in akut and "Ha till hands" not in akut
    card = text.split('id="service-kardiologi"', 1)[1].split("</article>", 1)[0]
    assert 'Växel: <a class="tel" href="tel:+4623490000">023-49 00 00</a>' in card
    mora = path_part(text, "vc-mora", "Tillgänglig primärvård")
    assert "!vc vc-mora …" in mora


async def test_a_closed_path_names_the_kinds_it_turns_away_and_where_they_go(
    routines: Site,
) -> None:
    text = await page_text(routines, "/matrix")
    halvakut = path_part(text, KARDIO, "Det halvakuta spåret")
    closed = halvakut.split("Stängd för</dt>", 1)[1].split("</dd>", 1)[0]
    assert "ambulanssjukvården, kommunal hälso- och sjukvård, övriga" in closed
    assert "använd i stället !akut kardiologi, !vc" in closed


async def test_the_board_links_the_matrix_and_its_print_view(routines: Site) -> None:
    nav = (await page_text(routines, "/")).split('<nav class="more">', 1)[1]
    assert '<a href="/matrix">Kontaktvägar och rutiner</a>' in nav
    assert 'href="/print/matrix"' in nav and 'href="/print/phones"' in nav
    routines.client.session.cookie_jar.clear()
    assert (await routines.get("/matrix")).status == 303  # no page without a login
    assert (await routines.get("/print/matrix")).status == 303


async def test_english_when_the_browser_asks_for_it(routines: Site) -> None:
    text = await page_text(routines, "/matrix", **{"Accept-Language": "en-GB,en"})
    assert '<html lang="en">' in text and "<h1>Contact paths and routines</h1>" in text
    halvakut = path_part(text, KARDIO, "Semi-urgent")
    assert (
        "!consult kardiologi …" in halvakut and "Open to</dt><dd>primary care centres" in halvakut
    )
    assert "ambulance crews" in halvakut and "use !acute kardiologi, !pc instead" in halvakut
    assert "<li>EKG</li>" in halvakut  # the routine's own words are data, as written
    assert "Stängd" not in text and "Ha till hands" not in text


async def test_the_print_view_has_one_page_per_service_area(routines: Site) -> None:
    text = await page_text(routines, "/print/matrix")
    areas = text.split('<section class="area"')[1:]
    titles = [a.split("<h2", 1)[1].split(">", 1)[1].split("<", 1)[0] for a in areas]
    assert titles == ["Hela länet", "Mora"]  # as the phone list's pages: county-wide first
    assert 'id="service-kardiologi"' in areas[0] and "vc-mora" not in areas[0]
    assert 'id="service-vc-mora"' in areas[1] and "<li>EKG</li>" in areas[0]
    css = await (await routines.get("/static/board.css")).text()
    assert ".area { break-after: page" in css and ".service { break-inside: avoid" in css
