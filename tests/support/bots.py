"""A consult service on in-memory or SQL stores, driven by hand: the people, the bot, the fixtures.

`build` wires a `ConsultService` to a `Messenger` that remembers what was sent, `ManualTimers`
and a `ManualClock`; the `make` fixture (registered for every test by tests/conftest.py) builds
such bots on each consult store: memory, SQLite and PostgreSQL. The dispatcher's loop is never
started as a task: `Bot.flush` runs `Dispatcher.drain`, the same drain the running bot uses,
with retries at once instead of after a pause, so a test decides when things are sent.

The people: REQ asks from the direct chat DM; K1A and K1B are kardiologi's level 1, K2 its
level 2; STRANGER is on an allowed server but on no roster.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from consultbot.adapters.memory import (
    ManualClock,
    ManualTimers,
    MemoryConsultStore,
    MemoryDataStore,
    MemoryMessenger,
    Sent,
)
from consultbot.adapters.sql.postgres import PostgresStore
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.adapters.sql.stores import open_store
from consultbot.config import Config, parse_config
from consultbot.domain.consult.escalation import State
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.people import StaffMember
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ConsultId, ServiceId, ServiceKind, Track, UserId
from consultbot.engine.service import ConsultService
from consultbot.ports import (
    ConsultStore,
    Content,
    IncomingMessage,
    IncomingReaction,
)
from consultbot.ports.delayed import DelayedNotices

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Stockholm
ACK_TIMEOUT = timedelta(seconds=60)
REMINDER_AFTER = timedelta(hours=4)
AUTO_CLOSE_AFTER = timedelta(hours=24)

KARDIO = ServiceId("kardiologi")
SWITCHBOARD_TEL = 'href="tel:+4623490000"'
REQ = UserId("@vera:localhost")
REQ_TEL = 'href="tel:+46250493011"'
K1A = UserId("@karin:localhost")
K1A_TEL = 'href="tel:+46701111111"'
K1B = UserId("@kalle:localhost")
K2 = UserId("@bertil:localhost")
K2_TEL = 'href="tel:+46702222222"'
STRANGER = UserId("@sven:localhost")
OUTSIDER = UserId("@eve:elsewhere.example")  # on a server not allowed
GROUP = "!group:localhost"  # a room someone else opened, not a direct chat
DM = "!dm-vera:localhost"
ADMIN_ROOM = "!admin:localhost"
QUESTION = "72-årig kvinna med nytt förmaksflimmer, antikoagulation eller inte?"
ASK = f"!konsult kardiologi {QUESTION}"

CATALOGUE = Catalogue(
    (
        Service(
            id=KARDIO,
            name="Kardiologi, Falu lasarett",
            kind=ServiceKind.SPECIALTY,
            tracks=(Track.HALVAKUT, Track.AKUT, Track.MDK),
            aliases=("hjärta", "kardio"),
            switchboard="023-49 00 00",
        ),
        Service(
            id=ServiceId("vc-mora"),
            name="Vårdcentralen Mora",
            kind=ServiceKind.PRIMARY_CARE,
            tracks=(Track.PRIMARVARD,),
            municipality="Mora",
            switchboard="0250-49 30 00",
        ),
    )
)
STAFF = (
    StaffMember(
        user=REQ, name="Vera Vårdcentral", unit=ServiceId("vc-mora"), phone="0250-49 30 11"
    ),
)


def shift(level: int, user: UserId, name: str, phone: str, start: datetime, end: datetime) -> Shift:
    return Shift(
        service=KARDIO, level=level, start=start, end=end, user=user, name=name, phone=phone
    )


def day_roster(levels: Sequence[int] = (1, 2)) -> list[Shift]:
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=3)
    people = {
        1: [
            shift(1, K1A, "Karin Kardio", "070-111 11 11", start, end),
            shift(1, K1B, "Kalle Kardio", "", start, end),
        ],
        2: [shift(2, K2, "Bertil Bakjour", "070-222 22 22", start, end)],
    }
    return [s for level in levels for s in people[level]]


async def day_data() -> MemoryDataStore:
    """In-memory data sets: `CATALOGUE`, `STAFF` and `day_roster`."""
    data = MemoryDataStore()
    await data.import_catalogue(CATALOGUE, source="test", now=NOW)
    await data.import_staff(STAFF, source="test", now=NOW)
    shifts = day_roster()
    period = (min(s.start for s in shifts), max(s.end for s in shifts))
    await data.import_roster(shifts, {KARDIO: period}, source="test", now=NOW)
    return data


def make_config(
    hours: str = "always", reminder_minutes: int = 0, repeat_share: float = 0.0
) -> Config:
    """The test config; `repeat_share` 0 (no repeated pages, unlike the product's default 0.5)
    keeps the tests of escalation to what they test (tests/test_repeats.py turns it on)."""
    halvakut = {
        "hours": hours,
        "ack_timeout_seconds": int(ACK_TIMEOUT.total_seconds()),
        "repeat_share": repeat_share,
    }
    data = {
        "matrix": {
            "homeserver": "http://127.0.0.1:8008",
            "user_id": "@konsultbot:localhost",
            "password": "secret",
            "device_name": "consultbot",
            "store_path": "data/store",
            "pickle_key": "k",
        },
        "bot": {
            "database": "data/consultbot.db",
            "timezone": "Europe/Stockholm",
            "language": "sv",
            "admins": ["@admin:localhost"],
            "allowed_servers": ["localhost"],
            "admin_room": "",
            "reminder_after_seconds": int(REMINDER_AFTER.total_seconds()),
            "auto_close_after_seconds": int(AUTO_CLOSE_AFTER.total_seconds()),
            "shift_reminder_minutes": reminder_minutes,  # tests/test_duty_reminders.py
        },
        "tracks": {
            "halvakut": halvakut,
            "akut": {"repeat_share": repeat_share},
            "primarvard": {"repeat_share": repeat_share},
            "mdk": {"repeat_share": repeat_share},
        },
    }
    return parse_config(data, Path("config.toml"), {})


@dataclass
class Messenger(MemoryMessenger):
    """MemoryMessenger that also remembers the recipients of each send and the rooms' names."""

    recipients: dict[str, tuple[UserId, ...]] = field(default_factory=dict)
    room_texts: list[str] = field(default_factory=list)

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        event_id = await super().send(
            room, content, txn=txn, recipients=recipients, numbers=numbers
        )
        self.recipients.setdefault(event_id, tuple(recipients))
        return event_id

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        self.room_texts += [name, topic]
        return await super().create_room(key=key, name=name, topic=topic, invite=invite)

    def sends(self, room: str | None = None) -> list[Sent]:
        return [s for s in self.log if s.action == "send" and room in (None, s.room)]

    def said(self, room: str) -> list[str]:
        return [s.content.text for s in self.sends(room) if s.content]

    def pages(self) -> list[Sent]:
        """Messages that notify (m.text): the pages."""
        return [s for s in self.sends() if s.content and not s.content.notice]

    def actions(self, action: str) -> list[Sent]:
        return [s for s in self.log if s.action == action]

    def escalation_invites(self) -> list[Sent]:
        """Invites of the paged beyond the first page (not the requester's, after the first)."""
        return [s for s in self.actions("invite") if s.users != (REQ,)]


@dataclass
class HungPages(Messenger):
    """A page (of the question containing `hangs`, or any) hangs until `release` is set: a
    homeserver busy with a rush's pages. `paging` is set when one starts hanging."""

    hangs: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    paging: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        recipients: Sequence[UserId] = (),
        numbers: bool = False,
    ) -> str:
        if not content.notice and self.hangs in content.text:  # a page notifies; others not
            self.paging.set()
            await self.release.wait()
        return await super().send(room, content, txn=txn, recipients=recipients, numbers=numbers)


