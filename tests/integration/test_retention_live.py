"""Retention on a real Synapse (issue 13): the bot leaves (and forgets) the room of a consult
closed more than 30 days ago and stays in the room of one closed yesterday. Time is moved with
an injected clock: each consult is run by a bot whose clock is set back, then the bot starts on
the real clock."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nio import JoinedRoomsResponse, RoomMessagesError, RoomMessagesResponse

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.app import running_bot
from consultbot.config import Config
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.engine.admin import datasets
from consultbot.ports import Clock

from .harness import World, ask, from_bot, is_page, world

pytestmark = [pytest.mark.integration]


class Shifted(Clock):
    """The machine's clock moved by `offset` (back, for a negative one)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def roster_around(w: World, config: Config, offsets: list[timedelta]) -> None:
    """Level 1 (l1) on duty for kardiologi around now + each offset."""
    l1 = w.people["l1"]
    stamp = "%Y-%m-%dT%H:%M:00+00:00"
    rows = ["service,level,start,end,matrix_id,name,phone"]
    for offset in offsets:
        start = datetime.now(UTC) + offset - timedelta(hours=1)
        end = start + timedelta(hours=4)
        rows.append(f"kardiologi,1,{start:{stamp}},{end:{stamp}},{l1.user_id},{l1.name},{l1.phone}")
    store = await SqliteStore.open(config.bot.database)
    try:
        checked = await datasets.check_roster_files(
            [("roster.csv", "\n".join(rows).encode())],
            store,
            config.bot.timezone,
            config.hours_of(),
        )
        assert checked.ok, checked.errors
        await checked.activate(store, datetime.now(UTC))
    finally:
        await store.close()


async def consult_closed_at(
    w: World, config: Config, offset: timedelta, question: str, before: tuple[str, ...] = ()
) -> str:
    """A consult asked, acknowledged and closed by a bot whose clock is `offset` off; its room
    (a new one: not one of the rooms `before`)."""
    l1 = w.people["l1"].c
    async with running_bot(config, Shifted(offset)):
        await ask(w, question)
        invite = await l1.wait_for(lambda s: s.kind == "invite" and s.room not in before, 30)
        room = invite.room
        await l1.join(room)
        page = await l1.wait_for(is_page(w.bot_id, room), 30)
        await l1.react(room, page.event_id, "✅")
        await l1.wait_for(from_bot(w, room, "har kvitterat"), 30)
        await l1.send_text(room, "!avsluta råd")
        await l1.wait_for(from_bot(w, room, "avslutad: råd"), 30)
    return room


def consult_leaves(config: Config) -> list[str]:
    """The rooms of consults the bot was told to leave (the outbox keeps each entry)."""
    with sqlite3.connect(config.bot.database) as db:
        rows = db.execute(
            "SELECT room FROM outbox WHERE kind = 'leave' AND consult_id IS NOT NULL ORDER BY id"
        )
        return [r[0] for r in rows]


async def test_the_bot_leaves_a_room_closed_a_month_ago_and_keeps_one_closed_yesterday(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=300)
        await w.seed(config, {})  # catalogue and staff
        yesterday, last_month = -timedelta(days=1), -timedelta(days=32)
        await roster_around(w, config, [yesterday, last_month])
        recent = await consult_closed_at(w, config, yesterday, "Fråga ett om EKG")
        old = await consult_closed_at(w, config, last_month, "Fråga två om eko", (recent,))

        l1 = w.people["l1"].c
        async with running_bot(config) as bot:  # today: the run a minute after start, now
            await bot.service.retention.run_once()
            await l1.wait_for(
                lambda s: s.kind == "leave" and s.room == old and s.sender == w.bot_id, 30
            )
            assert bot.matrix.session.client is not None
            joined = await bot.matrix.session.client.joined_rooms()
            assert isinstance(joined, JoinedRoomsResponse)
            assert old not in joined.rooms and recent in joined.rooms
        # Queued once, with its consult; the consult closed yesterday is not.
        assert consult_leaves(config) == [old]
        async with running_bot(config) as bot:  # a restart queues no second leave
            await bot.service.retention.run_once()
            async with asyncio.timeout(30):
                await bot.service.dispatcher.drain()
            assert bot.matrix.session.client is not None
            # Forgotten: the room's history is no longer the bot's to read; the other stays.
            gone = await bot.matrix.session.client.room_messages(old, start="", limit=1)
            kept = await bot.matrix.session.client.room_messages(recent, start="", limit=1)
            assert isinstance(gone, RoomMessagesError) and gone.status_code == "M_FORBIDDEN"
            assert isinstance(kept, RoomMessagesResponse)
        assert consult_leaves(config) == [old]
