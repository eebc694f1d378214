"""A small HTTP proxy in front of Synapse that answers chosen requests with 429 (tests only).

`RateLimitingProxy` forwards everything to the homeserver. While `limit` is above zero, each
send of an event (`PUT …/send/…`) uses one up: the first is forwarded and its answer replaced by a
429 (as when a load balancer gives up after the homeserver took the event), the others are
refused with a 429 without reaching Synapse. Every 429 carries only an HTTP `Retry-After`
header, no `retry_after_ms` in the body. Every send attempt is recorded with its time.

`hold(fragment)` holds requests whose path contains `fragment` (say `/sendToDevice/`) until
`release()`: `held` is set when the first arrives, so a test can act while it is under way.

`fail(fragment, about, status, times)` answers the next `times` requests whose path contains
`fragment` and whose body contains `about` with `status` (say a 502 from a proxy while Synapse
restarts), without forwarding them; `failed` counts them.

`cut()` darkens the link until `mend()`: nothing gets through either way. A request arriving
meanwhile reaches the homeserver only after the mend (bytes retransmitted late, the worst case
for a send: it lands after the other instance may have taken over), and an answer coming back
meanwhile (a long-poll under way when the cut began) is held until then too. `during_cut`
lists the method and path of every request that arrived while the link was cut.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace

import aiohttp
from aiohttp import web

from consultbot.config import Config

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Attempt:
    path: str
    at: float
    status: int


@dataclass
class RateLimitingProxy:
    upstream: str
    retry_after: int = 3
    limit: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    holding: str = ""
    held: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    url: str = ""
    mended: asyncio.Event = field(default_factory=asyncio.Event)
    during_cut: list[str] = field(default_factory=list)
    failing: tuple[str, str, int] = ("", "", 0)
    fail_left: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self.mended.set()

    def cut(self) -> None:
        """Nothing gets through, either way, until `mend()`."""
        self.mended.clear()

    def mend(self) -> None:
        self.mended.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        # A long-poll of the stopped bot may still be on its way upstream: stopping does not
        # wait out its 30 s.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> RateLimitingProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def route(self, config: Config) -> Config:
        """`config` with the bot's homeserver reached through this proxy."""
        return replace(config, matrix=replace(config.matrix, homeserver=self.url))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def hold(self, fragment: str) -> None:
        """Hold requests whose path contains `fragment` until `release()`."""
        self.holding = fragment
        self.held.clear()
        self.released.clear()

    def release(self) -> None:
        """Let the held requests (and any later ones) through."""
        self.holding = ""
        self.released.set()

    def fail(self, fragment: str, about: str, *, status: int, times: int) -> None:
        """Answer the next `times` requests to a path containing `fragment` whose body contains
        `about` with `status`, unforwarded."""
        self.failing = (fragment, about, status)
        self.fail_left = times

    def _refusal(self) -> web.Response:
        body = json.dumps({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests"})
        return web.Response(
            status=429,
            body=body,
            content_type="application/json",
            headers={"Retry-After": str(self.retry_after)},
        )

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        # A message send; not the scheduling of the delayed notice (MSC4140), which the bot
        # keeps at its own pace and is not what the 429 tests count.
        is_send = (
            request.method == "PUT"
            and "/send/" in request.path
            and "org.matrix.msc4140.delay" not in request.query
        )
        body = await request.read()
        if not self.mended.is_set():
            self.during_cut.append(f"{request.method} {request.path}")
            await self.mended.wait()
        fragment, about, status = self.failing
        if self.fail_left > 0 and fragment in request.path and about.encode() in body:
            self.fail_left -= 1
            self.failed += 1
            error = {"errcode": "M_UNKNOWN", "error": "Bad Gateway"}
            return web.Response(
                status=status, body=json.dumps(error), content_type="application/json"
            )
        if self.holding and self.holding in request.path:
            self.held.set()
            await self.released.wait()
        if is_send and self.limit > 0:
            self.limit -= 1
            forward_first = not any(a.status == 429 for a in self.attempts)
            self.attempts.append(Attempt(request.path, time.monotonic(), 429))
            if forward_first:
                await self._upstream(request, body)  # the homeserver took it; the answer is lost
            return self._refusal()
        response = await self._upstream(request, body)
        if is_send:
            self.attempts.append(Attempt(request.path, time.monotonic(), response.status))
        await self.mended.wait()  # an answer on its way back when the link went dark
        return response

    async def _upstream(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as answer:
            data = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            out.pop("Content-Encoding", None)
            return web.Response(status=answer.status, body=data, headers=out)
