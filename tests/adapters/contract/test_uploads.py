"""The upload and admin-log ports (`Uploads`, `AdminLog`) on every backend."""

from __future__ import annotations

from datetime import timedelta

from consultbot.domain.files.uploads import PendingUpload
from consultbot.domain.types import Dataset, UserId
from consultbot.ports import DataStore
from tests.adapters.contract.duty_values import (
    NOW,
)


async def test_an_upload_waits_per_admin_and_a_new_one_replaces_it(data_store: DataStore) -> None:

    admin, other = UserId("@admin:localhost"), UserId("@other:localhost")
    first = PendingUpload(
        admin=admin,
        room="!dm:localhost",
        dataset=Dataset.ROSTER,
        name="schema.csv",
        data=b"service,level\n",
        uploaded_at=NOW,
    )
    assert await data_store.pending_upload(admin) is None
    await data_store.save_upload(first)
    assert await data_store.pending_upload(admin) == first
    assert await data_store.pending_upload(other) is None
    second = PendingUpload(
        admin=admin,
        room="!admin:localhost",
        dataset=Dataset.STAFF,
        name="personal.csv",
        data=b"\x00\xff binary kept as is",
        uploaded_at=NOW + timedelta(minutes=5),
    )
    await data_store.save_upload(second)
    assert await data_store.pending_upload(admin) == second
    assert await data_store.drop_upload(admin) is True
    assert await data_store.drop_upload(admin) is False
    assert await data_store.pending_upload(admin) is None


async def test_admin_actions_are_kept_in_order_with_who_and_when(data_store: DataStore) -> None:
    await data_store.record_admin_action(
        actor=UserId("@eve:localhost"), action="upload", allowed=False, detail="", now=NOW
    )
    later = NOW + timedelta(seconds=1)
    await data_store.record_admin_action(
        actor=UserId("@admin:localhost"),
        action="rollback",
        allowed=True,
        detail="roster: version 2 undone, version 1 active",
        now=later,
    )
    actions = await data_store.admin_actions()
    assert [(a.actor, a.action, a.allowed, a.at) for a in actions] == [
        ("@eve:localhost", "upload", False, NOW),
        ("@admin:localhost", "rollback", True, later),
    ]
    assert actions[1].detail.startswith("roster: version 2 undone")
