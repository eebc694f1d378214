"""An acknowledgement at the very instant of the deadline, on a real Synapse (issue 10).

The service-level tests (tests/test_faults.py) try every interleaving of the two steps; here the
whole path runs: the ✅ goes through the homeserver and the bot's sync, the deadline through the
service's timer entry, the pages and notices through the outbox to the people's own encrypted
clients. The bot's clock stands exactly at the deadline. Three orders, each forced, not hoped
for: the ✅ handled first; the deadline first; and the ✅ on the homeserver with the bot's sync
held at a proxy, let go as the deadline fires.

Whatever the order: one acknowledgement, one "har kvitterat", no page after the acknowledgement,
level 2 paged at most once (and only by an escalation stored before the ✅).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consultbot.adapters.memory import ManualClock
from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.consult import escalation as esc
from consultbot.domain.types import ConsultId
from consultbot.ports import Content
from tests.support.waiting import eventually

from .faults_proxy import RateLimitingProxy
from .harness import ask, join_invite, world

pytestmark = [pytest.mark.integration]


@pytest.mark.parametrize("order", ["ack_first", "deadline_first", "together"])
async def test_an_ack_at_the_instant_of_the_deadline_has_one_outcome(
    homeserver: EmbeddedHomeserver, tmp_path: Path, order: str
) -> None:
    proxy = RateLimitingProxy(upstream=homeserver.url)
    await proxy.start()
    try:
        async with world(homeserver, tmp_path, "doctor", "l1", "l2") as w:
            config = w.config(ack_timeout=600)  # the real timer stays far off; the test fires it
            config = replace(config, matrix=replace(config.matrix, homeserver=proxy.url))
            await w.seed(config, {1: ["l1"], 2: ["l2"]})
            clock = ManualClock(datetime.now(UTC))
            l1, l2 = w.people["l1"].c, w.people["l2"].c
            async with running_bot(config, clock) as bot:
                _, number = await ask(w)
                consult_id = ConsultId(number)
                room = await join_invite(l1)
                page = await l1.wait_for(
                    lambda s: s.kind == "message" and s.room == room and s.msgtype == "m.text", 30
                )
                consult = await bot.store.consult(consult_id)
                assert consult is not None and consult.deadline is not None
                clock.current = consult.deadline  # the very instant

                if order == "ack_first":
                    ack = await l1.react(room, page.event_id, "✅")
                    await eventually(
                        lambda: bot.store.is_handled(ack), within=60, what="the ✅ handled"
                    )
                    await bot.service.stepper.on_timer(consult_id)
                elif order == "deadline_first":
                    await bot.service.stepper.on_timer(consult_id)
                    ack = await l1.react(room, page.event_id, "✅")
                else:
                    # The bot's next sync waits at the proxy (a typing notice ends the one under
                    # way); the ✅ reaches the homeserver; the sync goes on as the deadline fires.
                    proxy.hold("/sync")
                    await l1.client.room_typing(room, True)
                    async with asyncio.timeout(60):
                        await proxy.held.wait()
                    ack = await l1.react(room, page.event_id, "✅")
                    proxy.release()
                    await bot.service.stepper.on_timer(consult_id)

                async def settled() -> bool:
                    return await bot.store.is_handled(ack) and await bot.store.pending() == []

                await eventually(settled, within=60, what="the ✅ handled, nothing left to send")
                consult = await bot.store.consult(consult_id)
                log = [e.kind for e in await bot.store.events(consult_id)]
                # A last message from the bot: who has seen it has seen everything before it.
                barrier = await bot.matrix.send(
                    room, Content(text="-", html="-", mentions=(), notice=True), txn="barrier"
                )
                assert bot.matrix.session.client is not None
                l2_invited = w.people["l2"].user_id in bot.matrix.session.client.rooms[room].users

            assert consult is not None and consult.state is esc.State.ACKNOWLEDGED, consult
            assert consult.acked_by == w.people["l1"].user_id
            assert log.count("acknowledged") == 1, log
            assert "paged" not in log[log.index("acknowledged") + 1 :], log
            levels = [p.level for p in consult.pages]
            if order == "ack_first":
                assert levels == [1], levels  # the deadline found it acknowledged
            elif order == "deadline_first":
                assert levels == [1, 2], levels  # escalated before the ✅ came

            await l1.wait_for(lambda s: s.event_id == barrier, 30)
            in_room = [s for s in l1.seen if s.room == room and s.sender == w.bot_id]
            assert len([s for s in in_room if "har kvitterat" in s.body]) == 1

            if not l2_invited:  # no escalation, or the ✅ overtook it before its invite
                return
            assert levels == [1, 2], levels
            await l2.wait_for(lambda s: s.kind == "invite" and s.room == room, 30)
            await l2.join(room)
            await l2.wait_for(lambda s: s.event_id == barrier, 30)
            seen = [s for s in l2.seen if s.room == room and s.sender == w.bot_id]
            pages = [n for n, s in enumerate(seen) if s.msgtype == "m.text" and "nivå 2" in s.body]
            acked = [n for n, s in enumerate(seen) if "har kvitterat" in s.body]
            assert len(pages) <= 1 and len(acked) == 1, seen
            assert all(n < acked[0] for n in pages)  # never a page after the acknowledgement
    finally:
        await proxy.stop()
