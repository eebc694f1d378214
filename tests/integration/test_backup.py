"""`consultbot backup` while the bot runs; a bot restored from the copy resumes the consult."""

from __future__ import annotations

import asyncio
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver

from .harness import ask, join_invite, world

pytestmark = [pytest.mark.integration]


async def backup(config: Path, target: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consultbot",
        "backup",
        str(target),
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_a_backup_taken_while_running_restores_into_a_bot_that_resumes(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "l2") as w:
        config = w.config(ack_timeout=8)
        await w.seed(config, {1: ["l1"], 2: ["l2"]})
        target = tmp_path / "backup" / "copy.db"
        target.parent.mkdir()
        async with running_bot(config):
            await ask(w)
            l1 = w.people["l1"].c
            room = await join_invite(l1)
            await l1.wait_for(lambda s: s.room == room and s.sender == w.bot_id, 30)
            code, out, err = await backup(w.write_config(), target)
            assert code == 0, err
            assert "1 konsultationer" in out and str(target) in out
            assert (target.stat().st_mode & 0o077) == 0
            # A second backup never overwrites the first.
            code, _, err = await backup(w.write_config(), target)
            assert code == 1 and "finns redan" in err and "Traceback" not in err
        # Restore: the copy of the database and the bot's encryption store, in a new place.
        restored = tmp_path / "restored"
        shutil.copytree(config.matrix.store_path, restored / "store")
        shutil.copy(target, restored / "consultbot.db")
        again = replace(
            config,
            bot=replace(config.bot, database=restored / "consultbot.db"),
            matrix=replace(config.matrix, store_path=restored / "store"),
        )
        async with running_bot(again):
            # The level-1 deadline passes: the restored bot escalates the consult it never saw.
            l2 = w.people["l2"].c
            assert await join_invite(l2, 40) == room
            await l2.wait_for(lambda s: s.room == room and s.sender == w.bot_id, 30)
