"""Ports: the small interfaces the service layer needs from the outside world, one per
concern (consult log, outbox, room pool, data sets, handovers, uploads, statistics,
retention, messenger, clock and timers).

Each store port has an in-memory twin in `adapters/memory/` and SQL classes in
`adapters/sql/`; the contract suites in `tests/adapters/` run against every backend.
"""

from consultbot.ports.consult_log import (
    BotState,
    ConflictError,
    ConsultLog,
    Outbox,
    OutboxItem,
    OutboxKind,
    Outgoing,
    PoolRoom,
    PoolRoomGone,
    PoolRooms,
    ReminderLog,
)
from consultbot.ports.datasets import (
    AdminAction,
    AdminLog,
    DataSets,
    Handovers,
    Uploads,
    Version,
)
from consultbot.ports.incoming import (
    IncomingFile,
    IncomingInvite,
    IncomingMessage,
    IncomingReaction,
    IncomingVote,
)
from consultbot.ports.messenger import (
    Content,
    FileSource,
    FileTooLarge,
    Messenger,
    RoomRefused,
    UnsafeRoom,
)
from consultbot.ports.retention import Purged, Retention
from consultbot.ports.stats import Stats
from consultbot.ports.stores import ConsultStore, DataStore
from consultbot.ports.time import Clock, Timers

__all__ = [
    "AdminAction",
    "AdminLog",
    "BotState",
    "Clock",
    "ConflictError",
    "ConsultLog",
    "ConsultStore",
    "Content",
    "DataSets",
    "DataStore",
    "FileSource",
    "FileTooLarge",
    "Handovers",
    "IncomingFile",
    "IncomingInvite",
    "IncomingMessage",
    "IncomingReaction",
    "IncomingVote",
    "Messenger",
    "Outbox",
    "OutboxItem",
    "OutboxKind",
    "Outgoing",
    "PoolRoom",
    "PoolRoomGone",
    "PoolRooms",
    "Purged",
    "ReminderLog",
    "Retention",
    "RoomRefused",
    "Stats",
    "Timers",
    "UnsafeRoom",
    "Uploads",
    "Version",
]
