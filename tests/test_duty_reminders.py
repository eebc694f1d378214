"""Duty reminders (SPEC §4 `bot.shift_reminder_minutes`): one direct message before a duty,
back-to-back shifts as one, corrections after a roster change, never doubled across a
restart. In-memory and SQLite consult stores."""

from __future__ import annotations

from datetime import datetime, timedelta

from consultbot.domain.duty.reminders import (
    Cancel,
    Correct,
    Remind,
    SentReminder,
    duties,
    plan,
)
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ServiceId, UserId
from consultbot.engine.delivery.content import direct_key
from tests.support.bots import K1A, K2, KARDIO, NOW, Bot, Make, Messenger, build

LEAD = timedelta(minutes=60)
H = timedelta(hours=1)


def shift(user: UserId, level: int, start: datetime, end: datetime, name: str) -> Shift:
    return Shift(service=ServiceId(KARDIO), level=level, start=start, end=end, user=user, name=name)


def evening() -> list[Shift]:
    """Karin: two back-to-back level-1 shifts from 12:00 UTC; Bertil level 2 from 12:00."""
    return [
        shift(K1A, 1, NOW + 3 * H, NOW + 8 * H, "Karin Kardio"),
        shift(K1A, 1, NOW + 8 * H, NOW + 23 * H, "Karin Kardio"),
        shift(K2, 2, NOW + 3 * H, NOW + 23 * H, "Bertil Bakjour"),
    ]


async def reminding(make: Make, roster: list[Shift] | None = None) -> Bot:
    bot = await make(roster=evening() if roster is None else roster, reminder_minutes=60)
    await bot.service.start()
    return bot


async def said_to(bot: Bot, user: UserId) -> list[str]:
    room = await bot.consults.get_meta(direct_key(user))
    return bot.messenger.said(room) if room else []


async def test_one_reminder_before_a_duty_with_back_to_back_shifts_as_one(make: Make) -> None:
    bot = await reminding(make)
    await bot.fire_at(NOW + 2 * H - timedelta(seconds=1))
    await bot.flush()
    assert await said_to(bot, K1A) == []  # more than an hour before: nothing yet
    await bot.fire_at(NOW + 2 * H)
    await bot.flush()
    [reminder] = await said_to(bot, K1A)
    assert reminder.startswith("Påminnelse: du har snart jour.")
    assert reminder.count("Kardiologi, Falu lasarett, nivå 1 (jour)") == 2  # both shifts
    assert "2026-11-23 kl. 13:00 – 2026-11-23 kl. 18:00" in reminder  # local times
    assert "Växel: 023-49 00 00" in reminder and "Sök kommer från mig" in reminder
    [backup] = await said_to(bot, K2)
    assert "nivå 2 (bakjour)" in backup
    # Later checks send nothing more.
    await bot.fire_at(NOW + 2 * H + 30 * timedelta(minutes=1))
    await bot.flush()
    assert len(await said_to(bot, K1A)) == 1


async def test_reminders_are_not_doubled_by_a_restart(make: Make) -> None:
    bot = await reminding(make)
    await bot.fire_at(NOW + 2 * H, send=False)  # recorded, then down before anything was sent
    homeserver = Messenger()
    again = await build(
        bot.consults, data=bot.data, clock=bot.clock, messenger=homeserver, reminder_minutes=60
    )
    await again.service.start()
    await again.fire_at(NOW + 2 * H + timedelta(minutes=5))
    await again.flush()
    assert len(await said_to(again, K1A)) == 1 and len(await said_to(again, K2)) == 1
    third = await build(
        bot.consults, data=bot.data, clock=bot.clock, messenger=homeserver, reminder_minutes=60
    )
    await third.service.start()
    await third.fire_at(NOW + 2 * H + timedelta(minutes=10))
    await third.flush()
    assert len(await said_to(third, K1A)) == 1


async def test_a_reminder_due_while_the_bot_was_down_goes_out_at_start(make: Make) -> None:
    bot = await make(roster=evening(), reminder_minutes=60)
    bot.clock.current = NOW + 2 * H + timedelta(minutes=20)  # started late, duty not begun
    await bot.service.start()
    await bot.timers.fire_until(bot.clock.now())
    await bot.flush()
    assert len(await said_to(bot, K1A)) == 1


async def test_a_roster_change_after_the_reminder_sends_a_correction(make: Make) -> None:
    bot = await reminding(make)
    await bot.fire_at(NOW + 2 * H)
    await bot.flush()
    later = [
        shift(K1A, 1, NOW + 4 * H, NOW + 23 * H, "Karin Kardio"),  # starts an hour later
    ]
    await bot.data.import_roster(
        later, {ServiceId(KARDIO): (NOW + 3 * H, NOW + 23 * H)}, source="new", now=bot.clock.now()
    )
    await bot.fire_at(NOW + 2 * H + timedelta(minutes=2))
    await bot.flush()
    first, correction = await said_to(bot, K1A)
    assert first.startswith("Påminnelse")
    assert correction.startswith("Ändring i schemat")
    assert "2026-11-23 kl. 14:00 – 2026-11-24 kl. 09:00" in correction
    *_, cancelled = await said_to(bot, K2)
    assert cancelled.startswith("Ändring: jouren som skulle börja 2026-11-23 kl. 13:00")
    await bot.fire_at(NOW + 2 * H + timedelta(minutes=10))
    await bot.flush()
    assert len(await said_to(bot, K1A)) == 2  # corrected once


async def test_zero_minutes_turns_reminders_off(make: Make) -> None:
    bot = await make(roster=evening(), reminder_minutes=0)
    await bot.service.start()
    assert "duty-reminders" not in bot.timers.due


def test_plan_reminds_corrects_and_cancels() -> None:
    current = duties(evening())
    assert sorted(d.user for d in current) == sorted([K1A, K2])
    karin = next(d for d in current if d.user == K1A)
    assert (karin.start, karin.end, len(karin.shifts)) == (NOW + 3 * H, NOW + 23 * H, 2)
    actions = plan(current, [], NOW + 2 * H, LEAD)
    assert sorted(type(a).__name__ for a in actions) == ["Remind", "Remind"]
    told = [
        SentReminder(user=a.duty.user, start=a.duty.start, end=a.duty.end, told=a.duty.told)
        for a in actions
        if isinstance(a, Remind)
    ]
    assert plan(current, told, NOW + 2 * H, LEAD) == []
    moved = duties([shift(K1A, 1, NOW + 4 * H, NOW + 23 * H, "Karin Kardio")])
    after = plan(moved, told, NOW + 2 * H, LEAD)
    assert sorted(type(a).__name__ for a in after) == ["Cancel", "Correct"]
    assert any(isinstance(a, Correct) and a.duty.user == K1A for a in after)
    assert any(isinstance(a, Cancel) and a.reminder.user == K2 for a in after)
