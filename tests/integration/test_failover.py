"""Two `consultbot run` processes on one PostgreSQL database: failover at the worst moments.

SPEC §8 "More than one machine", issue 13 item 2. One bot user; two processes A and B, each with
its own device and E2EE store, one database. The active one is stopped three times, each time
at a moment chosen to hurt, and started again afterwards as the standby (as systemd would):

1. SIGKILL just before a page: A has recorded consult 1 and is about to page level 1. While
   nobody is active the doctor asks a second question. B takes over, pages both once and
   answers the second request once; level 1 acknowledges consult 1.
2. SIGKILL between a page and its deadline: B is killed 3 s before consult 2's level-1
   deadline, so the deadline passes during the failover. A takes over and fires the overdue
   escalation: level 2 paged once.
3. SIGSTOP during an acknowledgement: A has recorded level 2's ✅ and freezes before it has
   sent the confirmation. B takes over, sends the confirmation once, and does not handle the
   ✅ again. A is woken (SIGCONT): it sends nothing and exits, stepping down (exit code 75).
4. The network to the database cut: B's connection to PostgreSQL runs through a gate that stops
   passing bytes (connections stay open, as when a link goes dark). The doctor asks a third
   question just after. B cannot record it, steps down (exit 75) and A, taking over, handles it
   once: one reply, one page.

Each time the standby says "active" on /healthz within 10 s of the active one's death. At the
end, from the database and from what people's clients received: every consult handled, each
level paged exactly once, each acknowledgement honoured once, nothing left in the outbox. The
residual double-send window (the homeserver accepted a send, the outbox has not yet marked it
sent) is measured from the same pages and printed (`-s`); docs/failover.md has the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psycopg
import pytest

from consultbot.adapters.sql.stores import open_store
from consultbot.app import EXIT_STEPPED_DOWN
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.consult import escalation as esc
from consultbot.domain.types import UserId

from .harness import QUESTION, BotProcess, World, auto_join, free_loopback_port, world

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ACK_TIMEOUT = 15  # level 1 has time to acknowledge consult 1 after the first failover
TAKEOVER = 10.0  # SPEC §8: the standby takes over within 10 s
HOOK = "tests.integration.failover_bot"


class Instance:
    """One `consultbot run` process of the pair: its config, log and /healthz port."""

    def __init__(
        self, w: World, name: str, database: str, homeserver: str = "", **bot: Any
    ) -> None:
        self.name = name
        self.port = free_loopback_port()
        data = w.config_dict()
        if homeserver:  # a proxy in front of the homeserver (test_matrix_cut.py)
            data["matrix"]["homeserver"] = homeserver
        data["bot"].update(bot)  # further [bot] keys (test_dead_man_live.py)
        data["matrix"]["store_path"] = str(w.folder / f"store-{name}")
        data["matrix"]["device_name"] = f"consultbot-{name}"
        data["bot"]["database"] = database
        data["metrics"] = {"listen": f"127.0.0.1:{self.port}"}
        self.config = w.write_config(
            ack_timeout=ACK_TIMEOUT, path=w.folder / f"config-{name}.toml", data=data
        )
        self.log = w.folder / f"bot-{name}.log"
        self.process: BotProcess | None = None

    async def start(self, die_at: str = "", die_by: str = "KILL") -> None:
        env = {"CONSULTBOT_TEST_DIE_AT": die_at, "CONSULTBOT_TEST_DIE_BY": die_by}
        self.process = BotProcess(self.config, self.log, module=HOOK, env=env)
        await self.process.start()

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.process is not None
        return self.process.process.pid

    async def role(self) -> str | None:
        """What /healthz says this instance is, None while it does not answer."""
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                body: dict[str, Any] = json.loads(await response.text())
        except (aiohttp.ClientError, ValueError):
            return None
        return str(body.get("role")) if response.status == 200 else None

    async def becomes(self, role: str, seconds: float) -> float:
        """Wait until /healthz says `role`; the time.monotonic() when it did."""
        async with asyncio.timeout(seconds):
            while True:
                assert self.process is not None and self.process.process is not None
                assert self.process.process.returncode is None, self.log.read_text()
                if await self.role() == role:
                    return time.monotonic()
                await asyncio.sleep(0.1)

    async def exited(self, seconds: float = 30) -> int:
        assert self.process is not None and self.process.process is not None
        async with asyncio.timeout(seconds):
            return await self.process.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.process is not None:
            # A frozen process would not see SIGTERM: wake it first.
            with contextlib.suppress(ProcessLookupError):
                self.process.process.send_signal(signal.SIGCONT)
            await self.process.stop()


class Gate:
    """A TCP relay in front of PostgreSQL that can be cut: bytes stop flowing both ways while the
    connections stay open (a link gone dark, not a refused connection)."""

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 5432)
        self._url = parsed
        self.cut = False
        self.server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        netloc = f"{self._url.username}@127.0.0.1:{port}"
        return urlunsplit(self._url._replace(netloc=netloc))

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [writer, up_writer]

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    if not self.cut:
                        sink.write(data)
                        await sink.drain()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        for w in (writer, up_writer):
            w.close()

    async def stop(self) -> None:
        for w in self._writers:
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def pages(w: World, key: str) -> Counter[tuple[str, int]]:
    """The pages `key`'s client received from the bot, by (room, level)."""
    found: Counter[tuple[str, int]] = Counter()
    for s in w.people[key].c.seen:
        if s.kind == "message" and s.sender == w.bot_id and s.msgtype == "m.text":
            found[(s.room, 2 if "nivå 2" in s.body else 1)] += 1
    return found


