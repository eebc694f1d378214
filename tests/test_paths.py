"""The paths as a clinician types them (issue 9, item 5): services found as people write
them, `!vem` without a service, and `!akut` phone-first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consultbot.adapters.memory import MemoryDataStore
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.roster import Shift
from consultbot.domain.duty.service_search import find_service, fold
from consultbot.domain.types import ServiceId, ServiceKind, Track
from tests.support.bots import (
    CATALOGUE,
    DM,
    K1A,
    K1A_TEL,
    NOW,
    QUESTION,
    REQ,
    STAFF,
    SWITCHBOARD_TEL,
    Bot,
    Make,
)


def vc(id: str, name: str, municipality: str) -> Service:
    return Service(
        id=ServiceId(id),
        name=name,
        kind=ServiceKind.PRIMARY_CARE,
        tracks=(Track.PRIMARVARD,),
        municipality=municipality,
        switchboard="0250-49 30 00",
    )


SARNA = vc("vc-sarna", "Vårdcentralen Särna", "Älvdalen")
IDRE = vc("vc-idre", "Vårdcentralen Idre", "Älvdalen")
ALVDALEN = vc("vc-alvdalen", "Vårdcentralen Älvdalen", "Älvdalen")
WIDE = Catalogue((*CATALOGUE.services, SARNA, IDRE, ALVDALEN))


def test_fold_ignores_case_and_swedish_diacritics() -> None:
    assert fold("  Vårdcentralen  SÄRNA ") == "vardcentralen sarna"
    assert fold("Älvdalen") == fold("alvdalen")


@pytest.mark.parametrize("typed", ["särna", "Särna", "SARNA", "vc-sarna", "vårdcentralen särna"])
def test_a_service_is_found_by_any_word_of_its_name(typed: str) -> None:
    assert find_service(WIDE, typed, Track.PRIMARVARD).service == SARNA


def test_aliases_and_ids_still_win() -> None:
    assert find_service(WIDE, "hjarta", Track.HALVAKUT).service == WIDE.find("kardiologi")


def test_several_matches_are_candidates_and_none_gives_the_closest() -> None:
    found = find_service(WIDE, "alvdalen", Track.PRIMARVARD)
    assert found.service is None
    assert set(found.candidates) == {SARNA, IDRE, ALVDALEN}
    guess = find_service(WIDE, "sarnaa", Track.PRIMARVARD)
    assert guess.service is None and guess.candidates == () and guess.suggestion == SARNA
    assert find_service(WIDE, "xyzzy", None).suggestion is None


async def wide_bot(make: Make) -> Bot:
    data = MemoryDataStore()
    await data.import_catalogue(WIDE, source="test", now=NOW)
    await data.import_staff(STAFF, source="test", now=NOW)
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=8)
    doctor = Shift(
        service=SARNA.id, level=1, start=start, end=end, user=K1A, name="Karin", phone=""
    )
    await data.import_roster([doctor], {SARNA.id: (start, end)}, source="t", now=NOW)
    return await make(data=data)


async def test_vc_sarna_reaches_vardcentralen_sarna(make: Make) -> None:
    bot = await wide_bot(make)
    await bot.say(REQ, "!vc särna Patienten har feber, kan ni ta emot idag?")
    await bot.flush()
    [consult] = await bot.consults.consults_of(REQ)
    assert consult.service == SARNA.id and consult.track is Track.PRIMARVARD
    [page] = bot.messenger.pages()
    assert page.content is not None and page.content.mentions == (K1A,)


async def test_a_municipality_with_several_centres_asks_which(make: Make) -> None:
    bot = await wide_bot(make)
    await bot.say(REQ, "!vc älvdalen Patienten har feber")
    await bot.flush()
    assert await bot.consults.consults_of(REQ) == []
    [reply] = bot.messenger.said(DM)
    assert "vilken menar du" in reply
    for service in (SARNA, IDRE, ALVDALEN):
        assert f"{service.name}: !vc {service.id} …" in reply


async def test_an_unknown_service_suggests_the_closest_and_how_to_list_all(make: Make) -> None:
    bot = await wide_bot(make)
    await bot.say(REQ, "!vc sarnaa fråga")
    await bot.say(REQ, "!pc xyzzy question")
    await bot.flush()
    swedish, english = bot.messenger.said(DM)
    assert "Menade du Vårdcentralen Särna (vc-sarna)?" in swedish
    assert "Skriv !vem för att se alla tjänster" in swedish
    assert "Did you mean" not in english and "Write !who to list every service" in english


async def test_vem_without_a_service_lists_the_services(make: Make) -> None:
    bot = await wide_bot(make)
    await bot.say(REQ, "!vem")
    await bot.say(REQ, "!who")
    await bot.flush()
    swedish, english = bot.messenger.said(DM)
    assert "skriv !vem TJÄNST" in swedish and "write !who SERVICE" in english
    for service in WIDE.services:
        assert f"{service.id} – {service.name}" in swedish


async def test_vem_finds_a_service_as_typed(make: Make) -> None:
    bot = await wide_bot(make)
    await bot.say(REQ, "!vem Särna")
    await bot.flush()
    [reply] = bot.messenger.said(DM)
    assert reply.startswith("Vårdcentralen Särna – i tjänst nu") and "Karin" in reply


async def test_akut_is_phone_first_for_the_requester_and_in_the_page(bot: Bot) -> None:
    await bot.say(REQ, f"!akut kardiologi {QUESTION}")
    await bot.flush()
    assert len(await bot.consults.consults_of(REQ)) == 1
    [reply] = [s.content for s in bot.messenger.sends(DM) if s.content]
    assert reply.text.startswith("Akuta frågor ringer du helst:")
    top = reply.html.split("Konsultation")[0]
    assert K1A_TEL in top and SWITCHBOARD_TEL in top
    [page] = bot.messenger.pages()
    assert page.content is not None and page.content.text.startswith("AKUT – ring helst:")
    first_line = page.content.html.split("<br>")[0]
    assert K1A_TEL in first_line and SWITCHBOARD_TEL in first_line


async def test_konsult_is_not_phone_first(bot: Bot) -> None:
    await bot.say(REQ, f"!konsult kardiologi {QUESTION}")
    await bot.flush()
    [reply] = bot.messenger.said(DM)
    assert reply.startswith("Konsultation K-000001")
    [page] = bot.messenger.pages()
    assert page.content is not None and "AKUT" not in page.content.text
