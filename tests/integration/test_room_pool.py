"""The warm room pool on a real Synapse: a consult gets a ready room with the consult-room
state, and a SIGKILL while a room is taken from the pool loses and doubles nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from nio import RoomPutStateResponse

from consultbot.adapters.matrix import room_policy
from consultbot.adapters.matrix.provisioning import ROOM_POLICY
from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver
from tests.support.waiting import eventually

from .harness import QUESTION, BotProcess, World, ask, assert_locked, join_invite, world

pytestmark = [pytest.mark.integration]


def pool_rooms(w: World) -> set[str]:
    with sqlite3.connect(f"file:{w.folder / 'consultbot.db'}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT room FROM room_pool")}


def consult_rooms(w: World) -> dict[str, str]:
    with sqlite3.connect(f"file:{w.folder / 'consultbot.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id, room FROM consult WHERE room IS NOT NULL")
        return {row[0]: row[1] for row in rows}


async def test_sigkill_while_taking_a_pool_room_loses_and_doubles_nothing(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        path = w.write_config(ack_timeout=600, room_pool=2)
        await w.seed(w.config(), {1: ["l1"]})
        dying = BotProcess(path, tmp_path / "bot.log", module="tests.integration.dies_after_claim")
        await dying.start()
        try:
            await dying.wait_running()
            await eventually(
                lambda: len(pool_rooms(w)) == 2, within=30, what="two rooms in the pool"
            )
            ready = pool_rooms(w)
            doctor, l1 = w.people["doctor"].c, w.people["l1"].c
            dm = await doctor.create_dm(w.bot_id)
            await doctor.send_text(dm, f"!konsult kardiologi {QUESTION}")
            assert dying.process is not None
            async with asyncio.timeout(30):
                assert await dying.process.wait() == -9  # killed right after the claim
        finally:
            await dying.stop()
        [(consult, room)] = consult_rooms(w).items()
        assert room in ready and room not in pool_rooms(w)  # taken once, recorded
        assert not [s for s in l1.seen if s.kind == "invite"]  # nobody invited yet

        bot = BotProcess(path, tmp_path / "bot.log")
        await bot.start()
        try:
            await bot.wait_running()
            assert await join_invite(l1) == room  # the same room, filled after the restart
            page = await l1.wait_for(
                lambda s: s.kind == "message" and s.room == room and s.msgtype == "m.text", 30
            )
            assert QUESTION in page.body
            await doctor.wait_for(
                lambda s: s.room == dm and s.sender == w.bot_id and consult in s.body, 30
            )
            await eventually(
                lambda: len(pool_rooms(w)) == 2, within=30, what="two rooms in the pool"
            )  # refilled, the used room not again
            assert room not in pool_rooms(w)

            # A second consult (another patient: the same question again would be a repeat)
            # gets another pool room.
            refilled = pool_rooms(w)
            await doctor.send_text(dm, "!konsult kardiologi 80-årig man med svimning, pacemaker?")
            invite = await l1.wait_for(lambda s: s.kind == "invite" and s.room != room, 30)
            second = invite.room
            await l1.join(second)
            assert second != room and second in refilled
            await l1.wait_for(
                lambda s: s.kind == "message" and s.room == second and s.msgtype == "m.text", 30
            )
        finally:
            await bot.stop()
        pages = [s for s in l1.seen if s.kind == "message" and s.msgtype == "m.text"]
        assert [s.room for s in pages].count(room) == 1  # paged once, across the kill
        replies = [s for s in doctor.seen if s.room == dm and f"{consult} " in s.body]
        assert len([s for s in replies if "skapad" in s.body]) == 1
        log = (tmp_path / "bot.log").read_text(encoding="utf-8")
        assert "förmaksflimmer" not in log


async def test_a_pooled_consult_room_has_the_consult_room_state(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        path = w.write_config(ack_timeout=600, room_pool=1)
        await w.seed(w.config(), {1: ["l1"]})
        bot = BotProcess(path, tmp_path / "bot.log")
        await bot.start()
        try:
            await bot.wait_running()
            await eventually(
                lambda: len(pool_rooms(w)) == 1, within=30, what="one room in the pool"
            )
            [ready] = pool_rooms(w)
            doctor, l1 = w.people["doctor"].c, w.people["l1"].c
            dm = await doctor.create_dm(w.bot_id)
            await doctor.send_text(dm, f"!konsult kardiologi {QUESTION}")
            room = await join_invite(l1)
            assert room == ready
            await l1.wait_for(
                lambda s: s.kind == "message" and s.room == room and s.msgtype == "m.text", 30
            )
            client = l1.client

            async def named() -> bool:
                answer = await client.room_get_state_event(room, "m.room.name")
                return getattr(answer, "content", {}).get("name") == "K-000001 kardiologi"

            async with asyncio.timeout(30):  # the name goes out beside the page
                while not await named():  # noqa: ASYNC110 - the homeserver's state, polled
                    await asyncio.sleep(0.05)
            state = {}
            for kind in (
                "m.room.encryption",
                "m.room.server_acl",
                "m.room.join_rules",
                "m.room.guest_access",
                "m.room.history_visibility",
                "m.room.power_levels",
                "m.room.name",
                "m.room.topic",
            ):
                answer = await client.room_get_state_event(room, kind)
                state[kind] = getattr(answer, "content", None)
            assert state["m.room.encryption"]["algorithm"] == "m.megolm.v1.aes-sha2"
            assert state["m.room.server_acl"] == room_policy.server_acl(("localhost",))
            assert state["m.room.join_rules"]["join_rule"] == "invite"
            assert state["m.room.guest_access"]["guest_access"] == "forbidden"
            levels = state["m.room.power_levels"]
            expected = room_policy.power_levels()
            assert {k: levels[k] for k in expected} == expected
            assert state["m.room.name"]["name"] == "K-000001 kardiologi"
            assert "förmaksflimmer" not in str(state["m.room.topic"])
            assert QUESTION not in str(state)
        finally:
            await bot.stop()


async def test_a_pooled_consult_room_is_brought_up_to_a_newer_room_policy(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        config = w.config(ack_timeout=600, room_pool=1)
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config) as bot:
            await eventually(
                lambda: len(pool_rooms(w)) == 1, within=30, what="one room in the pool"
            )
            [ready] = pool_rooms(w)
            await ask(w)
            l1 = w.people["l1"].c
            room = await join_invite(l1)
            assert room == ready  # a pool room: it has no alias
            client = bot.matrix.session.client
            assert client is not None
            # As if the room were older than the policy: guests let in.
            opened = await client.room_put_state(
                room, "m.room.guest_access", {"guest_access": "can_join"}
            )
            assert isinstance(opened, RoomPutStateResponse), opened
            await bot.store.set_meta(ROOM_POLICY, "0")
            assert await bot.matrix.provisioner.lock_down_rooms() >= 1
            await assert_locked(l1, room, w.bot_id, ["localhost"])
