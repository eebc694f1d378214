"""The active state the corpus and mutation tests import into, built once per session."""

from __future__ import annotations

import pytest

from tests.datafiles.corpus import State


@pytest.fixture(scope="session")
def active(tmp_path_factory: pytest.TempPathFactory) -> State:
    return State.create(tmp_path_factory.mktemp("active"))
