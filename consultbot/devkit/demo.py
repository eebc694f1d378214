"""`consultbot demo`: a scripted consult on a homeserver of its own, printed as a transcript.

A primary-care doctor asks cardiology; the consultant on call (level 1) does not answer; after
the (shortened) acknowledgement timeout the bot pages the backup (level 2), who acknowledges
with ✅ and closes with the outcome "råd". Everything runs for real: Synapse, the bot with
end-to-end encryption, and three encrypted user clients.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from consultbot.adapters.sql.stores import open_store
from consultbot.app import running_bot, setup_logging
from consultbot.config import Config, TrackConfig
from consultbot.devkit import free_port
from consultbot.devkit.devtools import DEMO_PASSWORD, provision
from consultbot.devkit.matrix_user import MatrixUser, Seen
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.duty.hours import Hours
from consultbot.domain.types import Track
from consultbot.engine.admin import datasets
from consultbot.resources import example_data_dir

ACK_TIMEOUT = 12
QUESTION = (
    "72-årig kvinna med nyupptäckt förmaksflimmer, CHA2DS2-VASc 4."
    " Antikoagulation direkt eller efter eko?"
)
PEOPLE = {
    "@doktor.vc:localhost": "Anna Demo (VC Mora)",
    "@kardiolog1:localhost": "Karin Kardiolog (jour)",
    "@kardiolog2:localhost": "Bo Bakjour (bakjour)",
    "@konsultbot:localhost": "Konsultbot",
}


def _fresh_folder() -> Path:
    """Every demo starts from nothing: its server, database and clients are its own."""
    folder = Path(".local/demo").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def demo_config(config: Config, folder: Path, homeserver: str) -> Config:
    """The config with the demo's own server, database and store, and a short timeout."""
    always = TrackConfig(hours=Hours.parse("always"), ack_timeout_seconds=ACK_TIMEOUT)
    return replace(
        config,
        matrix=replace(
            config.matrix,
            homeserver=homeserver,
            store_path=folder / "bot-store",
            pickle_key=config.matrix.pickle_key or "demo",
        ),
        bot=replace(config.bot, database=folder / "demo.db"),
        tracks={**config.tracks, Track.HALVAKUT: always},
    )


def demo_roster(now: datetime) -> bytes:
    """Kardiologi: Karin on level 1 and Bo on level 2, from an hour ago for three hours."""
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    end = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    rows = [
        "service,level,start,end,matrix_id,name,phone",
        f"kardiologi,1,{start},{end},@kardiolog1:localhost,Karin Kardiolog,070-174 06 21",
        f"kardiologi,2,{start},{end},@kardiolog2:localhost,Bo Bakjour,070-174 06 22",
    ]
    return ("\n".join(rows) + "\n").encode()


async def load_data(config: Config) -> None:
    """Catalogue, staff and directory from the examples, and the demo's roster."""
    store = await open_store(config.bot.database)
    try:
        now = datetime.now(UTC)
        await datasets.ensure_reference_data(store, example_data_dir(), now)
        roster = await datasets.check_roster_files(
            [("demo-roster.csv", demo_roster(now))], store, config.bot.timezone, config.hours_of()
        )
        await roster.activate(store, now)
    finally:
        await store.close()