EVENT_IDS = itertools.count(1)


async def flush(service: ConsultService) -> None:
    """Send everything the outbox holds, as the running bot does (`Dispatcher.drain`)."""
    async with asyncio.timeout(10):
        await service.dispatcher.drain()


@dataclass
class Bot:
    service: ConsultService
    consults: ConsultStore
    data: MemoryDataStore
    messenger: Messenger
    timers: ManualTimers
    clock: ManualClock

    async def say(
        self, sender: UserId, body: str, room: str = DM, *, direct: bool | None = None
    ) -> IncomingMessage:
        message = IncomingMessage(
            room=room,
            event_id=f"$ev{next(EVENT_IDS)}",
            sender=sender,
            body=body,
            at=self.clock.now(),
            direct=room == DM if direct is None else direct,
        )
        await self.service.inbox.handle_message(message)
        return message

    async def react(
        self, sender: UserId, key: str, room: str, reacts_to: str = ""
    ) -> IncomingReaction:
        reaction = self.reaction(sender, key, room, reacts_to)
        await self.service.inbox.handle_reaction(reaction)
        return reaction

    def reaction(
        self, sender: UserId, key: str, room: str, reacts_to: str = ""
    ) -> IncomingReaction:
        return IncomingReaction(
            room=room,
            event_id=f"$re{next(EVENT_IDS)}",
            sender=sender,
            key=key,
            reacts_to=reacts_to,
            at=self.clock.now(),
        )

    async def flush(self) -> None:
        await flush(self.service)

    async def ask(self, body: str = ASK) -> tuple[ConsultId, str]:
        """Ask as the requester in the DM, send everything; the consult and its room."""
        await self.say(REQ, body)
        await self.flush()
        consult = (await self.consults.consults_of(REQ))[0]
        return consult.id, consult.room

    async def state(self, consult: ConsultId) -> State:
        found = await self.consults.consult(consult)
        assert found is not None
        return found.state

    async def kinds(self, consult: ConsultId) -> list[str]:
        return [e.kind for e in await self.consults.events(consult)]

    async def fire_at(self, instant: datetime, *, send: bool = True) -> int:
        """Run the timers due by `instant`; with `send`, what they queued then goes out at
        that instant (a page's time starts when it is sent)."""
        self.clock.current = instant
        fired = await self.timers.fire_until(instant)
        if send:
            await self.flush()
        return fired


