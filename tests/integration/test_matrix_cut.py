"""The active instance reaches the database but not Matrix: the standby takes over (issue 24).

Two `consultbot run` processes on one PostgreSQL, as in test_failover.py. A's homeserver URL
leads through a proxy (tests/integration/faults_proxy.py), B's straight to Synapse. A is active;
then the proxy cuts A's Matrix link, and only that: A still reaches the database and renews its
lease. A doctor asks a question at once.

- A gives the lease up after `bot.matrix_lost_seconds` (default 15 s) without an answer from the
  homeserver; it exits with 75 (stepped down). B, which reaches the homeserver, takes over within
  25 s of the cut and pages the question: once.
- A, started again as systemd would while the cut lasts, never takes the lease back; after the
  mend it is the standby.
- A standby cut off from Matrix does not take a free lease: A's link is cut again and B is
  killed; the lease lapses but A waits until the mend, then takes it.
- From what people received: one answer to the request, one page, and from the database: one
  consult, paged once, nothing left in the outbox.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consultbot.adapters.sql.stores import open_store
from consultbot.app import EXIT_STEPPED_DOWN
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import UserId
from tests.support.waiting import eventually

from .faults_proxy import RateLimitingProxy
from .harness import QUESTION, auto_join, world
from .test_failover import Instance, bot_says, caught_up, pages

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TAKEOVER = 25.0  # issue 24: within 25 s of the cut (15 s without an answer, then the lease)
CUT_AFTER_TAKEOVER = 10.0  # the cut lasts this long after the takeover: A must not come back


async def lease_row(url: str) -> tuple[str, int]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute("SELECT holder, epoch FROM leader_lease")).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


async def _settled(store: Any) -> bool:
    return not await store.pending()


async def test_the_standby_takes_over_when_the_active_one_loses_matrix_but_not_the_database(
    homeserver: EmbeddedHomeserver, tmp_path: Path, pg_url: str
) -> None:
    proxy = RateLimitingProxy(upstream=homeserver.url)
    await proxy.start()
    async with world(homeserver, tmp_path, "doctor", "l1", "l2", database=pg_url) as w:
        await w.seed(w.config(), {1: ["l1"], 2: ["l2"]})
        a = Instance(w, "a", pg_url, homeserver=proxy.url)
        b = Instance(w, "b", pg_url)
        doctor, l1 = w.people["doctor"].c, w.people["l1"].c
        stop = asyncio.Event()
        helpers = [asyncio.create_task(auto_join(w, key, stop)) for key in ("doctor", "l1", "l2")]
        try:
            await a.start()
            await a.becomes("active", 60)
            await b.start()
            await b.becomes("standby", 60)
            a_holds = await lease_row(pg_url)
            dm = await doctor.create_dm(w.bot_id)
            await doctor.send_text(dm, "!vem kardiologi")  # A answers: it is the active one
            await doctor.wait_for(lambda s: s.room == dm and s.sender == w.bot_id, 30)

            # -- A's link to the homeserver goes dark; its database link does not ----------------
            proxy.cut()
            cut = time.monotonic()
            await doctor.send_text(dm, f"!konsult kardiologi fråga under avbrottet: {QUESTION}")
            took_over = await b.becomes("active", TAKEOVER + 5) - cut
            assert await a.exited(30) == EXIT_STEPPED_DOWN
            assert "no answer from the homeserver" in a.log.read_text()
            b_holds = await lease_row(pg_url)
            assert b_holds[0] != a_holds[0] and b_holds[1] > a_holds[1]
            page = await l1.wait_for(
                lambda s: (
                    s.kind == "message"
                    and s.sender == w.bot_id
                    and s.msgtype == "m.text"
                    and "fråga under avbrottet" in s.body
                ),
                30,
            )

            # -- A started again (systemd) while the cut lasts: it does not take the lease -------
            await a.start()
            watched_until = time.monotonic() + CUT_AFTER_TAKEOVER
            while time.monotonic() < watched_until:
                assert await lease_row(pg_url) == b_holds
                assert await a.role() != "active"
                await asyncio.sleep(0.2)
            proxy.mend()
            await a.becomes("standby", 60)
            assert await lease_row(pg_url) == b_holds

            # -- settled ---------------------------------------------------------------------------
            await l1.react(page.room, page.event_id, "✅")
            await doctor.wait_until(
                lambda: bot_says(w, "doctor", "har kvitterat")[page.room] >= 1, 60
            )

            # -- the standby cut off: it does not take the lease B leaves behind -----------------
            proxy.cut()
            assert b.process is not None
            await b.process.kill()
            lapsed = time.monotonic() + 5.0 + CUT_AFTER_TAKEOVER  # the lease lasts 5 s
            while time.monotonic() < lapsed:
                assert await lease_row(pg_url) == b_holds
                await asyncio.sleep(0.2)
            proxy.mend()
            await a.becomes("active", 30)
            assert (await lease_row(pg_url))[1] > b_holds[1]

            store = await open_store(pg_url)
            try:
                await eventually(lambda: _settled(store), within=30, what="the outbox to be empty")
                consults = await store.consults_of(
                    UserId(w.people["doctor"].user_id), open_only=False
                )
            finally:
                await store.close()
            for key in ("doctor", "l1", "l2"):
                await caught_up(w, key)
        finally:
            proxy.mend()
            stop.set()
            await asyncio.gather(*helpers, return_exceptions=True)
            await a.stop()
            await b.stop()
            await proxy.stop()

    assert took_over < TAKEOVER, took_over
    assert len(consults) == 1 and [p.level for p in consults[0].pages] == [1]
    assert pages(w, "l1") == {(page.room, 1): 1}  # paged exactly once: none lost, none doubled
    replies = [
        s.body
        for s in doctor.seen
        if s.kind == "message" and s.room == dm and s.body.startswith("Konsultation K-")
    ]
    assert len(replies) == 1, replies
    assert bot_says(w, "doctor", "har kvitterat") == {page.room: 1}
    print(
        f"MATRIX CUT: takeover {took_over:.1f} s after the cut; "
        f"requests of A held by the cut: {len(proxy.during_cut)}"
    )
