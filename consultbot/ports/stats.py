"""The statistics port: what the monthly report and `!statistik` read."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from consultbot.domain.consult.escalation import Consult
from consultbot.domain.consult.stats import FactTable


class Stats(ABC):
    """The statistics facts and the consults of a period."""

    @abstractmethod
    async def consults_between(self, start: datetime, end: datetime) -> list[Consult]:
        """Consults requested in [start, end), for statistics."""

    @abstractmethod
    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        """The statistics facts of the consults requested in [start, end), as columns."""
