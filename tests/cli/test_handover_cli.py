"""`consultbot who` and `roster export` see an accepted handover for its period (SPEC §6)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.types import ServiceId, UserId
from tests.cli.conftest import Run

TZ = ZoneInfo("Europe/Stockholm")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


async def hand_over(database: Path) -> None:
    store = await SqliteStore.open(database)
    try:
        await store.add_handovers(
            [
                Handover(
                    id=0,
                    service=ServiceId("kardiologi"),
                    level=1,
                    giver=UserId("@kardiolog1:localhost"),
                    taker=UserId("@vikarie:localhost"),
                    taker_name="Vera Vikarie",
                    taker_phone="070-174 06 99",
                    start=local("2026-11-23 12:00"),
                    end=local("2026-11-23 15:00"),
                    offered_by=UserId("@admin:localhost"),
                    offered_at=local("2026-11-23 12:00"),
                    answer_by=None,
                    state=HandoverState.ACCEPTED,
                    decided_at=local("2026-11-23 12:00"),
                )
            ]
        )
    finally:
        await store.close()


def test_who_and_the_export_see_a_handover_for_its_period(loaded: Run, config_path: Path) -> None:
    asyncio.run(hand_over(config_path.parent / "data" / "consultbot.db"))
    during = loaded("who", "kardiologi", "--at", "2026-11-23 13:00")
    assert "Vera Vikarie" in during.out and "Karin Kardiolog" not in during.out
    after = loaded("who", "kardiologi", "--at", "2026-11-23 16:00")
    assert "Karin Kardiolog" in after.out and "Vera Vikarie" not in after.out
    export = loaded(
        "roster", "export", "kardiologi", "--format", "csv", "--from", "2026-11-23",
        "--to", "2026-11-23",
    )  # fmt: skip
    day = [
        line.split(",")[2:6]
        for line in export.out.splitlines()
        if line.startswith("kardiologi,1,2026-11-23 ")
    ]
    assert day[:3] == [
        ["2026-11-23 08:00", "2026-11-23 12:00", "@kardiolog1:localhost", "Karin Kardiolog"],
        ["2026-11-23 12:00", "2026-11-23 15:00", "@vikarie:localhost", "Vera Vikarie"],
        ["2026-11-23 15:00", "2026-11-23 17:00", "@kardiolog1:localhost", "Karin Kardiolog"],
    ]
