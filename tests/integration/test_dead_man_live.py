"""The notice the homeserver posts when the bot is gone, on the real Synapse (issue 24 item 2;
engine/dead_man.py, adapters/matrix/delayed.py): the bot as a process, SIGKILLed with open
consults → the notice appears in each open consult room within the delay (+ a few seconds),
and not in the room of a consult closed before; started again, the bot says it answers again
and schedules new notices; a normal restart inside the delay → no notice
(and the restarted bot keeps it: killed, the notice then appears); two instances on
PostgreSQL, the active one killed → the standby takes over and keeps it; a homeserver without
delayed events → nothing scheduled, and `doctor` says so."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psycopg
import pytest

from consultbot.app import running_bot
from consultbot.config import load_config
from consultbot.devkit.matrix_user import Seen
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.engine.dead_man import META
from tests.support.waiting import eventually

from .harness import (
    QUESTION,
    BotProcess,
    World,
    ask,
    free_loopback_port,
    from_bot,
    is_page,
    world,
)
from .test_doctor import doctor, line
from .test_failover import Instance

pytestmark = [pytest.mark.integration]

DELAY = 6  # bot.dead_man_seconds in these tests
MARGIN = 5  # "within the delay + a few seconds"
NOTICE = "Konsultboten svarar inte just nu. Ring växeln 023-49 00 00."


def stored_notices(folder: Path) -> dict[str, str]:
    """consult → delay id, as the bot stored them."""
    with sqlite3.connect(f"file:{folder / 'consultbot.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(META), META)
        ).fetchall()
    return {key[len(META) :]: value for key, value in rows}


def notice_in(w: World, room: str) -> Callable[[Seen], bool]:
    return from_bot(w, room, NOTICE, notice=True)


async def acknowledged_consult(w: World, n: int) -> tuple[str, str]:
    """The doctor asks, level 1 joins and acknowledges; (consult number, room). An
    acknowledged consult stays open (no level timeout closes it during the test)."""
    l1 = w.people["l1"].c
    earlier = {s.room for s in l1.seen if s.kind == "invite"}
    _, number = await ask(w, f"{QUESTION} ({n})")
    invite = await l1.wait_for(lambda s: s.kind == "invite" and s.room not in earlier, 30)
    room = invite.room
    await l1.join(room)
    page = await l1.wait_for(is_page(w.bot_id, room), 30)
    await l1.react(room, page.event_id, "✅")
    await l1.wait_for(from_bot(w, room, "har kvitterat"), 30)
    return number, room


async def test_sigkill_posts_the_notice_in_every_open_consult_room_and_not_in_a_closed_one(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        path = w.write_config(dead_man_seconds=DELAY)
        await w.seed(w.config(), {1: ["l1"]})
        bot = BotProcess(path, tmp_path / "bot.log")
        await bot.start()
        try:
            await bot.wait_running()
            l1 = w.people["l1"].c
            consults = [await acknowledged_consult(w, n) for n in range(3)]
            _, closed_room = consults[2]
            await l1.send_text(closed_room, "!avsluta råd")
            await l1.wait_for(from_bot(w, closed_room, "avslutad: råd"), 30)
            open_numbers = {number for number, _ in consults[:2]}
            await eventually(
                lambda: set(stored_notices(tmp_path)) == open_numbers,
                within=30,
                what="a notice stored for each open consult, none for the closed one",
            )
            # Nothing is posted while the bot runs: it keeps postponing the notices.
            assert not [s for s in l1.seen if NOTICE in s.body]

            await bot.kill()
            killed = time.monotonic()
            for _, room in consults[:2]:
                seen = await l1.wait_for(notice_in(w, room), DELAY + MARGIN)
                assert seen.msgtype == "m.notice" and seen.sender == w.bot_id
            assert time.monotonic() - killed <= DELAY + MARGIN
            # The closed consult's notice was cancelled: due by now had it been kept (its last
            # restart was before the kill, like the others').
            with pytest.raises(TimeoutError):
                await l1.wait_for(notice_in(w, closed_room), 2)
            for _, room in consults[:2]:  # one notice per room
                assert len([s for s in l1.seen if s.room == room and NOTICE in s.body]) == 1
            # Started again, the bot finds the notices posted: it says it answers again, and
            # each open room gets a new notice.
            posted = stored_notices(tmp_path)
            await bot.start()
            await bot.wait_running()
            for _, room in consults[:2]:
                await l1.wait_for(from_bot(w, room, "Konsultboten svarar igen."), 30)
            await eventually(
                lambda: (
                    set(stored_notices(tmp_path)) == open_numbers
                    and not set(stored_notices(tmp_path).values()) & set(posted.values())
                ),
                within=30,
                what="a new notice for each open consult",
            )
            log = (tmp_path / "bot.log").read_text()
            for delay_id in [*posted.values(), *stored_notices(tmp_path).values()]:
                assert delay_id not in log  # a bearer capability: never logged
        finally:
            await bot.stop()


async def test_a_restart_inside_the_delay_posts_no_notice_and_keeps_it(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        path = w.write_config(dead_man_seconds=DELAY)
        await w.seed(w.config(), {1: ["l1"]})
        log = tmp_path / "bot.log"
        bot = BotProcess(path, log)
        await bot.start()
        try:
            await bot.wait_running()
            l1 = w.people["l1"].c
            number, room = await acknowledged_consult(w, 0)
            await eventually(
                lambda: number in stored_notices(tmp_path), within=30, what="the notice stored"
            )
            [delay_id] = stored_notices(tmp_path).values()

            await bot.stop()  # SIGTERM: a normal stop leaves the notice pending …
            stopped = time.monotonic()
            await bot.start()
            await bot.wait_running()
            assert time.monotonic() - stopped < DELAY  # (the test's premise)
            # … and the new process adopts it: no notice, though the delay passed twice over.
            with pytest.raises(TimeoutError):
                await l1.wait_for(notice_in(w, room), 2 * DELAY + 2)
            assert stored_notices(tmp_path) == {number: delay_id}  # the same one, adopted

            await bot.kill()  # still kept: gone now, the notice appears
            await l1.wait_for(notice_in(w, room), DELAY + MARGIN)
        finally:
            await bot.stop()


TAKEOVER_DELAY = 15  # bot.dead_man_seconds with two instances: a takeover takes 5–8 s


async def stored_on_pg(url: str) -> dict[str, str]:
    """consult → delay id, as the instances stored them on PostgreSQL."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        rows = await (
            await conn.execute(
                "SELECT key, value FROM meta WHERE substr(key, 1, %s) = %s", (len(META), META)
            )
        ).fetchall()
    return {str(key)[len(META) :]: str(value) for key, value in rows}


