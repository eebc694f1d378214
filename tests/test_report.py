"""The chat report of a month (`!statistik`, the monthly report): text table and chart."""

from __future__ import annotations

import io
from datetime import date

from PIL import Image

from consultbot.adapters.sql.stores import open_store
from consultbot.text.render import Messages
from consultbot.text.report import CHART_SIZE, Week, chart_png, chat_text, month_report
from tests.support.november import november
from tests.support.scripted import TZ


async def test_month_report_text_chart_and_weeks(database: str) -> None:
    store = await open_store(database)
    try:
        await november(store)
        result = await month_report(store, date(2026, 11, 17), TZ, Messages("sv"))
    finally:
        await store.close()
    assert result.report["from"] == "2026-11-01" and result.report["to"] == "2026-11-30"
    assert result.report["consults"] == 7
    lines = result.text.splitlines()
    assert lines[0] == "Uppföljning 2026-11-01 – 2026-11-30"
    assert lines[2].split() == ["Totalt", "halvakut", "akut", "mdk"]

    def row(label: str) -> list[str]:
        line = next(line for line in lines if line.startswith(label))
        return line[len(label) :].split()

    assert row("Konsultationer") == ["7", "5", "1", "1"]
    assert row("Remiss undviken (råd)") == ["1", "1", "0", "0"]
    assert row("Obesvarade") == ["1", "0", "1", "0"]
    assert row("Telefonkontakter") == ["3", "2", "0", "1"]
    assert row("Tid till kvittens, p90 (s)") == ["700,0", "700,0", "–", "400,0"]
    # Weeks Monday–Sunday, clipped to the month: Sun 1st, 2–8, 9–15, 16–22, 23–29, Mon 30th.
    assert [(w.label, dict(w.by_track)) for w in result.weeks] == [
        ("v. 44", {}),
        ("v. 45", {"halvakut": 2}),
        ("v. 46", {"akut": 1, "halvakut": 1}),
        ("v. 47", {"halvakut": 1, "mdk": 1}),
        ("v. 48", {}),
        ("v. 49", {"halvakut": 1}),
    ]
    image = Image.open(io.BytesIO(result.png))
    assert image.format == "PNG"
    assert image.size == CHART_SIZE
    image.load()  # decodes the whole picture


def test_an_empty_month_still_has_a_chart_and_a_sentence() -> None:
    report = {"from": "2027-01-01", "to": "2027-01-31", "consults": 0, "by_track": {}}
    assert chat_text(report, Messages("en")).splitlines() == [
        "Follow-up 2027-01-01 – 2027-01-31",
        "No consults in the period.",
    ]
    png = chart_png([Week(label="wk 1", by_track={})], {}, Messages("en"))
    assert Image.open(io.BytesIO(png)).size == CHART_SIZE
