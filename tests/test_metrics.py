"""Metrics after scripted steps (consultbot/engine/metrics.py), and what /healthz answers."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
from aiohttp import web

from consultbot.adapters.matrix.nio_client import Client
from consultbot.engine.metrics import Metrics, MetricsServer, health
from tests.support.bots import ACK_TIMEOUT, ASK, K2, NOW, REQ, Bot, Make, build


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_a_consult_escalated_acknowledged_and_closed_is_counted(make: Make) -> None:
    bot: Bot = await make()
    m = bot.service.metrics
    _, room = await bot.ask()
    assert value(m, "consultbot_consults_total", track="halvakut") == 1
    assert value(m, "consultbot_pages_total", track="halvakut", level="1") == 1
    assert value(m, "consultbot_open_consults") == 1

    await bot.fire_at(NOW + ACK_TIMEOUT + timedelta(seconds=1))
    await bot.flush()
    assert value(m, "consultbot_pages_total", track="halvakut", level="2") == 1
    assert value(m, "consultbot_escalations_total", track="halvakut") == 1

    bot.clock.current = NOW + timedelta(seconds=95)
    await bot.react(K2, "✅", room, bot.messenger.pages()[-1].event_id)
    await bot.flush()
    assert value(m, "consultbot_time_to_acknowledge_seconds_count", track="halvakut") == 1
    # from the first page (level 1, at NOW) to the acknowledgement
    assert value(m, "consultbot_time_to_acknowledge_seconds_sum", track="halvakut") == 95
    assert (
        value(m, "consultbot_time_to_acknowledge_seconds_bucket", track="halvakut", le="60.0") == 0
    )
    assert (
        value(m, "consultbot_time_to_acknowledge_seconds_bucket", track="halvakut", le="120.0") == 1
    )

    await bot.say(K2, "!avsluta råd", room)
    await bot.flush()
    assert value(m, "consultbot_consults_closed_total", track="halvakut", outcome="advice") == 1
    assert value(m, "consultbot_open_consults") == 0
    assert value(m, "consultbot_unanswered_total", track="halvakut") == 0
    text = m.render().decode()
    assert 'consultbot_consults_closed_total{outcome="advice",track="halvakut"} 1.0' in text
    assert "consultbot_leader 1.0" in text


async def test_nobody_answering_is_counted_as_unanswered(make: Make) -> None:
    bot: Bot = await make()
    await bot.ask()
    await bot.fire_at(NOW + ACK_TIMEOUT + timedelta(seconds=1))
    await bot.flush()
    await bot.fire_at(NOW + 2 * ACK_TIMEOUT + timedelta(seconds=2))
    await bot.flush()
    m = bot.service.metrics
    assert value(m, "consultbot_unanswered_total", track="halvakut") == 1
    assert value(m, "consultbot_time_to_acknowledge_seconds_count", track="halvakut") == 0


async def test_a_page_that_could_not_go_out_in_time_is_counted(make: Make) -> None:
    bot: Bot = await make()
    await bot.say(REQ, ASK)  # the page is decided; the homeserver takes nothing
    m = bot.service.metrics
    assert value(m, "consultbot_pages_undelivered_total", track="halvakut") == 0
    await bot.fire_at(NOW + ACK_TIMEOUT, send=False)
    assert value(m, "consultbot_pages_undelivered_total", track="halvakut") == 1
    await bot.flush()  # out at last: its time starts now, nothing more is counted
    await bot.fire_at(NOW + 2 * ACK_TIMEOUT - timedelta(seconds=1))
    assert value(m, "consultbot_pages_undelivered_total", track="halvakut") == 1
    assert value(m, "consultbot_escalations_total", track="halvakut") == 0


async def test_send_retries_are_counted(make: Make) -> None:
    bot: Bot = await make()
    bot.messenger.fail_next = 2
    await bot.say(REQ, ASK)
    await bot.flush()
    assert value(bot.service.metrics, "consultbot_send_retries_total") == 2


async def test_open_consults_are_counted_again_after_a_restart(make: Make) -> None:
    bot: Bot = await make()
    await bot.ask()
    again = await build(bot.consults, data=bot.data, clock=bot.clock)
    assert value(again.service.metrics, "consultbot_open_consults") == 0
    await again.service.start()
    assert value(again.service.metrics, "consultbot_open_consults") == 1


class Sync:
    def __init__(self, last_sync: float | None, last_ok: float | None = None) -> None:
        self.last_sync = last_sync
        self.last_ok = last_sync if last_ok is None else last_ok  # the probe's answer, say
        self.rate_limited = 3


def test_health_needs_a_running_loop_and_a_recent_sync() -> None:
    # Mid long-poll: the last sync 50 s ago, but the homeserver answered a probe 1 s ago.
    assert health(Sync(100.0, last_ok=149.0), True, now=150.0).status == 200
    assert health(Sync(100.0, last_ok=149.0), True, now=150.0).body() == (
        b'{"status": "ok", "role": "active", "seconds_since_sync": 50.0}'
    )
    assert health(Sync(100.0, last_ok=190.0), True, now=191.0).status == 503
    assert health(Sync(100.0), False, now=101.0).status == 503
    assert health(Sync(None), True, now=101.0).status == 503
    assert health(Sync(100.0), True, now=105.0, max_age=2).status == 503


def test_health_turns_503_once_the_homeserver_has_not_answered_for_the_lost_time() -> None:
    # The sync loop runs and its last sync is young by the 90 s rule, but nothing the bot
    # asked (sync, send, probe) has been answered with success for 15 s: a cut, not a pause.
    assert health(Sync(100.0), True, now=114.9).status == 200
    cut = health(Sync(100.0), True, now=115.0)
    assert cut.status == 503 and cut.reason == "no answer from the homeserver for 15 s"
    assert health(Sync(100.0), True, now=105.0, lost_seconds=5).status == 503
    assert health(Sync(100.0, last_ok=110.0), True, now=115.0, lost_seconds=5).status == 503
    assert health(Sync(100.0, last_ok=111.0), True, now=115.0, lost_seconds=5).status == 200
    # A standby is judged the same way.
    assert health(Sync(100.0), True, now=116.0, role="standby").status == 503


def test_sync_lag_and_rate_limits_are_read_when_scraped() -> None:
    clock = [130.0]
    m = Metrics(monotonic=lambda: clock[0])
    m.attach(sync=Sync(100.0))
    assert value(m, "consultbot_sync_lag_seconds") == 30
    clock[0] = 160.0
    assert value(m, "consultbot_sync_lag_seconds") == 60
    assert value(m, "consultbot_rate_limited_total") == 3


async def get(port: int, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_the_endpoints_answer_over_http() -> None:
    clock = [100.0]
    m = Metrics(monotonic=lambda: clock[0])
    sync = Sync(100.0)
    m.attach(sync=sync)
    alive = [True]
    server = MetricsServer(m, lambda: alive[0], max_age=90)
    await server.start("127.0.0.1", 0)
    try:
        status, kind, body = await get(server.port, "/healthz")
        assert (status, kind) == (200, "application/json")
        assert json.loads(body)["role"] == "active"
        clock[0] = 191.0
        sync.last_ok = 190.0  # a probe answered; the last sync is 91 s old
        assert (await get(server.port, "/healthz"))[0] == 503
        sync.last_sync = 190.0
        assert (await get(server.port, "/healthz"))[0] == 200
        alive[0] = False
        status, _, body = await get(server.port, "/healthz")
        assert status == 503 and json.loads(body)["reason"] == "sync loop stopped"
        status, kind, body = await get(server.port, "/metrics")
        assert status == 200 and kind.startswith("text/plain")
        assert "consultbot_sync_lag_seconds 1.0" in body
    finally:
        await server.stop()


async def test_http_429_answers_are_counted_while_nio_waits_them_out() -> None:
    answers = [429, 429, 200]

    async def login_flows(request: web.Request) -> web.Response:
        status = answers.pop(0)
        if status == 429:
            body = {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many", "retry_after_ms": 10}
            return web.json_response(body, status=429)
        return web.json_response({"flows": [{"type": "m.login.password"}]})

    app = web.Application()
    app.router.add_get("/_matrix/client/v3/login", login_flows)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    client = Client(f"http://127.0.0.1:{port}", "@bot:localhost")
    try:
        response = await client.login_info()
        assert getattr(response, "flows", None) == ["m.login.password"]
        assert client.rate_limited == 2
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_standby_says_so_on_healthz_and_in_the_leader_gauge() -> None:
    clock = [100.0]
    m = Metrics(monotonic=lambda: clock[0])
    m.attach(sync=Sync(99.0))
    leader = [False]
    m.attach(leader=lambda: leader[0])
    server = MetricsServer(m, lambda: True, max_age=90)
    await server.start("127.0.0.1", 0)
    try:
        status, _, body = await get(server.port, "/healthz")
        assert status == 200 and json.loads(body)["role"] == "standby"
        assert value(m, "consultbot_leader") == 0
        leader[0] = True  # the lease is taken
        status, _, body = await get(server.port, "/healthz")
        assert status == 200 and json.loads(body)["role"] == "active"
        assert value(m, "consultbot_leader") == 1
    finally:
        await server.stop()
