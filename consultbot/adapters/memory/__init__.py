"""In-memory twins of the ports, for tests and dry runs. Same semantics as the SQL stores."""

from consultbot.adapters.memory.clock import ManualClock, ManualTimers
from consultbot.adapters.memory.consult_log import MemoryConsultStore
from consultbot.adapters.memory.datasets import MemoryDataStore
from consultbot.adapters.memory.messenger import MemoryMessenger, Sent

__all__ = [
    "ManualClock",
    "ManualTimers",
    "MemoryConsultStore",
    "MemoryDataStore",
    "MemoryMessenger",
    "Sent",
]
