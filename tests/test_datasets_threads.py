"""Data files are parsed in a worker thread, never on the event loop, with full garbage
collections postponed meanwhile (a full collection holds the loop as well)."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from consultbot import datasets
from consultbot.adapters.memory import MemoryDataStore
from consultbot.domain.types import Dataset
from tests.domain.catalogue_for_tests import CATALOGUE, TZ

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
    with datasets.full_collections_postponed():
        with datasets.full_collections_postponed():
            assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] > before[2]
    assert gc.get_threshold() == before
