"""Admins run the rosters from chat on a real Synapse, files encrypted as Element sends them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import Dataset
from consultbot.ports import Clock

from .harness import World, ask, join_invite, world

pytestmark = [pytest.mark.integration]


def roster(w: World, key: str) -> bytes:
    """A kardiologi roster with `key` on level 1 for the seeded period (replacing it)."""
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    end = (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    p = w.people[key]
    return (
        "tjänst;nivå;start;slut;matrix_id;namn;telefon\n"
        f"kardiologi;1;{start};{end};{p.user_id};{p.name};{p.phone}\n"
    ).encode()


def from_bot(w: World, room: str, text: str):
    return lambda s: s.room == room and s.sender == w.bot_id and text in s.body


async def test_an_admin_uploads_activates_and_rolls_back_a_roster_and_paging_follows(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "l1new", "admin", "other") as w:
        admin = w.people["admin"]
        config = w.config(ack_timeout=600, admins=[admin.user_id])
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config):
            a = admin.c
            dm = await a.create_dm(w.bot_id)

            # A file with an error: every error with its line, nothing waits.
            bad = roster(w, "l1new") + b"kardiologi;1;2026-13-01 08:00;2026-12-01 17:00;@x:y;X\n"
            await a.send_file(dm, bad, name="schema.csv", mimetype="text/csv")
            errors = await a.wait_for(from_bot(w, dm, "kan inte aktiveras"), 30)
            assert "schema.csv:3:" in errors.body

            # A good file: a summary, then !aktivera.
            await a.send_file(dm, roster(w, "l1new"), name="schema.csv", mimetype="text/csv")
            summary = await a.wait_for(from_bot(w, dm, "!aktivera"), 30)
            assert "kardiologi" in summary.body
            await a.send_text(dm, "!aktivera")
            await a.wait_for(from_bot(w, dm, "används nu"), 30)

            # The next consult pages the person the new roster puts on duty.
            await ask(w)
            await join_invite(w.people["l1new"].c)
            assert all(s.kind != "invite" for s in w.people["l1"].c.seen)

            # Rollback: the earlier roster is back, and so is its person on duty.
            await a.send_text(dm, "!återställ schema")
            await a.wait_for(from_bot(w, dm, "är aktiv igen"), 30)
            await ask(w, "En annan patient: 80-årig man med svimning, pacemakerindikation?")
            await join_invite(w.people["l1"].c)


async def test_a_non_admins_file_is_refused_and_never_activated(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "other") as w:
        config = w.config(ack_timeout=600, admins=["@nobody:localhost"])
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config) as bot:
            other = w.people["other"].c
            dm = await other.create_dm(w.bot_id)
            await other.send_file(dm, roster(w, "other"), name="schema.csv", mimetype="text/csv")
            await other.wait_for(from_bot(w, dm, "administratörer"), 30)
            await other.send_text(dm, "!aktivera")
            refused = from_bot(w, dm, "administratörer")
            await other.wait_until(lambda: sum(1 for s in other.seen if refused(s)) >= 2)
            actions = await bot.store.admin_actions()
            assert [(a.action, a.allowed) for a in actions] == [
                ("upload", False),
                ("aktivera", False),
            ]
            assert await bot.store.pending_upload(other.user_id) is None


class ShiftedClock(Clock):
    """The real time, moved on by `offset` when the test says so."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def test_an_upload_nobody_activates_expires_after_24_hours(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "l1", "l1new", "admin") as w:
        admin = w.people["admin"]
        config = w.config(ack_timeout=600, admins=[admin.user_id])
        await w.seed(config, {1: ["l1"]})
        clock = ShiftedClock()
        async with running_bot(config, clock) as bot:
            a = admin.c
            dm = await a.create_dm(w.bot_id)
            await a.send_file(dm, roster(w, "l1new"), name="schema.csv", mimetype="text/csv")
            await a.wait_for(from_bot(w, dm, "!aktivera"), 30)
            clock.offset = timedelta(hours=24, minutes=1)
            await a.send_text(dm, "!aktivera")
            await a.wait_for(from_bot(w, dm, "ingen uppladdad fil"), 30)
            versions = await bot.store.versions(Dataset.ROSTER)
            assert [v.number for v in versions] == [1], "nothing was activated"
