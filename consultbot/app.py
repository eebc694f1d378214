"""Wiring: the bot's parts started in order and stopped in reverse (AsyncExitStack).

With a PostgreSQL database the bot runs as one of (usually) two instances (docs/failover.md):
it logs in with its own device, then stands by until it holds the leader lease
(adapters/lease.py); only then does it start its timers, outbox and event handling. An instance
that loses the lease stops at once and exits with `EXIT_STEPPED_DOWN`, for systemd to start
it again as the standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import signal
import tomllib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from consultbot.adapters.matrix.client import MatrixBot
from consultbot.adapters.matrix.delayed import DelayedEvents
from consultbot.adapters.matrix.web_login import MatrixWebLogin
from consultbot.adapters.scheduler import SchedulerTimers, SystemClock
from consultbot.adapters.sql.lease import LeaderLease
from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.adapters.sql.stores import is_postgres_url, open_store
from consultbot.config import Config, config_error
from consultbot.domain.errors import NotLeader
from consultbot.engine.delivery.pool import RoomPool
from consultbot.engine.duty_keys import DutyKeys
from consultbot.engine.metrics import SYNC_MAX_AGE_SECONDS, Metrics, MetricsServer
from consultbot.engine.service import ConsultService
from consultbot.engine.web.changes import Changes
from consultbot.engine.web.context import Board
from consultbot.engine.web.feeds import FeedSources, feed_routes
from consultbot.engine.web.server import WebServer, make_app
from consultbot.ports import Clock
from consultbot.resources import example_config
from consultbot.tasks import Tasks

log = logging.getLogger(__name__)

QUIET_LOGGERS = ("nio", "peewee", "apscheduler", "aiohttp", "asyncio")
EXIT_STEPPED_DOWN = 75  # lost the leader lease: started again, the instance is the standby
RUNNING = "consultbot is running as %s"


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines without message bodies: libraries that could log content are kept quiet."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("nio.crypto").setLevel(logging.ERROR)


def _example_matrix_values() -> dict[str, str]:
    """The secrets written in the shipped example config, which must never guard real data."""
    with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
        matrix = tomllib.loads(example_config().read_text(encoding="utf-8")).get("matrix", {})
        return {k: v for k, v in matrix.items() if isinstance(v, str) and v}
    return {}


def check_secrets(config: Config) -> None:
    """Refuse an empty pickle key, and the example secrets anywhere but the local dev setup.

    The embedded dev homeserver listens on loopback only and names its server `localhost`; any
    other homeserver is a real one, where the example password or pickle key would guard real
    keys. A config file holding a secret that other users may read is logged as a warning.
    """
    if not config.matrix.pickle_key:
        raise config_error(str(config.path), "empty_pickle_key", key="matrix.pickle_key")
    local = is_local_development(config)
    example = _example_matrix_values()
    for key in ("pickle_key", "password"):
        value = getattr(config.matrix, key)
        if not local and value and value == example.get(key):
            raise config_error(str(config.path), "example_secret", key=f"matrix.{key}")
    if readable_secret(config):
        log.warning(
            "%s holds a secret and other users may read it: chmod 600 %s",
            config.path,
            config.path,
        )


def is_local_development(config: Config) -> bool:
    """The local development homeserver: the bot's server name is `localhost` AND the URL is a
    loopback address. A loopback URL alone is not enough: a tunnel or a reverse proxy on this
    machine may lead to a real homeserver."""
    if not config.matrix.user_id.endswith(":localhost"):
        return False
    host = urlparse(config.matrix.homeserver).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def readable_secret(config: Config) -> bool:
    """True when the config file itself holds a (non-example) Matrix password, access token or
    pickle key, or a password inside a PostgreSQL `bot.database` URL, and other users may read
    it. The example config's secrets are public: it ships with the code. A secret given in the
    environment is not in the file. (The pickle key comes from this file or the environment
    only; the crypto store it locks is made owner-only by the Matrix adapter at every start.)"""
    try:
        mode = config.path.stat().st_mode
        data = tomllib.loads(config.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return bool(mode & 0o077) and bool(_secrets_in(data) - set(_example_matrix_values().values()))


def _secrets_in(data: dict[str, Any]) -> set[str]:
    """The secret values written in a parsed config file."""
    matrix, bot = data.get("matrix", {}), data.get("bot", {})
    found = {matrix.get(key) for key in ("password", "access_token", "pickle_key")}
    database = bot.get("database")
    if isinstance(database, str) and is_postgres_url(database):
        found.add(urlparse(database).password)
    return {value for value in found if isinstance(value, str) and value}


@dataclass
class Bot:
    """A running bot's parts, for tests and the demo."""

    config: Config
    store: SqliteStore
    matrix: MatrixBot
    service: ConsultService
    tasks: list[asyncio.Task[None]]  # the long-running ones: outbox and sync loop
    metrics_server: MetricsServer | None = None  # when [metrics] listen is set
    lease: LeaderLease | None = None  # two instances on PostgreSQL: held while active
    web_server: WebServer | None = None  # when [web] listen is set


