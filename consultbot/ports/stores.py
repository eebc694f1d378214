"""The two store ports the service is wired with today: each the union of its concerns'
ports, so that one object (the SQLite, PostgreSQL or in-memory store) serves them all.

The bases are listed in the order the SQL classes (adapters/sql/) inherit them: the store
class that joins both needs one consistent method resolution order."""

from __future__ import annotations

from consultbot.ports.consult_log import BotState, ConsultLog, Outbox, PoolRooms, ReminderLog
from consultbot.ports.datasets import AdminLog, DataSets, Handovers, Uploads
from consultbot.ports.feeds import Feeds
from consultbot.ports.retention import Retention
from consultbot.ports.stats import Stats


class DataStore(Handovers, DataSets, Uploads, AdminLog, Feeds):
    """Versioned data sets, handovers, pending uploads, the admin action log and the
    calendar feeds."""


class ConsultStore(BotState, ConsultLog, Outbox, PoolRooms, ReminderLog, Stats, Retention):
    """Consult event logs, the outbox, the room pool, duty reminders, bot state, statistics
    and retention."""