async def stored_text(store: ConsultStore) -> str:
    """Everything the consult store holds: event logs and every outbox payload, as JSON."""
    if isinstance(store, PostgresStore):
        tables = await store._db.execute_fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        rows = [await store._db.execute_fetchall(f"SELECT * FROM {t}") for (t,) in tables]
        return "\n".join(repr(r) for r in rows)
    if isinstance(store, SqliteStore):
        return "\n".join([line async for line in store._db.iterdump()])
    assert isinstance(store, MemoryConsultStore)
    logs = {cid: [(e.kind, e.data) for e in log] for cid, log in store._logs.items()}
    outbox = [item.payload for item, _ in store._outbox]
    return json.dumps({"logs": logs, "outbox": outbox}, ensure_ascii=False, default=str)


async def outbox_payloads(store: ConsultStore) -> list[dict[str, Any]]:
    """Every outbox payload, sent or not, oldest first."""
    if isinstance(store, SqliteStore):
        rows = await store._db.execute_fetchall("SELECT payload FROM outbox ORDER BY id")
        return [json.loads(row[0]) for row in rows]
    assert isinstance(store, MemoryConsultStore)
    return [item.payload for item, _ in store._outbox]


async def build(
    consults: ConsultStore,
    *,
    data: MemoryDataStore | None = None,
    messenger: Messenger | None = None,
    clock: ManualClock | None = None,
    hours: str = "always",
    roster: Sequence[Shift] | None = None,
    reminder_minutes: int = 0,
    catalogue: Catalogue = CATALOGUE,
    config: Config | None = None,
    notices: DelayedNotices | None = None,
) -> Bot:
    """A consult service on `consults`: by default the people above on `day_roster`, and
    `make_config(hours, reminder_minutes)`."""
    if data is None:
        data = MemoryDataStore()
        await data.import_catalogue(catalogue, source="test", now=NOW)
        await data.import_staff(STAFF, source="test", now=NOW)
        shifts = list(day_roster() if roster is None else roster)
        if shifts:
            period = (min(s.start for s in shifts), max(s.end for s in shifts))
            periods = {s.service: period for s in shifts}
            await data.import_roster(shifts, periods, source="test", now=NOW)
    clock = clock or ManualClock(NOW)
    timers = ManualTimers()
    messenger = messenger or Messenger()
    service = ConsultService(
        config=config or make_config(hours, reminder_minutes),
        data=data,
        consults=consults,
        messenger=messenger,
        timers=timers,
        clock=clock,
        retry_delay=lambda attempts: 0.0,  # retry at once: the tests decide when things fail
        notices=notices,
    )
    return Bot(service, consults, data, messenger, timers, clock)


Make = Callable[..., Awaitable[Bot]]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Make]:
    """A factory of bots, each on a fresh consult store of the parametrised backend."""
    opened: list[SqliteStore] = []

    async def factory(**options: Any) -> Bot:
        consults: ConsultStore
        if request.param == "memory":
            consults = MemoryConsultStore()
        else:
            if request.param == "sqlite":
                where: str | Path = tmp_path / f"consultbot-{len(opened)}.db"
            else:
                where = request.getfixturevalue("pg_store_url")()
            store = await open_store(where)
            opened.append(store)
            consults = store
        return await build(consults, **options)

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def bot(make: Make) -> Bot:
    return await make()


async def after(turns: int, store: ConsultStore, action: Awaitable[None]) -> None:
    """Start `action` after `turns` trips through the event loop and the store (one database
    round trip each for SQLite): varies the interleaving, never waits for the other side."""
    for _ in range(turns):
        await asyncio.sleep(0)
        await store.is_handled("$not-an-event")
    await action


Open = Callable[[Path], Awaitable[SqliteStore]]


@pytest.fixture
async def open_db() -> AsyncIterator[Open]:
    """Opens SQLite stores; whatever a test left open is closed afterwards."""
    opened: list[SqliteStore] = []

    async def opener(path: Path) -> SqliteStore:
        opened.append(await SqliteStore.open(path))
        return opened[-1]

    yield opener
    for store in opened:
        await store.close()


async def crash(bot: Bot) -> None:
    """Stop using the database (as a kill does; committed transactions stay)."""
    assert isinstance(bot.consults, SqliteStore)
    await bot.consults.close()


async def restart(open_db: Open, path: Path, old: Bot, messenger: Messenger) -> Bot:
    """A new service on the same database, data store and clock, as after a crash."""
    bot = await build(await open_db(path), data=old.data, messenger=messenger, clock=old.clock)
    await bot.service.start()
    return bot
