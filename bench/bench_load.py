"""Benchmark: resuming with 1,000 open consults, and 50 escalations whose deadlines fall together.

SPEC §8: escalations fire within 1 s of their deadline; the bot resumes within 2 s of start.

1. Starts an embedded Synapse of its own (as bench_page.py: loopback, relaxed rate limits, the
   bot exempted), registers the bot, a doctor, a level-1 consultant (`c1`) and a level-2
   consultant (`c2`), seeds catalogue, staff and roster, and runs the bot process once until
   its warm room pool holds 50 + 5 rooms (real, encrypted rooms the bot is in); then stops it.
2. Seeds the store, with the bot stopped: 1,000 open consults, each paged at level 1 (c1, who
   is not in the rooms: the bench writes the log directly). 50 of them get a real room from the
   pool and the SAME level-1 deadline, a few seconds after the coming start; the other 950 get
   deadlines an hour ahead and room ids of no real room (nothing is sent to them in the run).
3. Starts the bot process (`bench_page.py --bot-child`, i.e. `consultbot.app.run`, with the
   page benchmark's probes) and, at the same moment, the doctor sends a new `!konsult` in its
   DM. Measures, from the process start: "consultbot is running" (timers of all 1,000 rebuilt),
   the first sync handled ("caught up"), the doctor's reply, and c1's invite to the new consult.
   A bare client's figure beside it: a plain E2EE nio client restoring its login and doing the
   same full-state first sync (in this process: no interpreter start).
4. At the common deadline: for each of the 50 consults, lateness of the escalation step (its
   level-2 `paged` event in the log) and of the level-2 page's outbox entry being sent, and of
   c2's client seeing the invite.

Run: `.venv/bin/python bench/bench_load.py [--consults 1000] [--together 50]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import benchlib
from bench_page import ROOT, SCRIPT, WAIT_S, Probe, catalogue_toml
from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomCreateResponse, SyncResponse

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.config import load_config
from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.consult.events import Event, Paged, Person, Requested, RoomCreated
from consultbot.domain.types import ConsultId, ServiceId, Track, UserId
from consultbot.engine.admin import datasets

MARK_START = "<!-- bench_load:start -->"
MARK_END = "<!-- bench_load:end -->"
QUESTION = "Bröstsmärta sedan i morse, EKG utan ST-höjning: inläggning eller poliklinisk utredning?"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def stats(values: list[float]) -> tuple[str, str, str]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return ms(statistics.median(ordered)), ms(p90), ms(ordered[-1])


class Load:
    def __init__(self, workdir: Path, consults: int, together: int, lead: float) -> None:
        self.workdir = workdir
        self.consults = consults
        self.together = together
        self.lead = lead
        self.password = secrets.token_urlsafe(12)
        self.log = workdir / "bot.log"
        self.trace = workdir / "trace.jsonl"
        self.rows: list[tuple[str, str, str, str, str, str]] = []
        self.pager: AsyncClient | None = None
        self.bare_rooms: list[str] = []
        self.due_after_start = 0.0

    async def start_bot(self, config: Path) -> asyncio.subprocess.Process:
        handle = self.log.open("ab")
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--bot-child",
            str(config),
            "--trace",
            str(self.trace),
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        handle.close()
        return child

    def logged(self, text: str, after: float) -> float | None:
        """The time of the first traced log line containing `text` at or after `after`."""
        if not self.trace.exists():
            return None
        for line in self.trace.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["kind"] == "log" and record["t"] >= after and text in record["msg"]:
                return float(record["t"])
        return None

    async def wait_logged(self, text: str, after: float) -> float:
        async with asyncio.timeout(120):
            while (found := self.logged(text, after)) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return found

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.workdir / 'consultbot.db'}?mode=ro", uri=True)

    async def stop(self, child: asyncio.subprocess.Process) -> None:
        if child.returncode is None:
            child.terminate()
            async with asyncio.timeout(30):
                await child.wait()

    async def seed_data(self, config_path: Path, hs: EmbeddedHomeserver) -> None:
        config = load_config(config_path, {})
        now = datetime.now(UTC)
        start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")
        end = (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:00+00:00")
        c1, c2, d1 = (hs.user_id(n) for n in ("c1", "c2", "d1"))
        roster = [
            "service,level,start,end,matrix_id,name,phone",
            f"kardiologi,1,{start},{end},{c1},Konsult Ett,070-100 00 01",
            f"kardiologi,2,{start},{end},{c2},Konsult Två,070-100 00 02",
        ]
        staff = [
            "matrix_id,name,unit,title,phone",
            f"{c1},Konsult Ett,kardiologi,,070-100 00 01",
            f"{c2},Konsult Två,kardiologi,,070-100 00 02",
            f"{d1},Doktor Ett,vc-bench,,070-200 00 01",
        ]
        catalogue = catalogue_toml(0)
        store = await SqliteStore.open(config.bot.database)
        try:
            await datasets.check_catalogue_files([("services.toml", catalogue.encode())]).activate(
                store, now
            )
            checked = await datasets.check_staff_files(
                [("staff.csv", "\n".join(staff).encode())], store
            )
            await checked.activate(store, now)
            roster_check = await datasets.check_roster_files(
                [("roster.csv", "\n".join(roster).encode())],
                store,
                config.bot.timezone,
                config.hours_of(),
            )
            assert roster_check.ok, roster_check.errors
            await roster_check.activate(store, now)
        finally:
            await store.close()

    async def seed_consults(self, config_path: Path, hs: EmbeddedHomeserver, due: datetime) -> None:
        """The real consults made due at `due` (together); more open consults up to the total.

        The real consults' level-1 deadline is moved in the store (the event log and the
        consult row) with the bot stopped: bench-only surgery, so that their deadlines fall
        together. The added ones are due in an hour, in room ids of no real room.
        """
        config = load_config(config_path, {})
        with contextlib.closing(sqlite3.connect(config.bot.database)) as db, db:
            real = [row[0] for row in db.execute("SELECT id FROM consult WHERE room IS NOT NULL")]
            assert len(real) == self.together, real
            for consult in real:
                db.execute(
                    "UPDATE consult_event SET data = json_set(data, '$.deadline', ?)"
                    " WHERE consult_id = ? AND kind IN ('paged', 'page_delivered')",
                    (due.isoformat(), consult),
                )
                db.execute(
                    "UPDATE consult SET deadline_ms = ? WHERE id = ?",
                    (int(due.timestamp() * 1000), consult),
                )
        store = await SqliteStore.open(config.bot.database)
        c1, d1 = UserId(hs.user_id("c1")), UserId(hs.user_id("d1"))
        now = datetime.now(UTC)
        try:
            for n in range(self.consults - self.together):
                consult = await store.allocate_consult(now=now)
                events = [
                    Event.of(
                        now,
                        Requested(
                            consult=consult,
                            requester=d1,
                            service=ServiceId("kardiologi"),
                            track=Track.HALVAKUT,
                            request_room=f"!dm-{n}:{hs.server_name}",
                            request_event=f"$bench-{n}",
                        ),
                    ),
                    Event.of(
                        now,
                        Paged(
                            level=1,
                            people=(Person(user=c1, name="Konsult Ett", phone="070-100 00 01"),),
                            deadline=now + timedelta(hours=1),
                        ),
                    ),
                    Event.of(now, RoomCreated(room=f"!bench-{n}:{hs.server_name}")),
                ]
                await store.record(ConsultId(consult), 0, events, [], now=now)
        finally:
            await store.close()

    async def create_bare_rooms(self, hs: EmbeddedHomeserver) -> None:
        """The bare pager's encrypted rooms, made before any timing."""
        store = self.workdir / "pager"
        store.mkdir(exist_ok=True)
        cfg = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
        self.pager = AsyncClient(hs.url, hs.user_id("pager"), store_path=str(store), config=cfg)
        response = await self.pager.login(self.password, device_name="bare pager")
        assert isinstance(response, LoginResponse)
        encryption = {
            "type": "m.room.encryption",
            "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        }
        for _ in range(self.together):
            made = await self.pager.room_create(name="bare", initial_state=[encryption])
            assert isinstance(made, RoomCreateResponse), made
            self.bare_rooms.append(made.room_id)

    async def bare_burst(self, probe: Probe) -> list[float]:
        """The pager invites `probe`'s user into its rooms, all at once; each seen after t0."""
        assert self.pager is not None
        pager, user = self.pager, probe.user.user_id
        t0 = time.time()
        await asyncio.gather(*(pager.room_invite(room, user) for room in self.bare_rooms))
        await probe.wait(lambda: all(room in probe.invites for room in self.bare_rooms), 60)
        return [probe.invites[room][1] - t0 for room in self.bare_rooms]

    async def bare_resume(self, hs: EmbeddedHomeserver, user: str) -> float:
        """A plain E2EE nio client: log in, first sync; then, timed: restore and full sync."""
        store = self.workdir / "bare"
        store.mkdir(exist_ok=True)
        cfg = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
        client = AsyncClient(hs.url, user, store_path=str(store), config=cfg)
        response = await client.login(self.password, device_name="bare resume")
        assert isinstance(response, LoginResponse)
        first = await client.sync(timeout=0, full_state=True)
        assert isinstance(first, SyncResponse)
        token, device, access = first.next_batch, client.device_id, client.access_token
        await client.close()
        started = time.time()
        again = AsyncClient(hs.url, user, store_path=str(store), config=cfg)
        again.restore_login(user, device, access)
        response2 = await again.sync(timeout=1, full_state=True, since=token)
        took = time.time() - started
        assert isinstance(response2, SyncResponse)
        await again.close()
        return took

    async def run(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        hs = EmbeddedHomeserver(
            data_dir=self.workdir / "synapse",
            port=benchlib.free_port(),
            relax_rate_limits=True,
            fast_passwords=True,
        )
        await hs.start()
        try:
            bot_id = await hs.register_user("konsultbot", self.password)
            admin = await hs.register_user("admin", self.password, admin=True)
            for name in ("c1", "c2", "d1", "pager"):
                await hs.register_user(name, self.password)
            await hs.exempt_from_rate_limits(bot_id, await hs.login(admin, self.password))
            config = self.workdir / "config.toml"
            config.write_text(
                f'[matrix]\nhomeserver = "{hs.url}"\nuser_id = "{bot_id}"\n'
                f'password = "{self.password}"\ndevice_name = "consultbot-bench"\n'
                f'store_path = "bot-store"\npickle_key = "{secrets.token_hex(16)}"\n\n'
                f'[bot]\ndatabase = "consultbot.db"\ntimezone = "Europe/Stockholm"\n'
                f'admins = []\nallowed_servers = ["{hs.server_name}"]\n'
                # The same doctor asks the same question 50 times at once: no repeat merging,
                # no per-requester limit (both would make it fewer consults than measured).
                "room_pool = 10\nrepeat_window_seconds = 0\nrequest_limit = 0\n\n"
                '[tracks.halvakut]\nhours = "always"\nack_timeout_seconds = 600\n',
                encoding="utf-8",
            )
            await self.seed_data(config, hs)
            clients = self.workdir / "clients"
            users = {
                name: MatrixUser(hs.url, hs.user_id(name), self.password, clients / name)
                for name in ("c1", "c2", "d1")
            }
            await asyncio.gather(*(u.start() for u in users.values()))
            probes = {name: Probe(users[name], [bot_id]) for name in ("c1", "c2")}
            try:
                print(f"first run: {self.together} real consults", file=sys.stderr)
                child = await self.start_bot(config)
                await self.wait_logged("consultbot is running", time.time() - 60)
                dm = await users["d1"].create_dm(bot_id)
                for _ in range(self.together):
                    await users["d1"].send_text(dm, f"!konsult kardiologi {QUESTION}")
                c1 = probes["c1"]
                async with asyncio.timeout(300):
                    await c1.wait(lambda: len(c1.pages) >= self.together, 300)
                    while True:  # everything sent, the pool full again: a quiet stop
                        with contextlib.closing(self.db()) as db:
                            (unsent,) = db.execute(
                                "SELECT count(*) FROM outbox WHERE sent_at_ms IS NULL"
                            ).fetchone()
                            (ready,) = db.execute("SELECT count(*) FROM room_pool").fetchone()
                        if unsent == 0 and ready >= 10:
                            break
                        await asyncio.sleep(0.2)
                await self.stop(child)

                print(f"seeding up to {self.consults} open consults", file=sys.stderr)
                await self.create_bare_rooms(hs)
                bare = await self.bare_resume(hs, hs.user_id("c2"))
                due = datetime.now(UTC) + timedelta(seconds=self.lead)
                await self.seed_consults(config, hs, due)

                print("restart with the consults in the store", file=sys.stderr)
                known = set(c1.invites)
                started = time.time()
                child = await self.start_bot(config)
                await users["d1"].send_text(dm, f"!konsult kardiologi {QUESTION}")
                running = await self.wait_logged("consultbot is running", started)
                caught = await self.wait_logged("caught up", started)
                number = f"K-{self.consults + 1:06d}"
                await users["d1"].wait_for(
                    lambda s: s.room == dm and s.sender == bot_id and number in s.body, WAIT_S
                )
                replied = time.time()
                await c1.wait(lambda: c1.new_invite(bot_id, known) is not None)
                new_room = c1.new_invite(bot_id, known)
                assert new_room is not None
                invited = c1.invites[new_room][1]

                print("waiting for the common deadline", file=sys.stderr)
                c2 = probes["c2"]
                await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
                async with asyncio.timeout(60):
                    await c2.wait(lambda: len(c2.invites) >= self.together, 60)
                await asyncio.sleep(2.0)
                with contextlib.closing(self.db()) as db:
                    steps = [
                        row[0] / 1000
                        for row in db.execute(
                            "SELECT at_ms FROM consult_event WHERE kind = 'paged' AND seq >= 3"
                        )
                    ]
                    pages = [
                        row[0] / 1000
                        for row in db.execute(
                            "SELECT sent_at_ms FROM outbox WHERE payload LIKE '%PageLevel%'"
                            " AND payload LIKE '%\"level\": 2%' AND sent_at_ms IS NOT NULL"
                        )
                    ]
                invites = [at for _, at in c2.invites.values()]
                bare_invites = await self.bare_burst(c2)
                await self.stop(child)
            finally:
                if self.pager is not None:
                    await self.pager.close()
                for probe in probes.values():
                    await probe.close()
                for user in users.values():
                    with contextlib.suppress(Exception):
                        await user.close()
        finally:
            await hs.stop()

        d = due.timestamp()
        self.due_after_start = d - started
        self.rows = [
            (
                "process start → `consultbot is running` (timers of all consults rebuilt)",
                "1",
                ms(running - started),
                "",
                "",
                "",
            ),
            (
                "process start → first sync handled (`caught up`)",
                "1",
                ms(caught - started),
                ms(bare),
                f"{(caught - started) / bare:.1f}×",
                "≤ 2 s",
            ),
            (
                "process start → doctor sees the reply to a `!konsult` sent at start",
                "1",
                ms(replied - started),
                "",
                "",
                "≤ 2 s",
            ),
            (
                "process start → level-1 consultant sees the invite to that consult",
                "1",
                ms(invited - started),
                "",
                "",
                "≤ 2 s",
            ),
        ]
        bare_median = statistics.median(bare_invites)
        bare_cell = "{} (p90 {}, max {})".format(*stats(bare_invites))
        for label, values in (
            ("deadline → escalation recorded (level-2 `paged` in the log)", steps),
            ("deadline → level-2 page sent (outbox entry done)", pages),
            ("deadline → level-2 consultant's client sees the invite", invites),
        ):
            if values:
                median, p90, worst = stats([v - d for v in values])
                ratio = statistics.median([v - d for v in values]) / bare_median
                delivered = "recorded" not in label  # the step has no bare counterpart
                self.rows.append(
                    (
                        label,
                        str(len(values)),
                        f"{median} (p90 {p90}, max {worst})",
                        bare_cell if delivered else "",
                        f"{ratio:.1f}×" if delivered else "",
                        "≤ 1 s",
                    )
                )

    def markdown(self, command: str, load: str) -> str:
        synapse, nio = metadata.version("matrix-synapse"), metadata.version("matrix-nio")
        versions = f"Synapse {synapse}, matrix-nio {nio}"
        lines = [
            MARK_START,
            "## Resuming with 1,000 open consults; 50 escalations due at once",
            "",
            "SPEC §8: escalations fire within 1 s of their deadline; resumed operation within 2 s"
            " of start. How it is measured: the docstring of `bench/bench_load.py`.",
            "",
            f"- Command: `{command}`",
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load before the run: {load}",
            f"- Machine: {benchlib.machine(versions)}",
            f"- {self.consults} open consults in the store: {self.together} real ones (asked by"
            " the doctor in a first run, paged at level 1, rooms joined), their level-1 deadline"
            " then moved in the store to fall together"
            f" {self.due_after_start:.1f} s after the bot process was started again; the"
            " rest written to the store, due in an hour, in room ids of no real room (nothing is"
            " sent there). At the restart the doctor asks once more.",
            "- Bare client: for the resume, a plain E2EE nio client restoring its login and doing"
            " a full-state sync from its saved position, in an already running Python process;"
            " for the escalations, a plain nio client inviting the same level-2 consultant into"
            f" {self.together} encrypted rooms of its own at once (each invite seen after the"
            " start of the burst), measured in the same run after the escalations.",
            "",
            "| measurement | n | bot | bare client | bot/bare | target |",
            "|---|---|---|---|---|---|",
            *(f"| {' | '.join(row)} |" for row in self.rows),
            MARK_END,
            "",
        ]
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "load")
    parser.add_argument("--consults", type=int, default=1000)
    parser.add_argument("--together", type=int, default=50)
    parser.add_argument(
        "--lead", type=float, default=12.0, help="seconds from seeding to the common deadline"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    bench = Load(args.workdir.resolve(), args.consults, args.together, args.lead)
    asyncio.run(bench.run())
    command = " ".join([".venv/bin/python", "bench/bench_load.py", *sys.argv[1:]])
    text = bench.markdown(command, load)
    print(text)
    if not args.no_record:
        benchlib.record(text, MARK_START, MARK_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
