"""Attachments through a real Synapse: an admin's encrypted file in, the bot's image out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from consultbot.adapters.matrix.media import (
    MediaError,
    attachment,
    fetch,
    upload_image,
)
from consultbot.devkit.matrix_user import MatrixUser, Seen
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.ports import FileTooLarge

if TYPE_CHECKING:
    from .conftest import NewUser

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ROSTER = (
    "tjänst;nivå;start;slut;matrix_id;namn\n"
    "kardiologi;1;2026-12-01 08:00;2026-12-01 17:00;@a:localhost;Anna Ek\n"
).encode()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest_asyncio.fixture(loop_scope="session")
async def pair(
    homeserver: EmbeddedHomeserver, new_user: NewUser, tmp_path: Path
) -> AsyncIterator[tuple[MatrixUser, MatrixUser, str]]:
    """Two people in an encrypted direct chat, as Element opens one."""
    users = []
    for i in range(2):
        user_id, password = await new_user()
        users.append(MatrixUser(homeserver.url, user_id, password, tmp_path / f"u{i}"))
    admin, bot = users
    try:
        for user in users:
            await user.start()
        room = await admin.create_dm(bot.user_id, wait=False)
        await bot.join(room)
        await admin.wait_until(lambda: bot.user_id in admin.client.rooms[room].users)
        yield admin, bot, room
    finally:
        for user in users:
            with contextlib.suppress(Exception):
                await user.close()


def _file_from(sender: str, room: str):  # type: ignore[no-untyped-def]
    return lambda s: (
        s.kind == "message"
        and s.room == room
        and s.sender == sender
        and s.msgtype in ("m.file", "m.image")
    )


async def test_an_encrypted_file_sent_as_element_does_is_fetched_and_decrypted(
    pair: tuple[MatrixUser, MatrixUser, str],
) -> None:
    admin, bot, room = pair
    await admin.send_file(room, ROSTER, name="schema.csv", mimetype="text/csv")
    seen: Seen = await bot.wait_for(_file_from(admin.user_id, room))
    item = attachment(seen.source["content"])
    assert item is not None
    assert item.encryption is not None, "an encrypted room carries the file encrypted"
    assert (item.name, item.mimetype, item.size) == ("schema.csv", "text/csv", len(ROSTER))
    assert await fetch(bot.client, item, max_bytes=1024) == ROSTER


async def test_a_file_larger_than_the_limit_is_refused_with_its_size(
    pair: tuple[MatrixUser, MatrixUser, str],
) -> None:
    admin, bot, room = pair
    await admin.send_file(room, ROSTER, name="schema.csv", mimetype="text/csv")
    item = attachment((await bot.wait_for(_file_from(admin.user_id, room))).source["content"])
    assert item is not None
    with pytest.raises(FileTooLarge) as refused:
        await fetch(bot.client, item, max_bytes=len(ROSTER) - 1)
    assert refused.value.size == len(ROSTER)
    # A sender who understates the size is caught after the download.
    understated = type(item)(**{**item.__dict__, "size": 10})
    with pytest.raises(FileTooLarge):
        await fetch(bot.client, understated, max_bytes=len(ROSTER) - 1)


async def test_a_file_whose_hash_does_not_match_is_refused(
    pair: tuple[MatrixUser, MatrixUser, str],
) -> None:
    admin, bot, room = pair
    await admin.send_file(room, ROSTER, name="schema.csv", mimetype="text/csv")
    item = attachment((await bot.wait_for(_file_from(admin.user_id, room))).source["content"])
    assert item is not None and item.encryption is not None
    forged = {
        **item.encryption,
        "hashes": {"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    }
    with pytest.raises(MediaError):
        await fetch(
            bot.client, type(item)(**{**item.__dict__, "encryption": forged}), max_bytes=4096
        )


async def test_the_bots_image_reaches_the_other_side_encrypted_and_intact(
    pair: tuple[MatrixUser, MatrixUser, str],
) -> None:
    admin, bot, room = pair
    content = await upload_image(
        bot.client, PNG, name="statistik.png", width=10, height=20, encrypt=True
    )
    assert "url" not in content, "an encrypted room gets no plain url"
    await bot.send_content(room, "m.room.message", content)
    seen = await admin.wait_for(_file_from(bot.user_id, room))
    item = attachment(seen.source["content"])
    assert item is not None and item.encryption is not None
    assert seen.source["content"]["info"]["w"] == 10
    assert await fetch(admin.client, item, max_bytes=1 << 20) == PNG