class Transcript:
    """Prints what each person sees, once, in the order it arrives."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()
        self._printed: set[str] = set()

    def say(self, who: str, text: str) -> None:
        """One line of narration or one message."""
        stamp = f"{time.monotonic() - self.start:6.1f}s"
        lines = text.strip().splitlines() or [""]
        print(f"[{stamp}] {who}: {lines[0]}", file=self.out)
        for line in lines[1:]:
            print(f"{'':10} {' ' * len(who)}  {line}", file=self.out)
        self.out.flush()

    def show(self, viewer: MatrixUser, seen: Seen) -> Seen:
        """Print a message the viewer received (each message once)."""
        if seen.event_id not in self._printed:
            self._printed.add(seen.event_id)
            name = PEOPLE.get(seen.sender, seen.sender)
            self.say(f"{name} → {PEOPLE.get(viewer.user_id, viewer.user_id)}", seen.body)
        return seen


async def main(config: Config, out: TextIO) -> int:
    """Run the scripted conversation on a homeserver of its own; 0 when it went as it should."""
    folder = _fresh_folder()
    setup_logging(logging.WARNING)
    logging.getLogger("nio").setLevel(logging.CRITICAL)
    port = free_port()
    log = Transcript(out)
    log.say("demo", f"startar Matrix-server på 127.0.0.1:{port}")
    server = EmbeddedHomeserver(data_dir=folder / "synapse", port=port, fast_passwords=True)
    async with server:
        await run_demo(config, server, folder, log)
    return 0


async def run_demo(
    config: Config, server: EmbeddedHomeserver, folder: Path, log: Transcript
) -> None:
    """The conversation on `server`, with the bot's data and the clients' stores in `folder`."""
    cfg = demo_config(config, folder, server.url)
    await provision(server, cfg, [(u, n) for u, n in PEOPLE.items() if "konsultbot" not in u])
    await load_data(cfg)
    users = {
        uid: MatrixUser(server.url, uid, DEMO_PASSWORD, folder / "clients" / uid.split(":")[0][1:])
        for uid in PEOPLE
        if "konsultbot" not in uid
    }
    async with running_bot(cfg):
        try:
            for user in users.values():
                await user.start()
            await _conversation(cfg, users, log)
        finally:
            for user in users.values():
                await user.close()
    log.say("demo", "klart")


async def _conversation(config: Config, users: dict[str, MatrixUser], log: Transcript) -> None:
    doctor = users["@doktor.vc:localhost"]
    level1 = users["@kardiolog1:localhost"]
    level2 = users["@kardiolog2:localhost"]
    bot = config.matrix.user_id

    async def shown(viewer: MatrixUser, seconds: float, match: Callable[[Seen], bool]) -> Seen:
        return log.show(viewer, await viewer.wait_for(match, seconds))

    def page_in(room: str) -> Callable[[Seen], bool]:
        return lambda s: s.room == room and s.kind == "message" and s.msgtype == "m.text"

    log.say("demo", "VC-läkaren öppnar ett krypterat direktmeddelande med boten")
    dm = await doctor.create_dm(bot)
    text = f"!konsult kardiologi {QUESTION}"
    log.say(PEOPLE[doctor.user_id], text)
    await doctor.send_text(dm, text)
    await shown(doctor, 60, lambda s: s.room == dm and s.sender == bot and "K-" in s.body)

    invite = await level1.wait_for(lambda s: s.kind == "invite", 60)
    room = invite.room
    log.say(PEOPLE[level1.user_id], "får en inbjudan till konsultrummet / is invited")
    await doctor.wait_for(lambda s: s.kind == "invite" and s.room == room, 60)
    await doctor.join(room)
    await level1.join(room)
    await shown(level1, 60, page_in(room))
    log.say("demo", f"Karin svarar inte; efter {ACK_TIMEOUT} s söker boten bakjouren")

    invite2 = await level2.wait_for(
        lambda s: s.kind == "invite" and s.room == room, ACK_TIMEOUT + 60
    )
    await shown(doctor, 30, lambda s: s.room == room and "nivå 2" in s.body.lower())
    await level2.join(invite2.room)
    page2 = await shown(level2, 60, page_in(room))
    log.say(PEOPLE[level2.user_id], "reagerar med ✅ / reacts ✅")
    await level2.react(room, page2.event_id, "✅")
    await shown(doctor, 30, lambda s: s.room == room and "kvitterat" in s.body)
    log.say(PEOPLE[level2.user_id], "!avsluta råd")
    await level2.send_text(room, "!avsluta råd")
    await shown(doctor, 30, lambda s: s.room == room and "avslutad" in s.body)
    await shown(doctor, 30, lambda s: s.room == dm and "avslutad" in s.body)
    await asyncio.sleep(0)
