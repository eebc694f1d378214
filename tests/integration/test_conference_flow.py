"""The multidisciplinary conference (`!mdk`, `!möte`) on a real Synapse, with real end-to-end
encrypted clients (SPEC §6): each service acknowledged and escalated on its own, the meeting
reminded once, also across a restart. Timers are shortened through the config, not slept out.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from nio import RoomGetStateEventResponse

from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.engine.delivery.content import WIDGET_ID, WIDGET_TYPE

from .conferences import MEETING_URL, mdk_config, seed
from .harness import World, from_bot, join_invite, world

pytestmark = [pytest.mark.integration]

QUESTION = "Hjärtsvikt och nyupptäckt lungtumör – operation före eller efter optimering?"


async def convene(w: World) -> tuple[str, str]:
    """The doctor asks for a conference in a DM; returns (dm room, consult number)."""
    doctor = w.people["doctor"].c
    dm = await doctor.create_dm(w.bot_id)
    await doctor.send_text(dm, f"!mdk kardiologi, neurologi, onkologi {QUESTION}")
    reply = await doctor.wait_for(from_bot(w, dm, "Multidisciplinär konferens"), 30)
    number = next(word for word in reply.body.split() if word.startswith("K-"))
    return dm, number


async def test_a_conference_of_three_services_each_on_its_own(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    """Kardiologi acknowledges; neurologi escalates alone to level 2; onkologi has nobody at
    level 1, so its level 2 is in the first page."""
    people = ("doctor", "k1", "k2", "n1", "n2", "o2")
    async with world(homeserver, tmp_path, *people) as w:
        # Kardiologi's person acknowledges well within the timeout; neurologi's does not.
        config = mdk_config(w, ack_timeout=10)
        await seed(
            w,
            config,
            {
                ("kardiologi", 1): ["k1"],
                ("kardiologi", 2): ["k2"],
                ("neurologi", 1): ["n1"],
                ("neurologi", 2): ["n2"],
                ("onkologi", 2): ["o2"],
            },
        )
        c = {key: w.people[key].c for key in people}
        ids = {key: w.people[key].user_id for key in people}
        async with running_bot(config):
            _, number = await convene(w)
            room = await join_invite(c["k1"])
            page = await c["k1"].wait_for(from_bot(w, room, QUESTION, notice=False), 30)
            await c["k1"].react(room, page.event_id, "✅")
            # One page mentions the first paged level of every service.
            assert set(page.mentions) == {ids["k1"], ids["n1"], ids["o2"]}
            assert "Onkologi: Läkare O2 (nivå 2)" in page.body
            for key in ("doctor", "n1", "o2"):
                assert await join_invite(c[key]) == room
            ack = await c["doctor"].wait_for(from_bot(w, room, "Kardiologi: Läkare K1 har"), 30)
            assert "Neurologi: väntar" in ack.body

            # Neurologi alone escalates to level 2, on the mdk track's timeout.
            assert await join_invite(c["n2"], 30) == room
            page2 = await c["n2"].wait_for(from_bot(w, room, "du söks för Neurologi"), 30)
            assert page2.mentions == (ids["n2"],) and "nivå 2" in page2.body
            assert QUESTION in page2.body
            # Onkologi acknowledges by its first message; then neurologi's level 2.
            await c["o2"].send_text(room, "Onkologen här, jag läser journalen.")
            await c["doctor"].wait_for(from_bot(w, room, "Onkologi: Läkare O2 har"), 30)
            await c["n2"].send_text(room, "!kvittera")
            done = await c["doctor"].wait_for(from_bot(w, room, "Neurologi: Läkare N2 har"), 30)
            for line in ("Kardiologi: ✅ Läkare K1", "Neurologi: ✅ Läkare N2", "Onkologi: ✅"):
                assert line in done.body
            # Kardiologi's level 2 was never invited: kardiologi had acknowledged.
            assert all(s.kind != "invite" for s in c["k2"].seen)
            assert len([s for s in c["k1"].seen if ids["k1"] in s.mentions]) == 1

            await c["doctor"].send_text(room, "!avsluta råd")
            await c["doctor"].wait_for(from_bot(w, room, "avslutad: råd"), 30)

        with sqlite3.connect(tmp_path / "consultbot.db") as db:
            rows = db.execute(
                "SELECT kind, data FROM consult_event WHERE consult_id = ? ORDER BY seq", (number,)
            ).fetchall()
        kinds = [kind for kind, _ in rows]
        assert kinds.count("conference_acknowledged") == 1 and kinds[-1] == "closed"
        assert '"services": ["kardiologi", "neurologi", "onkologi"]' in rows[0][1]
        assert QUESTION not in str(rows)


async def test_a_meeting_is_reminded_once_with_its_link_and_widget(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "k1", "n1") as w:
        # The meeting starts at a whole minute, 2–3 minutes from now; the reminder lead is set
        # so that the reminder is due about 40 s from now.
        tz = w.config().bot.timezone
        now = datetime.now(tz)
        meeting = (now + timedelta(minutes=3)).replace(second=0, microsecond=0)
        lead = int((meeting - now).total_seconds()) - 40
        config = mdk_config(w, ack_timeout=600, reminder_seconds=lead)
        await seed(w, config, {("kardiologi", 1): ["k1"], ("neurologi", 1): ["n1"]})
        doctor, k1 = w.people["doctor"].c, w.people["k1"].c
        async with running_bot(config):
            doctor_dm = await doctor.create_dm(w.bot_id)
            await doctor.send_text(doctor_dm, f"!mdk kardiologi,neurologi {QUESTION}")
            room = await join_invite(doctor)
            assert await join_invite(k1) == room
            link = await doctor.wait_for(from_bot(w, room, "Möteslänk"), 30)
            url = MEETING_URL.split("{")[0]
            assert url in link.body
            # The link is a room widget that Element shows.
            state = await doctor.client.room_get_state_event(room, WIDGET_TYPE, WIDGET_ID)
            assert isinstance(state, RoomGetStateEventResponse)
            assert state.content["url"].startswith(url) and state.content["type"] == "m.custom"

            await k1.send_text(room, f"!möte {meeting:%Y-%m-%d %H:%M}")
            confirmed = await doctor.wait_for(from_bot(w, room, "Möte för konferens"), 30)
            assert f"{meeting:%Y-%m-%d} kl. {meeting:%H:%M}" in confirmed.body
            reminder = await doctor.wait_for(from_bot(w, room, "Påminnelse"), 90)
            assert reminder.msgtype == "m.text" and w.people["doctor"].user_id in reminder.mentions
            assert url in reminder.body

        # A restart after the reminder: it is not sent again.
        async with running_bot(config):
            await doctor.send_text(doctor_dm, "!status")
            await doctor.wait_for(from_bot(w, doctor_dm, "K-"), 30)
        reminders = [s for s in doctor.seen if from_bot(w, room, "Påminnelse")(s)]
        assert len(reminders) == 1
        with sqlite3.connect(tmp_path / "consultbot.db") as db:
            kinds = [r[0] for r in db.execute("SELECT kind FROM consult_event ORDER BY seq")]
        assert kinds.count("meeting_set") == 1 and kinds.count("meeting_reminded") == 1
