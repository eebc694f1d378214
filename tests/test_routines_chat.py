"""The plan's matrix in chat (issue 22, item 2; in-memory adapters): `!rutin` shows a service's
routine per path; a consult's confirmation carries the routine's have-ready list and its page
says the requester was shown it; a requester whose kind a path is closed to is told the paths
open instead, and nobody is paged; a service's own hours on a path decide when it is open."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from consultbot.adapters.memory import MemoryConsultStore
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.duty.routines import Document, Routine
from consultbot.domain.types import RequesterKind, ServiceId, ServiceKind, Track, UserId
from tests.support import conference
from tests.support.bots import (
    ASK,
    CATALOGUE,
    DM,
    REQ,
    STAFF,
    STRANGER,
    Bot,
    build,
    make_config,
)

READY = ("EKG", "senaste Hb", "aktuell medicinlista")
HALVAKUT = Routine(
    track=Track.HALVAKUT,
    open_to=(RequesterKind.PRIMARY_CARE, RequesterKind.HOSPITAL),
    have_ready=READY,
    call_when="Pågående bröstsmärta: ring kardiologjouren.",
    refer_when="Planerad utredning utan brådska: remiss.",
    documents=(Document(label="Gränsdragning hjärtsvikt", url="https://example.org/hjartsvikt"),),
)
AKUT = Routine(track=Track.AKUT, have_ready=("EKG", "vitalparametrar"))
PRIMARVARD = Routine(
    track=Track.PRIMARVARD,
    open_to=(RequesterKind.HOSPITAL, RequesterKind.AMBULANCE, RequesterKind.MUNICIPAL_CARE),
)
AMBULANCE = Service(
    id=ServiceId("ambulans-dalarna"), name="Ambulanssjukvården Dalarna", kind=ServiceKind.AMBULANCE
)
CREW = UserId("@olle:localhost")
CREW_DM = "!dm-olle:localhost"
SHOWN = "Beställaren har ombetts ha till hands: EKG; senaste Hb; aktuell medicinlista."
CONFIRMED = "Ha till hands enligt tjänstens rutin: EKG; senaste Hb; aktuell medicinlista."


def with_routines(*routines: Routine) -> Catalogue:
    kardio, mora = CATALOGUE.services
    return Catalogue(
        (
            replace(kardio, routines=tuple(r for r in routines if r.track in kardio.tracks)),
            replace(mora, routines=tuple(r for r in routines if r.track in mora.tracks)),
            AMBULANCE,
        )
    )


async def bot_with(*routines: Routine, **options: Any) -> Bot:
    bot = await build(MemoryConsultStore(), catalogue=with_routines(*routines), **options)
    crew = StaffMember(user=CREW, name="Olle Ambulans", unit=AMBULANCE.id, phone="070-333 33 33")
    await bot.data.import_staff([*STAFF, crew], source="test", now=bot.clock.now())
    return bot


async def test_rutin_shows_each_path_with_who_when_what_to_have_ready_and_the_documents() -> None:
    bot = await bot_with(HALVAKUT, AKUT)
    await bot.say(REQ, "!rutin hjärta")
    await bot.flush()
    [sent] = bot.messenger.sends(DM)
    assert sent.content is not None
    text, html = sent.content.text, sent.content.html
    assert text.startswith("Kardiologi, Falu lasarett – så når du tjänsten")
    assert (
        "Det halvakuta spåret: !konsult kardiologi … · dygnet runt"
        " · frågor från vårdcentraler, sjukhusläkare"
    ) in text
    assert "Ha till hands:\n• EKG\n• senaste Hb\n• aktuell medicinlista\n" in text
    assert "Ring i stället: Pågående bröstsmärta: ring kardiologjouren." in text
    assert "Remiss: Planerad utredning utan brådska: remiss." in text
    assert '<a href="https://example.org/hjartsvikt">Gränsdragning hjärtsvikt</a>' in html
    assert "Akutspåret: !akut kardiologi … · dygnet runt · frågor från alla" in text
    assert "Ha till hands:\n• EKG\n• vitalparametrar\n" in text
    # The conference path has no routine: it is listed with the defaults.
    assert "Multidisciplinär konferens: !mdk kardiologi, … · dygnet runt · frågor från alla" in text
    assert "Växel: 023-49 00 00" in text


async def test_routine_in_english_and_without_a_service_lists_the_services() -> None:
    bot = await bot_with(HALVAKUT)
    await bot.say(REQ, "!routine kardiologi")
    await bot.say(REQ, "!rutin")
    await bot.say(REQ, "!rutin hjärtkirurgi")
    await bot.flush()
    english, listing, unknown = bot.messenger.said(DM)
    assert english.startswith("Kardiologi, Falu lasarett – how to reach it")
    assert "questions from primary care centres, hospital doctors" in english
    assert "Have ready:\n• EKG\n• senaste Hb\n" in english  # the data as written
    assert "skriv !rutin TJÄNST" in listing and "vc-mora" in listing
    assert "ambulans" not in listing  # a unit that only asks has no routine to show
    assert "hjärtkirurgi" in unknown


async def test_the_confirmation_carries_the_have_ready_list_and_the_page_says_it_was_shown() -> (
    None
):
    bot = await bot_with(HALVAKUT)
    consult, room = await bot.ask()
    created = next(t for t in bot.messenger.said(DM) if "är skapad" in t)
    assert CONFIRMED in created
    [page] = bot.messenger.pages()
    assert page.content is not None and page.room == room
    assert SHOWN in page.content.text
    # Nothing of the routine is stored with the consult: it is read from the catalogue.
    assert "EKG" not in str([e.data for e in await bot.consults.events(consult)])


async def test_without_a_have_ready_list_neither_says_anything_of_one() -> None:
    bot = await bot_with(replace(HALVAKUT, have_ready=()))
    await bot.ask()
    [page] = bot.messenger.pages()
    assert page.content is not None and "ha till hands" not in page.content.text
    assert not any("Ha till hands" in t for t in bot.messenger.said(DM))


async def test_an_ambulance_turned_away_from_halvakut_gets_akut_and_vc_and_no_page() -> None:
    bot = await bot_with(HALVAKUT, PRIMARVARD)
    await bot.say(CREW, ASK, CREW_DM, direct=True)
    await bot.flush()
    [answer] = bot.messenger.said(CREW_DM)
    assert answer.startswith(
        "Kardiologi, Falu lasarett tar inte emot frågor från ambulanssjukvården via det halvakuta"
        " spåret.\nAnvänd i stället:\n!akut kardiologi FRÅGA – akutspåret\n"
        "!vc VÅRDCENTRAL-ELLER-KOMMUN FRÅGA – jourhavande läkare på en vårdcentral\n"
    )
    assert "ring växeln 023-49 00 00" in answer and "!rutin kardiologi" in answer
    assert bot.messenger.pages() == [] and bot.messenger.actions("create_room") == []
    assert await bot.consults.consults_of(CREW) == []
    # The acute line is open to them: it goes ahead.
    await bot.say(CREW, ASK.replace("!konsult", "!akut"), CREW_DM, direct=True)
    await bot.flush()
    assert len(bot.messenger.pages()) == 1


async def test_a_closed_path_answers_in_english_to_the_english_command() -> None:
    bot = await bot_with(HALVAKUT, PRIMARVARD)
    await bot.say(CREW, ASK.replace("!konsult", "!consult"), CREW_DM, direct=True)
    await bot.flush()
    [answer] = bot.messenger.said(CREW_DM)
    assert answer.startswith(
        "Kardiologi, Falu lasarett does not take questions from ambulance crews on the"
        " semi-urgent path.\nUse instead:\n!acute kardiologi QUESTION – acute\n!pc "
    )


async def test_someone_not_on_the_staff_list_may_use_a_closed_path() -> None:
    bot = await bot_with(HALVAKUT)
    await bot.say(STRANGER, ASK, "!dm-sven:localhost", direct=True)
    await bot.flush()
    assert len(bot.messenger.pages()) == 1


async def test_a_vardcentral_turned_away_from_the_fourth_path_is_not_sent_back_to_it() -> None:
    bot = await bot_with(PRIMARVARD)
    await bot.say(REQ, "!vc mora 84-årig man, fallit hemma")
    await bot.flush()
    [answer] = bot.messenger.said(DM)
    assert "tar inte emot frågor från vårdcentraler via tillgänglig primärvård" in answer
    assert "Använd i stället" not in answer and "ring växeln 0250-49 30 00" in answer
    assert bot.messenger.pages() == []


async def test_a_services_own_hours_on_a_path_decide_when_it_is_open() -> None:
    # The track is open day and night; the service's routine says 08–09, and it is 10:00.
    bot = await bot_with(replace(HALVAKUT, hours=Hours.parse("daily 08:00-09:00")))
    await bot.say(REQ, ASK)
    await bot.flush()
    [offer] = bot.messenger.said(DM)
    assert "är stängt nu (alla dagar 08:00–09:00)" in offer
    assert "!kö" in offer and bot.messenger.pages() == []
    await bot.say(REQ, "!rutin kardiologi")
    await bot.flush()
    assert "!konsult kardiologi … · alla dagar 08:00–09:00 ·" in bot.messenger.said(DM)[-1]
    # Queued, it opens when the service does (tomorrow 08:00 here), with the list.
    await bot.say(REQ, "!kö")
    await bot.flush()
    await bot.fire_at(datetime(2026, 11, 24, 7, 0, tzinfo=UTC))
    opened = bot.messenger.said(DM)[-1]
    assert opened.startswith("Nu öppnar det halvakuta spåret") and CONFIRMED in opened
    [page] = bot.messenger.pages()
    assert page.content is not None and SHOWN in page.content.text


async def test_a_conference_is_refused_when_one_services_path_is_closed_to_the_requester() -> None:
    world = conference.conference_world()
    mdk = Routine(track=Track.MDK, open_to=(RequesterKind.HOSPITAL,), have_ready=("senaste DT",))
    catalogue: Catalogue = world["catalogue"]
    kard = replace(catalogue.get("kardiologi"), routines=(mdk,))
    others = tuple(s for s in catalogue.services if s.id != kard.id)
    world["catalogue"] = Catalogue((kard, *others, CATALOGUE.get("vc-mora")))  # REQ's unit
    bot = await build(MemoryConsultStore(), **world)
    await bot.say(REQ, "!mdk neurologi, kardiologi Hjärtsvikt och tumör, behandlingsordning?")
    await bot.flush()
    [answer] = bot.messenger.said(DM)
    assert (
        "Kardiologi tar inte emot frågor från vårdcentraler via multidisciplinär konferens"
        in answer
    )
    assert "!konsult kardiologi FRÅGA" in answer
    assert bot.messenger.pages() == []
    # A hospital doctor may: the have-ready list comes with the confirmation and the page.
    doctor = StaffMember(user=REQ, name="Vera Överläkare", unit=ServiceId("kardiologi"))
    await bot.data.import_staff([doctor], source="test", now=bot.clock.now())
    await bot.say(REQ, "!mdk neurologi, kardiologi Hjärtsvikt och tumör, behandlingsordning?")
    await bot.flush()
    created = bot.messenger.said(DM)[-1]
    assert "Ha till hands enligt tjänsternas rutiner:\nKardiologi: senaste DT" in created
    [page] = [p.content.text for p in bot.messenger.pages() if p.content]
    assert "Beställaren har ombetts ha till hands för Kardiologi: senaste DT." in page


async def test_help_points_to_rutin() -> None:
    bot = await bot_with()
    await bot.say(REQ, "!hjälp")
    await bot.say(REQ, "!help")
    await bot.flush()
    swedish, english = bot.messenger.said(DM)
    assert "!rutin TJÄNST – tjänstens rutin per kontaktväg" in swedish
    assert "!routine SERVICE – the service's routine per contact path" in english


def test_the_test_config_keeps_the_tracks_hours() -> None:
    # The hours above come from the routine, not from a changed config.
    assert make_config().tracks[Track.HALVAKUT].hours == Hours.parse("always")


async def test_a_queued_consult_whose_opening_was_missed_waits_for_the_services_next_one() -> None:
    # The bot was down through the service's 08–09 window: at 09:30 the track (day and night)
    # would page, but the service is closed again, so the consult waits for tomorrow 08:00.
    bot = await bot_with(replace(HALVAKUT, hours=Hours.parse("daily 08:00-09:00")))
    await bot.say(REQ, ASK)
    await bot.say(REQ, "!kö")
    await bot.flush()
    await bot.fire_at(datetime(2026, 11, 24, 8, 30, tzinfo=UTC))
    assert bot.messenger.pages() == []
    await bot.fire_at(datetime(2026, 11, 25, 7, 0, tzinfo=UTC))
    assert len(bot.messenger.pages()) == 1
