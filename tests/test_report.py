"""The chat report of a month (`!statistik`, the monthly report): text table and chart."""

from __future__ import annotations

import io
from datetime import date

from PIL import Image

from consultbot.adapters.sql.stores import open_store
from consultbot.domain.consult.goals import goal_values, last_months
from consultbot.text.goals import goals_chart_png
from consultbot.text.render import Messages
from consultbot.text.report import CHART_SIZE, chat_text, month_report
from tests.support.november import november
from tests.support.scripted import TZ


async def test_month_report_goals_compact_table_and_chart(database: str) -> None:
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

    def row(label: str) -> list[str]:
        line = next(line for line in lines if line.strip().startswith(label))
        return line.strip()[len(label) :].split()

    # The plan's goals against October (consult 7: advice, acknowledged by closing at 10 s).
    assert row("Planens mål") == ["2026-11", "2026-10", "förändring"]
    assert row("Remiss undviken (råd, specialistspår)") == ["1", "1", "±0"]
    assert row("Remisser") == ["1", "0", "+1"]
    assert row("Telefonkontakter (!ring)") == ["3", "0", "+3"]
    assert row("Ambulans: förfrågningar") == ["0", "0", "±0"]
    assert row("Ambulans: slutbehandlad på plats") == ["0", "(–)", "0", "(–)", "±0", "(–)"]
    assert row("Tid till kvittens, median (s)") == ["150,0", "10,0", "+140,0"]
    # The compact table: one row per group, by track, service, unit and requester kind.
    assert row("Antal") == ["Kvitt.", "Obesv.", "Median", "s", "Remiss", "undv.", "Öppna"]
    assert row("Totalt") == ["7", "6", "1", "150,0", "1", "1"]
    assert row("halvakut") == ["5", "5", "0", "100,0", "1", "0"]
    assert row("akut") == ["1", "0", "1", "–", "0", "1"]
    assert row("neurologi") == ["3", "2", "1", "300,0", "0", "1"]
    # No staff list in this store: every unit (and kind) is unknown.
    tail = [line.split() for line in lines[lines.index("Per beställande enhet") :]]
    assert tail == [
        ["Per", "beställande", "enhet"],
        ["okänd", "7", "6", "1", "150,0", "1", "1"],
        ["Per", "beställartyp"],
        ["okänd", "7", "6", "1", "150,0", "1", "1"],
    ]
    # The chart: the goals over the 12 months up to November.
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
    months = [(first, goal_values({}, None)) for first, _ in last_months(date(2027, 1, 1))]
    png = goals_chart_png(months, Messages("en"))
    assert Image.open(io.BytesIO(png)).size == CHART_SIZE
