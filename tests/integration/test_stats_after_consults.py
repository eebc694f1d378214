"""`consultbot stats --format json` after consults run through the bot on a real Synapse.

Three consults with known fates: acknowledged with ✅, one phone contact, closed as advice;
escalated to the backup who acknowledges and closes as referral; nobody answers at all.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.consult.stats import OUTCOME_KEYS

from .harness import QUESTION, World, ask, join_invite, world

pytestmark = [pytest.mark.integration]


def from_bot(w: World, room: str, text: str):
    return lambda s: s.room == room and s.sender == w.bot_id and text in s.body


def page_in(w: World, room: str):
    return lambda s: s.room == room and s.sender == w.bot_id and s.msgtype == "m.text"


async def stats_json(config: Path, day: str) -> dict:  # type: ignore[type-arg]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consultbot",
        "stats",
        "--format",
        "json",
        "--from",
        day,
        "--to",
        day,
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return json.loads(out)  # type: ignore[no-any-return]


async def test_stats_count_exactly_what_happened(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "l2") as w:
        config = w.config(ack_timeout=4)
        await w.seed(config, {1: ["l1"], 2: ["l2"]})
        day = datetime.now(config.bot.timezone).date().isoformat()
        l1, l2, doctor = w.people["l1"].c, w.people["l2"].c, w.people["doctor"].c
        async with running_bot(config):
            # 1: ✅ at level 1, the requester calls, closed as advice.
            await ask(w)
            room1 = await join_invite(l1)
            await join_invite(doctor)
            page = await l1.wait_for(page_in(w, room1), 30)
            await l1.react(room1, page.event_id, "✅")
            await doctor.wait_for(from_bot(w, room1, "har kvitterat"), 30)
            await doctor.send_text(room1, "!ring")
            await doctor.wait_for(from_bot(w, room1, "Ring"), 30)
            await l1.send_text(room1, "!avsluta råd")
            await doctor.wait_for(from_bot(w, room1, "avslutad: råd"), 30)

            # 2: nobody at level 1 acknowledges; the backup does and closes as referral.
            await ask(w, "En annan patient: 80-årig man med svimning, pacemakerindikation?")
            room2 = await join_invite(l2, 40)
            await l2.wait_for(page_in(w, room2), 30)
            await l2.send_text(room2, "!kvittera")
            await l2.wait_for(from_bot(w, room2, "har kvitterat"), 30)
            await l2.send_text(room2, "!avsluta remiss")
            await l2.wait_for(from_bot(w, room2, "avslutad: remiss"), 30)

            # 3: nobody answers at any level.
            dm3, _ = await ask(w, "En tredje patient: 65-årig kvinna med bröstsmärta i vila?")
            await doctor.wait_for(from_bot(w, dm3, "Ingen har kvitterat"), 40)

        report = await stats_json(w.write_config(), day)
        expected_counts = {
            "consults": 3,
            "acknowledged": 2,
            "escalated": 2,
            "unanswered": 1,
            "mdk": 0,
            "phone_contacts": 1,
        }
        for key, value in expected_counts.items():
            assert report[key] == value, key
        assert report["outcomes"] == dict.fromkeys(OUTCOME_KEYS, 0) | {
            "advice": 1,
            "referral": 1,
            "open": 1,
            "home": 0,
            "primary_care": 0,
            "home_visit": 0,
        }
        assert report["referrals_avoided"] == 1  # advice on halvakut, a specialist path
        assert report["goals"]["rows"]["referrals_avoided"]["value"] == 1
        assert report["from"] == day and report["to"] == day
        assert report["ack_seconds"]["median"] is not None
        # Consult 2 was acknowledged after the level-1 timeout (4 s): p90 is at least that.
        assert report["ack_seconds"]["p90"] >= 4
        assert report["ack_seconds"]["median"] <= report["ack_seconds"]["p90"]
        for group in ("by_track", "by_service", "by_requester_unit", "by_requester_kind"):
            [(name, numbers)] = report[group].items()
            assert name in ("halvakut", "kardiologi", "vc-mora", "primary_care")
            assert numbers["consults"] == 3 and numbers["unanswered"] == 1


async def test_someone_not_on_the_staff_list_is_told_and_counts_as_unknown(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "stranger") as w:
        config = w.config(ack_timeout=30)
        await w.seed(config, {1: ["l1"]}, unlisted=("stranger",))
        day = datetime.now(config.bot.timezone).date().isoformat()
        stranger = w.people["stranger"].c
        invited: set[str] = set()

        async def join_new() -> str:
            invite = await stranger.wait_for(
                lambda s: s.kind == "invite" and s.room not in invited, 30
            )
            invited.add(invite.room)
            await stranger.join(invite.room)
            return invite.room

        async with running_bot(config):
            dm = await stranger.create_dm(w.bot_id)
            await stranger.send_text(dm, f"!konsult kardiologi {QUESTION}")
            # The consult room, and the bot's own direct chat with them for the hint.
            await join_new()
            await join_new()
            hint = await stranger.wait_for(
                lambda s: (
                    s.kind == "message"
                    and s.sender == w.bot_id
                    and "Du finns inte i personallistan" in s.body
                ),
                30,
            )
            assert hint.room in invited and hint.room != dm
            # The consult went ahead: level 1 was paged.
            l1 = w.people["l1"].c
            room = await join_invite(l1)
            await l1.wait_for(page_in(w, room), 30)

        report = await stats_json(w.write_config(), day)
        assert report["consults"] == 1
        assert list(report["by_requester_unit"]) == ["okänd"]
        assert list(report["by_requester_kind"]) == ["unknown"]
