"""Numbered, append-only schema steps. Never change what a shipped step makes: add a new one.

The steps are written once for both databases: column types other than `TEXT` and `BIGINT`
(which SQLite reads as INTEGER) are the dialect's words in braces (`{key}`, `{bytes}`:
adapters/sql/dialect.py), filled in by `statements`. SQLite keeps the schema version in its
`user_version`, PostgreSQL in a table (adapters/sql/postgres.py); each step runs in its own
transaction together with the version bump. A database whose version is newer than this code
knows is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from consultbot.adapters.sql.dialect import Connection, one, transaction
from consultbot.domain.errors import StoreError

# Marks a SQLite file as consultbot's ("CBOT").
APPLICATION_ID = 0x43424F54

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: versioned data sets — catalogue, roster, staff, directory.
    (
        """CREATE TABLE dataset_version (
            dataset TEXT NOT NULL,
            version BIGINT NOT NULL,
            imported_at BIGINT NOT NULL,
            source TEXT NOT NULL,
            summary TEXT NOT NULL,
            rolled_back_at BIGINT,
            PRIMARY KEY (dataset, version)
        )""",
        """CREATE TABLE service (
            version BIGINT NOT NULL,
            position BIGINT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            tracks TEXT NOT NULL,
            aliases TEXT NOT NULL,
            switchboard TEXT NOT NULL,
            municipality TEXT NOT NULL,
            PRIMARY KEY (version, id)
        )""",
        """CREATE TABLE shift (
            id {key},
            service_id TEXT NOT NULL,
            level BIGINT NOT NULL,
            start_ts BIGINT NOT NULL,
            end_ts BIGINT NOT NULL,
            matrix_id TEXT NOT NULL,
            name TEXT NOT NULL,
            phone TEXT NOT NULL,
            version BIGINT NOT NULL,
            removed_in BIGINT
        )""",
        "CREATE INDEX shift_live ON shift (service_id, start_ts) WHERE removed_in IS NULL",
        "CREATE INDEX shift_version ON shift (version)",
        "CREATE INDEX shift_removed ON shift (removed_in) WHERE removed_in IS NOT NULL",
        """CREATE TABLE staff (
            version BIGINT NOT NULL,
            matrix_id TEXT NOT NULL,
            name TEXT NOT NULL,
            unit TEXT NOT NULL,
            title TEXT NOT NULL,
            phone TEXT NOT NULL,
            PRIMARY KEY (version, matrix_id)
        )""",
        """CREATE TABLE directory_entry (
            version BIGINT NOT NULL,
            position BIGINT NOT NULL,
            unit TEXT NOT NULL,
            name TEXT NOT NULL,
            phone TEXT NOT NULL,
            municipality TEXT NOT NULL,
            notes TEXT NOT NULL,
            PRIMARY KEY (version, position)
        )""",
    ),
    # 2: consults — the event log, derived consult rows, the outbox, handled Matrix events.
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE consult (
            id TEXT PRIMARY KEY,
            number BIGINT NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            length BIGINT NOT NULL DEFAULT 0,
            requester TEXT,
            service TEXT,
            track TEXT,
            state TEXT,
            room TEXT,
            requested_at_ms BIGINT,
            deadline_ms BIGINT
        )""",
        "CREATE INDEX consult_room ON consult (room) WHERE room IS NOT NULL",
        "CREATE INDEX consult_requested ON consult (requested_at_ms)",
        "CREATE INDEX consult_deadline ON consult (deadline_ms) WHERE deadline_ms IS NOT NULL",
        """CREATE TABLE consult_event (
            consult_id TEXT NOT NULL REFERENCES consult (id),
            seq BIGINT NOT NULL,
            at_ms BIGINT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (consult_id, seq)
        )""",
        """CREATE TABLE consult_party (
            consult_id TEXT NOT NULL REFERENCES consult (id),
            "user" TEXT NOT NULL,
            PRIMARY KEY ("user", consult_id)
        )""",
        """CREATE TABLE outbox (
            id {key},
            kind TEXT NOT NULL,
            consult_id TEXT REFERENCES consult (id),
            room TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at_ms BIGINT NOT NULL,
            sent_at_ms BIGINT
        )""",
        "CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at_ms IS NULL",
        "CREATE TABLE handled_event (event_id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL)",
    ),
    # 3: follow-up statistics — one summary row per consult, written in the same transaction
    # as its events (consultbot/adapters/sql/stats.py); `code` packs what `stats` counts so
    # a year is one narrow index scan. Existing consults are summarised on the next open.
    (
        """CREATE TABLE consult_stat (
            consult_id TEXT PRIMARY KEY REFERENCES consult (id),
            length BIGINT NOT NULL,
            requested_ms BIGINT NOT NULL,
            counted BIGINT NOT NULL,
            track TEXT NOT NULL,
            services TEXT NOT NULL,
            requester TEXT NOT NULL,
            outcome TEXT,
            first_page_ms BIGINT,
            acked_ms BIGINT,
            closed_ms BIGINT,
            levels TEXT NOT NULL,
            escalated BIGINT NOT NULL,
            unanswered BIGINT NOT NULL,
            phone_contacts BIGINT NOT NULL,
            ack_ms BIGINT,
            code BIGINT NOT NULL
        )""",
        "CREATE INDEX consult_stat_period ON consult_stat (requested_ms, code, ack_ms)",
        """CREATE TABLE consult_stat_code (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            code BIGINT NOT NULL,
            PRIMARY KEY (kind, value)
        )""",
        """CREATE TABLE consult_stat_service (
            consult_id TEXT NOT NULL REFERENCES consult (id),
            position BIGINT NOT NULL,
            service BIGINT NOT NULL,
            requested_ms BIGINT NOT NULL,
            code BIGINT NOT NULL,
            ack_ms BIGINT,
            PRIMARY KEY (consult_id, position)
        )""",
        "CREATE INDEX consult_stat_service_period ON consult_stat_service (requested_ms)",
        "INSERT INTO meta VALUES ('consult_stat_backfill', 'pending')",
    ),
    # 4: files admins sent by chat, waiting for !aktivera (one per admin; they expire after
    # 24 h), and the admin actions and refusals, with who and when, for the data-protection
    # officer.
    (
        """CREATE TABLE pending_upload (
            admin TEXT PRIMARY KEY,
            room TEXT NOT NULL,
            dataset TEXT NOT NULL,
            name TEXT NOT NULL,
            data {bytes} NOT NULL,
            uploaded_at_ms BIGINT NOT NULL
        )""",
        """CREATE TABLE admin_action (
            seq {key_never_reused},
            at_ms BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            allowed BIGINT NOT NULL,
            detail TEXT NOT NULL
        )""",
    ),
    # 5: handovers — a layer over the roster: who handed which duty to whom, when, for how long.
    (
        """CREATE TABLE handover (
            id {key},
            service_id TEXT NOT NULL,
            level BIGINT NOT NULL,
            giver TEXT NOT NULL,
            taker TEXT NOT NULL,
            taker_name TEXT NOT NULL,
            taker_phone TEXT NOT NULL,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            offered_by TEXT NOT NULL,
            offered_at_ms BIGINT NOT NULL,
            answer_by_ms BIGINT,
            state TEXT NOT NULL,
            decided_at_ms BIGINT,
            room TEXT NOT NULL,
            language TEXT NOT NULL,
            source_event TEXT NOT NULL
        )""",
        "CREATE INDEX handover_state ON handover (state)",
    ),
    # 6: duty reminders sent — to whom, for which duty, and what they said (metadata only).
    (
        """CREATE TABLE duty_reminder (
            "user" TEXT NOT NULL,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            told TEXT NOT NULL,
            sent_at_ms BIGINT NOT NULL,
            PRIMARY KEY ("user", start_ms)
        )""",
        "CREATE INDEX duty_reminder_end ON duty_reminder (end_ms)",
    ),
    # 7: the warm pool of empty, encrypted consult rooms made in advance (issue 12).
    (
        """CREATE TABLE room_pool (
            room TEXT PRIMARY KEY,
            created_at_ms BIGINT NOT NULL,
            policy TEXT NOT NULL
        )""",
        "CREATE INDEX room_pool_age ON room_pool (policy, created_at_ms)",
    ),
    # 8: the leader lease — which instance may write when several run on one PostgreSQL
    # database (issue 13; its semantics live with the lease code).
    (
        """CREATE TABLE leader_lease (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            epoch BIGINT NOT NULL,
            expires_at_ms BIGINT NOT NULL
        )""",
    ),
    # 9: the outcomes each contact path offers, per catalogue version (issue 23): the set in
    # poll order as a JSON list of outcome keys. A version without rows (imported before this
    # step) offers the default sets (domain/duty/outcomes.py).
    (
        """CREATE TABLE catalogue_outcome (
            version BIGINT NOT NULL,
            track TEXT NOT NULL,
            outcomes TEXT NOT NULL,
            PRIMARY KEY (version, track)
        )""",
    ),
    # 10: the requester's unit and kind, frozen at request time (issue 23). The consults
    # summarised before get them once, from the staff list and catalogue active when the store
    # is next opened (adapters/sql/stats.py `freeze`); `code` packs the unit and kind in place
    # of the requester.
    (
        "ALTER TABLE consult_stat ADD COLUMN unit TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE consult_stat ADD COLUMN requester_kind TEXT NOT NULL DEFAULT ''",
        "INSERT INTO meta VALUES ('consult_stat_freeze', 'pending')",
    ),
    # 11: repeated pages (issue 24) — whether a consult's page was repeated, for `stats`
    # (acknowledged after a repeat). A plain column beside `code`, read in the same index scan;
    # no consult was repeated before this version, so 0 is right for the existing ones.
    (
        "ALTER TABLE consult_stat ADD COLUMN repeated BIGINT NOT NULL DEFAULT 0",
        "DROP INDEX consult_stat_period",
        "CREATE INDEX consult_stat_period ON consult_stat (requested_ms, code, ack_ms, repeated)",
    ),
    # 12: a conference's further services carry `repeated` too, so that the period scan reads
    # them without a join to `consult_stat` (which cost a year's `stats` a fifth of a second).
    (
        "ALTER TABLE consult_stat_service ADD COLUMN repeated BIGINT NOT NULL DEFAULT 0",
        """UPDATE consult_stat_service SET repeated = coalesce((SELECT s.repeated
            FROM consult_stat s WHERE s.consult_id = consult_stat_service.consult_id), 0)""",
    ),
    # 13: how each service wants to be reached on each path (issue 22, the plan's matrix), per
    # catalogue version: the service's routines as a JSON list (domain/duty/routines.py). A
    # version without rows (imported before this step) has the default routines.
    (
        """CREATE TABLE catalogue_routine (
            version BIGINT NOT NULL,
            service TEXT NOT NULL,
            routines TEXT NOT NULL,
            PRIMARY KEY (version, service)
        )""",
    ),
    # 14: calendar feeds (issue 22): only the SHA-256 of a feed's token is kept, looked up on
    # every request (unique, so indexed); a revoked feed keeps its row (who and when), and
    # its number is never given again.
    (
        """CREATE TABLE feed (
            id {key_never_reused},
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at_ms BIGINT NOT NULL,
            created_by TEXT NOT NULL,
            revoked_at_ms BIGINT,
            revoked_by TEXT
        )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def refuse_newer(name: str, version: int) -> None:
    """A database whose schema is newer than this code knows is refused (both stores)."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            name,
            f"schema version {version} is newer than this consultbot knows ({SCHEMA_VERSION});"
            " upgrade consultbot",
        )


def statements(number: int, words: Mapping[str, str]) -> list[str]:
    """The statements of step `number` (from 1) with the dialect's `words` filled in."""
    return [statement.format_map(words) for statement in MIGRATIONS[number - 1]]


async def migrate(db: Connection, path: str) -> int:
    """Bring the schema up to date; return the version it was at. Refuse foreign/newer files."""
    [app_id] = await one(db, "PRAGMA application_id")
    [current] = await one(db, "PRAGMA user_version")
    if current == 0 and app_id == 0:
        if (await one(db, "SELECT count(*) FROM sqlite_master"))[0]:
            raise StoreError(path, "is a SQLite database but not consultbot's")
    elif app_id != APPLICATION_ID:
        raise StoreError(path, "is a SQLite database but not consultbot's")
    refuse_newer(path, current)
    for number in range(current + 1, SCHEMA_VERSION + 1):
        async with transaction(db):
            for statement in statements(number, db.words):
                await db.execute(statement)
            await db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            await db.execute(f"PRAGMA user_version = {number}")
    return int(current)
