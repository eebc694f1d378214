"""The outcome poll on a real Synapse: Element's vote (unstable or stable type) closes a consult."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from consultbot.app import running_bot
from consultbot.config import TrackConfig
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.consult.polls import POLL_END, POLL_START
from consultbot.domain.duty.hours import Hours
from consultbot.domain.types import ConsultId, Outcome, Track

from .harness import QUESTION, ask, join_invite, world

pytestmark = [pytest.mark.integration]


@pytest.mark.parametrize(
    ("event_type", "choice"),
    [
        ("org.matrix.msc3381.poll.response", "unstable"),
        ("m.poll.response", "stable"),
    ],
)
async def test_a_vote_in_the_encrypted_poll_closes_the_consult(
    homeserver: EmbeddedHomeserver, tmp_path: Path, event_type: str, choice: str
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600)
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config) as bot:
            _, number = await ask(w)
            l1, doctor = w.people["l1"].c, w.people["doctor"].c
            room = await join_invite(l1)
            await join_invite(doctor)
            await l1.wait_for(lambda s: s.room == room and s.sender == w.bot_id, 30)
            await l1.send_text(room, "!kvittera")
            poll = await doctor.wait_for(
                lambda s: s.room == room and s.kind == "event" and s.msgtype == POLL_START, 30
            )
            assert poll.source["content"][POLL_START]["answers"][2]["id"] == "admission"
            relation = {"rel_type": "m.reference", "event_id": poll.event_id}
            if choice == "unstable":
                content = {
                    "m.relates_to": relation,
                    "org.matrix.msc3381.poll.response": {"answers": ["admission"]},
                }
            else:
                content = {"m.relates_to": relation, "m.selections": ["admission"]}
            await doctor.send_content(room, event_type, content)
            end = await doctor.wait_for(
                lambda s: s.room == room and s.kind == "event" and s.msgtype == POLL_END, 30
            )
            assert end.source["content"]["m.relates_to"]["event_id"] == poll.event_id
            await doctor.wait_for(
                lambda s: s.room == room and s.sender == w.bot_id and "inläggning" in s.body, 30
            )
            consult = await bot.store.consult(ConsultId(number))
            assert consult is not None and consult.outcome is Outcome.ADMISSION
            assert consult.closed_by == w.people["doctor"].user_id


async def test_a_vc_consults_poll_offers_the_fourth_paths_outcomes_and_a_vote_closes_it_home(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    """Issue 23: `!vc` (tillgänglig primärvård) gets its own answers, in Swedish, and the vote
    for "kvar hemma" closes the consult as `home`."""
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600)
        tracks = dict(config.tracks)
        tracks[Track.PRIMARVARD] = TrackConfig(hours=Hours.parse("always"), ack_timeout_seconds=600)
        config = replace(config, tracks=tracks)
        await w.seed(config, {1: ["l1"]}, service="vc-mora")
        async with running_bot(config) as bot:
            l1, doctor = w.people["l1"].c, w.people["doctor"].c
            dm = await doctor.create_dm(w.bot_id)
            await doctor.send_text(dm, f"!vc vc-mora {QUESTION}")
            reply = await doctor.wait_for(
                lambda s: s.room == dm and s.sender == w.bot_id and s.kind == "message", 30
            )
            number = next(word for word in reply.body.split() if word.startswith("K-"))
            room = await join_invite(l1)
            await join_invite(doctor)
            await l1.wait_for(lambda s: s.room == room and s.sender == w.bot_id, 30)
            await l1.send_text(room, "!kvittera")
            poll = await doctor.wait_for(
                lambda s: s.room == room and s.kind == "event" and s.msgtype == POLL_START, 30
            )
            answers = poll.source["content"][POLL_START]["answers"]
            assert [(a["id"], a["org.matrix.msc1767.text"]) for a in answers] == [
                ("home", "kvar hemma / slutbehandlad på plats"),
                ("primary_care", "till vårdcentralen"),
                ("home_visit", "läkarbesök i hemmet"),
                ("ed", "akuten"),
                ("admission", "direkt inläggning"),
                ("other", "annat"),
            ]
            relation = {"rel_type": "m.reference", "event_id": poll.event_id}
            content = {
                "m.relates_to": relation,
                "org.matrix.msc3381.poll.response": {"answers": ["home"]},
            }
            await l1.send_content(room, "org.matrix.msc3381.poll.response", content)
            await doctor.wait_for(
                lambda s: s.room == room and s.kind == "event" and s.msgtype == POLL_END, 30
            )
            await doctor.wait_for(
                lambda s: s.room == room and s.sender == w.bot_id and "kvar hemma" in s.body, 30
            )
            consult = await bot.store.consult(ConsultId(number))
            assert consult is not None and consult.track is Track.PRIMARVARD
            assert consult.outcome is Outcome.HOME
            assert consult.closed_by == w.people["l1"].user_id
