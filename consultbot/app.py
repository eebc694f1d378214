"""Wiring: the bot's parts started in order and stopped in reverse (AsyncExitStack)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

from consultbot.adapters.matrix import MatrixBot
from consultbot.adapters.scheduler import SchedulerTimers, SystemClock
from consultbot.adapters.sqlite import SqliteStore
from consultbot.config import Config, config_error
from consultbot.ports import Clock
from consultbot.service import ConsultService
from consultbot.tasks import Tasks

log = logging.getLogger(__name__)

EXAMPLE_PICKLE_KEY = "dev-only-pickle-key-change-me"
QUIET_LOGGERS = ("nio", "peewee", "apscheduler", "aiohttp", "asyncio")


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines without message bodies: libraries that could log content are kept quiet."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("nio.crypto").setLevel(logging.ERROR)


def check_secrets(config: Config) -> None:
    """Refuse an empty pickle key, and the example one anywhere but on this machine."""
    if not config.matrix.pickle_key:
        raise config_error(str(config.path), "empty_pickle_key", key="matrix.pickle_key")
    host = urlparse(config.matrix.homeserver).hostname or ""
    local = host in ("localhost", "127.0.0.1", "::1")
    if config.matrix.pickle_key == EXAMPLE_PICKLE_KEY and not local:
        raise config_error(str(config.path), "example_pickle_key", key="matrix.pickle_key")


@dataclass
class Bot:
    """A running bot's parts, for tests and the demo."""

    config: Config
    store: SqliteStore
    matrix: MatrixBot
    service: ConsultService
    tasks: list[asyncio.Task[None]]  # the long-running ones: outbox and sync loop


@asynccontextmanager
async def running_bot(config: Config, clock: Clock | None = None) -> AsyncIterator[Bot]:
    """Start the bot (login, timers rebuilt, outbox, sync loop); stop it on exit."""
    check_secrets(config)
    async with AsyncExitStack() as stack:
        store = await SqliteStore.open(config.bot.database)
        stack.push_async_callback(store.close)
        matrix = MatrixBot(config.matrix, store)
        stack.push_async_callback(matrix.close)
        await matrix.login()
        clock = clock or SystemClock()
        timers = SchedulerTimers(clock)
        tasks = Tasks()
        service = ConsultService(
            config=config,
            data=store,
            consults=store,
            messenger=matrix,
            timers=timers,
            clock=clock,
            tasks=tasks,
        )
        matrix.handler = service
        if config.bot.admin_room:
            service.admin_room = await matrix.join_room(config.bot.admin_room) or ""
        timers.start()
        stack.callback(timers.shutdown)
        # Stopped before the timers and the store: every background task ends first.
        stack.push_async_callback(tasks.stop)
        await service.start()
        running = [
            tasks.spawn(service.dispatcher.run(), name="outbox", context="the outbox loop"),
            tasks.spawn(matrix.run(), name="sync", context="the Matrix sync loop"),
        ]
        yield Bot(config=config, store=store, matrix=matrix, service=service, tasks=running)


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
