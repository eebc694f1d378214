"""The board learns of changes in this process: a handover offered and accepted, and an
acknowledgement (engine/web/changes.py, told by the handover desk and the stepper)."""

from __future__ import annotations

import asyncio

from consultbot.domain.duty.people import StaffMember
from consultbot.domain.types import UserId
from consultbot.engine.web.changes import QUEUE_LIMIT, Changes
from tests.support.bots import K1A, KARDIO, NOW, STAFF, Bot

CILLA = UserId("@cilla:localhost")


def drained(queue: asyncio.Queue[str]) -> list[str]:
    seen = []
    while not queue.empty():
        seen.append(queue.get_nowait())
    return seen


async def test_a_handover_and_an_acknowledgement_tell_the_board(bot: Bot) -> None:
    cilla = StaffMember(user=CILLA, name="Cilla Covers", unit=KARDIO, phone="070-333 33 33")
    await bot.data.import_staff([*STAFF, cilla], source="staff", now=NOW)
    async with bot.service.changes.listen() as changes:
        await bot.say(K1A, f"!lämna {CILLA}", "!dm-karin:localhost", direct=True)
        await bot.flush()
        assert drained(changes) == ["handover"]
        await bot.say(CILLA, "!acceptera", "!dm-cilla:localhost", direct=True)
        await bot.flush()
        assert drained(changes) == ["handover"]
        _, room = await bot.ask()
        assert drained(changes) == []  # a consult asked changes nothing the board shows
        await bot.react(CILLA, "✅", room, bot.messenger.pages()[0].event_id)
        await bot.flush()
        assert drained(changes) == ["acknowledgement"]
    assert bot.service.changes.listeners == 0


async def test_a_listener_that_falls_behind_keeps_only_a_few_changes() -> None:
    changes = Changes()
    async with changes.listen() as queue:
        for _ in range(QUEUE_LIMIT + 5):
            changes.notify()
        assert len(drained(queue)) == QUEUE_LIMIT
