"""Admins in chat on a real Synapse: `!statistik` with its encrypted chart, refused for anyone
else, and the monthly report posted once across restarts (the bot's clock is injected)."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from consultbot.adapters.matrix.media import attachment, fetch
from consultbot.adapters.memory import ManualClock
from consultbot.app import running_bot
from consultbot.devkit.matrix_user import MatrixUser, Seen
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.text.report import CHART_SIZE

from .harness import World, ask, world

pytestmark = [pytest.mark.integration]

TZ = ZoneInfo("Europe/Stockholm")


def from_bot(w: World, room: str, text: str):  # type: ignore[no-untyped-def]
    return lambda s: (
        s.kind == "message" and s.room == room and s.sender == w.bot_id and text in s.body
    )


def image_from_bot(w: World, room: str):  # type: ignore[no-untyped-def]
    return lambda s: (
        s.kind == "message" and s.room == room and s.sender == w.bot_id and s.msgtype == "m.image"
    )


def row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.strip().startswith(label))
    return line.strip()[len(label) :].split()


async def chart(user: MatrixUser, seen: Seen) -> tuple[int, int]:
    """The size of the PNG a message carries, fetched and decrypted as Element does."""
    item = attachment(seen.source["content"])
    assert item is not None and item.encryption is not None, "encrypted room: encrypted file"
    data = await fetch(user.client, item, max_bytes=1 << 22)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image.size


async def test_statistik_by_an_admin_gives_table_and_decryptable_chart_others_are_refused(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "admin") as w:
        config = w.config(ack_timeout=60, admins=[w.people["admin"].user_id])
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config):
            dm, number = await ask(w)  # one consult this month, paged and open
            assert number == "K-000001"
            admin = w.people["admin"].c
            admin_dm = await admin.create_dm(w.bot_id)
            await admin.send_text(admin_dm, "!statistik")
            table = await admin.wait_for(from_bot(w, admin_dm, "Uppföljning"), 60)
            month = datetime.now(TZ).strftime("%Y-%m")
            assert f"Uppföljning för {month}" in table.body
            # count, acknowledged, unanswered, median, referrals avoided, open
            assert row(table.body, "Totalt") == ["1", "0", "0", "–", "0", "1"]
            assert row(table.body, "halvakut") == ["1", "0", "0", "–", "0", "1"]
            assert row(table.body, "Remisser")[0] == "0"  # the plan's goals
            image = await admin.wait_for(image_from_bot(w, admin_dm), 60)
            assert image.encrypted
            assert await chart(admin, image) == CHART_SIZE

            # The requester is no admin: a short refusal, never numbers nor a chart.
            doctor = w.people["doctor"].c
            await doctor.send_text(dm, "!stats")
            await doctor.wait_for(from_bot(w, dm, "for administrators only"), 30)
            await doctor.send_text(dm, "!status")  # answered after anything the bot queued
            await doctor.wait_for(from_bot(w, dm, "öppna konsultationer"), 30)
            from_bot_in_dm = [s for s in doctor.seen if s.room == dm and s.sender == w.bot_id]
            assert not any(s.msgtype == "m.image" for s in from_bot_in_dm)
            assert not any("Konsultationer" in s.body for s in from_bot_in_dm)


async def test_the_monthly_report_is_posted_once_across_restarts(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "admin") as w:
        admin = w.people["admin"].c
        admin_room = await admin.create_dm(w.bot_id, wait=False)  # the bot joins at start
        config = w.config(admin_room=admin_room, admins=[w.people["admin"].user_id])
        await w.seed(config, {})
        monthly = from_bot(w, admin_room, "Månadsrapport för 2026-11")

        # The bot runs on the last day of November, then is down at 07:00 on 1 December.
        async with running_bot(config, clock=ManualClock(datetime(2026, 11, 30, 12, tzinfo=TZ))):
            await admin.wait_until(lambda: w.bot_id in admin.client.rooms[admin_room].users)
        assert not any(monthly(s) for s in admin.seen)

        # Started again at 09:00: the report it missed is posted at start-up.
        async with running_bot(config, clock=ManualClock(datetime(2026, 12, 1, 9, tzinfo=TZ))):
            report = await admin.wait_for(monthly, 60)
            assert "Uppföljning 2026-11-01 – 2026-11-30" in report.body
            image = await admin.wait_for(image_from_bot(w, admin_room), 60)
            assert await chart(admin, image) == CHART_SIZE

        # And again at 10:00: not posted a second time. Everything the bot queued at start-up
        # is sent (drained) before the admin asks; the room's timeline is in order, so the
        # answer comes after any second report.
        at_ten = ManualClock(datetime(2026, 12, 1, 10, tzinfo=TZ))
        async with running_bot(config, clock=at_ten) as bot:
            async with asyncio.timeout(60):
                await bot.service.dispatcher.drain()
            await admin.send_text(admin_room, "!statistik 2026-10")
            await admin.wait_for(from_bot(w, admin_room, "Uppföljning för 2026-10"), 60)
        assert len([s for s in admin.seen if monthly(s)]) == 1
        reports = [s for s in admin.seen if from_bot(w, admin_room, "📊")(s)]
        assert [r.body.split(":")[0].split(".")[0] for r in reports] == [
            "📊 Månadsrapport för 2026-11",
            "📊 Uppföljning för 2026-10",
        ]
