"""`consultbot demo --followup`: a year of realistic consults, for trying the follow-up at once.

Fills a store of its own (a fresh SQLite file and a config that names it, in `.local/
followup-demo/` unless told otherwise) with twelve months of consults from every requester
kind: vårdcentraler asking the hospital's specialties (halvakut, akut, a few conferences),
hospital doctors asking a vårdcentral or another specialty, ambulance crews and municipal
nurses reaching the vårdcentral on duty (the fourth path, `!vc`). Every consult goes through
the real state machine (`escalation.step`) and is recorded with the store's own `record`, so
statistics, the goals block and the export read exactly what the bot would have written.

The mix is made up but plausible, and it moves over the year the way the plan hopes: more
consults each month, more of the ambulance's patients finished on site or steered to the
vårdcentral. Nothing in it is a real person; the requesters and consultants are synthetic ids
on `localhost` (units from the example catalogue).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO, TypeVar
from zoneinfo import ZoneInfo

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.events import AckVia, Event
from consultbot.domain.consult.inputs import Input
from consultbot.domain.consult.model import Policy
from consultbot.domain.consult.stats import month_of
from consultbot.domain.duty.catalogue import Catalogue, Service, parse_catalogue
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import (
    ConsultId,
    Outcome,
    RequesterKind,
    ServiceId,
    ServiceKind,
    Track,
    UserId,
)
from consultbot.resources import example_data_dir
from consultbot.text.render import Messages

T = TypeVar("T")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
POLICY = Policy(ack_timeout=timedelta(seconds=600))
BASE_PER_MONTH = 260  # consults in the first month; each later month a little more
GROWTH = 0.04

# Who asks, and along which path: (requester kind, share of all consults).
KINDS: tuple[tuple[RequesterKind, float], ...] = (
    (RequesterKind.PRIMARY_CARE, 0.58),
    (RequesterKind.HOSPITAL, 0.12),
    (RequesterKind.AMBULANCE, 0.15),
    (RequesterKind.MUNICIPAL_CARE, 0.12),
    (RequesterKind.UNKNOWN, 0.03),
)
PATHS: dict[RequesterKind, tuple[tuple[Track, float], ...]] = {
    RequesterKind.PRIMARY_CARE: ((Track.HALVAKUT, 0.74), (Track.AKUT, 0.21), (Track.MDK, 0.05)),
    RequesterKind.HOSPITAL: ((Track.PRIMARVARD, 0.45), (Track.HALVAKUT, 0.55)),
    RequesterKind.AMBULANCE: ((Track.PRIMARVARD, 0.85), (Track.AKUT, 0.15)),
    RequesterKind.MUNICIPAL_CARE: ((Track.PRIMARVARD, 1.0),),
    RequesterKind.UNKNOWN: ((Track.HALVAKUT, 0.7), (Track.PRIMARVARD, 0.3)),
}
SPECIALIST_OUTCOMES = (
    (Outcome.ADVICE, 0.44),
    (Outcome.REFERRAL, 0.19),
    (Outcome.ADMISSION, 0.11),
    (Outcome.ED, 0.07),
    (Outcome.VISIT, 0.12),
    (Outcome.OTHER, 0.07),
)


def fourth_path_outcomes(kind: RequesterKind, progress: float) -> tuple[tuple[Outcome, float], ...]:
    """The fourth path's outcomes for `kind`; `progress` (0 → 1 over the year) moves the
    ambulance's patients from the emergency department towards home and the vårdcentral."""
    if kind is RequesterKind.AMBULANCE:
        shift = 0.12 * progress
        return (
            (Outcome.HOME, 0.30 + shift),
            (Outcome.PRIMARY_CARE, 0.25 + shift / 2),
            (Outcome.HOME_VISIT, 0.05),
            (Outcome.ED, 0.25 - shift),
            (Outcome.ADMISSION, 0.10 - shift / 2),
            (Outcome.OTHER, 0.05),
        )
    if kind is RequesterKind.MUNICIPAL_CARE:
        return (
            (Outcome.HOME, 0.40),
            (Outcome.PRIMARY_CARE, 0.12),
            (Outcome.HOME_VISIT, 0.28),
            (Outcome.ED, 0.09),
            (Outcome.ADMISSION, 0.06),
            (Outcome.OTHER, 0.05),
        )
    return (
        (Outcome.HOME, 0.20),
        (Outcome.PRIMARY_CARE, 0.45),
        (Outcome.HOME_VISIT, 0.10),
        (Outcome.ED, 0.10),
        (Outcome.ADMISSION, 0.08),
        (Outcome.OTHER, 0.07),
    )


