"""A bot of its own per test: fresh bot user, database, crypto store, users and rooms."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nio import RoomGetStateEventResponse, RoomPutStateError

from consultbot.adapters.sql.stores import open_store
from consultbot.config import Config, TrackConfig, parse_config
from consultbot.devkit.matrix_user import MatrixUser, Seen
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.duty.hours import Hours
from consultbot.domain.types import Track
from consultbot.engine.admin import datasets

QUESTION = "72-årig kvinna med nytt förmaksflimmer, antikoagulation nu eller efter eko?"
SWITCHBOARD = "023-49 00 00"
CATALOGUE = f"""
[[service]]
id = "kardiologi"
name = "Kardiologi, Falu lasarett"
kind = "specialty"
tracks = ["halvakut", "akut", "mdk"]
aliases = ["hjärta"]
switchboard = "{SWITCHBOARD}"

[[service]]
id = "vc-mora"
name = "Vårdcentralen Mora"
kind = "primary_care"
tracks = ["primarvard"]
municipality = "Mora"
switchboard = "0250-49 30 00"
"""


@dataclass
class Person:
    """A test user: id, password, phone, and their client once started."""

    user_id: str
    password: str
    name: str
    phone: str
    client: MatrixUser | None = None

    @property
    def c(self) -> MatrixUser:
        assert self.client is not None
        return self.client


@dataclass
class World:
    """Everything one test needs."""

    homeserver: EmbeddedHomeserver
    folder: Path
    bot_id: str
    bot_password: str
    people: dict[str, Person] = field(default_factory=dict)
    # `bot.database`: a PostgreSQL URL, else (None) a SQLite file in the folder.
    database: str | None = None

    def config_dict(self, **bot: Any) -> dict[str, Any]:
        return {
            "matrix": {
                "homeserver": self.homeserver.url,
                "user_id": self.bot_id,
                "password": self.bot_password,
                "device_name": "consultbot-test",
                "store_path": str(self.folder / "store"),
                "pickle_key": secrets.token_hex(16),
            },
            "bot": {
                "database": self.database or str(self.folder / "consultbot.db"),
                "timezone": "Europe/Stockholm",
                "admins": [],
                "allowed_servers": [self.homeserver.server_name],
                # A small warm pool: every flow runs through rooms taken from it.
                "room_pool": 2,
                **bot,
            },
        }

    def config(
        self,
        *,
        ack_timeout: int = 4,
        hours: str = "always",
        repeat_share: float = 0.0,
        **bot: Any,
    ) -> Config:
        """This world's config; pages are not repeated unless `repeat_share` says (the
        product's default is 0.5: tests of other things count the bot's messages)."""
        data = self.config_dict(**bot)
        config = parse_config(data, self.folder / "config.toml", {})
        tracks = {t: replace(c, repeat_share=repeat_share) for t, c in config.tracks.items()}
        tracks[Track.HALVAKUT] = TrackConfig(
            hours=Hours.parse(hours), ack_timeout_seconds=ack_timeout, repeat_share=repeat_share
        )
        return replace(config, tracks=tracks)

    def write_config(
        self,
        *,
        ack_timeout: int = 10,
        path: Path | None = None,
        data: dict[str, dict[str, Any]] | None = None,
        **bot: Any,
    ) -> Path:
        """A config.toml for a bot process (config files allow 10 s at least): this world's
        config (`data`, when given, instead), written to `path` (default config.toml)."""
        data = self.config_dict(**bot) if data is None else data
        path = path or self.folder / "config.toml"
        lines = []
        for section, values in data.items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                lines.append(f"{key} = {toml_value(value)}")
        lines += ["[tracks.halvakut]", 'hours = "always"', f"ack_timeout_seconds = {ack_timeout}"]
        # No repeated pages (the product's default is 0.5): these bots' messages are counted.
        lines += ["repeat_share = 0"] + [f"[tracks.{t}]\nrepeat_share = 0" for t in _OTHER_TRACKS]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    async def seed(
        self,
        config: Config,
        levels: dict[int, list[str]],
        *,
        span_hours: int = 3,
        service: str = "kardiologi",
        unlisted: tuple[str, ...] = (),
        catalogue: str = CATALOGUE,
        units: dict[str, str] | None = None,
    ) -> None:
        """Catalogue, staff (everyone but the people keys `unlisted`; the doctor at vc-mora, the
        others at kardiologi unless `units` says) and a roster of `service`: level → people
        keys."""
        now = datetime.now(UTC)
        start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")
        end = (now + timedelta(hours=span_hours)).strftime("%Y-%m-%dT%H:%M:00+00:00")
        roster = ["service,level,start,end,matrix_id,name,phone"]
        for level, keys in levels.items():
            for key in keys:
                p = self.people[key]
                roster.append(f"{service},{level},{start},{end},{p.user_id},{p.name},{p.phone}")
        staff = ["matrix_id,name,unit,title,phone"]
        for key, p in self.people.items():
            if key in unlisted:
                continue
            unit = "vc-mora" if p.name.startswith("Doktor") else "kardiologi"
            unit = (units or {}).get(key, unit)
            staff.append(f"{p.user_id},{p.name},{unit},,{p.phone}")
        store = await open_store(config.bot.database)
        try:
            now = datetime.now(UTC)
            await datasets.check_catalogue_files([("services.toml", catalogue.encode())]).activate(
                store, now
            )
            checked = await datasets.check_staff_files(
                [("staff.csv", "\n".join(staff).encode())], store
            )
            await checked.activate(store, now)
            if len(roster) > 1:
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


def database_bytes(folder: Path) -> bytes:
    """The database file and its WAL, as stored on disk."""
    return b"".join(p.read_bytes() for p in folder.glob("consultbot.db*"))


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@asynccontextmanager
async def world(
    homeserver: EmbeddedHomeserver, folder: Path, *names: str, database: str | None = None
) -> AsyncIterator[World]:
    """Register a fresh bot and people (doctor, l1, l2 …) and start their clients; the bot's
    database is a SQLite file in `folder`, or the PostgreSQL database at the URL `database`."""
    tag = uuid.uuid4().hex[:8]
    bot_password = secrets.token_urlsafe(12)
    bot_id = await homeserver.register_user(f"bot-{tag}", bot_password)
    w = World(
        homeserver=homeserver,
        folder=folder,
        bot_id=bot_id,
        bot_password=bot_password,
        database=database,
    )
    for n, key in enumerate(names):
        password = secrets.token_urlsafe(12)
        user_id = await homeserver.register_user(f"{key}-{tag}", password)
        name = "Doktor Vc" if key == "doctor" else f"Läkare {key.upper()}"
        w.people[key] = Person(
            user_id=user_id, password=password, name=name, phone=f"070-000 00 {n:02d}"
        )
    try:
        for key, person in w.people.items():
            if key.startswith("js"):
                continue
            person.client = MatrixUser(
                homeserver.url, person.user_id, person.password, folder / "clients" / key
            )
            await person.client.start()
        yield w
    finally:
        for person in w.people.values():
            if person.client is not None:
                await person.client.close()


async def ask(w: World, text: str = QUESTION, service: str = "kardiologi") -> tuple[str, str]:
    """The doctor opens a DM with the bot and asks; returns (dm room, consult number)."""
    doctor = w.people["doctor"].c
    dm = await doctor.create_dm(w.bot_id)
    await doctor.send_text(dm, f"!konsult {service} {text}")
    reply = await doctor.wait_for(
        lambda s: s.room == dm and s.sender == w.bot_id and s.kind == "message", 30
    )
    number = next((word for word in reply.body.split() if word.startswith("K-")), "")
    return dm, number


async def join_invite(user: MatrixUser, seconds: float = 30) -> str:
    """Wait for an invite and join it; returns the room."""
    invite = await user.wait_for(lambda s: s.kind == "invite", seconds)
    await user.join(invite.room)
    return invite.room


class BotProcess:
    """`python -m consultbot run` as a real process, to kill with SIGKILL."""

    def __init__(
        self,
        config: Path,
        log: Path,
        *,
        module: str = "consultbot",
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.log = log
        self.module = module
        self.env = env or {}
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        handle = self.log.open("ab")
        self.started_at = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            "run",
            "-c",
            str(self.config),
            stdout=handle,
            stderr=handle,
            env=env,
        )
        handle.close()

    async def wait_running(self, seconds: float = 30) -> None:
        async with asyncio.timeout(seconds):
            while b"consultbot is running" not in self.log.read_bytes():
                assert self.process is not None and self.process.returncode is None, (
                    self.log.read_text()
                )
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(15):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def auto_join(w: World, key: str, stop: asyncio.Event) -> None:
    """Join every room `key` is invited to, as a person's client would."""
    user = w.people[key].c
    joined: set[str] = set()

    def invites() -> list[str]:
        return [s.room for s in user.seen if s.kind == "invite" and s.room not in joined]

    while not stop.is_set():
        for room in invites():
            joined.add(room)
            await user.client.join(room)
        with contextlib.suppress(TimeoutError):
            await user.wait_until(lambda: bool(invites()), 1)


