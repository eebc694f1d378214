"""The SQLite store (aiosqlite): rows ↔ domain records. Instants are stored as UTC epoch seconds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from consultbot.adapters.migrations import migrate
from consultbot.domain.catalogue import Catalogue, Service
from consultbot.domain.errors import NothingToRollBack, StoreError
from consultbot.domain.oncall import OnDuty, on_duty
from consultbot.domain.people import DirectoryEntry, StaffMember
from consultbot.domain.roster import MAX_SHIFT, Shift
from consultbot.domain.types import Dataset, ServiceId, ServiceKind, Track, UserId
from consultbot.ports import DataStore, Version

_MAX_SHIFT_SECONDS = int(MAX_SHIFT.total_seconds())
_SHIFT_COLUMNS = "service_id, level, start_ts, end_ts, matrix_id, name, phone"


def _ts(instant: datetime) -> int:
    return int(instant.timestamp())


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _shift(row: Sequence[Any]) -> Shift:
    return Shift(
        service=ServiceId(row[0]),
        level=row[1],
        start=_dt(row[2]),
        end=_dt(row[3]),
        user=UserId(row[4]),
        name=row[5],
        phone=row[6],
    )


class SqliteDataStore(DataStore):
    """DataStore on one SQLite file in WAL mode with foreign keys on."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self._path = path
        self._catalogue: tuple[int | None, Catalogue] | None = None

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDataStore:
        """Open (creating if needed) and migrate the database at `path`."""
        name = str(path)
        if name != ":memory:":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(name, isolation_level=None)
        except Exception as exc:  # sqlite3.OperationalError and OSError
            raise StoreError(name, f"cannot be opened: {exc}") from None
        try:
            await db.execute("PRAGMA busy_timeout = 5000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA synchronous = NORMAL")
            await migrate(db, name)
        except aiosqlite.DatabaseError as exc:
            await db.close()
            raise StoreError(name, f"is not a usable database: {exc}") from None
        except BaseException:
            await db.close()
            raise
        return cls(db, name)

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        async with self._db.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def _active(self, dataset: Dataset) -> int | None:
        value = await self._one(
            "SELECT max(version) FROM dataset_version WHERE dataset = ? AND rolled_back_at IS NULL",
            (dataset.value,),
        )
        return int(value) if value is not None else None

    async def _new_version(
        self, db: aiosqlite.Connection, dataset: Dataset, source: str, summary: str, now: datetime
    ) -> int:
        async with db.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM dataset_version WHERE dataset = ?",
            (dataset.value,),
        ) as cursor:
            row = await cursor.fetchone()
        number = int(row[0]) if row else 1
        await db.execute(
            "INSERT INTO dataset_version (dataset, version, imported_at, source, summary)"
            " VALUES (?, ?, ?, ?, ?)",
            (dataset.value, number, _ts(now), source, summary),
        )
        return number

    # -- catalogue ------------------------------------------------------------------------------

    async def import_catalogue(self, catalogue: Catalogue, *, source: str, now: datetime) -> int:
        async with self._transaction() as db:
            number = await self._new_version(
                db, Dataset.CATALOGUE, source, f"{len(catalogue)} services", now
            )
            await db.executemany(
                "INSERT INTO service VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        number,
                        position,
                        s.id,
                        s.name,
                        s.kind.value,
                        json.dumps([t.value for t in s.tracks]),
                        json.dumps(list(s.aliases), ensure_ascii=False),
                        s.switchboard,
                        s.municipality,
                    )
                    for position, s in enumerate(catalogue.services)
                ],
            )
        self._catalogue = None
        return number

    async def catalogue(self) -> Catalogue:
        active = await self._active(Dataset.CATALOGUE)
        if self._catalogue is not None and self._catalogue[0] == active:
            return self._catalogue[1]
        services: list[Service] = []
        if active is not None:
            async with self._db.execute(
                "SELECT id, name, kind, tracks, aliases, switchboard, municipality FROM service"
                " WHERE version = ? ORDER BY position",
                (active,),
            ) as cursor:
                async for row in cursor:
                    services.append(
                        Service(
                            id=ServiceId(row[0]),
                            name=row[1],
                            kind=ServiceKind(row[2]),
                            tracks=tuple(Track(t) for t in json.loads(row[3])),
                            aliases=tuple(json.loads(row[4])),
                            switchboard=row[5],
                            municipality=row[6],
                        )
                    )
        catalogue = Catalogue(tuple(services))
        self._catalogue = (active, catalogue)
        return catalogue

    # -- roster ---------------------------------------------------------------------------------

    async def import_roster(
        self,
        shifts: Sequence[Shift],
        periods: Mapping[ServiceId, tuple[datetime, datetime]],
        *,
        source: str,
        now: datetime,
    ) -> int:
        summary = f"{len(shifts)} shifts, {len(periods)} services"
        async with self._transaction() as db:
            number = await self._new_version(db, Dataset.ROSTER, source, summary, now)
            await db.executemany(
                "UPDATE shift SET removed_in = ? WHERE service_id = ? AND removed_in IS NULL"
                " AND start_ts >= ? AND start_ts < ?",
                [(number, sid, _ts(lo), _ts(hi)) for sid, (lo, hi) in periods.items()],
            )
            await db.executemany(
                f"INSERT INTO shift ({_SHIFT_COLUMNS}, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (s.service, s.level, _ts(s.start), _ts(s.end), s.user, s.name, s.phone, number)
                    for s in shifts
                ),
            )
        return number

    async def on_duty(self, service: ServiceId, at: datetime) -> OnDuty:
        moment = _ts(at)
        async with self._db.execute(
            f"SELECT {_SHIFT_COLUMNS} FROM shift WHERE service_id = ? AND removed_in IS NULL"
            " AND start_ts > ? AND start_ts <= ? AND end_ts > ?",
            (service, moment - _MAX_SHIFT_SECONDS, moment, moment),
        ) as cursor:
            rows = await cursor.fetchall()
        return on_duty(service, at, (_shift(row) for row in rows))

    async def shifts(
        self, service: ServiceId, start: datetime | None = None, end: datetime | None = None
    ) -> list[Shift]:
        low = _ts(start) - _MAX_SHIFT_SECONDS if start else -(2**62)
        high = _ts(end) if end else 2**62
        async with self._db.execute(
            f"SELECT {_SHIFT_COLUMNS} FROM shift WHERE service_id = ? AND removed_in IS NULL"
            " AND start_ts > ? AND start_ts < ? AND end_ts > ?"
            " ORDER BY start_ts, level, matrix_id",
            (service, low, high, _ts(start) if start else -(2**62)),
        ) as cursor:
            return [_shift(row) for row in await cursor.fetchall()]

    # -- staff and directory --------------------------------------------------------------------

    async def import_staff(
        self, members: Sequence[StaffMember], *, source: str, now: datetime
    ) -> int:
        async with self._transaction() as db:
            number = await self._new_version(
                db, Dataset.STAFF, source, f"{len(members)} people", now
            )
            await db.executemany(
                "INSERT INTO staff VALUES (?, ?, ?, ?, ?, ?)",
                [(number, m.user, m.name, m.unit, m.title, m.phone) for m in members],
            )
        return number

    async def _staff(self, where: str = "", params: tuple[Any, ...] = ()) -> list[StaffMember]:
        active = await self._active(Dataset.STAFF)
        if active is None:
            return []
        async with self._db.execute(
            "SELECT matrix_id, name, unit, title, phone FROM staff WHERE version = ?"
            f" {where} ORDER BY name, matrix_id",
            (active, *params),
        ) as cursor:
            return [
                StaffMember(
                    user=UserId(r[0]), name=r[1], unit=ServiceId(r[2]), title=r[3], phone=r[4]
                )
                for r in await cursor.fetchall()
            ]

    async def staff(self) -> list[StaffMember]:
        return await self._staff()

    async def staff_member(self, user: UserId) -> StaffMember | None:
        found = await self._staff("AND matrix_id = ?", (user,))
        return found[0] if found else None

    async def import_directory(
        self, entries: Sequence[DirectoryEntry], *, source: str, now: datetime
    ) -> int:
        async with self._transaction() as db:
            number = await self._new_version(
                db, Dataset.DIRECTORY, source, f"{len(entries)} entries", now
            )
            await db.executemany(
                "INSERT INTO directory_entry VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (number, i, e.unit, e.name, e.phone, e.municipality, e.notes)
                    for i, e in enumerate(entries)
                ],
            )
        return number

    async def directory(self) -> list[DirectoryEntry]:
        active = await self._active(Dataset.DIRECTORY)
        if active is None:
            return []
        async with self._db.execute(
            "SELECT unit, name, phone, municipality, notes FROM directory_entry"
            " WHERE version = ? ORDER BY position",
            (active,),
        ) as cursor:
            return [
                DirectoryEntry(unit=r[0], name=r[1], phone=r[2], municipality=r[3], notes=r[4])
                for r in await cursor.fetchall()
            ]

    # -- versions -------------------------------------------------------------------------------

    async def rollback(self, dataset: Dataset, *, now: datetime) -> int:
        async with self._transaction() as db:
            async with db.execute(
                "SELECT version FROM dataset_version WHERE dataset = ? AND rolled_back_at IS NULL"
                " ORDER BY version DESC LIMIT 2",
                (dataset.value,),
            ) as cursor:
                live = [int(r[0]) for r in await cursor.fetchall()]
            if len(live) < 2:
                raise NothingToRollBack(dataset.value)
            undone, previous = live
            await db.execute(
                "UPDATE dataset_version SET rolled_back_at = ? WHERE dataset = ? AND version = ?",
                (_ts(now), dataset.value, undone),
            )
            if dataset is Dataset.ROSTER:
                await db.execute("DELETE FROM shift WHERE version = ?", (undone,))
                await db.execute(
                    "UPDATE shift SET removed_in = NULL WHERE removed_in = ?", (undone,)
                )
        self._catalogue = None
        return previous

    async def versions(self, dataset: Dataset) -> list[Version]:
        active = await self._active(dataset)
        async with self._db.execute(
            "SELECT version, imported_at, source, summary, rolled_back_at FROM dataset_version"
            " WHERE dataset = ? ORDER BY version DESC",
            (dataset.value,),
        ) as cursor:
            return [
                Version(
                    dataset=dataset,
                    number=int(r[0]),
                    imported_at=_dt(r[1]),
                    source=r[2],
                    summary=r[3],
                    active=r[0] == active,
                    rolled_back=r[4] is not None,
                )
                for r in await cursor.fetchall()
            ]
