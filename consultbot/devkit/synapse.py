"""An embedded Synapse homeserver for development, demos and the integration tests.

Synapse (the ``matrix-synapse`` package) runs as a child process on loopback only, with
SQLite and all of its state in one directory. The class only manages that process and the
few admin calls a local set-up needs (shared-secret registration, login, rate-limit
exemption); it is not meant for production deployments.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import hmac
import logging
import signal
import socket
import time
from collections import deque
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import quote

import aiohttp

from consultbot.devkit.synapse_config import (
    SYNAPSE,
    HomeserverError,
    SynapseSettings,
    generate_config,
    registration_shared_secret,
    write_config,
)

logger = logging.getLogger(__name__)

LOG_FILE = "homeserver.log"
PID_FILE = "synapse.pid"

_STOP_GRACE_SECONDS = 10.0
_POLL_INTERVAL_SECONDS = 0.1
_LOG_TAIL_LINES = 40
_START_MARKER = "--- consultbot: starting Synapse"


async def answers(session: aiohttp.ClientSession, url: str) -> bool:
    """True when a Matrix homeserver answers at `url`."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with session.get(f"{url}/_matrix/client/versions") as response:
            return response.status == 200
    return False


class SynapseMissing(Exception):
    """matrix-synapse is not installed: a plain `pip install .` has no `homeserver` extra."""


def require_synapse() -> None:
    """Raise SynapseMissing unless Synapse can be imported (it runs as `python -m`)."""
    try:
        import synapse  # noqa: F401
    except ImportError:
        raise SynapseMissing from None


