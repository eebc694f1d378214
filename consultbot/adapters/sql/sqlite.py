"""The SQLite store (aiosqlite): rows ↔ domain records. Instants are stored as UTC epoch seconds."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from consultbot.adapters.sql import stats as stats_sqlite
from consultbot.adapters.sql.dialect import Connection
from consultbot.adapters.sql.migrations import migrate
from consultbot.domain.consult.escalation import OPEN_STATES, Consult, State, apply, fold
from consultbot.domain.consult.events import Event, EventKind, RoomCreated
from consultbot.domain.consult.stats import ConsultSummary, FactTable, frozen_unit, unit_of
from consultbot.domain.duty.catalogue import Catalogue, Service
from consultbot.domain.duty.handover import Handover, HandoverState, cover
from consultbot.domain.duty.oncall import OnDuty, on_duty
from consultbot.domain.duty.people import DirectoryEntry, StaffMember
from consultbot.domain.duty.reminders import SentReminder
from consultbot.domain.duty.roster import MAX_SHIFT, Period, Shift, period_list
from consultbot.domain.errors import NothingToRollBack, StoreError
from consultbot.domain.files.uploads import PendingUpload
from consultbot.domain.types import ConsultId, Dataset, ServiceId, ServiceKind, Track, UserId
from consultbot.ports import (
    AdminAction,
    ConflictError,
    ConsultStore,
    DataStore,
    OutboxItem,
    OutboxKind,
    Outgoing,
    PoolRoom,
    Purged,
    Version,
)

_MAX_SHIFT_SECONDS = int(MAX_SHIFT.total_seconds())
_PURGE_BATCH = 50  # consults forgotten per transaction
_SCAN_SLICE = 5000  # consults read per statement by the retention scans
_SHIFT_COLUMNS = "service_id, level, start_ts, end_ts, matrix_id, name, phone"


def _ts(instant: datetime) -> int:
    return int(instant.timestamp())


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


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


_HANDOVER_COLUMNS = (
    "id, service_id, level, giver, taker, taker_name, taker_phone, start_ms, end_ms,"
    " offered_by, offered_at_ms, answer_by_ms, state, decided_at_ms, room, language, source_event"
)


def _handover_row(h: Handover) -> tuple[Any, ...]:
    return (
        h.id,
        h.service,
        h.level,
        h.giver,
        h.taker,
        h.taker_name,
        h.taker_phone,
        _ms(h.start),
        _ms(h.end),
        h.offered_by,
        _ms(h.offered_at),
        _ms(h.answer_by) if h.answer_by else None,
        h.state.value,
        _ms(h.decided_at) if h.decided_at else None,
        h.room,
        h.language,
        h.source_event,
    )


def _handover(row: Sequence[Any]) -> Handover:
    return Handover(
        id=int(row[0]),
        service=ServiceId(row[1]),
        level=int(row[2]),
        giver=UserId(row[3]),
        taker=UserId(row[4]),
        taker_name=row[5],
        taker_phone=row[6],
        start=_from_ms(row[7]),
        end=_from_ms(row[8]),
        offered_by=UserId(row[9]),
        offered_at=_from_ms(row[10]),
        answer_by=_from_ms(row[11]) if row[11] is not None else None,
        state=HandoverState(row[12]),
        decided_at=_from_ms(row[13]) if row[13] is not None else None,
        room=row[14],
        language=row[15],
        source_event=row[16],
    )


# An entry once sent keeps no payload: a reply may echo what someone typed, a direct answer
# holds staff numbers, and none of it is needed again (a resend reads only pending entries).
_MARK_SENT = "UPDATE outbox SET sent_at_ms = ?, payload = '{}' WHERE id = ?"


def _owner_only(name: str) -> None:
    """Consult metadata and the sync position are the bot's alone: 0600 for the database and
    its WAL files (SQLite creates new WAL files with the database's mode)."""
    for path in (name, f"{name}-wal", f"{name}-shm"):
        try:
            if os.path.exists(path):
                os.chmod(path, 0o600)
        except OSError as exc:
            logging.getLogger(__name__).warning("could not make %s owner-only: %s", path, exc)


def backup_database(source: Path, target: Path) -> int:
    """A consistent copy of the database at `source` written to `target` (which must not
    exist), also while the bot writes to it: SQLite's online backup, then an integrity check
    of the copy. Returns how many consults the copy holds. Blocking: run it in a thread.

    The copy holds what the database holds (staff numbers, who asked whom): the file is made
    owner-only (0600) as it is created, not chmod-ed after, so no other user can open it even
    for a moment; SQLite gives its journal the file's mode. FileExistsError if it exists."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        return _copy_into(source, target)
    except BaseException:
        target.unlink(missing_ok=True)  # no half copy left behind
        raise


def _copy_into(source: Path, target: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src:
        with sqlite3.connect(str(target)) as dst:
            src.backup(dst)
            checked = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if checked != "ok":
                raise sqlite3.DatabaseError(f"the copy fails its integrity check: {checked}")
            consults = int(dst.execute("SELECT count(*) FROM consult").fetchone()[0])
        dst.close()
    return consults


class SqliteStore(DataStore, ConsultStore):
    """Both stores on one SQLite file in WAL mode with foreign keys on.

    Its SQL (SQLite's dialect) is also PostgreSQL's: `PostgresStore` is this class over a
    translating connection (consultbot/adapters/sql/postgres.py). Write through `_transaction`
    or `_write`, so that a leader fence sees every write there."""

    def __init__(self, db: Connection, path: str) -> None:
        self._db = db
        self._path = path
        # One connection, many coroutines: every statement and every transaction takes this
        # lock, so no coroutine's statements ever run inside another's transaction.
        self._lock = asyncio.Lock()
        self._catalogue: tuple[int | None, Catalogue] | None = None
        self._accepted: list[Handover] | None = None  # the layer over the roster, cached

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
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
            # What is deleted (the retention purge) is overwritten, not left in free pages.
            await db.execute("PRAGMA secure_delete = ON")
            await migrate(db, name)
            if name != ":memory:":
                _owner_only(name)
            await stats_sqlite.backfill(db)
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
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self._lock:
            return list(await self._db.execute_fetchall(sql, tuple(params)))

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> None:
        async with self._lock:
            await self._db.execute(sql, tuple(params))

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    async def _active(self, dataset: Dataset) -> int | None:
        value = await self._one(
            "SELECT max(version) FROM dataset_version WHERE dataset = ? AND rolled_back_at IS NULL",
            (dataset.value,),
        )
        return int(value) if value is not None else None

    async def _new_version(
        self, db: Connection, dataset: Dataset, source: str, summary: str, now: datetime
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
            rows = await self._rows(
                "SELECT id, name, kind, tracks, aliases, switchboard, municipality FROM service"
                " WHERE version = ? ORDER BY position",
                (active,),
            )
            for row in rows:
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
        periods: Mapping[ServiceId, Period | Sequence[Period]],
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
                [
                    (number, sid, _ts(lo), _ts(hi))
                    for sid, value in periods.items()
                    for lo, hi in period_list(value)
                ],
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
        # One round trip to aiosqlite's thread: most of a lookup's time is the hand-over.
        rows = await self._rows(
            f"SELECT {_SHIFT_COLUMNS} FROM shift WHERE service_id = ? AND removed_in IS NULL"
            " AND start_ts > ? AND start_ts <= ? AND end_ts > ?",
            (service, moment - _MAX_SHIFT_SECONDS, moment, moment),
        )
        layer = await self._layer(service)
        return on_duty(service, at, cover((_shift(row) for row in rows), layer))

    async def shifts(
        self, service: ServiceId, start: datetime | None = None, end: datetime | None = None
    ) -> list[Shift]:
        low = _ts(start) - _MAX_SHIFT_SECONDS if start else -(2**62)
        high = _ts(end) if end else 2**62
        rows = await self._rows(
            f"SELECT {_SHIFT_COLUMNS} FROM shift WHERE service_id = ? AND removed_in IS NULL"
            " AND start_ts > ? AND start_ts < ? AND end_ts > ?"
            " ORDER BY start_ts, level, matrix_id",
            (service, low, high, _ts(start) if start else -(2**62)),
        )
        layer = await self._layer(service)
        if not layer:
            return [_shift(row) for row in rows]
        laid = cover((_shift(row) for row in rows), layer)
        found = [
            s for s in laid if (start is None or s.end > start) and (end is None or s.start < end)
        ]
        return sorted(found, key=lambda s: (s.start, s.level, s.user))

    # -- handovers ------------------------------------------------------------------------------

    async def _layer(self, service: ServiceId) -> list[Handover]:
        """The accepted handovers of `service` (all accepted ones are cached)."""
        if self._accepted is None:
            self._accepted = await self.handovers(HandoverState.ACCEPTED)
        return [h for h in self._accepted if h.service == service]

    async def add_handovers(self, handovers: Sequence[Handover]) -> list[Handover]:
        added = []
        async with self._transaction() as db:
            for h in handovers:
                cursor = await db.execute(
                    f"INSERT INTO handover ({_HANDOVER_COLUMNS[4:]})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _handover_row(h)[1:],
                )
                added.append(replace(h, id=int(cursor.lastrowid or 0)))
        self._accepted = None
        return added

    async def handovers(self, state: HandoverState | None = None) -> list[Handover]:
        where, params = ("WHERE state = ?", (state.value,)) if state else ("", ())
        rows = await self._rows(
            f"SELECT {_HANDOVER_COLUMNS} FROM handover {where} ORDER BY id", params
        )
        return [_handover(row) for row in rows]

    async def decide_handover(
        self, handover: int, state: HandoverState, *, now: datetime
    ) -> Handover | None:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE handover SET state = ?, decided_at_ms = ? WHERE id = ? AND state = ?",
                (state.value, _ms(now), handover, HandoverState.OFFERED.value),
            )
            if cursor.rowcount != 1:
                return None
            async with db.execute(
                f"SELECT {_HANDOVER_COLUMNS} FROM handover WHERE id = ?", (handover,)
            ) as rows:
                row = await rows.fetchone()
        self._accepted = None
        return _handover(row) if row else None

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
        rows = await self._rows(
            "SELECT matrix_id, name, unit, title, phone FROM staff WHERE version = ?"
            f" {where} ORDER BY name, matrix_id",
            (active, *params),
        )
        return [
            StaffMember(user=UserId(r[0]), name=r[1], unit=ServiceId(r[2]), title=r[3], phone=r[4])
            for r in rows
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
        rows = await self._rows(
            "SELECT unit, name, phone, municipality, notes FROM directory_entry"
            " WHERE version = ? ORDER BY position",
            (active,),
        )
        return [
            DirectoryEntry(unit=r[0], name=r[1], phone=r[2], municipality=r[3], notes=r[4])
            for r in rows
        ]

    # -- versions -------------------------------------------------------------------------------

    async def save_upload(self, upload: PendingUpload) -> None:
        await self._write(
            "INSERT INTO pending_upload VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (admin) DO UPDATE"
            " SET room = excluded.room, dataset = excluded.dataset, name = excluded.name,"
            " data = excluded.data, uploaded_at_ms = excluded.uploaded_at_ms",
            (
                upload.admin,
                upload.room,
                upload.dataset.value,
                upload.name,
                upload.data,
                _ms(upload.uploaded_at),
            ),
        )

    async def pending_upload(self, admin: UserId) -> PendingUpload | None:
        rows = await self._rows(
            "SELECT room, dataset, name, data, uploaded_at_ms FROM pending_upload WHERE admin = ?",
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
            uploaded_at=_from_ms(at),
        )

    async def drop_upload(self, admin: UserId) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM pending_upload WHERE admin = ?", (admin,))
            return (cursor.rowcount or 0) > 0

    async def record_admin_action(
        self, *, actor: UserId, action: str, allowed: bool, detail: str, now: datetime
    ) -> None:
        await self._write(
            "INSERT INTO admin_action (at_ms, actor, action, allowed, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            (_ms(now), actor, action, int(allowed), detail),
        )

    async def admin_actions(self) -> list[AdminAction]:
        rows = await self._rows(
            "SELECT at_ms, actor, action, allowed, detail FROM admin_action ORDER BY seq"
        )
        return [
            AdminAction(
                at=_from_ms(r[0]), actor=UserId(r[1]), action=r[2], allowed=bool(r[3]), detail=r[4]
            )
            for r in rows
        ]

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
        rows = await self._rows(
            "SELECT version, imported_at, source, summary, rolled_back_at FROM dataset_version"
            " WHERE dataset = ? ORDER BY version DESC",
            (dataset.value,),
        )
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
            for r in rows
        ]

    # -- consults -------------------------------------------------------------------------------

    async def _instance(self) -> str:
        instance = await self.get_meta("instance")
        if instance is None:
            instance = secrets.token_hex(4)
            await self.set_meta("instance", instance)
        return instance

    async def allocate_consult(self, *, now: datetime) -> ConsultId:
        async with self._transaction() as db:
            async with db.execute("SELECT coalesce(max(number), 0) + 1 FROM consult") as cursor:
                row = await cursor.fetchone()
            number = int(row[0]) if row else 1
            consult = ConsultId(f"K-{number:06d}")
            await db.execute(
                "INSERT INTO consult (id, number, created_at) VALUES (?, ?, ?)",
                (consult, number, _ts(now)),
            )
        return consult

    async def record(
        self,
        consult: ConsultId | None,
        expected_length: int,
        events: Sequence[Event],
        outgoing: Sequence[Outgoing],
        *,
        handled: str | None = None,
        sent: int | None = None,
        now: datetime,
    ) -> list[int]:
        ids: list[int] = []
        async with self._transaction() as db:
            if consult is not None and events:
                await self._append(db, consult, expected_length, events)
            for item in outgoing:
                cursor = await db.execute(
                    "INSERT INTO outbox (kind, consult_id, room, payload, created_at_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        item.kind,
                        item.consult,
                        item.room,
                        json.dumps(item.payload, ensure_ascii=False),
                        _ms(now),
                    ),
                )
                ids.append(int(cursor.lastrowid or 0))
            if handled is not None:
                await db.execute(
                    "INSERT OR IGNORE INTO handled_event VALUES (?, ?)", (handled, _ms(now))
                )
            if sent is not None:
                await db.execute(_MARK_SENT + " AND sent_at_ms IS NULL", (_ms(now), sent))
        return ids

    async def _append(
        self,
        db: Connection,
        consult: ConsultId,
        expected_length: int,
        events: Sequence[Event],
    ) -> None:
        async with db.execute("SELECT length FROM consult WHERE id = ?", (consult,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise ConflictError(f"{consult} was not allocated")
        if int(row[0]) != expected_length:
            raise ConflictError(f"{consult} has {row[0]} events, expected {expected_length}")
        await db.executemany(
            "INSERT INTO consult_event VALUES (?, ?, ?, ?, ?)",
            [
                (
                    consult,
                    expected_length + n,
                    _ms(e.at),
                    e.kind,
                    json.dumps(e.data, ensure_ascii=False),
                )
                for n, e in enumerate(events)
            ],
        )
        log = await self._events(db, consult)
        state = fold(log)
        await stats_sqlite.write(db, consult, expected_length + len(events), log)
        await db.execute(
            "UPDATE consult SET length = ?, requester = ?, service = ?, track = ?, state = ?,"
            " room = ?, requested_at_ms = ?, deadline_ms = ? WHERE id = ?",
            (
                expected_length + len(events),
                state.requester,
                state.service,
                state.track.value,
                state.state.value,
                state.room or None,
                _ms(state.requested_at),
                _ms(state.deadline) if state.deadline else None,
                consult,
            ),
        )
        await db.executemany(
            "INSERT OR IGNORE INTO consult_party VALUES (?, ?)",
            [(consult, user) for user in (state.requester, *state.paged_users)],
        )

    async def _events(self, db: Connection, consult: ConsultId) -> list[Event]:
        async with db.execute(
            "SELECT at_ms, kind, data FROM consult_event WHERE consult_id = ? ORDER BY seq",
            (consult,),
        ) as cursor:
            return [
                Event(kind=EventKind(r[1]), at=_from_ms(r[0]), data=json.loads(r[2]))
                for r in await cursor.fetchall()
            ]

    async def events(self, consult: ConsultId) -> list[Event]:
        async with self._lock:
            return await self._events(self._db, consult)

    async def consult(self, consult: ConsultId) -> Consult | None:
        events = await self.events(consult)
        return fold(events) if events else None

    async def _consults(self, where: str, params: tuple[Any, ...] = ()) -> list[Consult]:
        rows = await self._rows(
            "SELECT c.id, e.at_ms, e.kind, e.data FROM consult c"
            " JOIN consult_event e ON e.consult_id = c.id"
            f" WHERE {where} ORDER BY c.number DESC, e.seq",
            params,
        )
        consults: dict[str, Consult | None] = {}
        for cid, at_ms, kind, data in rows:
            event = Event(kind=EventKind(kind), at=_from_ms(at_ms), data=json.loads(data))
            consults[cid] = apply(consults.get(cid), event)
        return [c for c in consults.values() if c is not None]

    async def open_consults(self) -> list[Consult]:
        return await self._consults(
            "c.deadline_ms IS NOT NULL"
            " OR c.state IN ('offered', 'queued', 'paging', 'acknowledged')"
        )

    async def consult_for_room(self, room: str) -> ConsultId | None:
        value = await self._one("SELECT id FROM consult WHERE room = ?", (room,))
        return ConsultId(value) if value else None

    async def consults_of(self, user: UserId, *, open_only: bool = True) -> list[Consult]:
        condition = "c.id IN (SELECT consult_id FROM consult_party WHERE user = ?)"
        if open_only:
            condition += " AND c.state IN ('offered', 'queued', 'paging', 'acknowledged')"
        return await self._consults(condition, (user,))

    async def consults_between(self, start: datetime, end: datetime) -> list[Consult]:
        return await self._consults(
            "c.requested_at_ms >= ? AND c.requested_at_ms < ?", (_ms(start), _ms(end))
        )

    # -- statistics (consultbot/adapters/sql/stats.py) ---------------------------------------

    async def stats_table(self, start: datetime, end: datetime) -> FactTable:
        """The statistics facts of the consults requested in [start, end), as columns."""
        async with self._lock:
            return await stats_sqlite.fact_table(self._db, start, end)

    async def consult_summaries(
        self, start: datetime, end: datetime
    ) -> list[tuple[ConsultSummary, str]]:
        """Each consult requested in [start, end) with its requester's unit, oldest first."""
        async with self._lock:
            return await stats_sqlite.summaries(self._db, start, end)

    async def duty_reminders(self, since: datetime) -> list[SentReminder]:
        rows = await self._rows(
            "SELECT user, start_ms, end_ms, told FROM duty_reminder WHERE end_ms > ?"
            " ORDER BY start_ms, user",
            (_ms(since),),
        )
        return [
            SentReminder(user=UserId(r[0]), start=_from_ms(r[1]), end=_from_ms(r[2]), told=r[3])
            for r in rows
        ]

    async def record_reminders(
        self,
        remove: Sequence[SentReminder],
        add: Sequence[SentReminder],
        outgoing: Sequence[Outgoing],
        *,
        now: datetime,
    ) -> None:
        async with self._transaction() as db:
            for r in remove:
                await db.execute(
                    "DELETE FROM duty_reminder WHERE user = ? AND start_ms = ?",
                    (r.user, _ms(r.start)),
                )
            for r in add:
                await db.execute(
                    "INSERT OR REPLACE INTO duty_reminder VALUES (?, ?, ?, ?, ?)",
                    (r.user, _ms(r.start), _ms(r.end), r.told, _ms(now)),
                )
            for item in outgoing:
                await db.execute(
                    "INSERT INTO outbox (kind, consult_id, room, payload, created_at_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        item.kind,
                        item.consult,
                        item.room,
                        json.dumps(item.payload, ensure_ascii=False),
                        _ms(now),
                    ),
                )

    async def pending(self) -> list[OutboxItem]:
        instance = await self._instance()
        rows = await self._rows(
            "SELECT id, kind, consult_id, room, payload FROM outbox WHERE sent_at_ms IS NULL"
            " ORDER BY id"
        )
        return [
            OutboxItem(
                id=int(r[0]),
                kind=OutboxKind(r[1]),
                consult=ConsultId(r[2]) if r[2] else None,
                room=r[3],
                payload=json.loads(r[4]),
                txn=f"consultbot-{instance}-{r[0]}",
            )
            for r in rows
        ]

    async def sent(self, item: int, *, now: datetime) -> None:
        await self._write(_MARK_SENT, (_ms(now), item))

    async def is_handled(self, event_id: str) -> bool:
        return (
            await self._one("SELECT 1 FROM handled_event WHERE event_id = ?", (event_id,))
            is not None
        )

    async def add_pool_room(self, room: str, *, policy: str, now: datetime) -> None:
        await self._write(
            "INSERT OR IGNORE INTO room_pool VALUES (?, ?, ?)", (room, _ms(now), policy)
        )

    async def pool_rooms(self) -> list[PoolRoom]:
        rows = await self._rows(
            "SELECT room, created_at_ms, policy FROM room_pool ORDER BY created_at_ms, room"
        )
        return [PoolRoom(room=r[0], created_at=_from_ms(r[1]), policy=r[2]) for r in rows]

    async def drop_pool_room(self, room: str) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM room_pool WHERE room = ?", (room,))
            return cursor.rowcount > 0

    async def claim_pool_room(
        self,
        consult: ConsultId,
        expected_length: int,
        *,
        policy: str,
        made_after: datetime,
        now: datetime,
    ) -> str | None:
        async with self._transaction() as db:
            async with db.execute(
                "SELECT room FROM room_pool WHERE policy = ? AND created_at_ms > ?"
                " ORDER BY created_at_ms, room LIMIT 1",
                (policy, _ms(made_after)),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            room = str(row[0])
            await db.execute("DELETE FROM room_pool WHERE room = ?", (room,))
            await self._append(
                db, consult, expected_length, [Event.of(now, RoomCreated(room=room))]
            )
            return room

    async def get_meta(self, key: str) -> str | None:
        value = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(value) if value is not None else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def meta_under(self, prefix: str) -> dict[str, str]:
        # substr, not LIKE: a prefix's `_` or `%` is taken as written.
        rows = await self._rows(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return {str(key): str(value) for key, value in rows}

    # -- retention (consultbot/engine/retention.py; docs/privacy.md) --
    # Plain SQL with `?` parameters only, so that it carries over to other SQL stores. Every
    # statement holds the store while it runs, so the nightly scans go in slices (by consult
    # number, by outbox id) and the changes in batches: a page never waits long behind them.
    # The outbox and the parties have no index by consult: they are found by id and by key.

    async def _quiet_consults(
        self, before: datetime, among: Sequence[str] = ()
    ) -> list[tuple[str, str | None, str]]:
        """(id, room, requester) of the consults not yet purged (`among` these, when given)
        that are closed, unanswered or withdrawn, have no deadline, and whose last event is
        before `before`; by number. Call it inside a transaction when `among` is given."""
        states = [s.value for s in State if s not in OPEN_STATES]
        cutoff = _ms(before)
        slices: list[tuple[str, list[Any]]]
        if among:
            slices = [(f"c.id IN ({', '.join('?' for _ in among)})", list(among))]
        else:
            top = await self._one("SELECT max(number) FROM consult") or 0
            slices = [
                ("c.number >= ? AND c.number < ?", [lo, lo + _SCAN_SLICE])
                for lo in range(0, int(top) + 1, _SCAN_SLICE)
            ]
        found: list[tuple[str, str | None, str]] = []
        for where, params in slices:
            rows = await self._rows_unlocked(
                "SELECT q.id, q.room, q.requester FROM (SELECT c.id, c.room, c.requester,"
                " c.number, (SELECT max(e.at_ms) FROM consult_event e"
                " WHERE e.consult_id = c.id) AS last_ms FROM consult c WHERE"
                f" c.requester IS NOT NULL AND c.deadline_ms IS NULL AND c.requested_at_ms < ?"
                f" AND c.state IN ({', '.join('?' for _ in states)}) AND {where}) q"
                " WHERE q.last_ms < ? ORDER BY q.number",
                (cutoff, *states, *params, cutoff),
                locked=bool(among),
            )
            found += [(str(r[0]), r[1], str(r[2])) for r in rows]
        return found

    async def _rows_unlocked(self, sql: str, params: Sequence[Any], *, locked: bool) -> list[Any]:
        """Rows of `sql`: inside the caller's transaction when `locked`, else taking the lock."""
        if locked:
            return list(await self._db.execute_fetchall(sql, tuple(params)))
        return await self._rows(sql, params)

    async def _leaves(self, *, sent: bool) -> set[str]:
        """The consults whose room the bot was told to leave (and, with `sent`, has left)."""
        done = " AND sent_at_ms IS NOT NULL" if sent else ""
        top = await self._one("SELECT max(id) FROM outbox") or 0
        found: set[str] = set()
        for lo in range(0, int(top) + 1, _SCAN_SLICE * 20):
            rows = await self._rows(
                "SELECT consult_id FROM outbox WHERE id >= ? AND id < ? AND kind = ?"
                f" AND consult_id IS NOT NULL{done}",
                (lo, lo + _SCAN_SLICE * 20, OutboxKind.LEAVE.value),
            )
            found.update(str(r[0]) for r in rows)
        return found

    async def leave_closed_rooms(self, quiet_since: datetime, *, now: datetime) -> list[str]:
        # Read in slices, then queue in batches for the consults still quiet. Only the
        # retention run queues these leaves, one run at a time (its lock); were two instances
        # ever to overlap, a room would be left twice, which is harmless.
        asked = await self._leaves(sent=False)
        due = [
            (cid, room)
            for cid, room, _ in await self._quiet_consults(quiet_since)
            if room and cid not in asked
        ]
        queued: list[str] = []
        for start in range(0, len(due), _PURGE_BATCH):
            rooms = dict(due[start : start + _PURGE_BATCH])
            async with self._transaction() as db:
                still = await self._quiet_consults(quiet_since, list(rooms))
                await db.executemany(
                    "INSERT INTO outbox (kind, consult_id, room, payload, created_at_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [
                        (OutboxKind.LEAVE.value, cid, rooms[cid], "{}", _ms(now))
                        for cid, _, _ in still
                    ],
                )
            queued += [rooms[cid] for cid, _, _ in still]
        return queued

    async def purge_consults(self, before: datetime, *, now: datetime) -> Purged:
        left = await self._leaves(sent=True)
        found = await self._quiet_consults(before)
        ready = [cid for cid, room, _ in found if room is None or cid in left]
        entries = await self._outbox_of(set(ready)) if ready else {}
        consults = events = outbox = 0
        people: set[str] = set()
        # In small transactions, each checking its consults again.
        for start in range(0, len(ready), _PURGE_BATCH):
            async with self._transaction() as db:
                again = await self._quiet_consults(before, ready[start : start + _PURGE_BATCH])
                batch = [(cid, requester) for cid, _, requester in again]
                if batch:
                    own = [i for cid, _ in batch for i in entries.get(cid, [])]
                    forgot_events, forgot_outbox, parties = await self._purge_batch(db, batch, own)
                    consults += len(batch)
                    events += forgot_events
                    outbox += forgot_outbox
                    people.update(parties)
        async with self._transaction() as db:
            # A requester's Matrix id leaves the statistics' code table once they are a party
            # to no kept consult (every kept consult has its requester among its parties).
            gone = sorted(people)
            for start in range(0, len(gone), _SCAN_SLICE // 10):
                chunk = gone[start : start + _SCAN_SLICE // 10]
                await db.execute(
                    "DELETE FROM consult_stat_code WHERE kind = ?"
                    f" AND value IN ({', '.join('?' for _ in chunk)}) AND NOT EXISTS"
                    " (SELECT 1 FROM consult_party p WHERE p.user = consult_stat_code.value)",
                    ("requester", *chunk),
                )
            cutoff = _ms(before)
            # The newest outbox id stays: ids (and so Matrix transaction ids) are never reused.
            cursor = await db.execute(
                "DELETE FROM outbox WHERE consult_id IS NULL AND sent_at_ms IS NOT NULL"
                " AND sent_at_ms < ? AND id < (SELECT max(id) FROM outbox)",
                (cutoff,),
            )
            outbox += max(cursor.rowcount, 0)
            cursor = await db.execute(
                "DELETE FROM handled_event WHERE at_ms < ? AND event_id LIKE ?", (cutoff, "$%")
            )
            handled = max(cursor.rowcount, 0)
        return Purged(consults=consults, events=events, outbox=outbox, handled=handled)

    async def _outbox_of(self, consults: set[str]) -> dict[str, list[int]]:
        """The outbox ids of `consults`, read in slices by id."""
        top = await self._one("SELECT max(id) FROM outbox") or 0
        found: dict[str, list[int]] = {}
        for lo in range(0, int(top) + 1, _SCAN_SLICE * 20):
            rows = await self._rows(
                "SELECT id, consult_id FROM outbox WHERE id >= ? AND id < ?"
                " AND consult_id IS NOT NULL",
                (lo, lo + _SCAN_SLICE * 20),
            )
            for item, cid in rows:
                if cid in consults:
                    found.setdefault(str(cid), []).append(int(item))
        return found

    async def _purge_batch(
        self,
        db: Connection,
        batch: Sequence[tuple[str, str]],
        outbox_ids: Sequence[int],
    ) -> tuple[int, int, set[str]]:
        """Forget these consults' logs, parties, outbox entries (`outbox_ids`), rooms and
        requesters; their statistics rows keep each requester's unit in their place.
        Return how many events and outbox entries were forgotten, and the parties."""
        ids = [cid for cid, _ in batch]
        among = f"({', '.join('?' for _ in ids)})"
        units = await stats_sqlite.requester_units(db)
        frozen: dict[str, int] = {}
        for _, requester in batch:
            marker = frozen_unit(unit_of(requester, units))
            if marker not in frozen:
                frozen[marker] = await stats_sqlite.code_of(db, "requester", marker)
        async with db.execute(
            f"SELECT consult_id, code, requester FROM consult_stat WHERE consult_id IN {among}",
            ids,
        ) as cursor:
            stats = list(await cursor.fetchall())
        updates = []
        for cid, code, requester in stats:
            marker = frozen_unit(unit_of(str(requester), units))
            updates.append((marker, stats_sqlite.with_requester(int(code), frozen[marker]), cid))
        await db.executemany(
            "UPDATE consult_stat SET requester = ?, code = ? WHERE consult_id = ?", updates
        )
        await db.executemany(
            "UPDATE consult_stat_service SET code = ? WHERE consult_id = ?",
            [(code, cid) for _, code, cid in updates],
        )
        parties = []
        for cid in ids:  # by the parties' key (user, consult): the log names them
            state = fold(await self._events(db, ConsultId(cid)))
            parties += [(user, cid) for user in {state.requester, *state.paged_users}]
        await db.executemany("DELETE FROM consult_party WHERE user = ? AND consult_id = ?", parties)
        cursor = await db.execute(f"DELETE FROM consult_event WHERE consult_id IN {among}", ids)
        events = max(cursor.rowcount, 0)
        outbox = 0
        for start in range(0, len(outbox_ids), _PURGE_BATCH):
            chunk = outbox_ids[start : start + _PURGE_BATCH]
            cursor = await db.execute(
                f"DELETE FROM outbox WHERE id IN ({', '.join('?' for _ in chunk)})", chunk
            )
            outbox += max(cursor.rowcount, 0)
        await db.execute(
            f"UPDATE consult SET requester = NULL, room = NULL WHERE id IN {among}", ids
        )
        return events, outbox, {user for user, _ in parties}
