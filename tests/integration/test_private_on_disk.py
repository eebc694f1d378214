"""A real bot run keeps its secrets private on disk and out of its log, with every question."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from consultbot.devkit.synapse import EmbeddedHomeserver

from .harness import QUESTION, BotProcess, ask, join_invite, world

pytestmark = [pytest.mark.integration]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_store_credentials_and_database_are_owner_only_and_the_log_holds_no_secret(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        path = w.write_config(ack_timeout=60)
        config = w.config()
        await w.seed(config, {1: ["l1"]})
        bot = BotProcess(path, tmp_path / "bot.log")
        await bot.start()
        try:
            await bot.wait_running()
            await ask(w)
            l1 = w.people["l1"].c
            room = await join_invite(l1)
            await l1.wait_for(lambda s: s.room == room and QUESTION in s.body, 30)
        finally:
            await bot.stop()
        store = config.matrix.store_path
        assert mode(store) == 0o700
        files = [p for p in store.rglob("*") if p.is_file()]
        assert any(p.name == "credentials.json" for p in files)
        assert any(p.suffix == ".db" for p in files), "the E2EE store"
        for file in files:
            assert mode(file) == 0o600, file
        for file in config.bot.database.parent.glob("consultbot.db*"):
            assert mode(file) & 0o077 == 0, file
        token = json.loads((store / "credentials.json").read_text())["access_token"]
        log = (tmp_path / "bot.log").read_text(encoding="utf-8")
        assert "consultbot is running" in log
        for secret in (token, w.bot_password, config.matrix.pickle_key, QUESTION, "förmaksflimmer"):
            assert secret not in log