class EmbeddedHomeserver:
    """A Synapse child process bound to 127.0.0.1, with SQLite state in ``data_dir``.

    Use as ``async with EmbeddedHomeserver(data_dir=...) as hs:`` or call
    :meth:`start` and :meth:`stop` yourself. ``homeserver.yaml`` is generated on the first
    start (keeping its secrets and signing key from then on); the settings this class
    manages (listener, paths, logging, registration, rate limits) are rewritten on every
    start, other settings in the file are left as they are.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int = 8008,
        server_name: str = "localhost",
        relax_rate_limits: bool = False,
        start_timeout: float = 60.0,
        fast_passwords: bool = False,
        federation_port: int | None = None,
        delayed_events: bool = True,
    ) -> None:
        # Cheap password hashing (fast_passwords) is only for a throw-away dev/test server with
        # many users; a federation port is only for tests of federation on loopback.
        # `delayed_events=False` makes a homeserver without MSC4140, as most production
        # homeservers are today (for `doctor` and the bot's fallback).
        self._settings = SynapseSettings(
            data_dir=Path(data_dir).resolve(),
            port=port,
            server_name=server_name,
            relax_rate_limits=relax_rate_limits,
            fast_passwords=fast_passwords,
            federation_port=federation_port,
            delayed_events=delayed_events,
        )
        self._start_timeout = start_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._log_handle: IO[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"  # the client-server API
        self.server_name = server_name  # the part after the colon in user ids
        self.data_dir = self._settings.data_dir  # config, SQLite database, media and logs
        self.config_path = self._settings.config_path  # the generated homeserver.yaml
        self.log_path = self.data_dir / LOG_FILE  # Synapse's stdout, stderr, WARNING-level log

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Write the config if needed, start Synapse and wait until it answers.

        Raises :class:`HomeserverError` if the port is taken, or if Synapse exits or
        does not answer within the start timeout; the message includes the log's tail.
        """
        if self.running:
            return
        require_synapse()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._check_port_free()
        if not self.config_path.exists():
            await generate_config(self._settings)
        write_config(self._settings)

        log_handle = self.log_path.open("ab")
        log_handle.write(f"{_START_MARKER} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log_handle.flush()
        self._log_handle = log_handle
        started = time.monotonic()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *SYNAPSE,
                "-c",
                str(self.config_path),
                cwd=self.data_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_handle,
                stderr=log_handle,
                # Own session: a Ctrl-C in the terminal reaches only the parent, which
                # then stops Synapse in order (after the bot has finished).
                start_new_session=True,
            )
            (self.data_dir / PID_FILE).write_text(f"{self._process.pid}\n")
            await self._wait_until_ready()
        except BaseException:
            await self.stop()
            raise
        logger.info(
            "Synapse for %s is up at %s after %.1f s",
            self.server_name,
            self.url,
            time.monotonic() - started,
        )

    def freeze(self) -> None:
        """Suspend Synapse (SIGSTOP): its port stays open but nothing is answered, as with a
        homeserver that hangs rather than refuses. For fault tests; `thaw` resumes it."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen Synapse (SIGCONT)."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        """Stop Synapse: SIGTERM, then SIGKILL after 10 s. Safe to call more than once."""
        process, self._process = self._process, None
        try:
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)  # a frozen one could not stop
                    process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), _STOP_GRACE_SECONDS)
                except TimeoutError:
                    logger.warning(
                        "Synapse ignored SIGTERM for %.0f s; killing it", _STOP_GRACE_SECONDS
                    )
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
            elif process is not None:
                await process.wait()
        finally:
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None
            (self.data_dir / PID_FILE).unlink(missing_ok=True)

    async def restart(self) -> None:
        """Stop and start again on the same data (users, rooms and keys survive)."""
        await self.stop()
        await self.start()

    def user_id(self, localpart_or_user_id: str) -> str:
        """Full user id for a localpart (a full ``@user:server`` id is returned as is)."""
        if localpart_or_user_id.startswith("@"):
            return localpart_or_user_id
        return f"@{localpart_or_user_id}:{self.server_name}"

    async def register_user(
        self, localpart: str, password: str, *, admin: bool = False, displayname: str | None = None
    ) -> str:
        """Register a user with the shared-secret admin API and return the user id.

        Idempotent: an existing user is left untouched (password, admin flag and display
        name are *not* updated) and its id is returned.
        """
        secret = registration_shared_secret(self.config_path)
        path = "/_synapse/admin/v1/register"
        status, body = await self._request("GET", path)
        if status != 200 or "nonce" not in body:
            raise HomeserverError(f"could not get a registration nonce: HTTP {status} {body}")
        nonce = str(body["nonce"])
        # The MAC format from Synapse's admin API docs: NUL-separated fields, HMAC-SHA1.
        message = b"\x00".join(
            part.encode() for part in (nonce, localpart, password, "admin" if admin else "notadmin")
        )
        mac = hmac.new(secret.encode(), message, hashlib.sha1)
        request: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            request["displayname"] = displayname
        status, body = await self._request("POST", path, json=request)
        if status == 200:
            return str(body["user_id"])
        if body.get("errcode") == "M_USER_IN_USE":
            return self.user_id(localpart)
        raise HomeserverError(f"registering {localpart!r} failed: HTTP {status} {body}")

    async def login(self, user_id_or_localpart: str, password: str) -> str:
        """Log in with a password and return a new access token (a new device)."""
        status, body = await self._request(
            "POST",
            "/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user_id_or_localpart},
                "password": password,
                "initial_device_display_name": "consultbot admin",
            },
        )
        if status != 200 or "access_token" not in body:
            raise HomeserverError(
                f"login as {user_id_or_localpart!r} failed: HTTP {status} {body.get('errcode')}"
            )
        return str(body["access_token"])

    async def exempt_from_rate_limits(self, user_id: str, admin_access_token: str) -> None:
        """Exempt ``user_id`` from Synapse's per-user rate limits (needs an admin token)."""
        status, body = await self._request(
            "POST",
            f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit",
            json={"messages_per_second": 0, "burst_count": 0},
            access_token=admin_access_token,
        )
        if status != 200:
            raise HomeserverError(
                f"exempting {user_id} from rate limits failed: HTTP {status} {body}"
            )

    def _check_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Same option Synapse (Twisted) sets, so a port in TIME_WAIT counts as free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self._settings.port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
            else:
                return
        message = f"port {self._settings.port} on 127.0.0.1 is already in use by another process"
        stale = self._stale_synapse_pid()
        if stale is not None:
            message += (
                f"; it is a Synapse already running on {self.data_dir} (pid {stale}), "
                f"perhaps left over from an earlier run: stop it with `kill {stale}`"
            )
        else:
            message += "; stop it or choose another port"
        raise HomeserverError(message)

    def _stale_synapse_pid(self) -> int | None:
        try:
            pid = int((self.data_dir / PID_FILE).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"synapse.app.homeserver" in cmdline else None

    async def _wait_until_ready(self) -> None:
        assert self._process is not None
        process = self._process
        deadline = time.monotonic() + self._start_timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if process.returncode is not None:
                    raise HomeserverError(
                        f"Synapse exited with code {process.returncode} while starting; "
                        f"end of {self.log_path}:\n{self._log_tail()}"
                    )
                if await answers(session, self.url):
                    return
                if time.monotonic() > deadline:
                    raise HomeserverError(
                        f"Synapse did not answer on {self.url} within {self._start_timeout:g}"
                        f" s; end of {self.log_path}:\n{self._log_tail()}"
                    )
                # Returns early if the process dies, so a crash is reported at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(process.wait()), _POLL_INTERVAL_SECONDS)

    def _log_tail(self) -> str:
        try:
            with self.log_path.open(encoding="utf-8", errors="replace") as log:
                tail: deque[str] = deque(maxlen=_LOG_TAIL_LINES)
                for line in log:
                    if line.startswith(_START_MARKER):
                        tail.clear()
                    tail.append(line.rstrip("\n"))
        except OSError as error:
            return f"(log unreadable: {error})"
        return "\n".join(tail) if tail else "(log is empty)"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        access_token: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        timeout = aiohttp.ClientTimeout(total=30)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(method, self.url + path, json=json, headers=headers) as response,
            ):
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                return response.status, body if isinstance(body, dict) else {}
        except aiohttp.ClientError as error:
            raise HomeserverError(f"{method} {path} on {self.url} failed: {error}") from error