@dataclass
class Filled:
    """What the generator wrote: counts a test or the printed summary can check."""

    consults: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_month: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)


def _pick(r: random.Random, choices: Sequence[tuple[T, float]]) -> T:
    x = r.random() * sum(weight for _, weight in choices)
    for value, weight in choices:
        if x < weight:
            return value
        x -= weight
    return choices[-1][0]


def _duty(service: ServiceId, at: datetime) -> OnDuty:
    """Two levels of one synthetic person each, on around `at`."""
    return OnDuty(
        service=service,
        at=at,
        levels=tuple(
            (
                level,
                (
                    Shift(
                        service=service,
                        level=level,
                        start=at - timedelta(hours=12),
                        end=at + timedelta(hours=36),
                        user=UserId(f"@{service}.jour{level}:localhost"),
                        name=f"Jour {level} {service}",
                        phone=f"070-000 00 0{level}",
                    ),
                ),
            )
            for level in (1, 2)
        ),
    )


_REQUESTER_UNIT_KINDS = {
    RequesterKind.PRIMARY_CARE: ServiceKind.PRIMARY_CARE,
    RequesterKind.HOSPITAL: ServiceKind.SPECIALTY,
    RequesterKind.AMBULANCE: ServiceKind.AMBULANCE,
    RequesterKind.MUNICIPAL_CARE: ServiceKind.MUNICIPAL_CARE,
}
_STAND_IN_UNITS = {
    RequesterKind.AMBULANCE: "ambulans-dalarna",
    RequesterKind.MUNICIPAL_CARE: "kommun-hemsjukvard",
}


