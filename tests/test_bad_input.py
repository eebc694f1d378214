"""Bad input changes nothing and gets a clear answer (SPEC §8 "Bad input").

Hypothesis writes chat commands and roster files; hand-made cases cover files that are not
what their name says. The chat runs through the whole service (inbox, outbox) on the memory
stores; roster files through the same check the CLI and the chat use (datasets.py).
"""

from __future__ import annotations

import asyncio
import io
import logging
import zipfile
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from consultbot.adapters.matrix import room_policy
from consultbot.adapters.memory import MemoryConsultStore, MemoryDataStore
from consultbot.domain.chat.commands import canonical_name
from consultbot.domain.types import Dataset, UserId
from consultbot.engine.admin import datasets
from tests.support.bots import CATALOGUE, DM, NOW, REQ, build, day_roster
from tests.support.catalogue import HOURS, TZ

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = [
    "konsult",
    "consult",
    "akut",
    "acute",
    "vc",
    "pc",
    "mdk",
    "mdt",
    "vem",
    "who",
    "kontakt",
    "contact",
    "kvittera",
    "ack",
    "vidare",
    "pass",
    "avsluta",
    "close",
    "ring",
    "call",
    "status",
    "hjälp",
    "help",
    "statistik",
    "stats",
    "aktivera",
    "activate",
    "avbryt",
    "cancel",
    "återställ",
    "rollback",
    "möte",
    "meeting",
    "lämna",
    "handover",
    "acceptera",
    "accept",
    "kö",
    "queue",
    "KONSULT",
    "Vem",
    "x",
    "",
]
words = st.one_of(
    st.sampled_from(["kardiologi", "hjärta", "Mora", "vc-mora", "råd", "2026-13", "@x:y", ","]),
    st.text(max_size=30),
)
commands = st.builds(
    lambda prefix, name, rest: prefix + name + " " + " ".join(rest),
    st.sampled_from(["!", "! ", "!!", "", " !", "！"]),
    st.sampled_from(NAMES),
    st.lists(words, max_size=6),
)


