"""Drive the Element-stack test client (``jsclient/client.mjs``) from async tests.

The client is matrix-js-sdk with its Rust crypto (matrix-sdk-crypto as WebAssembly), the
stack Element Web uses, so tests can check that what the bot sends is readable there. It
runs as ``node client.mjs`` and speaks one JSON object per line: commands on stdin, events
on stdout (see the comment at the top of ``client.mjs``). Its logs go to a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, cast

JSCLIENT_DIR = Path(__file__).resolve().parent / "jsclient"
CLIENT_SCRIPT = JSCLIENT_DIR / "client.mjs"

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

_READY_TIMEOUT = 60.0  # WebAssembly start-up, login, first sync and key upload
_STOP_TIMEOUT = 10.0
_LINE_LIMIT = 1 << 20
_LOG_TAIL_CHARS = 4000


class JsClientError(RuntimeError):
    """The JS client reported an error, exited, or did not answer in time."""


def node_available() -> bool:
    """Whether ``node`` and ``npm`` are on PATH."""
    return shutil.which("node") is not None and shutil.which("npm") is not None


def node_modules_current(folder: Path = JSCLIENT_DIR) -> bool:
    """Whether ``folder/node_modules`` was installed from the current lock file."""
    installed = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    return installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime


async def install_node_modules(folder: Path = JSCLIENT_DIR) -> None:
    """``npm ci`` in ``folder`` (``jsclient/``, or ``axe/`` for the browser tests) unless its
    node_modules matches the lock file already."""
    if node_modules_current(folder):
        return
    process = await asyncio.create_subprocess_exec(
        "npm",
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        cwd=folder,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise JsClientError(
            f"npm ci in {folder} failed (exit {process.returncode}):\n"
            + output.decode(errors="replace")
        )


class JsClient:
    """One running ``client.mjs``: a logged-in matrix-js-sdk client with Rust crypto.

    ``client = await JsClient.start(url, user_id, password, log_path=...)`` returns once the
    client has synced and its device keys are on the server (``client.device_id`` is set).
    Unsolicited events (invites, messages, reactions) are buffered until a
    :meth:`wait_for` asks for them.
    """

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self._process = process
        self._log_path = log_path
        self._buffer: list[Event] = []
        self._ids = itertools.count(1)
        self.user_id = ""
        self.device_id = ""

    @classmethod
    async def start(
        cls,
        homeserver_url: str,
        user_id: str,
        password: str,
        *,
        log_path: Path,
        ready_timeout: float = _READY_TIMEOUT,
    ) -> Self:
        env = {
            **os.environ,
            "HOMESERVER_URL": homeserver_url,
            "USER_ID": user_id,
            "PASSWORD": password,
        }
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                "node",
                str(CLIENT_SCRIPT),
                cwd=JSCLIENT_DIR,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=_LINE_LIMIT,
            )
        client = cls(process, log_path)
        try:
            ready = await client.wait_for(lambda e: e["type"] == "ready", timeout=ready_timeout)
        except BaseException:
            await client.close()
            raise
        client.user_id = ready["user_id"]
        client.device_id = ready["device_id"]
        return client

    # -- protocol -----------------------------------------------------------------------

    async def send(self, command: Event) -> None:
        """Write one command line (no waiting for its answer)."""
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command).encode() + b"\n")
        await stdin.drain()

    # A timeout parameter rather than the caller's asyncio.timeout (ASYNC109): on expiry the
    # error lists the unclaimed events and the client's log, which a bare timeout cannot.
    async def request(self, command: Event, *, timeout: float = 30.0) -> Event:  # noqa: ASYNC109
        """Send a command and return its answer; an ``error`` answer raises JsClientError."""
        command_id = next(self._ids)
        await self.send({**command, "id": command_id})
        answer = await self.wait_for(lambda e: e.get("id") == command_id, timeout=timeout)
        if answer["type"] == "error":
            raise JsClientError(f"{command['cmd']} failed: {answer['message']}")
        return answer

    async def wait_for(self, predicate: Predicate, *, timeout: float = 30.0) -> Event:  # noqa: ASYNC109
        """Return the first event (buffered or new) for which ``predicate`` holds.

        Other events stay buffered for later calls. An ``error`` event nobody asked for,
        the client exiting, or the timeout raise :class:`JsClientError`.
        """
        for index, event in enumerate(self._buffer):
            if predicate(event):
                return self._buffer.pop(index)
        stdout = self._process.stdout
        assert stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await stdout.readline()
                    if not line:
                        await self._process.wait()
                        raise JsClientError(
                            f"JS client exited with code {self._process.returncode}"
                            + self._log_tail()
                        )
                    event = cast(Event, json.loads(line))
                    if predicate(event):
                        return event
                    if event.get("type") == "error" and "id" not in event:
                        message = f"JS client error: {event['message']}"
                        raise JsClientError(message + self._log_tail())
                    self._buffer.append(event)
        except TimeoutError:
            raise JsClientError(
                f"no matching event from the JS client within {timeout:g} s; "
                f"unclaimed events: {self._buffer}" + self._log_tail()
            ) from None

    # -- commands -----------------------------------------------------------------------

    async def join(self, room_id: str) -> Event:
        """Join and return once sync shows the room joined (answer has ``encrypted``)."""
        return await self.request({"cmd": "join", "room_id": room_id})

    async def send_text(self, room_id: str, body: str) -> str:
        answer = await self.request({"cmd": "send", "room_id": room_id, "body": body})
        return str(answer["event_id"])

    async def react(self, room_id: str, event_id: str, key: str = "✅") -> str:
        answer = await self.request(
            {"cmd": "react", "room_id": room_id, "event_id": event_id, "key": key}
        )
        return str(answer["event_id"])

    async def create_dm(self, user_id: str) -> str:
        answer = await self.request({"cmd": "create_dm", "user_id": user_id})
        return str(answer["room_id"])

    async def close(self) -> None:
        """Ask the client to stop; kill it if it has not exited within 10 s."""
        process = self._process
        if process.returncode is None:
            with contextlib.suppress(ConnectionError):
                await self.send({"cmd": "stop"})
            try:
                async with asyncio.timeout(_STOP_TIMEOUT):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        # Close both pipes, so that asyncio closes the subprocess transport now rather than
        # warning about it (ResourceWarning, an error under this suite's filterwarnings).
        if process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(ConnectionError):
                await process.stdin.wait_closed()
        if process.stdout is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STOP_TIMEOUT):
                    await process.stdout.read()

    def _log_tail(self) -> str:
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return f"\n--- end of {self._log_path}:\n{text[-_LOG_TAIL_CHARS:]}" if text else ""
