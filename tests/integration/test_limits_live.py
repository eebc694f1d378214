"""Limits on a real Synapse (issue 19, item 6): a user on a server not allowed is answered
once per room, however many lines they write; `!mdk` hits the same per-user limit and
repeat check as `!konsult`."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from consultbot.app import Bot, running_bot
from consultbot.devkit.matrix_user import MatrixUser, Seen
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import UserId
from tests.support.waiting import eventually

from .conferences import mdk_config, seed
from .harness import world

pytestmark = [pytest.mark.integration]

REFUSED = "bara för vårdpersonal"


async def outsider(server: EmbeddedHomeserver, folder: Path) -> MatrixUser:
    password = secrets.token_urlsafe(12)
    user_id = await server.register_user(f"eve-{uuid.uuid4().hex[:8]}", password)
    user = MatrixUser(server.url, user_id, password, folder / "eve")
    await user.start()
    return user


async def all_handled(bot: Bot, events: list[str], seconds: float = 30) -> None:
    """Until the bot has handled every one of `events` and sent all it had to send."""

    async def done() -> bool:
        handled = [await bot.store.is_handled(e) for e in events]
        return all(handled) and not await bot.store.pending()

    await eventually(done, within=seconds, what="every line handled, nothing left to send")


async def test_six_lines_from_a_user_on_another_server_get_no_answer_and_no_consult(
    federation: tuple[EmbeddedHomeserver, EmbeddedHomeserver], tmp_path: Path
) -> None:
    region, other = federation
    async with world(region, tmp_path, "doctor") as w:
        config = w.config(ack_timeout=600)
        await w.seed(config, {})
        eve = await outsider(other, tmp_path)
        try:
            async with running_bot(config) as bot:
                doctor = w.people["doctor"].c
                room = await doctor.create_dm(w.bot_id)
                await doctor.client.room_invite(room, eve.user_id)
                await eve.join(room)
                await doctor.wait_until(lambda: eve.user_id in doctor.client.rooms[room].users)
                lines = [
                    await eve.send_text(room, f"!konsult kardiologi rad {n}") for n in range(6)
                ]
                await all_handled(bot, lines)
                # Everything the bot sent is in the room's timeline before this line.
                marker = await doctor.send_text(room, "markör")
                await doctor.wait_for(lambda s: s.event_id == marker, 30)
                refusals = [
                    s
                    for s in doctor.seen
                    if s.room == room and s.sender == w.bot_id and REFUSED in s.body
                ]
                # At most one per room per hour; here none: with Eve in it, the doctor's room is
                # not fit for any answer (issue 19, item 1; test_hostile_rooms.py).
                assert refusals == []
                assert await bot.store.consults_of(UserId(eve.user_id)) == []
        finally:
            await eve.close()


async def test_a_conference_hits_the_limit_and_the_repeat_check_of_consults(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "a1", "b1") as w:
        config = mdk_config(w, ack_timeout=600)
        config = replace(config, bot=replace(config.bot, request_limit=2))
        await seed(w, config, {("kardiologi", 1): ["a1"], ("neurologi", 1): ["b1"]})
        async with running_bot(config) as bot:
            doctor = w.people["doctor"].c
            dm = await doctor.create_dm(w.bot_id)

            def from_bot(text: str) -> Callable[[Seen], bool]:
                return lambda s: s.room == dm and s.sender == w.bot_id and text in s.body

            await doctor.send_text(dm, "!konsult kardiologi En fråga om förmaksflimmer?")
            await doctor.wait_for(from_bot("K-000001"), 30)
            await doctor.send_text(dm, "!mdk kardiologi,neurologi Hjärtsvikt och tumör?")
            await doctor.wait_for(from_bot("K-000002"), 30)
            # Sent again (a double tap, in another order): the same conference, nobody paged.
            await doctor.send_text(dm, "!mdk neurologi,kardiologi Hjärtsvikt och tumör?")
            await doctor.wait_for(from_bot("samma fråga som K-000002"), 30)
            # A new conference is one request too many: two in the window already.
            await doctor.send_text(dm, "!mdk kardiologi,neurologi Ytterligare en fråga?")
            refusal = await doctor.wait_for(from_bot("2 konsultationer"), 30)
            assert "023-49 00 00" in refusal.body  # the switchboard instead
            mine = await bot.store.consults_of(UserId(w.people["doctor"].user_id))
            assert sorted(c.id for c in mine) == ["K-000001", "K-000002"]
