"""The bot's Matrix session: login, the nio client every part of the adapter shares, the keys
chores, and waiting for sync to show something."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from nio import LocalProtocolError, LoginResponse, MegolmEvent, RoomPutStateResponse, WhoamiResponse

from consultbot.adapters.matrix import room_policy
from consultbot.adapters.matrix.nio_client import Client, client_config, encryption_available
from consultbot.config import MatrixConfig
from consultbot.domain.errors import ConsultbotError
from consultbot.ports import (
    ConsultStore,
    IncomingFile,
    IncomingInvite,
    IncomingMessage,
    IncomingReaction,
    IncomingVote,
)

log = logging.getLogger(__name__)

DISPLAY_NAME = "Konsultbot (Chatbot)"


class EncryptionUnavailable(ConsultbotError):
    """matrix-nio was installed without its e2e extra."""


class LoginFailed(ConsultbotError):
    """The homeserver refused the bot's credentials."""


class Handler(Protocol):
    """What the sync loop delivers events to (the inbox, engine/intake/inbox.py): a file is an
    m.file or m.image, encrypted or not; a vote is one in an MSC3381 poll (unstable or stable
    event type); an invite is of a person on a server that is not allowed into a room the bot
    is in. `allowed` is true for users on an allowed homeserver."""

    async def handle_message(self, message: IncomingMessage) -> None: ...
    async def handle_reaction(self, reaction: IncomingReaction) -> None: ...
    async def handle_file(self, file: IncomingFile) -> None: ...
    async def handle_vote(self, vote: IncomingVote) -> None: ...
    async def handle_invite(self, invite: IncomingInvite) -> None: ...
    def allowed(self, user: str) -> bool: ...