async def _step_down(lease: LeaderLease) -> None:
    """Ends when this instance loses the lease: everything stops at once (see `run`)."""
    await lease.lost.wait()


@asynccontextmanager
async def running_bot(
    config: Config, clock: Clock | None = None, *, sync_max_age: float = SYNC_MAX_AGE_SECONDS
) -> AsyncIterator[Bot]:
    """Start the bot (login, timers rebuilt, outbox, sync loop); stop it on exit.

    With `[metrics] listen`, /healthz and /metrics are served; /healthz turns 503 when the
    last successful sync is older than `sync_max_age` seconds, or when the homeserver has not
    answered any request with success for `bot.matrix_lost_seconds`. With a PostgreSQL database the
    bot first stands by (syncing for its device's keys only, /healthz role "standby") until it
    holds the leader lease; the lease is renewed while it runs and released when it stops.
    """
    check_secrets(config)
    async with AsyncExitStack() as stack:
        # PostgreSQL: this instance shares the work with others by the leader lease, which
        # also fences every write transaction of the store.
        database = config.bot.database
        lease = LeaderLease(str(database), "") if is_postgres_url(database) else None
        store = await open_store(database, fence=lease)
        stack.push_async_callback(store.close)
        tasks = Tasks()
        matrix = MatrixBot(
            config.matrix,
            store,
            allowed_servers=config.bot.allowed_servers,
            tasks=tasks,
            guard=lease.assert_leader if lease is not None else None,
            own_token=lease is not None,
        )
        stack.push_async_callback(matrix.close)
        await matrix.session.login()
        lost = float(config.bot.matrix_lost_seconds)
        # Contact with the homeserver, for /healthz and the lease: probed when nothing else
        # has been answered for a while (the long-poll alone is silent for up to 30 s).
        tasks.spawn(
            matrix.session.keep_in_touch(lost), name="matrix-probe", context="probing Matrix"
        )
        stack.push_async_callback(tasks.stop)  # the probe, should starting up fail from here
        clock = clock or SystemClock()
        timers = SchedulerTimers(clock)
        pool = RoomPool(
            store=store,
            messenger=matrix,
            clock=clock,
            size=config.bot.room_pool,
            share_window=timedelta(seconds=config.bot.request_limit_seconds),
        )
        syncing: list[asyncio.Task[None]] = []  # the sync loop /healthz watches
        started = asyncio.Event()
        metrics = Metrics()
        metrics.attach(sync=matrix)
        if lease is not None:
            stack.push_async_callback(lease.close)
            metrics.attach(leader=lambda: started.is_set() and lease.held)
        server = None
        if config.metrics.enabled:
            server = MetricsServer(
                metrics,
                lambda: not syncing or not syncing[-1].done(),
                max_age=sync_max_age,
                lost_seconds=lost,
            )
            await server.start(config.metrics.host, config.metrics.port)
            stack.push_async_callback(server.stop)
        changes = Changes()  # what the board shows changed (told by the service below)
        board = await _board(config, store, changes, clock, stack)
        if lease is not None:
            # Released last (pushed before the tasks are stopped): nothing is sent after it.
            stack.push_async_callback(lease.release)
            stack.push_async_callback(tasks.stop)  # the standby's sync, when stopped standing by
            await _stand_by(matrix, lease, tasks, syncing, lost)
        admin_room = ""
        if config.bot.admin_room:
            joined = await matrix.doors.join_room(config.bot.admin_room, makers=config.bot.admins)
            admin_room = joined or ""
        service = ConsultService(
            config=config,
            data=store,
            consults=store,
            messenger=matrix,
            timers=timers,
            clock=clock,
            tasks=tasks,
            pool=pool,
            metrics=metrics,
            admin_room=admin_room,
            notices=DelayedEvents(matrix.session),
            changes=changes,
        )
        timers.start()
        stack.callback(timers.shutdown)
        # Stopped before the timers and the store: every background task ends first.
        stack.push_async_callback(tasks.stop)
        await service.start()
        await service.admin_posts.start()
        service.retention.start()
        running = [
            tasks.spawn(service.dispatcher.run(), name="outbox", context="the outbox loop"),
            tasks.spawn(matrix.run(service.inbox), name="sync", context="the Matrix sync loop"),
        ]
        syncing.append(running[1])
        if lease is not None:
            running.append(tasks.spawn(_step_down(lease), name="step-down"))
        tasks.spawn(
            service.dead_man.run(),
            name="dead-man",
            context="the notices posted when the bot is gone",
        )
        tasks.spawn(
            pool.run(busy=service.dispatcher.busy),
            name="room-pool",
            context="refilling the room pool",
        )
        tasks.spawn(
            DutyKeys(datasets=store, messenger=matrix, clock=clock).run(
                busy=service.dispatcher.busy
            ),
            name="duty-keys",
            context="preparing pages to the people on duty",
        )
        started.set()
        yield Bot(
            config=config,
            store=store,
            matrix=matrix,
            service=service,
            tasks=running,
            metrics_server=server,
            lease=lease,
            web_server=board,
        )


