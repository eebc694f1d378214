"""A world for conferences (`!mdk`): three services, each with its own switchboard, a roster
per (service, level), and a config whose conference track has a meeting link and a short
acknowledgement timeout. Used by test_conference_flow.py and test_limits_live.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.config import Config
from consultbot.domain.types import Track
from consultbot.engine.admin import datasets

from .harness import World

SERVICES = {
    "kardiologi": "023-49 00 00",
    "neurologi": "023-49 00 01",
    "onkologi": "023-49 00 02",
}
MEETING_URL = "https://meet.region.example/mdk-{consult}"


def catalogue() -> bytes:
    text = ""
    for sid, board in SERVICES.items():
        text += (
            f'[[service]]\nid = "{sid}"\nname = "{sid.title()}"\nkind = "specialty"\n'
            f'tracks = ["halvakut", "mdk"]\nswitchboard = "{board}"\n\n'
        )
    return text.encode()


async def seed(w: World, config: Config, duty: dict[tuple[str, int], list[str]]) -> None:
    """Catalogue of three services, staff (everyone), and the roster (service, level) → keys."""
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    end = (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    roster = ["service,level,start,end,matrix_id,name,phone"]
    for (service, level), keys in duty.items():
        for key in keys:
            p = w.people[key]
            roster.append(f"{service},{level},{start},{end},{p.user_id},{p.name},{p.phone}")
    staff = ["matrix_id,name,unit,title,phone"]
    staff += [f"{p.user_id},{p.name},kardiologi,,{p.phone}" for p in w.people.values()]
    store = await SqliteStore.open(config.bot.database)
    try:
        await datasets.check_catalogue_files([("services.toml", catalogue())]).activate(store, now)
        staff_check = await datasets.check_staff_files(
            [("staff.csv", "\n".join(staff).encode())], store
        )
        await staff_check.activate(store, now)
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


def mdk_config(w: World, *, ack_timeout: int, reminder_seconds: int = 900) -> Config:
    config = w.config(ack_timeout=300)
    tracks = dict(config.tracks)
    tracks[Track.MDK] = replace(
        tracks[Track.MDK],
        ack_timeout_seconds=ack_timeout,
        meeting_url=MEETING_URL,
        meeting_reminder_seconds=reminder_seconds,
    )
    return replace(config, tracks=tracks)
