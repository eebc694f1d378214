"""Fixtures for tests against a real Synapse, started once for the whole test session.

pytest-asyncio 1.x runs each test in its own event loop unless told otherwise, and a
session-scoped async fixture lives in the session loop. Test modules here therefore need
``pytestmark = pytest.mark.asyncio(loop_scope="session")`` (plus ``pytest.mark.integration``).
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from consultbot.devkit.matrix_user import MatrixUser
from consultbot.devkit.synapse import EmbeddedHomeserver

from .harness import free_loopback_port

NewUser = Callable[[], Awaitable[tuple[str, str]]]
MatrixUserFactory = Callable[[str, str], Awaitable[MatrixUser]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def homeserver(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EmbeddedHomeserver]:
    """One Synapse for the session, on a free port, with rate limits relaxed."""
    async with EmbeddedHomeserver(
        data_dir=tmp_path_factory.mktemp("synapse"),
        port=free_loopback_port(),
        relax_rate_limits=True,
        fast_passwords=True,
    ) as server:
        yield server


@pytest.fixture
def new_user(homeserver: EmbeddedHomeserver) -> NewUser:
    """Factory: ``user_id, password = await new_user()`` registers a fresh, unique user."""

    async def register() -> tuple[str, str]:
        localpart = f"user-{uuid.uuid4().hex[:12]}"
        password = secrets.token_urlsafe(16)
        user_id = await homeserver.register_user(localpart, password)
        return user_id, password

    return register


@pytest_asyncio.fixture
async def matrix_user(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> AsyncIterator[MatrixUserFactory]:
    """Factory: ``await matrix_user(user_id, password)`` gives a logged-in, syncing E2EE client.

    The project's own client (consultbot/devkit/matrix_user.py), as the demo and the consult
    tests use it; each has its own crypto store under ``tmp_path``. All are closed at the end.
    """
    users: list[MatrixUser] = []

    async def start(user_id: str, password: str) -> MatrixUser:
        user = MatrixUser(homeserver.url, user_id, password, tmp_path / f"client-{len(users)}")
        users.append(user)
        await user.start()
        return user

    yield start
    for user in users:
        await user.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def federation(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[EmbeddedHomeserver, EmbeddedHomeserver]]:
    """Two Synapses that federate over loopback: the region's server and another one.

    Started only by tests that need people from a server the bot does not allow. Each is
    named after its federation port (``localhost:PORT``), so each reaches the other there.
    """
    servers: list[EmbeddedHomeserver] = []
    async with contextlib.AsyncExitStack() as stack:
        for name in ("region", "other"):
            port = free_loopback_port()
            server = EmbeddedHomeserver(
                data_dir=tmp_path_factory.mktemp(f"synapse-{name}"),
                port=free_loopback_port(),
                server_name=f"localhost:{port}",
                federation_port=port,
                relax_rate_limits=True,
                fast_passwords=True,
            )
            servers.append(await stack.enter_async_context(server))
        yield servers[0], servers[1]
