"""The duty-reminder log port (`ReminderLog`) on every backend: a reminder is remembered
exactly when its message is queued, once per person and duty start."""

from __future__ import annotations

from datetime import timedelta

from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.types import UserId
from consultbot.ports import ConsultStore, OutboxKind, Outgoing
from tests.adapters.contract.consult_events import K1, K2, NOW, at


def reminder(user: UserId, start_hours: int, told: str = "start") -> SentReminder:
    start = NOW + timedelta(hours=start_hours)
    return SentReminder(user=user, start=start, end=start + timedelta(hours=10), told=told)


def message(user: UserId) -> Outgoing:
    return Outgoing(kind=OutboxKind.DIRECT, room=user, payload={"text": "Ditt pass börjar"})


async def test_a_reminder_is_remembered_with_its_message_and_replaced_per_duty(
    store: ConsultStore,
) -> None:
    first, other = reminder(K1, 1), reminder(K2, 2)
    await store.record_reminders([], [first, other], [message(K1), message(K2)], now=NOW)
    assert await store.duty_reminders(NOW) == [first, other]
    assert [(i.kind, i.room) for i in await store.pending()] == [
        (OutboxKind.DIRECT, K1),
        (OutboxKind.DIRECT, K2),
    ]
    changed = reminder(K1, 1, told="changed")  # the same person and start: one row
    await store.record_reminders([other], [changed], [], now=at(1))
    assert await store.duty_reminders(NOW) == [changed]
    # Only duties that end after `since` are read.
    assert await store.duty_reminders(changed.end) == []
