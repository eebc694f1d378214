"""Ports: the small interfaces the service layer needs from the outside world, one per concern.

Each store port has an in-memory twin in `adapters/memory/` and SQL classes in
`adapters/sql/`; the contract suites in `tests/adapters/` run against every backend.
"""

from consultbot.ports.consult_log import (
    BotState as BotState,
    ConflictError as ConflictError,
    ConsultLog as ConsultLog,
    Outbox as Outbox,
    OutboxItem as OutboxItem,
    OutboxKind as OutboxKind,
    Outgoing as Outgoing,
    PoolRoom as PoolRoom,
    PoolRoomGone as PoolRoomGone,
    PoolRooms as PoolRooms,
    ReminderLog as ReminderLog,
)
from consultbot.ports.datasets import (
    AdminAction as AdminAction,
    AdminLog as AdminLog,
    DataSets as DataSets,
    Handovers as Handovers,
    Uploads as Uploads,
    Version as Version,
)
from consultbot.ports.feeds import Feeds as Feeds
from consultbot.ports.incoming import (
    IncomingFile as IncomingFile,
    IncomingInvite as IncomingInvite,
    IncomingMessage as IncomingMessage,
    IncomingReaction as IncomingReaction,
    IncomingVote as IncomingVote,
)
from consultbot.ports.messenger import (
    Content as Content,
    FileSource as FileSource,
    FileTooLarge as FileTooLarge,
    Messenger as Messenger,
    RoomRefused as RoomRefused,
    UnsafeRoom as UnsafeRoom,
)
from consultbot.ports.retention import Purged as Purged, Retention as Retention
from consultbot.ports.stats import Stats as Stats
from consultbot.ports.stores import ConsultStore as ConsultStore, DataStore as DataStore
from consultbot.ports.time import Clock as Clock, Timers as Timers
