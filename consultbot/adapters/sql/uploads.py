"""Uploaded data files waiting for an admin's word, and the admin action log, in SQL."""

from __future__ import annotations

from datetime import datetime

from consultbot.adapters.sql.base import SqlBase, from_ms, to_ms
from consultbot.domain.files.uploads import PendingUpload
from consultbot.domain.types import Dataset, UserId
from consultbot.ports import AdminAction, AdminLog, Uploads


class UploadSql(SqlBase, Uploads, AdminLog):
    """Pending uploads (one per admin) and the audit log of admin actions."""

    async def save_upload(self, upload: PendingUpload) -> None:
        await self._write(
            "INSERT INTO pending_upload VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (admin) DO UPDATE SET room = excluded.room, dataset = excluded.dataset,"
            " name = excluded.name, data = excluded.data, uploaded_at_ms = excluded.uploaded_at_ms",
            (
                upload.admin,
                upload.room,
                upload.dataset.value,
                upload.name,
                upload.data,
                to_ms(upload.uploaded_at),
            ),
        )

    async def pending_upload(self, admin: UserId) -> PendingUpload | None:
        rows = await self._rows(
            "SELECT room, dataset, name, data, uploaded_at_ms FROM pending_upload WHERE admin = $1",
            (admin,),
        )
        if not rows:
            return None
        room, dataset, name, data, at = rows[0]
        return PendingUpload(
            admin=admin,
            room=room,
            dataset=Dataset(dataset),
            name=name,
            data=bytes(data),
            uploaded_at=from_ms(at),
        )

    async def drop_upload(self, admin: UserId) -> bool:
        return await self._write("DELETE FROM pending_upload WHERE admin = $1", (admin,)) > 0

    async def record_admin_action(
        self, *, actor: UserId, action: str, allowed: bool, detail: str, now: datetime
    ) -> None:
        await self._write(
            "INSERT INTO admin_action (at_ms, actor, action, allowed, detail)"
            " VALUES ($1, $2, $3, $4, $5)",
            (to_ms(now), actor, action, int(allowed), detail),
        )

    async def admin_actions(self) -> list[AdminAction]:
        rows = await self._rows(
            "SELECT at_ms, actor, action, allowed, detail FROM admin_action ORDER BY seq"
        )
        return [
            AdminAction(
                at=from_ms(r[0]), actor=UserId(r[1]), action=r[2], allowed=bool(r[3]), detail=r[4]
            )
            for r in rows
        ]