@SETTINGS
@given(bodies=st.lists(st.one_of(commands, st.text(max_size=200)), min_size=1, max_size=4))
@example(bodies=["!konsult Mora kardiologi"])  # a service without the path: "no_track"
def test_any_chat_message_gets_an_answer_or_nothing_and_no_exception_escapes(
    bodies: list[str],
) -> None:
    async def scenario() -> None:
        bot = await build(MemoryConsultStore())
        before = [await bot.data.versions(kind) for kind in Dataset]
        failures: list[logging.LogRecord] = []

        class Catch(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno >= logging.ERROR:
                    failures.append(record)

        handler = Catch()
        logging.getLogger("consultbot").addHandler(handler)
        try:
            for n, body in enumerate(bodies):
                bot.clock.current = NOW + timedelta(seconds=n)
                await bot.say(REQ, body)
            async with asyncio.timeout(10):
                await bot.service.dispatcher.drain()
        finally:
            logging.getLogger("consultbot").removeHandler(handler)
        assert failures == [], [r.getMessage() for r in failures]
        assert [await bot.data.versions(kind) for kind in Dataset] == before
        # Every message in the DM got at most one answer; none was the "something went wrong".
        said = bot.messenger.said(DM)
        assert len(said) <= len(bodies)
        assert not any("gick fel" in text for text in said)

    asyncio.run(scenario())


def test_every_command_name_the_generator_uses_is_real_or_deliberately_wrong() -> None:
    known = [n for n in NAMES if canonical_name(n.lower()) is not None]
    assert len(known) >= 30


# --------------------------------------------------------------------------------------------
# Roster files: rejected ones change nothing


async def _store_with_a_roster() -> tuple[MemoryDataStore, list[object]]:
    store = MemoryDataStore()
    await store.import_catalogue(CATALOGUE, source="test", now=NOW)
    shifts = day_roster()
    period = (min(s.start for s in shifts), max(s.end for s in shifts))
    await store.import_roster(shifts, {shifts[0].service: period}, source="test", now=NOW)
    return store, [await store.versions(kind) for kind in Dataset]


async def _check_and_maybe_import(name: str, data: bytes) -> datasets.Checked:
    """Check a roster file; one with errors must then refuse to import and change nothing."""
    store, before = await _store_with_a_roster()
    checked = await datasets.check_roster_files([(name, data)], store, TZ, HOURS)
    if not checked.ok:
        with pytest.raises(ValueError):
            await checked.activate(store, NOW)
        assert [await store.versions(kind) for kind in Dataset] == before
        on_duty = await store.on_duty(CATALOGUE.services[0].id, NOW)
        assert [len(p) for _, p in on_duty.levels] == [2, 1]
    return checked


HEADER = "service,level,start,end,matrix_id,name,phone"
# A value no roster may hold in its column: (column, value).
DEFECTS = [
    (0, "okänd-tjänst"),  # a service not in the catalogue
    (1, "0"),  # levels start at 1
    (1, "nivå"),
    (2, "2026-02-30 08:00"),  # no such day
    (3, ""),  # no end
    (4, "Karin"),  # not a Matrix id
]
# Rows of one valid roster: kardiologi, a weekday 08–17 in the week of 2026-11-23, level 1
# or 2, each row its own person (nobody on two shifts at once).
shift_rows = st.lists(
    st.tuples(st.integers(23, 27), st.integers(1, 2), st.text("abcåäö ", max_size=12)),
    min_size=1,
    max_size=5,
).map(
    lambda shifts: [
        [
            "kardiologi",
            str(level),
            f"2026-11-{day} 08:00",
            f"2026-11-{day} 17:00",
            f"@k{n}:localhost",
            f"Doktor {name}".strip(),
            "",
        ]
        for n, (day, level, name) in enumerate(shifts)
    ]
)


@SETTINGS
@given(
    body=shift_rows,
    defect=st.none() | st.tuples(st.integers(0, 4), st.sampled_from(DEFECTS)),
    name=st.sampled_from(["schema.csv", "schema.xlsx", "schema.ics", "schema.txt"]),
)
def test_a_generated_roster_file_is_imported_whole_or_refused_at_its_fault(
    body: list[list[str]], defect: tuple[int, tuple[int, str]] | None, name: str
) -> None:
    if defect is not None:
        row, (column, value) = defect
        row = min(row, len(body) - 1)
        body[row][column] = value
    data = "\n".join([HEADER, *(",".join(r) for r in body)]).encode()
    checked = asyncio.run(_check_and_maybe_import(name, data))
    # A file is read by what it holds, whatever its name says: here always CSV.
    if defect is not None:
        assert not checked.ok
        assert (name, row + 2) in {(p.file, p.line) for p in checked.errors}, checked.errors
    else:
        assert checked.ok, checked.problems
        assert checked.summary["shifts"] == str(len(body)), checked.summary


def _xlsx_lookalike() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("schema.csv", PNG),  # a picture named .csv
        ("schema.xlsx", b"service,level,start,end,matrix_id,name\n"),  # a CSV named .xlsx
        ("schema.xlsx", _xlsx_lookalike()),  # a zip that is no workbook
        ("schema.ics", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),  # a PDF named .ics
        ("schema.csv", "service;level\n".encode("utf-32")),
        ("schema.csv", b""),
        ("schema.pdf", b"%PDF-1.7"),
    ],
)
async def test_a_file_that_is_not_what_its_name_says_is_refused_with_its_name(
    name: str, data: bytes
) -> None:
    checked = await _check_and_maybe_import(name, data)
    assert not checked.ok
    assert checked.problems and all(name in p.file for p in checked.problems)


def test_no_user_on_another_server_is_taken_for_ours() -> None:
    bot = asyncio.run(build(MemoryConsultStore()))
    inbox = bot.service.inbox
    assert inbox.allowed(UserId("@vera:localhost"))
    for user in [
        "@vera:localhost.evil",
        "@vera:evil.localhost",
        "@vera:LOCALHOST:8448",
        "@vera",
        "vera:localhost",
        "@vera:localhost:1",
    ]:
        assert not inbox.allowed(UserId(user)), user


def test_the_servers_we_trust_are_judged_as_the_room_checks_judge_them() -> None:
    # A server listed in other letter case, with its port: the inbox reads server names as
    # rooms and server ACLs read them (adapters/room_policy.py). Requesters must be on a
    # listed server (SPEC §4), the bot's own included only when listed.
    bot = asyncio.run(build(MemoryConsultStore()))
    inbox = bot.service.inbox
    config = inbox.config
    inbox.config = replace(config, bot=replace(config.bot, allowed_servers=("Region.SE:8448",)))
    assert inbox.allowed(UserId("@vera:region.se:8448"))
    assert not inbox.allowed(UserId("@vera:localhost")), "the bot's own, not listed"
    assert not inbox.allowed(UserId("@vera:region.se"))
    assert room_policy.server_of("@vera:region.se:8448") == "region.se:8448"
    assert room_policy.invite_allowed(
        "@vera:Region.se:8448", room_policy.allowed_servers("@bot:localhost", ["region.se:8448"])
    )