async def test_a_takeover_inside_the_delay_posts_no_notice_and_keeps_it(
    homeserver: EmbeddedHomeserver, tmp_path: Path, pg_url: str
) -> None:
    """Two instances on PostgreSQL: the active one SIGKILLed, the standby takes over and keeps
    the notice postponed (no notice, though the delay passes twice over); the standby killed
    too, nobody answers: the notice appears."""
    async with world(homeserver, tmp_path, "doctor", "l1", database=pg_url) as w:
        await w.seed(w.config(), {1: ["l1"]})
        a = Instance(w, "a", pg_url, dead_man_seconds=TAKEOVER_DELAY)
        b = Instance(w, "b", pg_url, dead_man_seconds=TAKEOVER_DELAY)
        try:
            await a.start()
            await a.becomes("active", 60)
            await b.start()
            await b.becomes("standby", 60)
            l1 = w.people["l1"].c
            number, room = await acknowledged_consult(w, 0)

            async def stored() -> bool:
                return number in await stored_on_pg(pg_url)

            await eventually(stored, within=30, what="the notice stored")
            assert a.process is not None
            await a.process.kill()
            killed = time.monotonic()
            await b.becomes("active", TAKEOVER_DELAY)
            assert time.monotonic() - killed < TAKEOVER_DELAY  # (the test's premise)
            with pytest.raises(TimeoutError):
                await l1.wait_for(notice_in(w, room), 2 * TAKEOVER_DELAY + 2)
            assert number in await stored_on_pg(pg_url)

            assert b.process is not None
            await b.process.kill()  # nobody left: the notice appears
            await l1.wait_for(notice_in(w, room), TAKEOVER_DELAY + MARGIN)
        finally:
            await a.stop()
            await b.stop()


@pytest.fixture(scope="module")
async def old_homeserver(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EmbeddedHomeserver]:
    """A homeserver without delayed events (no `max_event_delay_duration`)."""
    async with EmbeddedHomeserver(
        data_dir=tmp_path_factory.mktemp("synapse-old"),
        port=free_loopback_port(),
        relax_rate_limits=True,
        fast_passwords=True,
        delayed_events=False,
    ) as server:
        yield server


async def test_without_delayed_events_nothing_is_scheduled_and_doctor_says_so(
    old_homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(old_homeserver, tmp_path, "doctor", "l1") as w:
        path = w.write_config(dead_man_seconds=DELAY)
        config = load_config(path)
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config) as bot:
            l1 = w.people["l1"].c
            number, room = await acknowledged_consult(w, 0)
            dead_man = bot.service.dead_man
            await eventually(
                lambda: dead_man.offered is False, within=10, what="the feature found missing"
            )
            assert dead_man.kept == frozenset()
            assert stored_notices(tmp_path) == {}
            # The bot runs as today: it still answers in the room.
            await l1.send_text(room, "!avsluta råd")
            await l1.wait_for(from_bot(w, room, "avslutad: råd"), 30)
            assert not [s for s in l1.seen if NOTICE in s.body]
        _, lines = await doctor(path)
        found = line(lines, "meddelande när boten är borta")
        assert found.startswith("VARNING") and "erbjuder inte fördröjda händelser" in found
        assert number == "K-000001"


async def test_doctor_says_the_dev_homeserver_offers_delayed_events(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path) as w:
        path = w.write_config(dead_man_seconds=DELAY)
        _, lines = await doctor(path)
        found = line(lines, "meddelande när boten är borta")
        assert found.startswith("OK") and f"efter {DELAY} s" in found
