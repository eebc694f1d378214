"""`consultbot consults`: the analyst's export (issue 23 item 5) after the scripted month of
consults (tests/support/november.py) in the real SQLite store: its columns in JSON, JSON
Lines and the Swedish CSV, pseudonymous unless --with-people (which the audit trail records),
streamed in batches, and written to a file only whole."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.config import load_config
from tests.cli.conftest import Run

NOVEMBER = ("--from", "2026-11-01", "--to", "2026-11-30")


def summaries(config_path: Path) -> dict[str, tuple[str, str]]:
    """Each November consult's requester kind and unit as the store's summaries hold them."""

    async def read() -> dict[str, tuple[str, str]]:
        store = await SqliteStore.open(load_config(config_path).bot.database)
        try:
            low = datetime(2026, 10, 31, 23, tzinfo=UTC)
            high = datetime(2026, 11, 30, 23, tzinfo=UTC)
            rows = await store.consult_summaries(low, high)
        finally:
            await store.close()
        return {s.consult: (s.requester_kind, unit) for s, unit in rows}

    return asyncio.run(read())


def test_json_has_every_column_with_its_time_zone(scripted: Run, config_path: Path) -> None:
    result = scripted("consults", *NOVEMBER, "--format", "json")
    assert result.code == 0, result.err
    records = json.loads(result.out)
    # Kind and unit are the summaries' (frozen at request time), read, not worked out again.
    stored = summaries(config_path)
    assert {r["number"]: (r["requester_kind"], r["requester_unit"]) for r in records} == stored
    assert stored["K-000001"][1] == "vc-mora"
    assert [r["outcome"] for r in records] == [
        "advice",
        "referral",
        "open",
        "visit",  # consult 9 was requested on the 14th
        "unknown",
        "other",
        "admission",
    ]
    assert records[0] == {
        "number": "K-000001",
        "period": "2026-11",
        "requested_at": "2026-11-02T09:00:00+01:00",  # Europe/Stockholm, offset stated
        "track": "halvakut",
        "services": ["kardiologi"],
        "requester_kind": stored["K-000001"][0],
        "requester_unit": "vc-mora",
        "outcome": "advice",
        "outcome_set": ["advice", "referral", "admission", "ed", "visit", "other"],
        "acknowledged": True,
        "escalated": False,
        "unanswered": False,
        "ack_seconds": 60.0,
        "phone_contacts": 2,
        "levels_paged": [1],
        "acknowledged_at": "2026-11-02T09:01:00+01:00",
        "closed_at": "2026-11-02T09:15:00+01:00",
    }
    unanswered = records[2]
    assert unanswered["levels_paged"] == [1, 2] and unanswered["unanswered"] is True
    assert unanswered["requester_unit"] == "okänd" and unanswered["acknowledged_at"] is None
    assert unanswered["ack_seconds"] is None and unanswered["acknowledged"] is False
    assert records[5]["services"] == ["kardiologi", "neurologi"]
    assert "@" not in result.out  # pseudonymous: no Matrix ids


def test_json_lines_is_one_record_per_line(scripted: Run) -> None:
    document = json.loads(scripted("consults", *NOVEMBER, "--format", "json").out)
    result = scripted("consults", *NOVEMBER, "--format", "jsonl")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [json.loads(line) for line in lines] == document


def test_an_empty_period_is_an_empty_document(scripted: Run) -> None:
    empty = ("--from", "2025-01-01", "--to", "2025-01-31")
    assert json.loads(scripted("consults", *empty, "--format", "json").out) == []
    assert scripted("consults", *empty, "--format", "jsonl").out == ""
    rows = scripted("consults", *empty).out.lstrip("\ufeff").splitlines()
    assert len(rows) == 1  # the header


def test_csv_speaks_the_stats_csv_language(scripted: Run) -> None:
    result = scripted("consults", *NOVEMBER)
    assert result.code == 0, result.err
    assert result.out.startswith("\ufeff") and "\r\n" in result.out  # Swedish Excel, as stats
    rows = list(csv.reader(io.StringIO(result.out.lstrip("\ufeff")), delimiter=";"))
    header = rows[0]
    assert header[:4] == ["Nummer", "Period", "Begärd (Europe/Stockholm, ISO 8601)", "Spår"]
    assert "Beställarens typ" in header and "Utfall" in header and "Spårets utfall" in header
    assert len(rows) == 8
    first = dict(zip(header, rows[1], strict=True))
    from consultbot.text.render import Messages

    stats_name = Messages("sv").text
    assert first["Utfall"] == "råd"  # the word typed in !avsluta
    assert stats_name("stats", "advice").startswith("Råd")  # the stats CSV's column
    kinds = {"vårdcentral", "sjukhus", "ambulans", "kommun", "övrigt", "okänd"}
    assert {dict(zip(header, row, strict=True))["Beställarens typ"] for row in rows[1:]} <= kinds
    assert first["Tid till kvittens (s)"] == "60,0"  # decimal comma
    assert first["Kvitterad"] == "1" and first["Eskalerad"] == "0"
    assert first["Spårets utfall"] == "råd, remiss, inläggning, akuten, besök, annat"
    conference = dict(zip(header, rows[6], strict=True))
    assert conference["Tjänster"] == "kardiologi,neurologi"
    assert conference["Telefonkontakter"] == "1"
    assert rows[3][header.index("Utfall")] == "öppen"


def test_with_people_names_them_and_is_in_the_audit_trail(scripted: Run) -> None:
    result = scripted("consults", *NOVEMBER, "--format", "json", "--with-people")
    assert result.code == 0, result.err
    first = json.loads(result.out)[0]
    assert first["requester"] == "@doktor.vc:localhost"
    assert first["paged"] and all(p.startswith("@") for p in first["paged"])
    assert first["acknowledged_by"] == [first["paged"][0]]
    audit = scripted("audit")
    assert audit.code == 0, audit.err
    [line] = [x for x in audit.out.splitlines() if "export med personer" in x]
    assert "cli:" in line and "2026-11-01 – 2026-11-30" in line


def test_the_export_is_streamed_in_batches(scripted: Run, config_path: Path) -> None:
    """Two at a time (keyset pagination on requested time and number): every consult once,
    in order, also across a batch boundary."""

    async def read(batch: int) -> list[list[str]]:
        store = await SqliteStore.open(load_config(config_path).bot.database)
        try:
            low = datetime(2026, 10, 1, tzinfo=UTC)
            high = datetime(2027, 1, 1, tzinfo=UTC)
            found = []
            async for rows in store.consult_export(low, high, batch=batch):
                assert len(rows) <= batch
                found.append([r.summary.consult for r in rows])
            return found
        finally:
            await store.close()

    batches = asyncio.run(read(2))
    assert [len(b) for b in batches] == [2, 2, 2, 2, 1]
    flat = [c for b in batches for c in b]
    assert flat == [c for b in asyncio.run(read(1000)) for c in b]
    assert len(set(flat)) == 9


def test_an_export_file_is_owner_only_and_replaced_whole(scripted: Run, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "konsultationer.csv"
    target.write_text("old", encoding="utf-8")
    result = scripted("consults", *NOVEMBER, "-o", str(target))
    assert result.code == 0 and result.out == "", result.err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes().startswith("\ufeff".encode())
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left


def test_a_full_disk_leaves_the_old_file_untouched(
    scripted: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while writing: one line, exit 1, the previous export as it was, nothing left."""
    import errno

    from consultbot.text import consult_export

    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "konsultationer.jsonl"
    target.write_text("last month's export\n", encoding="utf-8")
    real = consult_export.Writer.rows

    def full(self: consult_export.Writer, records: object) -> None:
        real(self, records)  # type: ignore[arg-type]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(consult_export.Writer, "rows", full)
    result = scripted("consults", *NOVEMBER, "--format", "jsonl", "-o", str(target))
    assert result.code == 1
    assert result.err == f"fel: kan inte skriva {target}: disken är full\n"
    assert target.read_text(encoding="utf-8") == "last month's export\n"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 KiB tmpfs (one page), where the machine lets the tests mount one (root)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        # The full-disk behaviour itself is tested above with a simulated ENOSPC on every
        # machine; this one adds a real full disk where mounting is allowed (root, as in CI).
        reason = mounted.stderr.decode(errors="replace").strip() or "mount refused"
        pytest.skip(f"cannot mount a tmpfs here: {reason}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_really_full_disk(scripted: Run, tiny_disk: Path) -> None:
    target = tiny_disk / "k.json"
    target.write_text("[]\n", encoding="utf-8")  # takes the only page
    result = scripted("consults", *NOVEMBER, "--format", "json", "-o", str(target))
    assert result.code == 1
    assert result.err == f"fel: kan inte skriva {target}: disken är full\n"
    assert target.read_text(encoding="utf-8") == "[]\n"
    assert [p.name for p in tiny_disk.iterdir()] == ["k.json"]


def test_an_ambulance_consult_on_the_fourth_path_in_swedish() -> None:
    """Kind, outcome and the path's outcome set of a consult the store has not got yet in
    the script (an ambulance crew asking the fourth path, closed as 'kvar hemma')."""
    from zoneinfo import ZoneInfo

    from consultbot.domain.consult.stats import ConsultSummary
    from consultbot.text import consult_export
    from consultbot.text.render import Messages

    at = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)  # summer: +02:00
    summary = ConsultSummary(
        consult="K-000042",
        requester="@ambulans1:localhost",
        track="primarvard",
        services=("vc-sarna",),
        requested_at=at,
        counted=True,
        first_page_at=at,
        acknowledged_at=None,
        closed_at=at,
        outcome="home",
        levels=(1,),
        escalated=False,
        unanswered=False,
        phone_contacts=1,
        unit="ambulans-dalarna",
        requester_kind="ambulance",
    )
    tz = ZoneInfo("Europe/Stockholm")
    record = consult_export.as_record(summary, "ambulans-dalarna", tz)
    assert record["requested_at"] == "2027-07-01T14:00:00+02:00" and record["period"] == "2027-07"
    assert record["outcome_set"] == [
        "home",
        "primary_care",
        "home_visit",
        "ed",
        "admission",
        "other",
    ]
    stream = io.BytesIO()
    writer = consult_export.Writer(stream, "csv", Messages("sv"), tz, people=False)
    writer.begin()
    writer.rows([record])
    writer.end()
    text = stream.getvalue().decode("utf-8").lstrip("\ufeff")
    header, row = csv.reader(io.StringIO(text), delimiter=";")
    cells = dict(zip(header, row, strict=True))
    assert cells["Beställarens typ"] == "ambulans"
    assert cells["Beställande enhet"] == "ambulans-dalarna"
    assert cells["Utfall"] == "hemma"
    assert cells["Spårets utfall"] == "hemma, vårdcentral, hembesök, akuten, inläggning, annat"
    assert "@" not in text


def test_a_month_is_the_same_as_its_days(scripted: Run) -> None:
    by_days = scripted("consults", *NOVEMBER, "--format", "jsonl")
    by_month = scripted("consults", "--month", "2026-11", "--format", "jsonl")
    assert by_month.code == 0 and by_month.out == by_days.out and by_days.out
