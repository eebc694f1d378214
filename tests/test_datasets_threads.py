"""Data files are parsed in a worker thread, never on the event loop, with full garbage
collections postponed meanwhile (a full collection holds the loop as well)."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from consultbot.adapters.memory import MemoryDataStore
from consultbot.domain.errors import MAX_KEPT_PROBLEMS
from consultbot.domain.types import Dataset
from consultbot.engine.admin import datasets
from consultbot.engine.admin.off_loop import full_collections_postponed
from consultbot.text.render import Messages
from tests.support.catalogue import CATALOGUE, TZ

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
ROSTER = (
    b"service,level,start,end,matrix_id,name,phone\n"
    b"kardiologi,1,2027-01-01 08:00,2027-01-01 20:00,@anna:region.se,Anna,\n"
)


@pytest.mark.parametrize(
    ("dataset", "parser"),
    [(Dataset.ROSTER, "check_roster"), (Dataset.STAFF, "parse_staff")],
)
async def test_a_data_file_is_parsed_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, dataset: Dataset, parser: str
) -> None:
    where: list[tuple[int, tuple[int, int, int]]] = []
    real = getattr(datasets, parser)

    def spy(*args: Any) -> Any:
        where.append((threading.get_ident(), gc.get_threshold()))
        return real(*args)

    monkeypatch.setattr(datasets, parser, spy)
    store = MemoryDataStore()
    await store.import_catalogue(CATALOGUE, source="test", now=NOW)
    before = gc.get_threshold()
    await datasets.check_files(dataset, [("f.csv", ROSTER)], store, TZ, {}, NOW)
    [(thread, thresholds)] = where
    assert thread != threading.get_ident()
    assert thresholds[2] > before[2]  # no full collection while the file was parsed
    assert gc.get_threshold() == before


def test_postponements_nest_and_restore_the_thresholds() -> None:
    before = gc.get_threshold()
    with full_collections_postponed():
        with full_collections_postponed():
            assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] > before[2]
    assert gc.get_threshold() == before


async def test_a_file_with_thousands_of_errors_lists_a_thousand_and_counts_them_all() -> None:
    # One person booked 1,501 times at once: 1,500 overlaps.
    row = b"kardiologi,1,2027-01-01 08:00,2027-01-01 20:00,@anna:region.se,Anna,\n"
    data = ROSTER.splitlines(keepends=True)[0] + row * 1501
    store = MemoryDataStore()
    await store.import_catalogue(CATALOGUE, source="test", now=NOW)
    checked = await datasets.check_files(Dataset.ROSTER, [("r.csv", data)], store, TZ, {}, NOW)
    assert not checked.ok
    assert len(checked.errors) == MAX_KEPT_PROBLEMS
    _, err = datasets.format_check(checked, Messages("en"))
    assert err[-2:] == ["error: … and 500 more", "1500 error(s) – nothing was changed"]
    _, chat = datasets.format_check(checked, Messages("en"), max_errors=20)
    assert chat[-2:] == ["error: … and 1480 more", "1500 error(s) – nothing was changed"]
