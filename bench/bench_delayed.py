"""Benchmark: how many restarts of delayed notices a second the homeserver answers, idle and
beside a rush, one at a time and several at once (issue 24: the notice for when the bot is
gone, `engine/dead_man.py` `IN_FLIGHT`).

The bot keeps one MSC4140 delayed notice in every open consult room and restarts each one
every third of its delay (60 s by default): at 790 open consults, about 40 restarts a second.
If the homeserver answers them more slowly than that, the restarts fall behind and it posts
the notices in the rooms of a bot that runs. This measures what decides it:

1. Starts the development homeserver (Synapse on SQLite, on loopback, rate limits off for the
   two users, as `make run` does) in a work directory.
2. A "bot" user creates `--rooms` rooms and schedules a delayed notice in each (an hour's
   delay: none is posted during the run).
3. Restarts every notice, one at a time and then with 4, 8 and 16 requests unanswered at once
   (the same request the bot sends), on an idle homeserver.
4. Again beside a rush: a second user sends, over and over, 50 messages and 50 state events
   at once into 50 rooms of its own (the homeserver persists each as an event, as it does a
   rush's pages, invites and names), each way for 30 s at least. For each way: the restarts
   answered a second, the median answer, and the rush's events a second meanwhile (against
   the rush alone, last).

Run: `.venv/bin/python bench/bench_delayed.py` (records into BENCHMARKS.md unless --no-record).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import benchlib

from consultbot.devkit.synapse import EmbeddedHomeserver

MARK_START = "<!-- bench_delayed:start -->"
MARK_END = "<!-- bench_delayed:end -->"
DELAY_MS = 3_600_000  # an hour: nothing is posted during the run
MANAGE = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events"
RUSH_ROOMS = 50
AT_ONCE = (4, 8, 16)
RUSH_SECONDS = 30.0  # each row beside the rush lasts this long at least (the rush's events
# land in rounds of 100: a short window counts them too coarsely)


@dataclass
class Row:
    way: str
    rate: float  # restarts answered a second
    median_ms: float
    rush: float | None  # the rush's events a second meanwhile


class Homeserver:
    """Requests as the two users, over one HTTP session."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def call(
        self, token: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.request(method, self.url + path, json=body, headers=headers) as r:
            answer = await r.json(content_type=None)
            if r.status != 200:
                raise RuntimeError(f"{method} {path.split('?')[0]}: HTTP {r.status}")
            return answer if isinstance(answer, dict) else {}

    async def rooms(self, token: str, count: int) -> list[str]:
        made: list[str] = []
        while len(made) < count:
            batch = min(10, count - len(made))
            answers = await asyncio.gather(
                *(
                    self.call(
                        token, "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}
                    )
                    for _ in range(batch)
                )
            )
            made += [str(a["room_id"]) for a in answers]
        return made

    async def restart(self, token: str, delay_id: str) -> float:
        started = time.perf_counter()
        await self.call(token, "POST", f"{MANAGE}/{delay_id}", {"action": "restart"})
        return time.perf_counter() - started


async def restarts(
    hs: Homeserver, token: str, ids: list[str], at_once: int, seconds: float = 0.0
) -> tuple[float, float]:
    """Restart every notice with `at_once` requests unanswered at most, round after round
    until `seconds` have passed (one round at least): (restarts a second, median answer)."""
    gate = asyncio.Semaphore(at_once)
    answers: list[float] = []

    async def one(delay_id: str) -> None:
        async with gate:
            answers.append(await hs.restart(token, delay_id))

    started = time.perf_counter()
    while True:
        await asyncio.gather(*(one(d) for d in ids))
        if time.perf_counter() - started >= seconds:
            break
    return len(answers) / (time.perf_counter() - started), statistics.median(answers)


class Rush:
    """50 messages and 50 state events at once into 50 rooms, over and over."""

    def __init__(self, hs: Homeserver, token: str, rooms: list[str]) -> None:
        self.hs, self.token, self.rooms = hs, token, rooms
        self.events = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _one(self, room: str, txn: str) -> None:
        path = f"/_matrix/client/v3/rooms/{room}"
        await self.hs.call(
            self.token,
            "PUT",
            f"{path}/send/m.room.message/{txn}",
            {"msgtype": "m.text", "body": "x" * 200},
        )
        await self.hs.call(self.token, "PUT", f"{path}/state/m.room.topic/", {"topic": txn})
        self.events += 2

    async def _run(self) -> None:
        round_ = 0
        while not self._stop.is_set():
            await asyncio.gather(
                *(self._one(r, f"r{round_}-{n}") for n, r in enumerate(self.rooms))
            )
            round_ += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def rate_during(self, work: Any) -> tuple[Any, float]:
        """Run `work` (a coroutine); its result and the rush's events a second meanwhile."""
        before, started = self.events, time.perf_counter()
        result = await work
        return result, (self.events - before) / (time.perf_counter() - started)