def bot_says(w: World, key: str, text: str) -> Counter[str]:
    """How many messages from the bot holding `text` `key` saw, by room."""
    return Counter(
        s.room
        for s in w.people[key].c.seen
        if s.kind == "message" and s.sender == w.bot_id and text in s.body
    )


async def page_marks(url: str) -> list[tuple[str, int, int]]:
    """(consult, level, sent_at_ms) of every page the outbox marked sent: its page_delivered
    event, recorded in the transaction of the sent mark and at its time (a sent outbox entry
    keeps no payload to read the level from)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT consult_id, data, at_ms FROM consult_event"
            " WHERE kind = 'page_delivered' ORDER BY consult_id, seq"
        )
        rows = await cursor.fetchall()
    return [(str(c), int(json.loads(data)["level"]), int(at)) for c, data, at in rows]


async def caught_up(w: World, key: str) -> None:
    """`key` asks the bot something and gets the answer: their client has seen everything the
    bot sent before it (a barrier, so that a doubled message would have been seen by now)."""
    user = w.people[key].c
    room = await user.create_dm(w.bot_id)
    await user.send_text(room, "!vem kardiologi")
    await user.wait_for(lambda s: s.room == room and s.sender == w.bot_id, 30)


async def test_the_standby_takes_over_at_the_worst_moments_and_nothing_is_lost_or_doubled(
    homeserver: EmbeddedHomeserver, tmp_path: Path, pg_url: str
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "l2", database=pg_url) as w:
        await w.seed(w.config(), {1: ["l1"], 2: ["l2"]})
        gate = Gate(pg_url)
        a, b = Instance(w, "a", pg_url), Instance(w, "b", await gate.start())
        doctor, l1, l2 = (w.people[k].c for k in ("doctor", "l1", "l2"))
        stop = asyncio.Event()
        helpers = [asyncio.create_task(auto_join(w, key, stop)) for key in ("doctor", "l1", "l2")]
        takeovers: list[float] = []

        def page_of(user: Any, text: str, level: int = 1) -> Any:
            return next(
                s
                for s in user.seen
                if s.kind == "message"
                and s.sender == w.bot_id
                and s.msgtype == "m.text"
                and text in s.body
                and ("nivå 2" in s.body) == (level == 2)
            )

        try:
            await a.start(die_at="page", die_by="KILL")
            await a.becomes("active", 60)
            await b.start()
            await b.becomes("standby", 60)
            dm = await doctor.create_dm(w.bot_id)

            # -- 1. SIGKILL just before a page -------------------------------------------------
            await doctor.send_text(dm, f"!konsult kardiologi fråga 1: {QUESTION}")
            assert await a.exited() == -signal.SIGKILL
            died = time.monotonic()
            # Asked while nobody is active: handled by whoever takes over, once.
            await doctor.send_text(dm, f"!konsult kardiologi fråga 2: {QUESTION}")
            takeovers.append(await b.becomes("active", TAKEOVER + 5) - died)
            await a.start(die_at="ack", die_by="STOP")  # back, as the standby
            # Both pages carry their question: the new active instance could read both.
            await l1.wait_until(lambda: len(pages(w, "l1")) == 2, 60)
            first, second = page_of(l1, "fråga 1"), page_of(l1, "fråga 2")
            await l1.react(first.room, first.event_id, "✅")  # consult 1 is taken
            await doctor.wait_until(lambda: bot_says(w, "doctor", "har kvitterat") != {}, 60)
            await a.becomes("standby", 60)

            # -- 2. SIGKILL between a page and its deadline --------------------------------------
            store = await open_store(pg_url)
            try:
                consult2 = await store.consult_for_room(second.room)
                assert consult2 is not None
                found = await store.consult(consult2)
                assert found is not None and found.deadline is not None
                deadline = found.deadline.timestamp()
            finally:
                await store.close()
            # The lease lapses 4–5 s after the kill: the deadline passes while nobody is active.
            await asyncio.sleep(max(0.0, deadline - 3 - time.time()))
            assert b.process is not None
            await b.process.kill()
            died = time.monotonic()
            takeovers.append(await a.becomes("active", TAKEOVER + 5) - died)
            assert time.time() > deadline
            await b.start()  # back, as the standby
            await l2.wait_until(lambda: bool(pages(w, "l2")), 30)
            level2 = page_of(l2, "fråga 2", level=2)
            assert level2.room == second.room
            await b.becomes("standby", 60)

            # -- 3. SIGSTOP during an acknowledgement --------------------------------------------
            await l2.react(level2.room, level2.event_id, "✅")
            async with asyncio.timeout(30):
                while True:
                    if "SIGSTOP at ack" in a.log.read_text():
                        break
                    await asyncio.sleep(0.1)
            frozen = time.monotonic()
            takeovers.append(await b.becomes("active", TAKEOVER + 5) - frozen)
            await doctor.wait_until(
                lambda: bot_says(w, "doctor", "har kvitterat")[second.room] >= 1, 60
            )
            # The frozen one wakes: it sends nothing and steps down.
            assert a.process is not None and a.process.process is not None
            a.process.process.send_signal(signal.SIGCONT)
            assert await a.exited() == EXIT_STEPPED_DOWN
            assert "stepped down" in a.log.read_text()

            # -- 4. the network between B and the database cut ------------------------------------
            await a.start()
            await a.becomes("standby", 60)
            gate.cut = True
            cut = time.monotonic()
            await doctor.send_text(dm, f"!konsult kardiologi fråga 3: {QUESTION}")
            takeovers.append(await a.becomes("active", TAKEOVER + 5) - cut)
            third = await l1.wait_for(
                lambda s: s.kind == "message" and s.sender == w.bot_id and "fråga 3" in s.body, 30
            )
            await l1.react(third.room, third.event_id, "✅")
            await doctor.wait_until(
                lambda: bot_says(w, "doctor", "har kvitterat")[third.room] >= 1, 60
            )
            # Cut off, B stopped sending before A could take over, then stepped down.
            assert await b.exited() == EXIT_STEPPED_DOWN
            assert "database unreachable" in b.log.read_text()

            # -- settled: from the database ------------------------------------------------------
            store = await open_store(pg_url)
            try:
                async with asyncio.timeout(30):
                    while True:
                        if not await store.pending():
                            break
                        await asyncio.sleep(0.2)
                consults = await store.consults_of(
                    UserId(w.people["doctor"].user_id), open_only=False
                )
                logs = {c.id: await store.events(c.id) for c in consults}
            finally:
                await store.close()
            marks = await page_marks(pg_url)
            for key in ("doctor", "l1", "l2"):
                await caught_up(w, key)
            # A clean stop (SIGTERM) of the active one: exit code 0.
            assert a.process is not None and a.process.process is not None
            await a.process.stop()
            assert a.process.process.returncode == 0
        finally:
            stop.set()
            await asyncio.gather(*helpers, return_exceptions=True)
            await a.stop()
            await b.stop()
            await gate.stop()

        assert len(consults) == 3 and all(c.state is esc.State.ACKNOWLEDGED for c in consults)
        by_room = {c.room: c for c in consults}
        assert [p.level for p in by_room[first.room].pages] == [1]
        assert [p.level for p in by_room[second.room].pages] == [1, 2]
        assert [p.level for p in by_room[third.room].pages] == [1]
        for c in consults:
            kinds = [e.kind for e in logs[c.id]]
            assert kinds.count("requested") == 1 and kinds.count("acknowledged") == 1, kinds
            assert "paged" not in kinds[kinds.index("acknowledged") :], kinds

        # -- … and from what people received: each level paged once, each ack confirmed once ----
        assert pages(w, "l1") == {
            (first.room, 1): 1,
            (second.room, 1): 1,
            (second.room, 2): 1,
            (third.room, 1): 1,
        }
        assert pages(w, "l2")[(second.room, 2)] == 1 and max(pages(w, "l2").values()) == 1
        replies = [
            s.body
            for s in doctor.seen
            if s.kind == "message" and s.room == dm and s.body.startswith("Konsultation K-")
        ]
        assert len(replies) == 3 and len({r.split()[1] for r in replies}) == 3
        confirmed = bot_says(w, "doctor", "har kvitterat")
        assert [confirmed[p.room] for p in (first, second, third)] == [1, 1, 1], confirmed
        assert all(t < TAKEOVER for t in takeovers), takeovers

        # -- the residual window: the homeserver has accepted a page, the outbox not marked it --
        received = {
            (s.room, 2 if "nivå 2" in s.body else 1): s.source["origin_server_ts"]
            for s in l1.seen
            if s.kind == "message" and s.sender == w.bot_id and s.msgtype == "m.text"
        }
        rooms = {c.id: c.room for c in consults}
        windows = [
            sent_at - received[(rooms[consult], level)]
            for consult, level, sent_at in marks
            if (rooms.get(consult), level) in received
        ]
        assert len(windows) == 4
        print(
            f"FAILOVER: takeovers after death {', '.join(f'{t:.1f} s' for t in takeovers)}; "
            f"pages accepted → marked sent: {sorted(windows)} ms"
        )
