"""Handovers by chat (SPEC §6 "Handovers"): offered, accepted, declined, lapsed, by an admin,
and a page that reaches the covering colleague. In-memory and SQLite consult stores."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from consultbot.domain.duty.handover import until
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import ServiceId, UserId
from consultbot.engine.delivery.content import direct_key
from tests.support.bots import K1A, K1B, KARDIO, NOW, STAFF, STRANGER, TZ, Bot, Make, build

CILLA = UserId("@cilla:localhost")
CILLA_TEL = 'href="tel:+46703333333"'
ADMIN = UserId("@admin:localhost")
KARIN_DM = "!dm-karin:localhost"
CILLA_DM = "!dm-cilla:localhost"
ADMIN_DM = "!dm-admin:localhost"


async def ready(make: Make) -> Bot:
    bot = await make()
    cilla = StaffMember(user=CILLA, name="Cilla Covers", unit=KARDIO, phone="070-333 33 33")
    await bot.data.import_staff([*STAFF, cilla], source="staff", now=NOW)
    return bot


async def level_one(bot: Bot, at: datetime | None = None) -> list[str]:
    duty = await bot.data.on_duty(ServiceId(KARDIO), at or bot.clock.now())
    return [s.user for s in duty.level(1)]


async def cilla_room(bot: Bot) -> str:
    room = await bot.consults.get_meta(direct_key(CILLA))
    assert room is not None
    return room


async def offer(bot: Bot, body: str = "!lämna @cilla:localhost") -> None:
    await bot.say(K1A, body, KARIN_DM, direct=True)
    await bot.flush()


async def test_an_offer_asks_the_colleague_and_changes_nothing_yet(make: Make) -> None:
    bot = await ready(make)
    await offer(bot)
    [asked] = bot.messenger.said(await cilla_room(bot))
    assert "Karin Kardio vill lämna över sin jour till dig" in asked
    assert "Kardiologi, Falu lasarett, nivå 1 (jour)" in asked and "!acceptera" in asked
    [told] = bot.messenger.said(KARIN_DM)
    assert "Jag har frågat Cilla Covers" in told
    assert CILLA not in await level_one(bot)


async def test_an_accepted_handover_pages_the_colleague(make: Make) -> None:
    bot = await ready(make)
    await offer(bot, "!lämna @cilla:localhost 13:00")  # 10:00 in Stockholm now
    await bot.say(CILLA, "!acceptera", CILLA_DM, direct=True)
    await bot.flush()
    assert "Cilla Covers har tagit över" in bot.messenger.said(KARIN_DM)[-1]
    assert "Du har nu jouren" in bot.messenger.said(CILLA_DM)[-1]
    assert sorted(await level_one(bot)) == sorted([CILLA, K1B])
    await bot.say(UserId("@vera:localhost"), "!konsult kardiologi fråga om EKG")
    await bot.flush()
    [page] = bot.messenger.pages()
    assert page.content is not None and CILLA in page.content.mentions
    assert K1A not in page.content.mentions
    # It ends by itself at 13:00 local time: Karin is on duty again.
    assert K1A in await level_one(bot, NOW + timedelta(hours=3, minutes=1))
    assert CILLA in await level_one(bot, NOW + timedelta(hours=2, minutes=59))
    # !vem sees it, with the colleague's phone
    await bot.say(STRANGER, "!vem kardiologi", "!dm-sven:localhost", direct=True)
    await bot.flush()
    [who] = [s.content for s in bot.messenger.sends("!dm-sven:localhost") if s.content]
    assert "Cilla Covers" in who.text and CILLA_TEL in who.html and "Karin" not in who.text


async def test_a_tick_on_the_question_accepts(make: Make) -> None:
    bot = await ready(make)
    await offer(bot)
    await bot.react(CILLA, "✅", await cilla_room(bot))
    await bot.flush()
    assert CILLA in await level_one(bot)
    assert "Cilla Covers har tagit över" in bot.messenger.said(KARIN_DM)[-1]


async def test_a_declined_handover_changes_nothing_and_the_offerer_is_told(make: Make) -> None:
    bot = await ready(make)
    await offer(bot)
    await bot.say(CILLA, "!decline", CILLA_DM, direct=True)
    await bot.flush()
    assert "Cilla Covers avböjde. Jouren är fortfarande din." in bot.messenger.said(KARIN_DM)[-1]
    assert "You declined" in bot.messenger.said(CILLA_DM)[-1]
    assert CILLA not in await level_one(bot)
    await bot.say(CILLA, "!acceptera", CILLA_DM, direct=True)
    await bot.flush()
    assert "inget erbjudande" in bot.messenger.said(CILLA_DM)[-1]
    assert CILLA not in await level_one(bot)


async def test_an_offer_not_answered_in_ten_minutes_lapses(make: Make) -> None:
    bot = await ready(make)
    await offer(bot)
    assert await bot.fire_at(NOW + timedelta(minutes=9, seconds=59)) == 0
    assert await bot.fire_at(NOW + timedelta(minutes=10)) == 1
    await bot.flush()
    assert "svarade inte inom 10 min" in bot.messenger.said(KARIN_DM)[-1]
    assert "gick ut efter 10 min" in bot.messenger.said(await cilla_room(bot))[-1]
    await bot.say(CILLA, "!acceptera", CILLA_DM, direct=True)
    await bot.flush()
    assert CILLA not in await level_one(bot)


async def test_the_answer_deadline_survives_a_restart(make: Make) -> None:
    bot = await ready(make)
    await offer(bot)
    again = await build(bot.consults, data=bot.data, clock=bot.clock)  # the same database
    await again.service.start()
    assert again.timers.due["handover-1"][0] == NOW + timedelta(minutes=10)


async def test_an_admin_hands_any_duty_at_once(make: Make) -> None:
    bot = await ready(make)
    await bot.say(ADMIN, "!lämna @karin:localhost @cilla:localhost", ADMIN_DM, direct=True)
    await bot.flush()
    assert CILLA in await level_one(bot) and K1A not in await level_one(bot)
    assert "Klart: Cilla Covers har jouren efter Karin Kardio" in bot.messenger.said(ADMIN_DM)[-1]
    assert "(admin) har gett dig jouren" in bot.messenger.said(await cilla_room(bot))[-1]
    karin_room = await bot.consults.get_meta(direct_key(K1A))
    assert karin_room is not None
    assert "(admin) har lämnat över din jour" in bot.messenger.said(karin_room)[-1]
    [recorded] = await bot.data.handovers()
    assert (recorded.offered_by, recorded.offered_at, recorded.giver) == (ADMIN, NOW, K1A)
    # In the admin log for the data-protection officer: who, when, whose duty to whom.
    [action] = await bot.data.admin_actions()
    assert (action.actor, action.action, action.allowed, action.at) == (
        ADMIN,
        "handover",
        True,
        NOW,
    )
    assert "@karin:localhost to @cilla:localhost" in action.detail


async def test_only_an_admin_hands_someone_elses_duty(make: Make) -> None:
    bot = await ready(make)
    await bot.say(K1B, "!lämna @karin:localhost @cilla:localhost", "!dm-kalle:localhost")
    await bot.flush()
    assert "Bara en admin" in bot.messenger.said("!dm-kalle:localhost")[-1]
    assert await bot.data.handovers() == []
    [refused] = await bot.data.admin_actions()
    assert (refused.actor, refused.action, refused.allowed) == (K1B, "handover", False)


async def test_someone_not_on_duty_gets_a_clear_answer(make: Make) -> None:
    bot = await ready(make)
    await bot.say(STRANGER, "!handover @cilla:localhost", "!dm-sven:localhost", direct=True)
    await bot.flush()
    [answer] = bot.messenger.said("!dm-sven:localhost")
    assert answer.startswith("You are not on duty now")
    assert await bot.data.handovers() == []


async def test_a_mention_pill_names_the_colleague(make: Make) -> None:
    from consultbot.ports import IncomingMessage

    bot = await ready(make)
    await bot.service.inbox.handle_message(
        IncomingMessage(
            room=KARIN_DM,
            event_id="$pill",
            sender=K1A,
            body="!lämna Cilla Covers",
            at=NOW,
            direct=True,
            mentions=(CILLA,),
        )
    )
    await bot.flush()
    assert "Jag har frågat Cilla Covers" in bot.messenger.said(KARIN_DM)[-1]


def test_until_is_the_next_clock_time_but_never_past_the_shift() -> None:
    now = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)
    shift_end = datetime(2026, 11, 24, 8, 0, tzinfo=TZ)
    assert until(now, shift_end, time(2, 0), TZ) == datetime(2026, 11, 24, 2, 0, tzinfo=TZ)
    assert until(now, shift_end, time(23, 0), TZ) == datetime(2026, 11, 23, 23, 0, tzinfo=TZ)
    assert until(now, shift_end, time(12, 0), TZ) == shift_end
    assert until(now, shift_end, None, TZ) == shift_end


async def test_an_offer_stored_before_a_crash_is_announced_once_on_replay(make: Make) -> None:
    from dataclasses import replace

    from consultbot.ports import IncomingMessage

    bot = await ready(make)
    await offer(bot)
    [stored] = await bot.data.handovers()
    # As if the bot crashed after storing this offer, before recording its messages:
    await bot.data.add_handovers([replace(stored, source_event="$crashed")])
    message = IncomingMessage(
        room=KARIN_DM, event_id="$crashed", sender=K1A, body="!lämna @cilla:localhost", at=NOW
    )
    await bot.service.inbox.handle_message(message)  # the homeserver delivers it again
    await bot.service.inbox.handle_message(message)
    await bot.flush()
    assert len(await bot.data.handovers()) == 2  # nothing stored twice
    assert len(bot.messenger.said(await cilla_room(bot))) == 2  # the first offer and this one
    assert len(bot.messenger.said(KARIN_DM)) == 2
