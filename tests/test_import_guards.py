"""What an import would do, compared with the active version, over in-memory stores: the
holes a roster leaves and the shrink of every data set (issue 20 items 1 and 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from consultbot.adapters.memory import MemoryDataStore
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.shrink import Kind
from consultbot.domain.types import Dataset, Track
from consultbot.engine.admin import datasets
from consultbot.resources import example_data_dir
from consultbot.text.render import Messages

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HOURS = {
    Track.HALVAKUT: Hours.parse("weekdays 08:00-17:00"),
    Track.AKUT: Hours.parse("always"),
    Track.PRIMARVARD: Hours.parse("weekdays 08:00-17:00"),
    Track.MDK: Hours.parse("always"),
}
HEADER = "service,level,start,end,matrix_id,name,phone\n"


async def check(store: MemoryDataStore, dataset: Dataset, name: str, text: str) -> datasets.Checked:
    files = [(name, text.encode())]
    return await datasets.check_files(dataset, files, store, TZ, HOURS, NOW, 0.2)


async def loaded() -> MemoryDataStore:
    store = MemoryDataStore()
    folder = example_data_dir()
    for dataset, name in ((Dataset.CATALOGUE, "services.toml"), (Dataset.ROSTER, "roster.csv")):
        text = (folder / ("roster-example.csv" if name == "roster.csv" else name)).read_text()
        checked = await check(store, dataset, name, text)
        assert checked.ok and not checked.held(), checked.problems[:3]
        await checked.activate(store, NOW)
    return store


def week(level: int, user: str) -> str:
    """kardiologi at `level` by one person, 2026-11-23 08:00 – 11-30 08:00 in day-long shifts."""
    first = datetime(2026, 11, 23, 8, 0)
    rows = []
    for day in range(7):
        start, end = first + timedelta(days=day), first + timedelta(days=day + 1)
        rows.append(f"kardiologi,{level},{start:%Y-%m-%d %H:%M},{end:%Y-%m-%d %H:%M},{user},X,\n")
    return "".join(rows)


async def test_a_roster_that_drops_the_backup_for_a_week_lists_holes_and_is_a_shrink() -> None:
    store = await loaded()
    checked = await check(store, Dataset.ROSTER, "vecka.csv", HEADER + week(1, "@nils:localhost"))
    assert checked.ok
    assert {hole.level for hole in checked.holes} == {2}
    assert not checked.stops_for_gaps, "level-2 holes are listed, they do not stop"
    assert checked.shrink is not None and checked.shrink.kind is Kind.SHIFTS
    assert checked.shrink.examples == (f"kardiologi ({checked.shrink.removed})",)
    assert checked.held() and not checked.held(allow_shrink=True)


async def test_a_roster_that_keeps_both_levels_is_neither_a_hole_nor_a_shrink() -> None:
    store = await loaded()
    text = HEADER + week(1, "@nils:localhost") + week(2, "@nora:localhost")
    checked = await check(store, Dataset.ROSTER, "vecka.csv", text)
    assert checked.ok and checked.holes == () and checked.shrink is None
    assert not checked.held()


async def test_a_catalogue_missing_most_services_is_held() -> None:
    store = MemoryDataStore()
    full = (example_data_dir() / "services.toml").read_text()
    await (await check(store, Dataset.CATALOGUE, "services.toml", full)).activate(store, NOW)
    one = full.split("\n[[service]]\n")[1]
    checked = await check(store, Dataset.CATALOGUE, "services.toml", "[[service]]\n" + one)
    assert checked.summary["services"] == "1"
    assert checked.shrink is not None and checked.shrink.kind is Kind.SERVICES
    assert checked.ok and checked.held()
    assert "kardiologi" not in checked.shrink.examples, "the one it keeps"
    lines, _ = datasets.format_check(checked, Messages("en"))
    assert any(line.startswith("The new version removes ") for line in lines)


async def test_a_shift_that_stays_after_the_files_period_covers_a_removed_nights_tail() -> None:
    # Active: Tuesday's night shift into Wednesday 08:00, and a shift of its own from
    # Wednesday 00:00 (after the file's period: it stays). The file covers Tuesday in whole
    # dates: the night shift goes, but its tail is still covered, so there is no hole.
    store = MemoryDataStore()
    folder = example_data_dir()
    catalogue = await check(
        store, Dataset.CATALOGUE, "services.toml", (folder / "services.toml").read_text()
    )
    await catalogue.activate(store, NOW)
    active = (
        HEADER
        + "kardiologi,1,2026-11-24 17:00,2026-11-25 08:00,@malin:localhost,Malin,\n"
        + "kardiologi,1,2026-11-25 00:00,2026-11-25 08:00,@olle:localhost,Olle,\n"
    )
    await (await check(store, Dataset.ROSTER, "aktivt.csv", active)).activate(store, NOW)
    tuesday = HEADER + "kardiologi,1,2026-11-24 00:00,2026-11-25 00:00,@nils:localhost,Nils,\n"
    checked = await check(store, Dataset.ROSTER, "tisdag.csv", tuesday)
    assert checked.ok and checked.holes == ()
    # Without Olle's shift, the same file leaves Wednesday 00:00–08:00 uncovered.
    store_two = MemoryDataStore()
    await catalogue.activate(store_two, NOW)
    night_only = HEADER + "kardiologi,1,2026-11-24 17:00,2026-11-25 08:00,@malin:localhost,M,\n"
    await (await check(store_two, Dataset.ROSTER, "aktivt.csv", night_only)).activate(
        store_two, NOW
    )
    checked = await check(store_two, Dataset.ROSTER, "tisdag.csv", tuesday)
    assert [(h.level, h.start.astimezone(TZ).strftime("%d %H:%M")) for h in checked.holes] == [
        (1, "25 00:00")
    ]
    assert checked.stops_for_gaps


async def test_a_file_with_errors_gets_no_hole_or_shrink_summary() -> None:
    store = await loaded()
    text = HEADER + week(1, "@nils:localhost") + "kardiologi,1,2026-11-31 08:00,x,@a:localhost,A,\n"
    checked = await check(store, Dataset.ROSTER, "vecka.csv", text)
    assert not checked.ok
    assert checked.holes == () and checked.shrink is None