async def measure(workdir: Path, rooms: int) -> tuple[list[Row], float]:
    shutil.rmtree(workdir, ignore_errors=True)
    homeserver = EmbeddedHomeserver(
        data_dir=workdir / "synapse",
        port=benchlib.free_port(),
        relax_rate_limits=True,
        fast_passwords=True,
    )
    await homeserver.start()
    try:
        await homeserver.register_user("admin", "pw", admin=True)
        admin = await homeserver.login("admin", "pw")
        tokens = {}
        for user in ("bot", "rush"):
            await homeserver.register_user(user, "pw")
            await homeserver.exempt_from_rate_limits(homeserver.user_id(user), admin)
            tokens[user] = await homeserver.login(user, "pw")
        async with aiohttp.ClientSession() as session:
            hs = Homeserver(homeserver.url, session)
            bot = tokens["bot"]
            ids = []
            for n, room in enumerate(await hs.rooms(bot, rooms)):
                path = (
                    f"/_matrix/client/v3/rooms/{room}/send/m.room.message/n{n}"
                    f"?org.matrix.msc4140.delay={DELAY_MS}"
                )
                ids.append(
                    str(
                        (await hs.call(bot, "PUT", path, {"msgtype": "m.notice", "body": "x"}))[
                            "delay_id"
                        ]
                    )
                )
            rows: list[Row] = []
            for at_once in (1, *AT_ONCE):
                rate, median = await restarts(hs, bot, ids, at_once)
                rows.append(Row(f"idle, {at_once} at once", rate, median * 1000, None))
            rush = Rush(hs, tokens["rush"], await hs.rooms(tokens["rush"], RUSH_ROOMS))
            rush.start()
            await asyncio.sleep(3)  # under way
            for at_once in (1, *AT_ONCE):
                (rate, median), events = await rush.rate_during(
                    restarts(hs, bot, ids, at_once, RUSH_SECONDS)
                )
                rows.append(Row(f"beside the rush, {at_once} at once", rate, median * 1000, events))
            _, alone = await rush.rate_during(asyncio.sleep(RUSH_SECONDS))
            await rush.stop()
    finally:
        await homeserver.stop()
    return rows, alone


def report(rows: list[Row], alone: float, rooms: int, command: str) -> str:
    import synapse  # the installed homeserver's version

    lines = [
        MARK_START,
        "## Restarting delayed notices: how many a second the homeserver answers (issue 24)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {benchlib.machine(f'Synapse {synapse.__version__} (SQLite)')}",
        "",
        f"{rooms} delayed notices, each restarted once per row (beside the rush, round after"
        f" round for {RUSH_SECONDS:.0f} s at least). The rush: {RUSH_ROOMS} messages"
        f" and {RUSH_ROOMS} state events at once, over and over; alone it persisted"
        f" {alone:.0f} events a second.",
        "",
        "| way | restarts a second | median answer | the rush's events a second meanwhile |",
        "|---|---|---|---|",
    ]
    for row in rows:
        rush = f"{row.rush:.0f}" if row.rush is not None else "—"
        lines.append(f"| {row.way} | {row.rate:.0f} | {row.median_ms:.0f} ms | {rush} |")
    lines += [
        "",
        "The bot keeps at most 4 requests unanswered at once (`engine/dead_man.py` `IN_FLIGHT`;"
        " docs/decisions.md, *The notice when the bot is gone*).",
        MARK_END,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=benchlib.ROOT / "bench" / "out" / "delayed")
    parser.add_argument("--rooms", type=int, default=400)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows, alone = asyncio.run(measure(args.workdir, args.rooms))
    command = ".venv/bin/python bench/bench_delayed.py" + (
        f" --rooms {args.rooms}" if args.rooms != 400 else ""
    )
    text = report(rows, alone, args.rooms, command)
    print(text)
    if not args.no_record:
        print(f"recorded in {benchlib.record(text, MARK_START, MARK_END)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
