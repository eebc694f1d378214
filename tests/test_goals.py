"""The plan's goals (issue 23): referrals avoided only on the specialist paths, the block
"Planens mål" of a month against the month before, split and filtered by requester kind, and
the monthly report's text and chart over twelve hand-made months."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

from PIL import Image

from consultbot.domain.consult.goals import GOAL_KEYS, goals, last_months, previous_period
from consultbot.domain.consult.stats import (
    ConsultFacts,
    FactTable,
    aggregate,
    only_kind,
    table_of,
)
from consultbot.text.render import Messages
from consultbot.text.report import (
    CHART_SIZE,
    chat_text,
    month_report,
    period_report,
    stats_csv,
    stats_table,
)
from tests.support.scripted import TZ


def consult(track: str = "halvakut", kind: str = "primary_care", **more: object) -> ConsultFacts:
    service = "vc-sarna" if track == "primarvard" else "kardiologi"
    unit = {"ambulance": "amb-mora", "municipal_care": "hemsjukv-mora"}.get(kind, "vc-mora")
    return ConsultFacts(track=track, services=(service,), unit=unit, kind=kind, **more)  # type: ignore[arg-type]


def report(facts: Sequence[ConsultFacts], first: date) -> dict[str, object]:
    last = last_months(first, 1)[0][1]
    return aggregate(table_of(facts), first, last, track_order=("halvakut", "akut", "mdk"))


# October: 2 consults from vårdcentraler, one advice, one referral; no ambulance request.
OCTOBER = [
    consult(outcome="advice", acknowledged=True, ack_seconds=60.0, phone_contacts=1),
    consult(outcome="referral", acknowledged=True, ack_seconds=100.0),
]
# November: advice on every path (only the specialist ones avoid a referral), four ambulance
# requests (two finished on site, one steered to a vårdcentral, one to the ED), one unanswered.
NOVEMBER = [
    consult("halvakut", outcome="advice", acknowledged=True, ack_seconds=30.0, phone_contacts=2),
    consult("akut", kind="hospital", outcome="advice", acknowledged=True, ack_seconds=50.0),
    consult("mdk", outcome="admission", acknowledged=True, ack_seconds=70.0),
    consult(
        "primarvard", kind="municipal_care", outcome="advice", acknowledged=True, ack_seconds=90.0
    ),
    consult("primarvard", kind="ambulance", outcome="home", acknowledged=True, ack_seconds=10.0),
    consult("primarvard", kind="ambulance", outcome="home", acknowledged=True, ack_seconds=20.0),
    consult(
        "primarvard", kind="ambulance", outcome="primary_care", acknowledged=True, ack_seconds=40.0
    ),
    consult("primarvard", kind="ambulance", outcome="ed", acknowledged=True, ack_seconds=80.0),
    consult("akut", outcome=None, unanswered=True, escalated=True),
    consult("halvakut", outcome="referral", acknowledged=True, ack_seconds=200.0),
]


def test_referrals_avoided_counts_advice_only_on_the_specialist_paths() -> None:
    nov = report(NOVEMBER, date(2026, 11, 1))
    assert nov["outcomes"]["advice"] == 3  # type: ignore[index]  # the raw count, every path
    assert nov["referrals_avoided"] == 2  # halvakut and akut, not the municipal nurse's
    by_track = nov["by_track"]
    assert by_track["primarvard"]["outcomes"]["advice"] == 1  # type: ignore[index]
    assert by_track["primarvard"]["referrals_avoided"] == 0  # type: ignore[index]
    assert by_track["akut"]["referrals_avoided"] == 1  # type: ignore[index]
    assert nov["by_requester_kind"]["municipal_care"]["referrals_avoided"] == 0  # type: ignore[index]


def test_the_goals_of_a_month_against_the_month_before() -> None:
    nov = report(NOVEMBER, date(2026, 11, 1))
    oct_ = report(OCTOBER, date(2026, 10, 1))
    block = goals(nov, oct_)
    assert block["previous"] == {"from": "2026-10-01", "to": "2026-10-31"}
    rows = block["rows"]
    assert list(rows) == list(GOAL_KEYS)

    def row(key: str) -> tuple[object, object, object]:
        return rows[key]["value"], rows[key]["previous"], rows[key]["change"]

    assert row("referrals_avoided") == (2, 1, 1)
    assert row("referrals") == (1, 1, 0)
    assert row("phone_contacts") == (2, 1, 1)
    assert row("admissions") == (1, 0, 1)
    assert row("ed") == (1, 0, 1)
    assert row("ambulance_requests") == (4, 0, 4)
    assert row("ambulance_home") == (2, 0, 2)
    assert rows["ambulance_home"]["share"] == 0.5
    # October had no ambulance request: no share, no change of share, and no error.
    assert rows["ambulance_home"]["previous_share"] is None
    assert rows["ambulance_home"]["share_change"] is None
    assert row("ambulance_primary_care") == (1, 0, 1)
    assert rows["ambulance_primary_care"]["share"] == 0.25
    # acks 10 20 30 40 50 70 80 90 200 → 50; October 60 100 → 80
    assert row("ack_median") == (50.0, 80.0, -30.0)
    assert row("unanswered_share") == (0.1, 0.0, 0.1)
    assert block["not_visible"] == {"hospital_stays": {"source": "consultbot consults"}}


def test_a_month_without_ambulance_requests_shows_no_share() -> None:
    oct_ = report(OCTOBER, date(2026, 10, 1))
    block = goals(oct_, report([], date(2026, 9, 1)))
    home = block["rows"]["ambulance_home"]
    assert home == {
        "value": 0,
        "previous": 0,
        "change": 0,
        "share": None,
        "previous_share": None,
        "share_change": None,
    }
    assert block["rows"]["ack_median"]["change"] is None  # September had no acknowledgement
    assert block["rows"]["unanswered_share"]["previous"] is None  # nor any consult
    oct_["goals"] = block
    line = next(x for x in chat_text(oct_, Messages("sv")).splitlines() if "på plats" in x)
    assert line.split()[-6:] == ["0", "(–)", "0", "(–)", "±0", "(–)"]


def test_the_goals_split_by_requester_kind() -> None:
    nov = report(NOVEMBER, date(2026, 11, 1))
    block = goals(nov, report(OCTOBER, date(2026, 10, 1)))
    kinds = block["by_requester_kind"]
    assert list(kinds) == ["primary_care", "hospital", "ambulance", "municipal_care"]
    assert kinds["primary_care"]["referrals_avoided"] == {"value": 1, "previous": 1, "change": 0}
    assert kinds["hospital"]["referrals_avoided"]["value"] == 1
    assert kinds["municipal_care"]["referrals_avoided"]["value"] == 0
    assert kinds["ambulance"]["ambulance_home"]["share"] == 0.5
    assert kinds["ambulance"]["ed"]["value"] == 1
    assert kinds["primary_care"]["ambulance_requests"]["value"] == 0
    assert kinds["primary_care"]["ambulance_home"]["share"] is None


def test_only_one_requester_kind() -> None:
    table = table_of(NOVEMBER)
    ambulance = aggregate(only_kind(table, "ambulance"), date(2026, 11, 1), date(2026, 11, 30))
    assert ambulance["consults"] == 4
    assert list(ambulance["by_requester_kind"]) == ["ambulance"]
    assert ambulance["outcomes"]["home"] == 2
    assert list(ambulance["by_requester_unit"]) == ["amb-mora"]
    nobody = aggregate(only_kind(table, "other"), date(2026, 11, 1), date(2026, 11, 30))
    assert nobody["consults"] == 0 and nobody["by_track"] == {}


def test_the_period_before() -> None:
    assert previous_period(date(2026, 11, 1), date(2026, 11, 30)) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert previous_period(date(2026, 1, 1), date(2026, 1, 31)) == (
        date(2025, 12, 1),
        date(2025, 12, 31),
    )
    assert previous_period(date(2026, 3, 1), date(2026, 4, 30)) == (
        date(2026, 1, 1),
        date(2026, 2, 28),
    )
    # Not whole months: as many days before.
    assert previous_period(date(2026, 11, 10), date(2026, 11, 16)) == (
        date(2026, 11, 3),
        date(2026, 11, 9),
    )
    assert [first for first, _ in last_months(date(2026, 11, 17))] == [
        date(2025, 12, 1),
        *(date(2026, m, 1) for m in range(1, 12)),
    ]


class Months:
    """A statistics source over hand-made months: the facts of each month, by its first day
    (the report asks for local-midnight bounds; a month counts when its first day is inside)."""

    def __init__(self, months: dict[date, list[ConsultFacts]]) -> None:
        self.months = months

    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        facts = [
            f
            for first, month in self.months.items()
            if start
            <= datetime(first.year, first.month, first.day, tzinfo=TZ).astimezone(UTC)
            < end
            for f in month
        ]
        return table_of(facts)


async def test_the_monthly_report_has_the_goals_per_kind_and_a_chart_of_twelve_months() -> None:
    source = Months({date(2026, 10, 1): OCTOBER, date(2026, 11, 1): NOVEMBER})
    made = await month_report(source, date(2026, 11, 20), TZ, Messages("sv"))
    assert made.report["goals"]["rows"]["referrals_avoided"]["previous"] == 1
    lines = made.text.splitlines()
    assert lines[0] == "Uppföljning 2026-11-01 – 2026-11-30"
    header = next(x for x in lines if x.startswith("Planens mål "))
    assert header.split()[-3:] == ["2026-11", "2026-10", "förändring"]

    def row(label: str) -> list[str]:
        line = next(x for x in lines if x.startswith(label))
        return line[len(label) :].split()

    assert row("Remiss undviken (råd, specialistspår)") == ["2", "1", "+1"]
    assert row("Ambulans: slutbehandlad på plats") == ["2", "(50,0", "%)", "0", "(–)", "+2", "(–)"]
    assert row("Andel obesvarade") == ["10,0", "%", "0,0", "%", "+10,0", "%-enh."]
    assert any(x.startswith("Remiss undviken räknas bara på specialistspåren") for x in lines)
    assert any(x.startswith("Vårdtillfällen syns inte för boten") for x in lines)
    # The compact table: per track, service, unit and requester kind.
    compact = [x.strip() for x in lines[lines.index("Per spår") - 1 :]]
    assert compact[0].split() == ["Totalt", "10", "9", "1", "50,0", "2", "1"]
    for heading in ("Per spår", "Per tjänst", "Per beställande enhet", "Per beställartyp"):
        assert heading in compact
    assert "amb-mora 4 4 0 30,0 0 0" in [" ".join(x.split()) for x in compact]
    assert "ambulans 4 4 0 30,0 0 0" in [" ".join(x.split()) for x in compact]
    image = Image.open(io.BytesIO(made.png))
    assert image.format == "PNG" and image.size == CHART_SIZE
    image.load()


async def test_a_kind_filter_and_an_english_report() -> None:
    source = Months({date(2026, 10, 1): OCTOBER, date(2026, 11, 1): NOVEMBER})
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    only = await period_report(source, first, last, TZ, "ambulance")
    assert only["requester_kind"] == "ambulance" and only["consults"] == 4
    assert only["goals"]["rows"]["ambulance_requests"] == {"value": 4, "previous": 0, "change": 4}
    text = chat_text(only, Messages("en"))
    assert text.splitlines()[:2] == [
        "Follow-up 2026-11-01 – 2026-11-30",
        "Requester kind ambulance only",
    ]
    assert "Ambulance: finished on site" in text


def test_the_chat_table_keeps_to_the_largest_groups() -> None:
    facts = [
        ConsultFacts(
            track="halvakut", services=("kardiologi",), unit=f"vc-{n:02}", kind="primary_care"
        )
        for n in range(11)
    ]
    nov = report(facts, date(2026, 11, 1))
    nov["goals"] = goals(nov, {})
    lines = chat_text(nov, Messages("sv")).splitlines()
    units = lines[lines.index("Per beställande enhet") + 1 : lines.index("Per beställartyp")]
    assert len(units) == 9
    assert units[-1] == "  … och 3 till (consultbot stats visar alla)"


async def test_a_report_at_the_edge_of_the_calendar_is_empty_not_an_error() -> None:
    # `!statistik 9999-12` and `!statistik 0001-01`: no consult can have been requested then.
    source = Months({date(2026, 11, 1): NOVEMBER})
    for month in (date(9999, 12, 1), date(1, 1, 1)):
        made = await month_report(source, month, TZ, Messages("sv"))
        assert made.report["consults"] == 0
        assert Image.open(io.BytesIO(made.png)).size == CHART_SIZE
    assert last_months(date(9999, 12, 31), 1) == [(date(9999, 12, 1), date(9999, 12, 31))]


class Timed:
    """A statistics source over facts with their request instants (as the stores give them)."""

    def __init__(self, facts: list[ConsultFacts]) -> None:
        self.facts = facts

    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        low, high = start.timestamp() * 1000, end.timestamp() * 1000
        return table_of(f for f in self.facts if low <= f.requested_ms < high)


def at_day(day: date, facts: list[ConsultFacts]) -> list[ConsultFacts]:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=TZ)
    return [replace(f, requested_ms=round(noon.timestamp() * 1000)) for f in facts]


async def test_a_period_of_months_has_the_goals_of_each_month_against_the_one_before() -> None:
    source = Timed(at_day(date(2026, 10, 15), OCTOBER) + at_day(date(2026, 11, 30), NOVEMBER))
    whole = await period_report(source, date(2026, 10, 1), date(2026, 11, 30), TZ)
    assert whole["consults"] == 12
    months = whole["goals_by_month"]
    assert [(m["from"], m["to"]) for m in months] == [
        ("2026-10-01", "2026-10-31"),
        ("2026-11-01", "2026-11-30"),
    ]
    october, november = (m["goals"]["rows"] for m in months)
    assert october["referrals_avoided"] == {"value": 1, "previous": 0, "change": 1}
    assert november["referrals_avoided"] == {"value": 2, "previous": 1, "change": 1}
    assert november["ambulance_requests"] == {"value": 4, "previous": 0, "change": 4}
    assert months[1]["goals"]["previous"] == {"from": "2026-10-01", "to": "2026-10-31"}
    # A period inside one month has no month blocks; one cut at both ends has the cut months.
    assert "goals_by_month" not in await period_report(
        source, date(2026, 11, 1), date(2026, 11, 30), TZ
    )
    cut = await period_report(source, date(2026, 10, 20), date(2026, 11, 30), TZ)
    assert [m["from"] for m in cut["goals_by_month"]] == ["2026-10-20", "2026-11-01"]
    assert cut["goals_by_month"][0]["goals"]["rows"]["referrals_avoided"]["value"] == 0
    # The CSV stacks a goal row per month, labelled by the month; the table shows each block.
    rows = [r.split(";") for r in stats_csv(whole, Messages("sv")).splitlines()[1:]]
    avoided = [r[0] for r in rows if r[2] == "Remiss undviken (råd, specialistspår)" and r[1]]
    assert {"2026-10", "2026-11"} <= set(avoided)
    table = stats_table(whole, Messages("sv"))
    headers = [x.split()[-3:] for x in table.splitlines() if x.startswith("Planens mål ")]
    assert ["2026-10", "2026-09", "förändring"] in headers
    assert ["2026-11", "2026-10", "förändring"] in headers