class Generator:
    """Consults through the state machine, one whole log at a time."""

    def __init__(self, services: Sequence[Service], seed: int, tz: ZoneInfo) -> None:
        self.r = random.Random(seed)
        self.tz = tz
        paged = [s for s in services if s.tracks]
        self.specialties = [s.id for s in paged if s.kind is ServiceKind.SPECIALTY]
        self.vcs = [s.id for s in paged if s.kind is ServiceKind.PRIMARY_CARE]
        if not self.specialties or not self.vcs:
            raise ValueError("the catalogue needs specialties and vårdcentraler")
        self.units: dict[RequesterKind, list[str]] = {}
        for kind, service_kind in _REQUESTER_UNIT_KINDS.items():
            found = [str(s.id) for s in services if s.kind is service_kind]
            self.units[kind] = found or [_STAND_IN_UNITS[kind]]

    def when(self, day: date, track: Track) -> datetime:
        """A local time on `day` when `track` is plausibly used, as UTC."""
        if track is Track.AKUT or (track is Track.PRIMARVARD and self.r.random() < 0.2):
            minute = self.r.randrange(24 * 60)
        else:
            minute = self.r.randrange(8 * 60, 17 * 60)
        local = datetime.combine(day, time(minute // 60, minute % 60), self.tz)
        return local.astimezone(UTC)

    def request(self, kind: RequesterKind) -> tuple[str, str, UserId, Track]:
        """(unit, service, requester, track) of one consult asked by `kind`."""
        track = _pick(self.r, PATHS[kind])
        if kind is RequesterKind.UNKNOWN:
            unit, requester = "", UserId(f"@okand{self.r.randrange(40)}:localhost")
        else:
            unit = self.r.choice(self.units[kind])
            requester = UserId(f"@{unit}.{self.r.randrange(1, 9)}:localhost")
        pool = self.vcs if track is Track.PRIMARVARD else self.specialties
        service = self.r.choice([s for s in pool if s != unit] or pool)
        return unit, service, requester, track

    @staticmethod
    def time_out(
        apply: Callable[[Input, datetime], None], services: Sequence[ServiceId], at: datetime
    ) -> None:
        """The consult's timer at `at` (a level's deadline, the reminder, the auto-close)."""
        duties = {s: _duty(s, at) for s in services} if len(services) > 1 else {}
        apply(esc.Timer(duty=_duty(services[0], at), duties=duties), at)

    def consult(
        self,
        cid: ConsultId,
        at: datetime,
        kind: RequesterKind,
        request: tuple[str, str, UserId, Track],
        progress: float,
    ) -> list[Event]:
        unit, service, requester, track = request
        conference: tuple[ServiceId, ...] = ()
        if track is Track.MDK:
            other = self.r.choice([s for s in self.specialties if s != service] or [service])
            conference = (ServiceId(service), ServiceId(other)) if other != service else ()
        first = esc.Request(
            consult_id=cid,
            requester=requester,
            service=ServiceId(service),
            track=Track.HALVAKUT if track is Track.MDK and not conference else track,
            request_room="!followup-demo:localhost",
            request_event=f"$demo-{cid}",
            duty=_duty(ServiceId(service), at),
            open_now=True,
            services=conference,
            duties={s: _duty(s, at) for s in conference},
            unit=unit,
            requester_kind=kind.value,
        )
        events: list[Event] = []

        def apply(command: Input, now: datetime) -> None:
            consult = esc.fold(events) if events else None
            new, effects = esc.step(consult, command, now, POLICY)
            events.extend(new)
            for effect in effects:  # the pages go out at once
                if isinstance(effect, esc.PageLevel):
                    sent = esc.Delivered(level=effect.level, service=effect.service)
                    events.extend(esc.step(esc.fold(events), sent, now, POLICY)[0])

        apply(first, at)
        fate = self.r.random()
        timeout = POLICY.ack_timeout
        services = conference or (ServiceId(service),)
        if fate < 0.03:
            self.time_out(apply, services, at + timeout)
            self.time_out(apply, services, at + 2 * timeout)
            return events
        acked = at + timedelta(seconds=min(590, int(self.r.expovariate(1 / 150)) + 5))
        level = 1
        if fate < 0.13:
            self.time_out(apply, services, at + timeout)
            acked += timeout
            level = 2
        for s in services:
            apply(esc.AckBy(user=UserId(f"@{s}.jour{level}:localhost"), via=AckVia.REACTION), acked)
        consultant = UserId(f"@{services[0]}.jour{level}:localhost")
        if self.r.random() < 0.35:
            apply(esc.CallBy(user=requester, requester_phone="070-000 00 00"), acked)
        fate = self.r.random()
        if fate < 0.04:
            return events  # still open
        if fate < 0.08:
            self.time_out(apply, services, acked + POLICY.reminder_after)
            self.time_out(apply, services, acked + POLICY.auto_close_after)
            return events
        if track is Track.PRIMARVARD:
            outcome = _pick(self.r, fourth_path_outcomes(kind, progress))
        else:
            outcome = _pick(self.r, SPECIALIST_OUTCOMES)
        closer = consultant if self.r.random() < 0.7 else requester
        apply(esc.CloseBy(user=closer, outcome=outcome), acked + timedelta(minutes=25))
        return events


def months_before(last: date, count: int) -> list[date]:
    """The first days of the `count` months ending with `last`'s month, oldest first."""
    firsts = [last.replace(day=1)]
    while len(firsts) < count:
        firsts.insert(0, (firsts[0] - timedelta(days=1)).replace(day=1))
    return firsts


async def fill(
    store: SqliteStore,
    services: Sequence[Service],
    last_month: date,
    *,
    months: int = 12,
    seed: int = 2026,
    tz: ZoneInfo = STOCKHOLM,
) -> Filled:
    """Write `months` months of consults, ending with `last_month`'s, into `store`."""
    g = Generator(services, seed, tz)
    filled = Filled()
    firsts = months_before(last_month, months)
    for index, first in enumerate(firsts):
        _, end = month_of(first)
        progress = index / max(1, months - 1)
        count = round(BASE_PER_MONTH * (1 + GROWTH) ** index)
        planned = []
        for _ in range(count):
            kind = _pick(g.r, KINDS)
            request = g.request(kind)
            day = first + timedelta(days=g.r.randrange((end - first).days + 1))
            if request[3] is not Track.AKUT and day.weekday() >= 5:
                day -= timedelta(days=day.weekday() - 4)  # working-hours paths: the Friday
            planned.append((g.when(day, request[3]), kind, request))
        for at, kind, request in sorted(planned, key=lambda p: p[0]):
            cid = await store.allocate_consult(now=at)
            events = g.consult(cid, at, kind, request, progress)
            await store.record(cid, 0, events, [], now=events[-1].at)
            filled.consults += 1
            filled.by_kind[kind.value] += 1
            filled.by_month[first.strftime("%Y-%m")] += 1
            outcome = esc.fold(events).outcome
            filled.outcomes[outcome.value if outcome else "open"] += 1
    return filled


def followup_config(database: Path, timezone: str, language: str) -> str:
    """A config naming the demo's store: enough for `stats`, `consults` and the report."""
    return f"""\
# Written by `consultbot demo --followup`: the follow-up demo's own store, nothing else.
# Try: consultbot -c {database.parent / "config.toml"} stats --month YYYY-MM
[matrix]
homeserver = "http://127.0.0.1:8008"
user_id = "@konsultbot:localhost"
password = "followup-demo-has-no-homeserver"
device_name = "consultbot-followup-demo"
store_path = "bot-store"
pickle_key = "followup-demo-has-no-homeserver"

[bot]
database = "{database.name}"
timezone = "{timezone}"
language = "{language}"
admins = ["@admin:localhost"]
allowed_servers = ["localhost"]

[tracks.halvakut]
hours = "weekdays 08:00-17:00"
ack_timeout_seconds = 600
[tracks.akut]
hours = "always"
ack_timeout_seconds = 180
[tracks.primarvard]
hours = "weekdays 08:00-17:00"
ack_timeout_seconds = 600
[tracks.mdk]
hours = "always"
ack_timeout_seconds = 3600
"""


def _fresh(folder: Path) -> tuple[Path, Catalogue]:
    """The demo's database path in `folder`, with no database left from before (every demo
    starts from nothing), and the example catalogue."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("consultbot.db*"):
        old.unlink()
    file = example_data_dir() / "services.toml"
    catalogue, _ = parse_catalogue(file.read_text(encoding="utf-8"), str(file))
    return folder / "consultbot.db", catalogue


async def main(tz: ZoneInfo, language: str, folder: Path, messages: Messages, out: TextIO) -> int:
    """`consultbot demo --followup`: a fresh store of a year's consults in `folder`, and a
    config naming it; prints what it wrote and the commands to try."""
    database, catalogue = _fresh(folder)
    today = datetime.now(UTC).astimezone(tz).date()
    last_month = today.replace(day=1) - timedelta(days=1)  # the last whole month
    store = await SqliteStore.open(database)
    try:
        filled = await fill(store, catalogue.services, last_month, tz=tz)
    finally:
        await store.close()
    config_file = database.with_name("config.toml")
    text = followup_config(database, str(tz), language)
    await asyncio.to_thread(config_file.write_text, text, encoding="utf-8")
    first = min(filled.by_month)
    last = max(filled.by_month)
    kinds = ", ".join(
        f"{messages.text('stats', f'kind_{k}')} {n}" for k, n in filled.by_kind.most_common()
    )
    print(
        messages.text(
            "followup_demo",
            "done",
            consults=filled.consults,
            first=first,
            last=last,
            first_day=f"{first}-01",
            last_day=last_month.isoformat(),
            kinds=kinds,
            database=database,
            config=config_file,
        ),
        file=out,
    )
    return 0