# -- what people see from the bot ----------------------------------------------------------


_OTHER_TRACKS = ("akut", "primarvard", "mdk")


def is_page(bot: str, room: str, level: int | None = None) -> Callable[[Seen], bool]:
    """A page (an m.text from the bot) in `room`; of `level` when given."""

    def match(s: Seen) -> bool:
        ok = s.kind == "message" and s.room == room and s.sender == bot and s.msgtype == "m.text"
        return ok and (level is None or (f"nivå {level}" in s.body) == (level > 1))

    return match


def from_bot(
    w: World, room: str, text: str, *, notice: bool | None = None
) -> Callable[[Seen], bool]:
    """A message from the bot in `room` containing `text` (a notice or not, when given)."""

    def match(s: Seen) -> bool:
        ok = s.kind == "message" and s.room == room and s.sender == w.bot_id and text in s.body
        return ok and (notice is None or (s.msgtype == "m.notice") == notice)

    return match


async def state(user: MatrixUser, room: str, kind: str) -> dict[str, Any]:
    answer = await user.client.room_get_state_event(room, kind)
    assert isinstance(answer, RoomGetStateEventResponse), answer
    content: dict[str, Any] = answer.content
    return content


async def assert_locked(member: MatrixUser, room: str, bot_id: str, servers: list[str]) -> None:
    """The room admits only `servers`, no guests, invite only, and only the bot changes it."""
    acl = await state(member, room, "m.room.server_acl")
    assert acl["allow"] == servers and acl["deny"] == [] and acl["allow_ip_literals"] is False
    assert "*" not in acl["allow"]
    assert (await state(member, room, "m.room.guest_access"))["guest_access"] == "forbidden"
    assert (await state(member, room, "m.room.join_rules"))["join_rule"] == "invite"
    levels = await state(member, room, "m.room.power_levels")
    version = (await state(member, room, "m.room.create")).get("room_version", "1")
    if version.isdigit() and int(version) >= 12:  # the creator's power is implicit, unlisted
        assert bot_id not in levels["users"]
    else:
        assert levels["users"][bot_id] == 100
    assert all(level < 100 for user, level in levels["users"].items() if user != bot_id)
    assert levels["state_default"] == 100 and levels["invite"] == 0
    for kind in ("m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.topic"):
        assert levels["events"][kind] == 100
    # A member cannot open the room up, rename it or change who may do what.
    for kind, content in (
        ("m.room.server_acl", {"allow": ["*"], "deny": [], "allow_ip_literals": True}),
        ("m.room.name", {"name": "öppet rum"}),
        ("m.room.guest_access", {"guest_access": "can_join"}),
    ):
        refused = await member.client.room_put_state(room, kind, content)
        assert isinstance(refused, RoomPutStateError) and refused.status_code == "M_FORBIDDEN"
