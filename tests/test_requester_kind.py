"""Who asked, frozen at request time (issue 23): the requester's unit and kind in the consult's
first entry, on every path and every store; the hint to someone not on the staff list; units
that ask but are never paged (SPEC §6-§7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from consultbot.adapters.memory import MemoryDataStore
from consultbot.domain.consult.stats import aggregate
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ServiceId, ServiceKind, UserId
from consultbot.engine.admin.datasets import check_catalogue_against
from tests.support.bots import (
    ASK,
    CATALOGUE,
    DM,
    KARDIO,
    NOW,
    REQ,
    STAFF,
    STRANGER,
    Bot,
    Make,
    build,
    day_roster,
)
from tests.support.conference import conference_world

AMBULANCE = Service(
    id=ServiceId("ambulans-dalarna"),
    name="Ambulanssjukvården Dalarna",
    kind=ServiceKind.AMBULANCE,
    aliases=("ambulans",),
)
WITH_AMBULANCE = Catalogue((*CATALOGUE.services, AMBULANCE))
CREW = UserId("@olle:localhost")
STRANGER_DM = "!dm-sven:localhost"
HINT = "Du finns inte i personallistan"


async def first_entry(bot: Bot, user: UserId) -> dict[str, object]:
    [consult] = await bot.consults.consults_of(user)
    return (await bot.consults.events(consult.id))[0].data


def who_asked(report: dict[str, object]) -> tuple[dict[str, int], dict[str, int]]:
    units = report["by_requester_unit"]
    kinds = report["by_requester_kind"]
    assert isinstance(units, dict) and isinstance(kinds, dict)
    return (
        {k: v["consults"] for k, v in units.items()},
        {k: v["consults"] for k, v in kinds.items()},
    )


async def november_23(bot: Bot) -> dict[str, object]:
    day = date(2026, 11, 23)
    return aggregate(await bot.consults.stats_table(NOW, NOW + timedelta(days=1)), day, day)


async def test_the_request_freezes_the_requesters_unit_and_kind(make: Make) -> None:
    bot = await make(catalogue=WITH_AMBULANCE)
    crew = StaffMember(user=CREW, name="Olle Ambulans", unit=AMBULANCE.id)
    await bot.data.import_staff([*STAFF, crew], source="test", now=NOW)
    await bot.say(REQ, ASK)
    await bot.say(CREW, "!akut kardiologi Man 80 år, bröstsmärta sedan en timme", "!dm-olle:x")
    await bot.flush()
    assert (await first_entry(bot, REQ))["unit"] == "vc-mora"
    assert (await first_entry(bot, REQ))["requester_kind"] == "primary_care"
    assert (await first_entry(bot, CREW))["requester_kind"] == "ambulance"
    frozen = ({"ambulans-dalarna": 1, "vc-mora": 1}, {"primary_care": 1, "ambulance": 1})
    assert who_asked(await november_23(bot)) == frozen
    # Both leave the staff list, and the catalogue drops the ambulance: nothing moves.
    await bot.data.import_staff([], source="test", now=NOW)
    await bot.data.import_catalogue(CATALOGUE, source="test", now=NOW)
    assert who_asked(await november_23(bot)) == frozen


async def test_a_conference_freezes_them_too(make: Make) -> None:
    bot = await make(**conference_world())
    doctor = StaffMember(user=REQ, name="Vera Överläkare", unit=ServiceId("kardiologi"))
    await bot.data.import_staff([doctor], source="test", now=NOW)
    await bot.say(REQ, "!mdk kardiologi, neurologi Hjärtsvikt och tumör, behandlingsordning?")
    await bot.flush()
    entry = await first_entry(bot, REQ)
    assert entry["track"] == "mdk" and entry["unit"] == "kardiologi"
    assert entry["requester_kind"] == "hospital"


async def test_an_offer_out_of_hours_freezes_them_when_asked(make: Make) -> None:
    bot = await make(hours="daily 08:00-09:00")  # NOW is 10:00: offered, not paged
    await bot.say(REQ, ASK)
    await bot.flush()
    entry = await first_entry(bot, REQ)
    assert entry["unit"] == "vc-mora" and entry["requester_kind"] == "primary_care"


async def test_someone_not_on_the_staff_list_is_told_once_and_counts_as_unknown(
    make: Make,
) -> None:
    bot = await make()
    await bot.say(STRANGER, ASK, STRANGER_DM, direct=True)
    await bot.flush()
    entry = await first_entry(bot, STRANGER)
    assert "unit" not in entry and entry["requester_kind"] == "unknown"
    hints = [s for s in bot.messenger.sends() if s.content and HINT in s.content.text]
    assert len(hints) == 1 and hints[0].room != STRANGER_DM  # in their direct chat with the bot
    assert bot.messenger.recipients[hints[0].event_id] == (STRANGER,)
    # The consult went ahead as any other: its room made, level 1 paged.
    assert len(bot.messenger.pages()) == 1
    assert who_asked(await november_23(bot)) == ({"okänd": 1}, {"unknown": 1})

    # Never again: not for the next request, nor after a restart on the same store.
    await bot.say(STRANGER, ASK.replace("72", "81"), STRANGER_DM, direct=True)
    await bot.flush()
    again = await build(bot.consults, data=bot.data, messenger=bot.messenger, clock=bot.clock)
    await again.say(STRANGER, ASK.replace("72", "93"), STRANGER_DM, direct=True)
    await again.flush()
    hints = [s for s in bot.messenger.sends() if s.content and HINT in s.content.text]
    assert len(hints) == 1
    assert len(await bot.consults.consults_of(STRANGER)) == 3


async def test_the_hint_is_in_english_for_the_english_command(bot: Bot) -> None:
    await bot.say(STRANGER, ASK.replace("!konsult", "!consult"), STRANGER_DM, direct=True)
    await bot.flush()
    texts = [s.content.text for s in bot.messenger.sends() if s.content]
    assert any("You are not on the staff list" in t for t in texts)
    assert not any(HINT in t for t in texts)


async def test_listed_requesters_get_no_hint(bot: Bot) -> None:
    await bot.say(REQ, ASK)
    await bot.flush()
    assert not any(s.content and HINT in s.content.text for s in bot.messenger.sends())


async def test_a_unit_that_only_asks_cannot_be_paged(make: Make) -> None:
    bot = await make(catalogue=WITH_AMBULANCE)
    await bot.say(REQ, "!konsult ambulans Behöver ni hjälp?")
    await bot.say(REQ, "!vem ambulans-dalarna")
    await bot.say(REQ, "!vem")
    await bot.flush()
    refusal, who, listing = bot.messenger.said(DM)
    assert "Ambulanssjukvården Dalarna ställer frågor via boten men söks inte" in refusal
    assert who == refusal
    assert "kardiologi" in listing and "ambulans" not in listing
    assert await bot.consults.consults_of(REQ) == []


async def test_a_misspelt_service_never_suggests_a_unit_that_only_asks(make: Make) -> None:
    catalogue = Catalogue(
        (*CATALOGUE.services, replace(AMBULANCE, name="Ambulans", aliases=("ambulanser",)))
    )
    bot = await make(catalogue=catalogue)
    await bot.say(REQ, "!konsult ambulanse Fråga")
    await bot.flush()
    [answer] = bot.messenger.said(DM)
    assert "Jag känner inte till tjänsten" in answer and "Menade du" not in answer


async def test_a_catalogue_that_makes_a_service_with_shifts_only_ask_is_refused() -> None:
    data = MemoryDataStore()
    await data.import_catalogue(CATALOGUE, source="test", now=NOW)
    await data.import_roster(
        day_roster(), {KARDIO: (NOW, NOW + timedelta(days=3))}, source="t", now=NOW
    )
    text = (
        '[[service]]\nid = "kardiologi"\nname = "Kardiologi, Falu lasarett"\nkind = "ambulance"\n\n'
        '[[service]]\nid = "vc-mora"\nname = "Vårdcentralen Mora"\nkind = "primary_care"\n'
        'tracks = ["primarvard"]\nmunicipality = "Mora"\nswitchboard = "0250-49 30 00"\n'
    )
    checked = await check_catalogue_against([("services.toml", text.encode())], data, NOW)
    [problem] = [p for p in checked.problems if p.is_error]
    assert problem.code == "asks_only_with_shifts" and problem.params["service"] == "kardiologi"