class Session:
    """One device, one crypto store: what the adapter's parts share.

    `client` is None until `login`; `nio` is the client for code that runs after it.
    """

    def __init__(
        self,
        config: MatrixConfig,
        store: ConsultStore,
        *,
        allowed_servers: Sequence[str] = (),
        guard: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.servers = room_policy.allowed_servers(config.user_id, allowed_servers)
        # Two instances (docs/failover.md): `guard` raises unless this instance may send.
        self.guard = guard
        self.client: Client | None = None
        self.handler: Handler | None = None
        self._synced = asyncio.Condition()
        self.handled = asyncio.Event()  # clear while a sync's events are being handled
        self.handled.set()
        self.handling_since = 0.0  # loop time at which the last sync's handling began
        self._keys_lock = asyncio.Lock()

    @property
    def user_id(self) -> str:
        return self.config.user_id

    @property
    def nio(self) -> Client:
        assert self.client is not None
        return self.client

    @property
    def keys_lock(self) -> asyncio.Lock:
        """Held by the bot's own key chores and queries (nio's share before a message claims
        and queries outside it): one at a time, and none while a page's share asks for it."""
        return self._keys_lock

    # -- waiting for sync -------------------------------------------------------------------

    async def wait(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until `predicate()` holds after a sync (or `seconds` pass); whether it holds."""
        try:
            async with asyncio.timeout(seconds), self._synced:
                await self._synced.wait_for(predicate)
            return True
        except TimeoutError:
            return predicate()

    async def synced(self) -> None:
        """A sync was handled: whoever waits on what it brought looks again."""
        async with self._synced:
            self._synced.notify_all()

    async def put_state(
        self, room: str, kind: str, content: dict[str, Any], *, state_key: str = ""
    ) -> None:
        """Set one state event in `room`; RuntimeError when the homeserver refuses it."""
        put = await self.nio.room_put_state(room, kind, content, state_key=state_key)
        if not isinstance(put, RoomPutStateResponse):
            raise RuntimeError(f"could not set {kind} in {room}: {put}")

    # -- keys ---------------------------------------------------------------------------------

    async def query_keys(self) -> None:
        """Fetch the device keys of members nio has not queried yet (before encrypting)."""
        client = self.nio
        async with self._keys_lock:
            try:
                if client.should_query_keys:
                    await client.keys_query()
            except LocalProtocolError as exc:
                log.debug("keys query: %s", exc)

    async def crypto_chores(self) -> None:
        """Upload, query and claim keys as nio asks, and send its to-device messages."""
        client = self.nio
        async with self._keys_lock:
            try:
                if client.should_upload_keys:
                    await client.keys_upload()
                if client.should_query_keys:
                    await client.keys_query()
                if client.should_claim_keys:
                    await client.keys_claim(client.get_users_for_key_claiming())
                await client.send_to_device_messages()
            except LocalProtocolError as exc:
                log.debug("crypto chores: %s", exc)

    def decrypt(self, event: MegolmEvent, room_id: str) -> Any:
        """The decrypted event, None when its key is not (yet) here.

        nio needs the event's room id to find the key; events that nio could not decrypt
        during the sync, and events fetched on their own, come without it.
        """
        event.room_id = event.room_id or room_id
        try:
            decrypted = self.nio.decrypt_event(event)
        except Exception:
            return None
        return None if isinstance(decrypted, MegolmEvent) else decrypted

    # -- contact with the homeserver ------------------------------------------------------------

    @property
    def last_ok(self) -> float | None:
        """time.monotonic() of the homeserver's last success answer to this device."""
        return self.client.last_ok if self.client is not None else None

    async def probe(self, seconds: float) -> bool:
        """True when the homeserver answers a whoami within `seconds` (nio would retry a
        refused connection for ever: the timeout ends that)."""
        try:
            async with asyncio.timeout(seconds):
                return isinstance(await self.nio.whoami(), WhoamiResponse)
        except TimeoutError:
            return False
        except Exception as exc:  # a probe that fails is only a "no"
            log.debug("probe: %s", type(exc).__name__)
            return False

    async def keep_in_touch(self, lost_seconds: float) -> None:
        """Probe the homeserver whenever it has not answered for a third of `lost_seconds`.

        The active instance's long-poll lasts up to 30 s: without the probe a quiet, healthy
        connection and a cut one would look alike for that long (/healthz, the lease).
        """
        every = max(0.5, lost_seconds / 3)
        while True:
            last = self.last_ok
            quiet = every if last is None else time.monotonic() - last
            if quiet < every:
                await asyncio.sleep(every - quiet)
                continue
            started = time.monotonic()
            if not await self.probe(every):
                log.warning("the homeserver did not answer a probe within %g s", every)
                await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))

    # -- login --------------------------------------------------------------------------------

    def _credentials_file(self) -> Path:
        return self.config.store_path / "credentials.json"

    async def login(self) -> None:
        """Log in (or restore the saved device), load the crypto store, set the display name."""
        if not encryption_available():
            raise EncryptionUnavailable(
                "end-to-end encryption is unavailable: install matrix-nio[e2e]"
            )
        self.config.store_path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.config.store_path, 0o700)
        client = Client(
            self.config.homeserver,
            self.config.user_id,
            store_path=str(self.config.store_path),
            config=client_config(self.config),
        )
        client.guard = self.guard
        self.client = client
        saved = self._saved_credentials()
        if self.config.access_token:
            client.access_token = self.config.access_token
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse) or not who.device_id:
                raise LoginFailed("the access_token was refused by the homeserver")
            client.restore_login(self.config.user_id, who.device_id, self.config.access_token)
        elif not (saved and await self._restore(saved)):
            await self._password_login(saved.get("device_id"))
        self._private_store()
        await self._set_display_name()
        log.info("logged in as %s, device %s", client.user_id, client.device_id)

    def _private_store(self) -> None:
        """The E2EE store and the saved credentials are the bot's alone: 0700 / 0600."""
        for path in self.config.store_path.rglob("*"):
            os.chmod(path, 0o700 if path.is_dir() else 0o600)

    def _saved_credentials(self) -> dict[str, str]:
        try:
            data = json.loads(self._credentials_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if (
            data.get("user_id") != self.config.user_id
            or data.get("homeserver") != self.config.homeserver
        ):
            return {}
        return {k: str(v) for k, v in data.items()}

    async def _restore(self, saved: dict[str, str]) -> bool:
        self.nio.restore_login(self.config.user_id, saved["device_id"], saved["access_token"])
        who = await self.nio.whoami()
        if isinstance(who, WhoamiResponse):
            return True
        log.warning("saved access token refused; logging in again with the same device")
        return False

    async def _password_login(self, device_id: str | None) -> None:
        if not self.config.password:
            raise LoginFailed("no password configured and no valid saved session")
        if device_id:
            self.nio.device_id = device_id
        response = await self.nio.login(self.config.password, device_name=self.config.device_name)
        if not isinstance(response, LoginResponse):
            raise LoginFailed(f"login as {self.config.user_id} failed: {response}")
        path = self._credentials_file()
        saved = {
            "homeserver": self.config.homeserver,
            "user_id": response.user_id,
            "device_id": response.device_id,
            "access_token": response.access_token,
        }
        path.write_text(json.dumps(saved), encoding="utf-8")
        os.chmod(path, 0o600)

    async def _set_display_name(self) -> None:
        current = await self.nio.get_displayname()
        name = getattr(current, "displayname", None)
        if not name or not str(name).endswith("(Chatbot)"):
            await self.nio.set_displayname(DISPLAY_NAME)
