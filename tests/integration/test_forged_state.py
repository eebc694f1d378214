"""A member of a consult room cannot make the bot leave it with room state forged inside an
encrypted message (issue 19, review "spoof"), on a real Synapse.

The consultant's client encrypts, as ordinary Megolm messages, plaintexts that name
`m.room.create`, `m.room.power_levels` and an `m.room.member` leave with a `state_key`. nio
decrypting them would have taken them as the room's state: the room would have failed the
room policy and the bot would have left it, dropping what it still had to say there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from consultbot.adapters.matrix.room_policy import power_levels
from consultbot.app import running_bot
from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver

from .harness import ask, join_invite, world

pytestmark = [pytest.mark.integration]


async def send_forged_state(
    user: MatrixUser, room: str, kind: str, key: str, content: dict[str, Any]
) -> None:
    """An m.room.encrypted event whose plaintext poses as the state event (`kind`, `key`)."""
    olm = user.client.olm
    real = olm.group_encrypt

    def with_state_key(room_id: str, plaintext: dict[str, Any]) -> dict[str, Any]:
        return real(room_id, {**plaintext, "state_key": key})  # type: ignore[no-any-return]

    olm.group_encrypt = with_state_key
    try:
        await user.send_content(room, kind, content)
    finally:
        del olm.group_encrypt  # nio's own method again


async def test_state_forged_in_an_encrypted_message_does_not_make_the_bot_leave(
    homeserver: EmbeddedHomeserver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600)
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config):
            caplog.set_level(logging.WARNING, logger="consultbot")
            await ask(w)
            l1, doctor = w.people["l1"].c, w.people["doctor"].c
            room = await join_invite(l1)
            await join_invite(doctor)
            page = await l1.wait_for(
                lambda s: s.room == room and s.sender == w.bot_id and s.kind == "message", 30
            )
            me = w.people["l1"].user_id
            await send_forged_state(l1, room, "m.room.create", "", {"room_version": "10"})
            await send_forged_state(
                l1, room, "m.room.power_levels", "", power_levels({w.bot_id: 0, me: 100})
            )
            await send_forged_state(
                l1, room, "m.room.member", w.people["doctor"].user_id, {"membership": "leave"}
            )
            # The acknowledgement comes after the forged events: the bot still speaks there.
            await l1.react(room, page.event_id, "✅")
            await doctor.wait_for(
                lambda s: s.room == room and s.sender == w.bot_id and "har kvitterat" in s.body,
                30,
            )
            assert caplog.text.count("posing as room state") == 3
            assert not [s for s in l1.seen if s.sender == w.bot_id and s.kind == "leave"]
