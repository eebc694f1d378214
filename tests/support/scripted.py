"""Consults driven through the real state machine into a real SQLite store, for the CLI tests.

Each step is `escalation.step` at a given instant, recorded with `store.record` exactly as the
bot records it; the clock is the script's. A request records its requester's unit and kind
from the store's active staff list and catalogue, as the bot's intake does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.events import AckVia
from consultbot.domain.consult.requester import frozen_requester
from consultbot.domain.duty.oncall import OnDuty
from consultbot.domain.duty.roster import Shift
from consultbot.domain.types import ConsultId, Outcome, ServiceId, Track, UserId

TZ = ZoneInfo("Europe/Stockholm")
POLICY = esc.Policy(ack_timeout=timedelta(seconds=600))


def local(text: str) -> datetime:
    """`YYYY-MM-DD HH:MM` Stockholm time as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(UTC)


def level_user(service: str, level: int) -> UserId:
    return UserId(f"@{service}{level}:localhost")


def duty(service: str, at: datetime, levels: int = 2) -> OnDuty:
    """`levels` levels of one person each, on for the whole day around `at`."""
    return OnDuty(
        service=ServiceId(service),
        at=at,
        levels=tuple(
            (
                n,
                (
                    Shift(
                        service=ServiceId(service),
                        level=n,
                        start=at - timedelta(hours=12),
                        end=at + timedelta(hours=36),
                        user=level_user(service, n),
                        name=f"{service} {n}",
                        phone=f"070-000 00 0{n}",
                    ),
                ),
            )
            for n in range(1, levels + 1)
        ),
    )


class Script:
    """A store and the consults written into it."""

    def __init__(self, store: SqliteStore, *, freeze: bool = True) -> None:
        self.store = store
        self.freeze = freeze  # False: requests as written before they recorded the unit

    async def _frozen(self, requester: str) -> dict[str, str]:
        """The request's `unit` and `requester_kind`, as the intake freezes them."""
        if not self.freeze:
            return {}
        member = await self.store.staff_member(UserId(requester))
        unit, kind = frozen_requester(member.unit if member else None, await self.store.catalogue())
        return {"unit": unit, "requester_kind": kind.value}

    async def _apply(self, cid: ConsultId, command: esc.Input, at: datetime) -> None:
        events = await self.store.events(cid)
        consult = esc.fold(events) if events else None
        new, effects = esc.step(consult, command, at, POLICY)
        assert new, f"{command!r} changed nothing"
        for effect in effects:  # the pages go out at once, as the outbox reports them
            if isinstance(effect, esc.PageLevel):
                sent = esc.Delivered(level=effect.level, service=effect.service)
                new += esc.step(esc.fold([*events, *new]), sent, at, POLICY)[0]
        await self.store.record(cid, len(events), new, [], now=at)

    async def request(
        self,
        requester: str,
        service: str,
        at: datetime,
        track: Track = Track.HALVAKUT,
        *,
        opens_at: datetime | None = None,
    ) -> ConsultId:
        cid = await self.store.allocate_consult(now=at)
        await self._apply(
            cid,
            esc.Request(
                consult_id=cid,
                requester=UserId(requester),
                service=ServiceId(service),
                track=track,
                request_room="!dm:localhost",
                request_event=f"$req-{cid}",
                duty=duty(service, at),
                open_now=opens_at is None,
                opens_at=opens_at,
                **await self._frozen(requester),
            ),
            at,
        )
        return cid

    async def timer(self, cid: ConsultId, at: datetime, service: str = "") -> None:
        consult = esc.fold(await self.store.events(cid))
        await self._apply(cid, esc.Timer(duty=duty(service or consult.service, at)), at)

    async def ack(self, cid: ConsultId, user: str, at: datetime) -> None:
        await self._apply(cid, esc.AckBy(user=UserId(user), via=AckVia.COMMAND), at)

    async def call(self, cid: ConsultId, user: str, at: datetime) -> None:
        await self._apply(cid, esc.CallBy(user=UserId(user), requester_phone="070-174 06 20"), at)

    async def close(self, cid: ConsultId, user: str, outcome: Outcome, at: datetime) -> None:
        await self._apply(cid, esc.CloseBy(user=UserId(user), outcome=outcome), at)

    async def queue(self, cid: ConsultId, user: str, at: datetime) -> None:
        await self._apply(cid, esc.QueueBy(user=UserId(user)), at)

    async def conference(
        self, requester: str, services: list[str], at: datetime, ack_after: int, outcome: Outcome
    ) -> ConsultId:
        """A conference (`!mdk`) through the real state machine: every service's level 1 acks."""
        cid = await self.store.allocate_consult(now=at)
        await self._apply(
            cid,
            esc.Request(
                consult_id=cid,
                requester=UserId(requester),
                service=ServiceId(services[0]),
                track=Track.MDK,
                request_room="!dm:localhost",
                request_event=f"$req-{cid}",
                duty=duty(services[0], at),
                open_now=True,
                services=tuple(ServiceId(s) for s in services),
                duties={ServiceId(s): duty(s, at) for s in services},
                **await self._frozen(requester),
            ),
            at,
        )
        later = at + timedelta(seconds=ack_after)
        for service in services:
            await self.ack(cid, level_user(service, 1), later)
        await self.call(cid, requester, later)
        await self.close(cid, requester, outcome, later + timedelta(minutes=30))
        return cid
