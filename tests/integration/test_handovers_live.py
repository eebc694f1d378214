"""Handovers and duty reminders on a real Synapse with end-to-end encrypted clients
(issue 9, items 3, 4 and 6). Timers are shortened through config or an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.app import running_bot
from consultbot.config import Config
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import ServiceId
from consultbot.engine.admin import datasets
from consultbot.ports import Clock

from .harness import World, ask, join_invite, world

pytestmark = [pytest.mark.integration]


def from_bot(w: World, text: str, room: str | None = None):
    return lambda s: (
        s.kind == "message"
        and s.sender == w.bot_id
        and text in s.body
        and (room is None or s.room == room)
    )


async def offer(w: World, giver: str, body: str) -> str:
    """`giver` opens a DM with the bot and writes `body`; returns the DM."""
    client = w.people[giver].c
    dm = await client.create_dm(w.bot_id)
    await client.send_text(dm, body)
    return dm


async def test_a_handover_accepted_then_a_page_reaches_the_colleague(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "cover") as w:
        config = w.config(ack_timeout=300)
        await w.seed(config, {1: ["l1"]})
        l1, cover = w.people["l1"], w.people["cover"]
        async with running_bot(config) as bot:
            dm = await offer(w, "l1", f"!lämna {cover.user_id}")
            await l1.c.wait_for(from_bot(w, "Jag har frågat", dm), 30)
            # Nothing changes until the colleague accepts.
            duty = await bot.store.on_duty(ServiceId("kardiologi"), datetime.now(UTC))
            assert [s.user for s in duty.level(1)] == [l1.user_id]
            private = await join_invite(cover.c)
            question = await cover.c.wait_for(from_bot(w, "vill lämna över", private), 30)
            await cover.c.react(private, question.event_id, "✅")
            await l1.c.wait_for(from_bot(w, "har tagit över", dm), 30)
            await cover.c.wait_for(from_bot(w, "Du har nu jouren", private), 30)
            # The page goes to the colleague, not to the roster's person.
            await ask(w)
            invite = await cover.c.wait_for(lambda s: s.kind == "invite" and s.room != private, 30)
            room = invite.room
            await cover.c.join(room)
            page = await cover.c.wait_for(
                lambda s: s.kind == "message" and s.room == room and s.msgtype == "m.text", 30
            )
            assert page.mentions == (cover.user_id,)
            assert all(s.room != room for s in l1.c.seen)
            # `!vem` sees the handover, with the colleague's phone.
            doctor = w.people["doctor"].c
            who_dm = await doctor.create_dm(w.bot_id)
            await doctor.send_text(who_dm, "!vem kardiologi")
            who = await doctor.wait_for(from_bot(w, "i tjänst nu", who_dm), 30)
            assert cover.name in who.body and l1.name not in who.body


async def test_a_handover_declined_then_one_not_answered_in_time(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "l1", "cover") as w:
        config = w.config(ack_timeout=300, handover_answer_seconds=6)
        await w.seed(config, {1: ["l1"]})
        l1, cover = w.people["l1"], w.people["cover"]
        async with running_bot(config) as bot:
            dm = await offer(w, "l1", f"!handover {cover.user_id}")
            private = await join_invite(cover.c)
            # The colleague is asked in the config's language; the offerer wrote English.
            await cover.c.wait_for(from_bot(w, "vill lämna över", private), 30)
            await cover.c.send_text(private, "!avböj")
            declined = await l1.c.wait_for(from_bot(w, "declined", dm), 30)
            assert "still yours" in declined.body
            await l1.c.send_text(dm, f"!handover {cover.user_id}")
            lapsed = await l1.c.wait_for(from_bot(w, "did not answer within 6 s", dm), 30)
            assert "still yours" in lapsed.body
            await cover.c.wait_for(from_bot(w, "gick ut efter 6 s", private), 30)
            duty = await bot.store.on_duty(ServiceId("kardiologi"), datetime.now(UTC))
            assert [s.user for s in duty.level(1)] == [l1.user_id]
            states = [h.state.value for h in await bot.store.handovers()]
            assert states == ["declined", "lapsed"]


async def test_an_admin_hands_a_duty_without_acceptance(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "admin", "l1", "cover") as w:
        admin, l1, cover = w.people["admin"], w.people["l1"], w.people["cover"]
        config = w.config(ack_timeout=300, admins=[admin.user_id])
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config) as bot:
            dm = await offer(w, "admin", f"!lämna {l1.user_id} {cover.user_id}")
            await admin.c.wait_for(from_bot(w, "Klart", dm), 30)
            private = await join_invite(cover.c)
            await cover.c.wait_for(from_bot(w, "(admin) har gett dig jouren", private), 30)
            told = await join_invite(l1.c)
            await l1.c.wait_for(from_bot(w, "(admin) har lämnat över din jour", told), 30)
            duty = await bot.store.on_duty(ServiceId("kardiologi"), datetime.now(UTC))
            assert [s.user for s in duty.level(1)] == [cover.user_id]
            [recorded] = await bot.store.handovers()
            assert recorded.offered_by == admin.user_id and recorded.giver == l1.user_id


class Ahead(Clock):
    """The machine's clock moved ahead, so that a reminder an hour before is due now."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def import_roster(config: Config, rows: list[str]) -> None:
    store = await SqliteStore.open(config.bot.database)
    try:
        data = "\n".join(["service,level,start,end,matrix_id,name,phone", *rows]).encode()
        checked = await datasets.check_roster_files(
            [("roster.csv", data)], store, config.bot.timezone, config.hours_of()
        )
        assert checked.ok, checked.errors
        await checked.activate(store, datetime.now(UTC))
    finally:
        await store.close()


async def test_a_duty_reminder_once_across_a_restart_and_a_correction(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "l1") as w:
        config = w.config(ack_timeout=300, shift_reminder_minutes=60)
        await w.seed(config, {})  # catalogue and staff
        l1 = w.people["l1"]
        base = datetime.now(UTC).replace(second=0, microsecond=0)

        def row(start: datetime, hours: int) -> str:
            end = start + timedelta(hours=hours)
            stamp = "%Y-%m-%dT%H:%M:00+00:00"
            return f"kardiologi,1,{start:{stamp}},{end:{stamp}},{l1.user_id},{l1.name},{l1.phone}"

        await import_roster(config, [row(base + timedelta(hours=2), 8)])
        clock = Ahead(timedelta(hours=1, minutes=5))  # 55 minutes before the duty
        async with running_bot(config, clock):
            private = await join_invite(l1.c)
            reminder = await l1.c.wait_for(from_bot(w, "Påminnelse", private), 30)
            assert "Kardiologi, Falu lasarett, nivå 1 (jour)" in reminder.body
            assert 'href="tel:+4623490000"' in reminder.html
        # Down; the roster changes: the duty ends four hours earlier.
        await import_roster(config, [row(base + timedelta(hours=2), 4)])
        async with running_bot(config, clock):
            await l1.c.wait_for(from_bot(w, "Ändring i schemat", private), 30)
        told = [s.body for s in l1.c.seen if from_bot(w, "", private)(s)]
        assert len(told) == 2 and told[0].startswith("Påminnelse")  # not doubled by the restart
