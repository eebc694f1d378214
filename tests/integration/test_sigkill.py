"""SIGKILL at random moments across 100 consults, restarted each time (SPEC §6, §8).

One bot process at a time, killed with SIGKILL after a random uptime and started again, while a
requester asks 100 questions (one every few tenths of a second), the level-1 consultant
acknowledges every third page with a ✅ and lets the others escalate to level 2 and on to
"unanswered". The kills land wherever the bot happens to be: receiving requests, between the
consult room and the page, between a page and its deadline, during an acknowledgement. What the
bot had in flight at each kill is counted from its outbox.

Afterwards, checked from both ends (the database, and what the people's clients received):
every consult is in the state it must be in, each person was paged exactly once per level, no
request made two consults, and every deadline that passed while the bot was down fired within
2 s of its start. The figures are printed (`-s`) and written up in docs/faults.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.consult import escalation as esc
from consultbot.domain.types import UserId
from tests.support.waiting import eventually

from .harness import QUESTION, BotProcess, World, auto_join, database_bytes, world

pytestmark = [pytest.mark.integration, pytest.mark.faults]

CONSULTS = 100
ACK_TIMEOUT = 10  # the smallest a config file allows
ACK = timedelta(seconds=ACK_TIMEOUT)
MIN_KILLS = 20
RUNNING = b"consultbot is running"


def bot_pages(w: World, key: str) -> Counter[tuple[str, int]]:
    """How many pages `key` received, by (room, level)."""
    found: Counter[tuple[str, int]] = Counter()
    for s in w.people[key].c.seen:
        if s.kind == "message" and s.sender == w.bot_id and s.msgtype == "m.text":
            found[(s.room, 2 if "nivå 2" in s.body else 1)] += 1
    return found


async def acknowledge_every_third(w: World, stop: asyncio.Event, acked: dict[int, str]) -> None:
    """Level 1 reacts ✅ to the pages of questions 0, 3, 6, …"""
    l1 = w.people["l1"].c
    done: set[str] = set()

    def new_pages() -> list[tuple[str, str, int]]:
        found = []
        for s in l1.seen:
            if (
                s.kind == "message"
                and s.sender == w.bot_id
                and s.msgtype == "m.text"
                and "nivå 2" not in s.body
                and s.event_id not in done
            ):
                n = next((int(word[:-1]) for word in s.body.split() if word[:-1].isdigit()), -1)
                found.append((s.room, s.event_id, n))
        return found

    def ready() -> list[tuple[str, str, int]]:
        # A page can be seen before nio lists its room as joined (nio cannot send there yet):
        # it is reacted to once nio has the room.
        return [page for page in new_pages() if page[0] in l1.client.rooms]

    while not stop.is_set():
        for room, event_id, n in ready():
            done.add(event_id)
            if n >= 0 and n % 3 == 0:
                acked[n] = await l1.react(room, event_id, "✅")
        with contextlib.suppress(TimeoutError):
            await l1.wait_until(lambda: bool(ready()), 1)


def in_flight(database: Path, asked: list[str], acks: list[str]) -> set[str]:
    """What the killed bot was in the middle of, from its database."""
    phases: set[str] = set()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT kind, payload FROM outbox WHERE sent_at_ms IS NULL").fetchall()
        handled = {row[0] for row in db.execute("SELECT event_id FROM handled_event")}
    effects = {json.loads(payload).get("type") for kind, payload in rows if kind == "effect"}
    if "CreateRoom" in effects:
        phases.add("a consult room not yet made")
    if "PageLevel" in effects:
        phases.add("a page not yet sent")
    if "Invite" in effects:
        phases.add("the requester not yet invited")
    if any(event not in handled for event in asked):
        phases.add("a request not yet handled")
    if any(event not in handled for event in acks):
        phases.add("a ✅ not yet handled")
    return phases


def stamp(line: str) -> datetime:
    """The time of a bot log line, as an aware local time."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()