async def _board(
    config: Config, store: SqliteStore, changes: Changes, clock: Clock, stack: AsyncExitStack
) -> WebServer | None:
    """The who's-on board and the calendar feeds on `[web] listen`, served by a standby too
    (docs/operations.md)."""
    if not config.web.enabled:
        return None
    login = MatrixWebLogin(config.matrix.homeserver)
    stack.push_async_callback(login.close)
    board = Board(config=config, data=store, login=login, changes=changes, clock=clock, stats=store)
    feeds = FeedSources(feeds=store, datasets=store, clock=clock, language=config.bot.language)
    server = WebServer(board, make_app(board, public=(feed_routes(feeds),)))
    await server.start(config.web.host, config.web.port)
    stack.push_async_callback(server.stop)
    return server


async def _stand_by(
    matrix: MatrixBot,
    lease: LeaderLease,
    tasks: Tasks,
    syncing: list[asyncio.Task[None]],
    lost: float,
) -> None:
    """Sync as the standby until this instance holds the lease (docs/failover.md).

    The lease is taken only right after the homeserver answered (`MatrixBot.reachable`): an
    instance cut off from Matrix, the one that just gave the lease up included, waits.
    """
    lease.holder = matrix.device_id
    standby = tasks.spawn(matrix.standby(lease.acquired), name="standby", context="standing by")
    syncing.append(standby)
    if not (await matrix.reachable() and await lease.try_acquire()):
        log.info(
            "consultbot is standing by as %s (device %s): another instance is active"
            " or the homeserver does not answer",
            matrix.user_id,
            matrix.device_id,
        )
        await lease.wait_acquired(reachable=matrix.reachable)
    # Renewed from now on: starting up (the drain, timers rebuilt) may take longer than a lease.
    # Given up when the homeserver has not answered for `lost` seconds (bot.matrix_lost_seconds).
    tasks.spawn(
        lease.keep(lambda: matrix.last_ok, lost), name="lease", context="renewing the leader lease"
    )
    # The standby's last syncs fetch every to-device message (room keys) of this device.
    await standby
    syncing.clear()  # until the bot's own sync loop runs


async def run(config: Config) -> int:
    """Run the bot until SIGINT or SIGTERM; a crashed part stops everything loudly.

    Returns the exit code: 0 after a signal, `EXIT_STEPPED_DOWN` when another instance took
    the leader lease (this one stopped at once, having sent nothing after it lapsed).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def serve() -> None:
        async with running_bot(config) as bot:
            # Everything made while starting (modules, templates, the data) lives as long as
            # the process: kept out of full collections, which hold the event loop while they
            # walk the heap.
            gc.freeze()
            log.info(RUNNING, config.matrix.user_id)
            done, _ = await asyncio.wait(bot.tasks, return_when=asyncio.FIRST_COMPLETED)
            if bot.lease is not None and bot.lease.lost.is_set():
                raise NotLeader(bot.lease.reason)
            for task in done:
                failure = task.exception()
                if failure is not None:
                    raise failure
                raise RuntimeError(f"{task.get_name()} ended")

    serving = asyncio.create_task(serve())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not serving.done():
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        log.info("consultbot stopped")
        return 0
    failure = serving.exception()
    if isinstance(failure, NotLeader):
        log.error(
            "consultbot stepped down: %s; exiting (code %d) to start again as the standby",
            failure,
            EXIT_STEPPED_DOWN,
        )
        return EXIT_STEPPED_DOWN
    if failure is not None:
        raise failure
    return 0
