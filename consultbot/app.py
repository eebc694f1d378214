"""Wiring: the bot's parts started in order and stopped in reverse (AsyncExitStack)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import tomllib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

from consultbot.adapters.matrix import MatrixBot
from consultbot.adapters.scheduler import SchedulerTimers, SystemClock
from consultbot.adapters.sqlite import SqliteStore
from consultbot.adapters.stores import open_store
from consultbot.config import Config, config_error
from consultbot.metrics import SYNC_MAX_AGE_SECONDS, MetricsServer
from consultbot.pool import RoomPool
from consultbot.ports import Clock
from consultbot.resources import example_config
from consultbot.service import ConsultService
from consultbot.tasks import Tasks

log = logging.getLogger(__name__)

QUIET_LOGGERS = ("nio", "peewee", "apscheduler", "aiohttp", "asyncio")


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

    The embedded dev homeserver listens on loopback only; any other homeserver is a real one,
    where the example password or pickle key would guard real keys. A config file holding a
    secret that other users may read is logged as a warning.
    """
    if not config.matrix.pickle_key:
        raise config_error(str(config.path), "empty_pickle_key", key="matrix.pickle_key")
    host = urlparse(config.matrix.homeserver).hostname or ""
    local = host in ("localhost", "127.0.0.1", "::1")
    example = _example_matrix_values()
    for key in ("pickle_key", "password"):
        value = getattr(config.matrix, key)
        if not local and value and value == example.get(key):
            raise config_error(str(config.path), "example_secret", key=f"matrix.{key}")
    if readable_secret(config):
        log.warning(
            "%s holds a Matrix secret and other users may read it: chmod 600 %s",
            config.path,
            config.path,
        )


def readable_secret(config: Config) -> bool:
    """True when the config file holds a (non-example) password or access token and other
    users may read it. The example config's secrets are public: it ships with the code."""
    secrets_in_file = {config.matrix.password, config.matrix.access_token} - {""}
    if not secrets_in_file - set(_example_matrix_values().values()):
        return False
    try:
        mode = config.path.stat().st_mode
        text = config.path.read_text(encoding="utf-8")
    except OSError:
        return False
    return bool(mode & 0o077) and bool(
        re.search(r"^\s*(password|access_token)\s*=\s*\S", text, re.M)
    )


@dataclass
class Bot:
    """A running bot's parts, for tests and the demo."""

    config: Config
    store: SqliteStore
    matrix: MatrixBot
    service: ConsultService
    tasks: list[asyncio.Task[None]]  # the long-running ones: outbox and sync loop
    metrics_server: MetricsServer | None = None  # when [metrics] listen is set


@asynccontextmanager
async def running_bot(
    config: Config, clock: Clock | None = None, *, sync_max_age: float = SYNC_MAX_AGE_SECONDS
) -> AsyncIterator[Bot]:
    """Start the bot (login, timers rebuilt, outbox, sync loop); stop it on exit.

    With `[metrics] listen`, /healthz and /metrics are served; /healthz turns 503 when the
    last successful sync is older than `sync_max_age` seconds.
    """
    check_secrets(config)
    async with AsyncExitStack() as stack:
        store = await open_store(config.bot.database)
        stack.push_async_callback(store.close)
        tasks = Tasks()
        matrix = MatrixBot(
            config.matrix, store, allowed_servers=config.bot.allowed_servers, tasks=tasks
        )
        stack.push_async_callback(matrix.close)
        await matrix.login()
        clock = clock or SystemClock()
        timers = SchedulerTimers(clock)
        pool = RoomPool(store=store, messenger=matrix, clock=clock, size=config.bot.room_pool)
        service = ConsultService(
            config=config,
            data=store,
            consults=store,
            messenger=matrix,
            timers=timers,
            clock=clock,
            tasks=tasks,
            pool=pool,
        )
        pool.busy = service.dispatcher.busy  # the pool is refilled when nothing is being sent
        matrix.handler = service
        if config.bot.admin_room:
            service.admin_room = await matrix.join_room(config.bot.admin_room) or ""
        timers.start()
        stack.callback(timers.shutdown)
        # Stopped before the timers and the store: every background task ends first.
        stack.push_async_callback(tasks.stop)
        await service.start()
        await service.admin_posts.start()
        service.retention.start()
        running = [
            tasks.spawn(service.dispatcher.run(), name="outbox", context="the outbox loop"),
            tasks.spawn(matrix.run(), name="sync", context="the Matrix sync loop"),
        ]
        tasks.spawn(pool.run(), name="room-pool", context="refilling the room pool")
        service.metrics.attach(sync=matrix)
        server = None
        if config.metrics.enabled:
            sync_task = running[1]
            server = MetricsServer(
                service.metrics, lambda: not sync_task.done(), max_age=sync_max_age
            )
            await server.start(config.metrics.host, config.metrics.port)
            stack.push_async_callback(server.stop)
        yield Bot(
            config=config,
            store=store,
            matrix=matrix,
            service=service,
            tasks=running,
            metrics_server=server,
        )


async def run(config: Config) -> None:
    """Run the bot until SIGINT or SIGTERM; a crashed part stops everything loudly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with running_bot(config) as bot:
        log.info("consultbot is running as %s", config.matrix.user_id)
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *bot.tasks], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in done:
            failure = None if task is stopper else task.exception()
            if failure is not None:
                raise failure
    log.info("consultbot stopped")