async def test_sigkill_at_random_moments_across_100_consults_loses_and_doubles_nothing(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    rng = random.Random(20261126)
    async with world(homeserver, tmp_path, "doctor", "l1", "l2") as w:
        path = w.write_config(ack_timeout=ACK_TIMEOUT, request_limit=0)
        await w.seed(w.config(), {1: ["l1"], 2: ["l2"]})
        log = tmp_path / "bot.log"
        bot = BotProcess(path, log)
        doctor = w.people["doctor"].c

        launched: list[datetime] = []  # when each process was started
        running: list[datetime] = []  # … said it was running
        killed: list[datetime] = []  # … was killed

        async def start() -> None:
            offset = log.stat().st_size if log.exists() else 0
            launched.append(datetime.now(UTC))
            await bot.start()
            async with asyncio.timeout(60):
                while RUNNING not in log.read_bytes()[offset:]:
                    assert bot.process is not None and bot.process.returncode is None
                    await asyncio.sleep(0.05)
            segment = log.read_bytes()[offset:].decode("utf-8", "replace").splitlines()
            running.append(next(stamp(line) for line in segment if RUNNING.decode() in line))

        await start()
        dm = await doctor.create_dm(w.bot_id)
        stop = asyncio.Event()
        acked: dict[int, str] = {}  # question → the ✅ reacting to its page
        no_more_acks = asyncio.Event()
        acking = asyncio.create_task(acknowledge_every_third(w, no_more_acks, acked))
        helpers = [
            asyncio.create_task(auto_join(w, "l1", stop)),
            asyncio.create_task(auto_join(w, "l2", stop)),
            acking,
        ]
        kills: list[set[str]] = []
        sent: list[str] = []  # every request the doctor sent
        asked = asyncio.Event()

        async def killer() -> None:
            # Kill at random moments while questions come in, and on while consults are
            # paged, escalated and acknowledged: at least MIN_KILLS times, however fast the
            # machine.
            asked_at: float | None = None
            while (
                asked_at is None
                or time.monotonic() < asked_at + 2.5 * ACK_TIMEOUT
                or len(kills) < MIN_KILLS
            ):
                await asyncio.sleep(rng.uniform(0.5, 3.5))
                if asked_at is None and asked.is_set():
                    asked_at = time.monotonic()
                await bot.kill()
                killed.append(datetime.now(UTC))
                kills.append(in_flight(tmp_path / "consultbot.db", sent, list(acked.values())))
                await asyncio.sleep(rng.uniform(0.0, 1.5))  # down for a while
                await start()

        killing = asyncio.create_task(killer())
        try:
            for n in range(CONSULTS):
                sent.append(
                    await doctor.send_text(dm, f"!konsult kardiologi fråga {n}: {QUESTION}")
                )
                await asyncio.sleep(rng.uniform(0.05, 0.6))
            asked.set()
            await killing

            # Every question answered with its own consult number, once.
            def replies() -> list[str]:
                return [
                    s.body
                    for s in doctor.seen
                    if s.kind == "message" and s.room == dm and s.sender == w.bot_id
                ]

            try:
                await doctor.wait_until(
                    lambda: (
                        len([r for r in replies() if r.startswith("Konsultation K-")]) >= CONSULTS
                    ),
                    120,
                )
            except TimeoutError:
                undecryptable = [
                    s for s in doctor.seen if s.kind == "undecryptable" and s.sender == w.bot_id
                ]
                print(
                    "DIAG replies",
                    len([r for r in replies() if r.startswith("Konsultation K-")]),
                    "undecryptable in dm",
                    len([s for s in undecryptable if s.room == dm]),
                    "elsewhere",
                    len([s for s in undecryptable if s.room != dm]),
                    "l1 undecryptable",
                    len([s for s in w.people["l1"].c.seen if s.kind == "undecryptable"]),
                    "l1 pages",
                    len(bot_pages(w, "l1")),
                )
                raise
            # The consultant stops acknowledging; every ✅ sent must then be handled.
            no_more_acks.set()
            await acking
            store = await SqliteStore.open(tmp_path / "consultbot.db")
            try:
                # Every consult settles: acknowledged, or unanswered after level 2.
                async def settled() -> list[esc.Consult]:
                    found = await store.consults_of(
                        UserId(w.people["doctor"].user_id), open_only=False
                    )
                    return found

                async def all_settled() -> bool:
                    consults = await settled()
                    return (
                        len(consults) >= CONSULTS
                        and all(
                            c.state in (esc.State.ACKNOWLEDGED, esc.State.UNANSWERED)
                            for c in consults
                        )
                        and await store.pending() == []
                        and all([await store.is_handled(e) for e in acked.values()])
                    )

                await eventually(
                    all_settled,
                    within=4 * ACK_TIMEOUT + 60,
                    every=0.5,
                    what="every consult acknowledged or unanswered, every ✅ handled, the"
                    " outbox empty",
                )
                consults = await settled()
                logs = {c.id: await store.events(c.id) for c in consults}
            finally:
                await store.close()
        except BaseException:
            stop.set()
            no_more_acks.set()
            await asyncio.gather(*helpers, return_exceptions=True)
            raise
        finally:
            killing.cancel()
            await asyncio.gather(killing, return_exceptions=True)
            await bot.stop()

        # -- one consult per question, none twice --------------------------------------------
        assert len(consults) == CONSULTS
        numbers = [r.split()[1] for r in replies() if r.startswith("Konsultation K-")]
        assert len(numbers) == len(set(numbers)) == CONSULTS
        rooms = {c.room for c in consults}
        assert len(rooms) == CONSULTS and "" not in rooms
        # The doctor was let into every consult room (invited after its first page).
        await doctor.wait_until(
            lambda: rooms <= {s.room for s in doctor.seen if s.kind == "invite"}, 30
        )

        # -- each person paged exactly once per level (the database's word) -------------------
        for c in consults:
            levels = [p.level for p in c.pages]
            assert levels in ([1], [1, 2]), (c.id, levels)
            kinds = [e.kind for e in logs[c.id]]
            assert kinds.count("requested") == 1 and kinds.count("room_created") == 1, kinds
            if c.acked_by is not None:
                after_ack = kinds[kinds.index("acknowledged") + 1 :]
                assert "paged" not in after_ack, (c.id, kinds)
            else:
                assert levels == [1, 2] and c.state is esc.State.UNANSWERED

        # -- … and the clients' word: what l1 and l2 actually received -----------------------
        l1_pages, l2_pages = bot_pages(w, "l1"), bot_pages(w, "l2")

        async def received_all() -> bool:
            nonlocal l1_pages, l2_pages
            l1_pages, l2_pages = bot_pages(w, "l1"), bot_pages(w, "l2")
            return all(l1_pages[(c.room, 1)] >= 1 for c in consults) and all(
                l2_pages[(c.room, 2)] >= 1 for c in consults if c.acked_by is None
            )

        try:
            async with asyncio.timeout(90):
                while True:
                    if await received_all():
                        break
                    await asyncio.sleep(0.2)
        except TimeoutError:
            # A page the person never got, or got but could never read (its room key never
            # reached their device): either is a lost page.
            lost = []
            for key, level, pages in (("l1", 1, l1_pages), ("l2", 2, l2_pages)):
                user = w.people[key].c
                for c in consults:
                    if (c.room, level) in pages or (level == 2 and c.acked_by is not None):
                        continue
                    from_bot = [s for s in user.seen if s.room == c.room and s.sender == w.bot_id]
                    locked = {s.key for s in from_bot if s.kind == "undecryptable"}
                    keys = {s.key for s in user.seen if s.kind == "room_key" and s.room == c.room}
                    lost.append(
                        f"{key} level {level} {c.id} (joined {c.room in user.client.rooms}): "
                        f"{dict(Counter(s.kind for s in from_bot))}, "
                        f"{len(locked - keys)} room key(s) never came"
                    )
            olm = sum(
                1 for k in ("l1", "l2") for s in w.people[k].c.seen if s.kind == "olm_undecryptable"
            )
            dead = {k: repr(w.people[k].c.sync_error) for k in w.people if w.people[k].c.sync_error}
            raise AssertionError(
                f"pages lost ({olm} Olm messages undecryptable; clients whose sync ended: "
                f"{dead or 'none'}): {'; '.join(lost)}"
            ) from None
        finally:
            stop.set()
            await asyncio.gather(*helpers, return_exceptions=True)
        for c in consults:
            assert l1_pages[(c.room, 1)] == 1, (c.id, l1_pages[(c.room, 1)])
            # Level 2 once when nobody acknowledged; an escalation that an acknowledgement
            # overtook before its page went out is dropped (0), never sent after it.
            expected = (1,) if c.acked_by is None else ((0, 1) if c.escalated else (0,))
            assert l2_pages[(c.room, 2)] in expected, (c.id, l2_pages[(c.room, 2)])
        acknowledged = [c for c in consults if c.state is esc.State.ACKNOWLEDGED]
        assert len(acknowledged) == len(acked)

        # -- deadlines that passed while the bot was down fired within 2 s of its start -------
        # A level's time starts when its page went out ("page_delivered"); it is never cut
        # short, however late the page went out after the kills.
        overdue_delays: list[float] = []
        sent_late: list[float] = []  # seconds from a page's decision to its going out
        reported = 0  # pages not out one timeout after their decision (requester, admins told)
        for c in consults:
            kinds = [e.kind for e in logs[c.id]]
            reported += kinds.count("page_undelivered")
            if "page_undelivered" in kinds and c.acked_by is None:
                # Reported, and still sent: the report never replaces the page.
                assert "page_delivered" in kinds[kinds.index("page_undelivered") :], kinds
            decided: datetime | None = None
            deadline: str | None = None
            for after in logs[c.id]:
                if after.kind == "paged":
                    decided = after.at
                if after.kind == "page_delivered":
                    assert decided is not None and deadline is None, (c.id, logs[c.id])
                    sent_late.append((after.at - decided).total_seconds())
                    deadline = after.data["deadline"]
                    # (the log keeps instants to the millisecond)
                    late = datetime.fromisoformat(deadline) - (after.at + ACK)
                    assert abs(late.total_seconds()) < 0.001, c.id
                if after.kind == "acknowledged":
                    deadline = None
                if after.kind not in ("paged", "unanswered") or after.at == c.requested_at:
                    continue
                assert deadline is not None, (c.id, "escalated before its page went out")
                due = datetime.fromisoformat(deadline)
                deadline = None
                assert after.at >= due, (c.id, "escalated before its level's time was out")
                # The process that fired it: started before it and not killed before it.
                n = max(k for k, at in enumerate(launched) if at <= after.at)
                assert n == len(killed) or after.at <= killed[n]
                if due < running[n]:
                    # Overdue when this process started: measured from its "running" line
                    # (negative when it fired before the start was complete).
                    delay = (after.at - running[n]).total_seconds()
                    overdue_delays.append(delay)
                else:
                    delay = (after.at - due).total_seconds()  # due while it ran
                assert delay < 2.0, (c.id, due, running[n], after.at)
        # -- after all that, neither the database nor the log holds a question --------------
        stored = database_bytes(tmp_path)
        written = log.read_bytes()
        for secret in ("förmaksflimmer", "fråga 7:", QUESTION[:20]):
            assert secret.encode() not in stored and secret.encode() not in written, secret
        phases = Counter(phase for phases in kills for phase in phases)
        between = len([c for c in consults for p in c.pages if p.level == 2])
        overtaken = len([c for c in consults if c.escalated and not l2_pages[(c.room, 2)]])
        level1 = sum(l1_pages[(c.room, 1)] for c in consults)
        level2 = sum(l2_pages[(c.room, 2)] for c in consults)
        print(
            f"SIGKILL: {len(kills)} kills over {CONSULTS} consults; kills with in flight: "
            f"{dict(phases)}; pages received: level 1 {level1}, level 2 {level2} "
            f"({between} escalations, {overtaken} overtaken by an ack before their page went "
            f"out); acknowledged {len(acknowledged)}, unanswered "
            f"{CONSULTS - len(acknowledged)}; duplicates 0; deadlines overdue at a start: "
            f"{len(overdue_delays)}, fired at most {max(overdue_delays, default=0):.2f} s after "
            f"it; pages out after their decision: at most {max(sent_late):.1f} s ({reported} "
            "reported as not out in time)"
        )
