"""Fixtures for tests against a real Synapse, started once for the whole test session.

pytest-asyncio 1.x runs each test in its own event loop unless told otherwise, and a
session-scoped async fixture lives in the session loop. Test modules here therefore need
``pytestmark = pytest.mark.asyncio(loop_scope="session")`` (plus ``pytest.mark.integration``).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from nio import AsyncClient, AsyncClientConfig, LoginResponse

from consultbot.adapters.synapse import EmbeddedHomeserver

NewUser = Callable[[], Awaitable[tuple[str, str]]]
NioClientFactory = Callable[[str, str], Awaitable[AsyncClient]]


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def homeserver(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EmbeddedHomeserver]:
    """One Synapse for the session, on a free port, with rate limits relaxed."""
    async with EmbeddedHomeserver(
        data_dir=tmp_path_factory.mktemp("synapse"),
        port=_free_loopback_port(),
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
async def nio_client(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> AsyncIterator[NioClientFactory]:
    """Factory: ``await nio_client(user_id, password)`` gives a logged-in E2EE nio client.

    Each client gets its own crypto store under ``tmp_path`` and has uploaded its device
    keys; all are closed when the test ends.
    """
    clients: list[AsyncClient] = []

    async def login(user_id: str, password: str) -> AsyncClient:
        store = tmp_path / f"nio-store-{len(clients)}"
        store.mkdir()
        client = AsyncClient(
            homeserver.url,
            user_id,
            store_path=str(store),
            config=AsyncClientConfig(
                encryption_enabled=True,
                store_sync_tokens=True,
                pickle_key=secrets.token_hex(32),
            ),
        )
        clients.append(client)
        response = await client.login(password, device_name="integration test")
        assert isinstance(response, LoginResponse), response
        if client.should_upload_keys:
            await client.keys_upload()
        return client

    yield login
    for client in clients:
        await client.close()


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
            port = _free_loopback_port()
            server = EmbeddedHomeserver(
                data_dir=tmp_path_factory.mktemp(f"synapse-{name}"),
                port=_free_loopback_port(),
                server_name=f"localhost:{port}",
                federation_port=port,
                relax_rate_limits=True,
                fast_passwords=True,
            )
            servers.append(await stack.enter_async_context(server))
        yield servers[0], servers[1]
