"""Admins by chat, in memory: a data file checked, activated, discarded, rolled back.

A bot here is the real service (inbox, outbox, views) over in-memory stores and a messenger that
also serves the files people send, counting what it fetched.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from consultbot.domain.files.uploads import MAX_UPLOAD_BYTES
from consultbot.domain.types import Dataset, UserId
from consultbot.ports import FileSource, FileTooLarge, IncomingFile
from tests.support.bots import DM, K1A, K2, KARDIO, NOW, REQ, Bot, Make, Messenger

ADMIN = UserId("@admin:localhost")
ADMIN_DM = "!dm-admin:localhost"
NEW_ON_CALL = UserId("@nils:localhost")
FILE_IDS = itertools.count(1)


def roster_csv(user: str = NEW_ON_CALL, name: str = "Nils Ny") -> bytes:
    # The same period as the roster the test bots start with, so this one replaces it; the
    # backup (bakjour) stays, so that the import leaves no hole and removes nothing.
    start = (NOW - timedelta(days=1)).isoformat(timespec="minutes")
    end = (NOW + timedelta(days=3)).isoformat(timespec="minutes")
    return (
        "tjänst;nivå;start;slut;matrix_id;namn;telefon\n"
        f"kardiologi;1;{start};{end};{user};{name};070-333 33 33\n"
        f"kardiologi;2;{start};{end};{K2};Bertil Bakjour;070-222 22 22\n"
    ).encode()


@dataclass
class FileMessenger(Messenger, FileSource):
    """The test messenger, also serving the files people sent; counts fetches."""

    files: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    async def fetch_file(self, file: IncomingFile, *, max_bytes: int) -> bytes:
        self.fetched.append(file.event_id)
        data = self.files[file.event_id]
        if len(data) > max_bytes:
            raise FileTooLarge(len(data))
        return data


async def send_file(
    bot: Bot, sender: UserId, name: str, data: bytes, *, room: str = ADMIN_DM, size: int | None = -1
) -> IncomingFile:
    event_id = f"$file{next(FILE_IDS)}"
    assert isinstance(bot.messenger, FileMessenger)
    bot.messenger.files[event_id] = data
    file = IncomingFile(
        room=room,
        event_id=event_id,
        sender=sender,
        name=name,
        mimetype="text/csv",
        size=len(data) if size == -1 else size,
        ref={},
        at=bot.clock.now(),
        direct=True,
    )
    await bot.service.inbox.handle_file(file)
    await bot.flush()
    return file


def last(bot: Bot, room: str = ADMIN_DM) -> str:
    return bot.messenger.said(room)[-1]


async def on_call(bot: Bot) -> set[UserId]:
    duty = await bot.data.on_duty(KARDIO, bot.clock.now())
    return {s.user for level, shifts in duty.levels if level == 1 for s in shifts}


@pytest.fixture
async def bot(make: Make) -> Bot:
    return await make(messenger=FileMessenger())


async def test_an_admins_roster_is_checked_then_activated_and_changes_who_is_paged(
    bot: Bot,
) -> None:
    before = await on_call(bot)
    await send_file(bot, ADMIN, "schema.csv", roster_csv())
    summary = last(bot)
    assert "schema.csv" in summary and "kardiologi" in summary and "!aktivera" in summary
    assert await on_call(bot) == before, "nothing changes before !aktivera"
    await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
    await bot.flush()
    assert "används nu" in last(bot)
    assert await on_call(bot) == {NEW_ON_CALL}
    await bot.say(REQ, "!konsult kardiologi fråga om förmaksflimmer")
    await bot.flush()
    [page] = bot.messenger.pages()
    assert NEW_ON_CALL in page.content.mentions and K1A not in page.content.mentions
    actions = [(a.actor, a.action, a.allowed) for a in await bot.data.admin_actions()]
    assert actions == [(ADMIN, "upload", True), (ADMIN, "activate", True)]


async def test_a_file_with_errors_lists_them_with_lines_and_waits_for_nothing(bot: Bot) -> None:
    bad = roster_csv() + b"kardiologi;1;2026-13-01 08:00;2026-12-01 17:00;@x:localhost;X\n"
    await send_file(bot, ADMIN, "schema.csv", bad)
    answer = last(bot)
    assert "schema.csv:4:" in answer and "Inget har ändrats" in answer
    await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
    await bot.flush()
    assert "ingen uppladdad fil" in last(bot)


async def test_a_non_admins_file_and_commands_are_refused_never_fetched(bot: Bot) -> None:
    before = await on_call(bot)
    await send_file(bot, REQ, "schema.csv", roster_csv(), room=DM)
    assert "administratörer" in last(bot, DM)
    assert isinstance(bot.messenger, FileMessenger) and bot.messenger.fetched == []
    for command, refusal in (
        ("!aktivera", "administratörer"),
        ("!avbryt", "administratörer"),
        ("!återställ schema", "administratörer"),
        ("!rollback roster", "admins"),  # an English alias: answered in English
    ):
        await bot.say(REQ, command)
        await bot.flush()
        assert refusal in last(bot, DM), command
    assert await on_call(bot) == before
    refused = [(a.actor, a.action, a.allowed) for a in await bot.data.admin_actions()]
    assert refused == [
        (REQ, "upload", False),
        (REQ, "aktivera", False),
        (REQ, "avbryt", False),
        (REQ, "återställ", False),
        (REQ, "återställ", False),
    ]


async def test_an_upload_nobody_activates_expires_after_24_hours(bot: Bot) -> None:
    before = await on_call(bot)
    await send_file(bot, ADMIN, "schema.csv", roster_csv())
    bot.clock.current = NOW + timedelta(hours=24, minutes=1)
    await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
    await bot.flush()
    assert "ingen uppladdad fil" in last(bot)
    assert await bot.data.pending_upload(ADMIN) is None
    bot.clock.current = NOW
    assert await on_call(bot) == before


async def test_cancel_discards_the_upload(bot: Bot) -> None:
    await send_file(bot, ADMIN, "schema.csv", roster_csv())
    await bot.say(ADMIN, "!avbryt", room=ADMIN_DM)
    await bot.flush()
    assert "är kastad" in last(bot)
    assert await bot.data.pending_upload(ADMIN) is None


async def test_rollback_by_chat_makes_the_previous_roster_active_again(bot: Bot) -> None:
    before = await on_call(bot)
    await send_file(bot, ADMIN, "schema.csv", roster_csv())
    await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
    await bot.say(ADMIN, "!återställ schema", room=ADMIN_DM)
    await bot.flush()
    assert "version 2 är ångrad, version 1 är aktiv igen" in last(bot)
    assert await on_call(bot) == before
    await bot.say(ADMIN, "!rollback roster", room=ADMIN_DM)
    await bot.flush()
    assert "has no earlier version" in last(bot)
    await bot.say(ADMIN, "!återställ tårta", room=ADMIN_DM)
    await bot.flush()
    assert "!återställ schema, katalog, personal eller kontakter" in last(bot)


async def test_the_same_roster_again_makes_no_new_version(bot: Bot) -> None:
    """An identical re-upload says the data is already active; a rollback after it still
    goes back to the roster before (issue 23 item 8)."""
    before = await on_call(bot)
    await send_file(bot, ADMIN, "schema.csv", roster_csv())
    await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
    await bot.flush()
    versions = len(await bot.data.versions(Dataset.ROSTER))
    await send_file(bot, ADMIN, "schema-igen.csv", roster_csv())
    await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
    await bot.flush()
    assert "redan den aktiva versionen av schemat (version 2)" in last(bot)
    assert len(await bot.data.versions(Dataset.ROSTER)) == versions
    assert await bot.data.pending_upload(ADMIN) is None
    await bot.say(ADMIN, "!återställ schema", room=ADMIN_DM)
    await bot.flush()
    assert await on_call(bot) == before


@pytest.mark.parametrize(
    ("name", "data", "size", "expected"),
    [
        ("bild.png", b"\x89PNG....", None, "varken schema"),
        ("anteckning.csv", b"hej;hopp\n1;2\n", None, "varken schema"),
        ("schema.csv", roster_csv(), MAX_UPLOAD_BYTES + 1, "högst 5 MB"),
        ("schema.csv", b"x" * (MAX_UPLOAD_BYTES + 1), None, "högst 5 MB"),
    ],
)
async def test_oversized_and_wrong_type_files_get_one_clear_answer(
    bot: Bot, name: str, data: bytes, size: int | None, expected: str
) -> None:
    await send_file(bot, ADMIN, name, data, size=size)
    [answer] = bot.messenger.said(ADMIN_DM)
    assert expected in answer
    assert await bot.data.pending_upload(ADMIN) is None


async def test_the_kind_of_file_is_told_from_its_header(bot: Bot) -> None:
    staff = "matrix_id;namn;enhet;titel;telefon\n@ny:localhost;Ny Läkare;vc-mora;läkare;070-1\n"
    await send_file(bot, ADMIN, "personal.csv", staff.encode())
    assert "personallistan" in last(bot)
    pending = await bot.data.pending_upload(ADMIN)
    assert pending is not None and pending.dataset is Dataset.STAFF


async def test_an_upload_that_leaves_a_hole_waits_for_activate_anyway(bot: Bot) -> None:
    # The active roster runs from yesterday to three days ahead at both levels; this file
    # covers only level 1 until tomorrow, and every active shift starts inside its period:
    # from tomorrow nobody is on duty, after the file's own period.
    start = NOW - timedelta(days=1)
    end = NOW + timedelta(days=1)
    short = (
        "tjänst;nivå;start;slut;matrix_id;namn;telefon\n"
        f"kardiologi;1;{start.isoformat()};{end.isoformat()};{NEW_ON_CALL};Nils Ny;\n"
    ).encode()
    before = await on_call(bot)
    await send_file(bot, ADMIN, "kort.csv", short)
    summary = last(bot)
    assert "kardiologi nivå 1: ingen i tjänst 2026-11-24 10:00–2026-11-26 10:00" in summary
    assert "inom öppettiderna" in summary and "nivå 2" in summary
    assert "!aktivera ändå" in summary and "Ingenting har ändrats" in summary

    await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
    await bot.flush()
    assert "!aktivera ändå" in last(bot), "a plain !aktivera answers with the summary again"
    assert await on_call(bot) == before
    assert await bot.data.pending_upload(ADMIN) is not None

    await bot.say(ADMIN, "!activate", room=ADMIN_DM)
    await bot.flush()
    assert "!activate anyway" in last(bot) and "level 1 within opening hours" in last(bot)
    assert await on_call(bot) == before

    await bot.say(ADMIN, "!activate anyway", room=ADMIN_DM)
    await bot.flush()
    assert "is in use now" in last(bot)
    assert await on_call(bot) == {NEW_ON_CALL}
    bot.clock.current = NOW + timedelta(days=2)
    assert await on_call(bot) == set(), "the hole it was told about"
    actions = [(a.action, a.detail) for a in await bot.data.admin_actions()]
    assert actions[-1] == ("activate", "roster version 2: kort.csv (confirmed anyway)")


@pytest.mark.parametrize(
    ("name", "data", "line"),
    [
        pytest.param(
            "schema.csv",
            roster_csv() + "tjänst;nivå;start;slut;matrix_id;namn;telefon\n".encode(),
            "schema.csv:4: rubrikraden kommer igen här – två filer ihopklistrade? "
            "Ta bort den andra rubrikraden",
            id="two-files-pasted",
        ),
        pytest.param(
            "schema.xls",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
            "schema.xls: filen är en gammal Excel-fil (.xls)",
            id="old-xls",
        ),
        pytest.param(
            "schema.xlsx",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(100),
            "schema.xlsx: Excel-filen är avklippt eller skadad",
            id="truncated-xlsx",
        ),
    ],
)
async def test_a_broken_upload_gets_the_same_one_message_as_the_cli(
    bot: Bot, name: str, data: bytes, line: str
) -> None:
    # The text the CLI prints for the same file (datasets.format_check, as `roster check`).
    await send_file(bot, ADMIN, name, data)
    answer = last(bot)
    assert line in answer
    assert answer.count(name + ":") == 1, answer  # one problem, not one per row
    assert await bot.data.pending_upload(ADMIN) is None


async def test_an_activation_and_a_rollback_tell_the_open_boards(bot: Bot) -> None:
    async with bot.service.changes.listen() as changes:
        await send_file(bot, ADMIN, "schema.csv", roster_csv())
        assert changes.empty(), "an upload waiting for !aktivera changes nothing yet"
        await bot.say(ADMIN, "!aktivera", room=ADMIN_DM)
        assert changes.get_nowait() == "roster"
        await bot.say(ADMIN, "!återställ schema", room=ADMIN_DM)
        assert changes.get_nowait() == "roster" and changes.empty()
