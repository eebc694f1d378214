"""MSC4140 delayed events for the notice the homeserver posts when the bot is gone
(engine/dead_man.py; docs/delayed-events-findings.md).

nio has no API for them: the requests go through the client's own aiohttp session with the
bot's access token. The delay ids they return are bearer capabilities: never logged here.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from consultbot.adapters.matrix.session import Session
from consultbot.ports.delayed import DelayedNotices, DelayRefused

log = logging.getLogger(__name__)

FEATURE = "org.matrix.msc4140"
DELAY_PARAM = "org.matrix.msc4140.delay"
MANAGE = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events"
TIMEOUT = 15.0


class DelayedEvents(DelayedNotices):
    """Delayed notices over the bot's Matrix session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, what: str
    ) -> tuple[int, dict[str, Any]]:
        """One request as the bot; DelayRefused on a network error, a 429 or a 5xx."""
        if self.session.guard is not None:
            self.session.guard()  # only the active instance touches the notices
        client = self.session.nio
        headers = {"Authorization": f"Bearer {client.access_token}"}
        data = json.dumps(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await client.send(method, path, data, headers=headers, timeout=TIMEOUT)
            async with response:
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = {}
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DelayRefused(f"{what}: {type(exc).__name__}") from None
        answer = answer if isinstance(answer, dict) else {}
        if status == 429 or status >= 500:
            wait = answer.get("retry_after_ms")
            retry = wait / 1000 if isinstance(wait, int | float) else None
            raise DelayRefused(f"{what}: HTTP {status} {answer.get('errcode', '')}", retry)
        return status, answer

    async def delayed_offered(self) -> bool:
        status, answer = await self._versions()
        features = answer.get("unstable_features")
        return status == 200 and isinstance(features, dict) and features.get(FEATURE) is True

    async def _versions(self) -> tuple[int, dict[str, Any]]:
        client = self.session.nio
        try:
            response = await client.send("GET", "/_matrix/client/versions", timeout=TIMEOUT)
            async with response:
                answer = await response.json(content_type=None)
                return response.status, answer if isinstance(answer, dict) else {}
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise DelayRefused(f"/versions: {type(exc).__name__}") from None

    async def schedule_notice(self, room: str, text: str, *, delay_seconds: int, txn: str) -> str:
        path = (
            f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/m.room.message/"
            f"{quote(txn, safe='')}?{DELAY_PARAM}={int(delay_seconds * 1000)}"
        )
        status, answer = await self._call(
            "PUT", path, {"msgtype": "m.notice", "body": text}, what=f"scheduling in {room}"
        )
        delay_id = answer.get("delay_id")
        if status != 200 or not isinstance(delay_id, str) or not delay_id:
            # Never a 200 without a delay id from a server that offers the feature; one that
            # ignored the parameter would have posted the notice (hence delayed_offered first).
            raise DelayRefused(f"scheduling in {room}: HTTP {status} {answer.get('errcode', '')}")
        return delay_id

    async def _manage(self, delay_id: str, action: str) -> bool:
        status, answer = await self._call(
            "POST", f"{MANAGE}/{quote(delay_id, safe='')}", {"action": action}, what=action
        )
        if status == 404:
            return False
        if status != 200:
            raise DelayRefused(f"{action}: HTTP {status} {answer.get('errcode', '')}")
        return True

    async def restart_notice(self, delay_id: str) -> bool:
        return await self._manage(delay_id, "restart")

    async def cancel_notice(self, delay_id: str) -> None:
        await self._manage(delay_id, "cancel")

    async def pending_notices(self) -> dict[str, str]:
        status, answer = await self._call("GET", MANAGE, what="listing")
        events = answer.get("delayed_events") if status == 200 else None
        if not isinstance(events, list):
            raise DelayRefused(f"listing: HTTP {status}")
        return {
            str(e["delay_id"]): str(e.get("room_id", ""))
            for e in events
            if isinstance(e, dict) and e.get("delay_id")
        }
