"""/healthz and /metrics of a bot running on a real Synapse ([metrics] listen)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from consultbot.app import running_bot
from consultbot.config import MetricsConfig
from consultbot.devkit.synapse import EmbeddedHomeserver

from .faults_proxy import RateLimitingProxy
from .harness import ask, join_invite, world

pytestmark = [pytest.mark.integration]

MAX_AGE = 5.0  # /healthz's "recent", shortened for the test (90 s in the bot)


async def get(port: int, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def health_becomes(port: int, status: int, seconds: float) -> dict[str, object]:
    async with asyncio.timeout(seconds):
        while True:
            got, body = await get(port, "/healthz")
            if got == status:
                parsed: dict[str, object] = json.loads(body)
                return parsed
            await asyncio.sleep(0.2)


def sample(text: str, line_start: str) -> float:
    """The value of the first metrics line that starts with `line_start`."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no line {line_start!r} in /metrics")


async def test_health_and_metrics_on_a_running_bot(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1") as w:
        config = replace(w.config(ack_timeout=60), metrics=MetricsConfig(host="127.0.0.1"))
        await w.seed(config, {1: ["l1"]})
        async with running_bot(config, sync_max_age=MAX_AGE) as bot:
            assert bot.metrics_server is not None
            port = bot.metrics_server.port
            assert await health_becomes(port, 200, 30) == {
                "status": "ok",
                "role": "active",
                "seconds_since_sync": pytest.approx(0, abs=MAX_AGE),
            }

            # One consult: asked, paged, acknowledged with ✅, closed.
            _, number = await ask(w)
            l1, doctor = w.people["l1"].c, w.people["doctor"].c
            room = await join_invite(l1)
            page = await l1.wait_for(
                lambda s: s.room == room and s.sender == w.bot_id and s.msgtype == "m.text", 30
            )
            await l1.react(room, page.event_id, "✅")
            await join_invite(doctor)
            await doctor.wait_for(lambda s: s.room == room and "har kvitterat" in s.body, 30)
            await l1.send_text(room, "!avsluta råd")
            await doctor.wait_for(lambda s: s.room == room and "avslutad: råd" in s.body, 30)

            status, text = await get(port, "/metrics")
            assert status == 200
            assert sample(text, 'consultbot_consults_total{track="halvakut"}') == 1
            assert sample(text, 'consultbot_pages_total{level="1",track="halvakut"}') == 1
            closed = 'consultbot_consults_closed_total{outcome="advice",track="halvakut"}'
            assert sample(text, closed) == 1
            count = 'consultbot_time_to_acknowledge_seconds_count{track="halvakut"}'
            assert sample(text, count) == 1
            assert sample(text, "consultbot_open_consults") == 0
            assert sample(text, "consultbot_leader") == 1
            assert 0 <= sample(text, "consultbot_sync_lag_seconds") < 60
            assert number not in text  # no consult numbers, names or texts in the metrics

            # The homeserver goes away: no successful sync, so unhealthy; healthy again after.
            await homeserver.stop()
            try:
                unhealthy = await health_becomes(port, 503, MAX_AGE + 30)
                assert unhealthy["status"] == "unhealthy" and unhealthy["role"] == "active"
            finally:
                await homeserver.start()
            await doctor.send_text(room, "tack")  # something to sync, rather than a 30 s poll
            await health_becomes(port, 200, 60)


LOST = 5  # bot.matrix_lost_seconds, shortened for the test (15 s by default)


async def test_healthz_turns_503_within_the_lost_time_of_a_cut_to_the_homeserver(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    """The bot's link to the homeserver goes dark (a proxy that passes nothing either way, the
    sync's long-poll under way): /healthz says 503 within `bot.matrix_lost_seconds`, not after
    the 90 s of the old rule; healthy again once the link is back."""
    proxy = RateLimitingProxy(upstream=homeserver.url)
    await proxy.start()
    try:
        async with world(homeserver, tmp_path, "doctor", "l1") as w:
            config = w.config(ack_timeout=60)
            config = replace(
                config,
                matrix=replace(config.matrix, homeserver=proxy.url),
                bot=replace(config.bot, matrix_lost_seconds=LOST),
                metrics=MetricsConfig(host="127.0.0.1"),
            )
            await w.seed(config, {1: ["l1"]})
            async with running_bot(config) as bot:
                assert bot.metrics_server is not None
                port = bot.metrics_server.port
                await health_becomes(port, 200, 30)
                # Healthy through a quiet spell longer than the lost time: the probe answers.
                quiet_until = asyncio.get_running_loop().time() + 2 * LOST
                while asyncio.get_running_loop().time() < quiet_until:
                    assert (await get(port, "/healthz"))[0] == 200
                    await asyncio.sleep(0.5)
                proxy.cut()
                cut = asyncio.get_running_loop().time()
                try:
                    unhealthy = await health_becomes(port, 503, LOST + 10)
                    took = asyncio.get_running_loop().time() - cut
                    assert unhealthy["reason"] == f"no answer from the homeserver for {LOST} s"
                    assert took <= LOST + 0.5, took
                finally:
                    proxy.mend()
                await health_becomes(port, 200, 30)
    finally:
        proxy.mend()
        await proxy.stop()
