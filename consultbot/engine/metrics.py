"""Health and metrics: what `/healthz` and `/metrics` report ([metrics] listen in the config).

Counted where things happen, never inside the domain:
- `Metrics.step` sees every recorded consult step (the stepper tells it): consults
  asked, closed (by outcome), pages, escalations, unanswered, time to acknowledge, open consults;
- the outbox counts its send retries (`Dispatcher.retries`), the Matrix adapter its HTTP 429
  answers and the instant of its last successful sync; they are read when /metrics is scraped.

Each bot has its own registry (tests run several bots in one process). The role is "active"
for a single instance; with two instances on PostgreSQL (docs/failover.md) it is "standby"
until this instance holds the leader lease, and `consultbot_leader` is 1 only while it does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST as CONTENT_TYPE,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consultbot.domain.consult import escalation as esc
from consultbot.domain.consult.events import Event, EventKind

log = logging.getLogger(__name__)

SYNC_MAX_AGE_SECONDS = 90.0  # the long-poll is 30 s: three missed in a row is unhealthy
MATRIX_LOST_SECONDS = 15.0  # `bot.matrix_lost_seconds`: no answer from the homeserver this long
ACK_BUCKETS = (15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200)
ROLE = "active"
STANDBY = "standby"


class SyncSource(Protocol):
    """The Matrix adapter as the health check sees it."""

    @property
    def last_sync(self) -> float | None:
        """time.monotonic() of the last successful sync."""

    @property
    def last_ok(self) -> float | None:
        """time.monotonic() of the homeserver's last success answer (sync, send, probe)."""

    @property
    def rate_limited(self) -> int:
        """HTTP 429 answers seen."""


class RetrySource(Protocol):
    """The outbox as the metrics see it."""

    @property
    def retries(self) -> int:
        """Sends tried again after a failure."""


@dataclass(frozen=True)
class Health:
    """What /healthz answers."""

    ok: bool
    role: str
    sync_age: float | None
    reason: str = ""

    @property
    def status(self) -> int:
        return 200 if self.ok else 503

    def body(self) -> bytes:
        data: dict[str, object] = {"status": "ok" if self.ok else "unhealthy", "role": self.role}
        if self.sync_age is not None:
            data["seconds_since_sync"] = round(self.sync_age, 1)
        if self.reason:
            data["reason"] = self.reason
        return json.dumps(data).encode()


def health(
    sync: SyncSource | None,
    loop_alive: bool,
    *,
    now: float,
    max_age: float = SYNC_MAX_AGE_SECONDS,
    role: str = ROLE,
    lost_seconds: float = MATRIX_LOST_SECONDS,
) -> Health:
    """Healthy while the sync loop runs, its last successful sync is under `max_age` old and
    the homeserver answered some request with success (a sync, a send it accepted, the probe)
    less than `lost_seconds` ago: a sync or send that fails is not alive. The same rule makes
    the active instance give up the leader lease (adapters/sql/lease.py, `lease_move`).

    A standby is healthy on the same terms (its own sync loop keeps its device's keys current).
    """
    last = sync.last_sync if sync is not None else None
    age = None if last is None else max(0.0, now - last)
    if not loop_alive:
        return Health(False, role, age, "sync loop stopped")
    if age is None:
        return Health(False, role, age, "no successful sync yet")
    answered = sync.last_ok if sync is not None else None
    if answered is None or now - answered >= lost_seconds:
        return Health(False, role, age, f"no answer from the homeserver for {lost_seconds:g} s")
    if age > max_age:
        return Health(False, role, age, "last successful sync too old")
    return Health(True, role, age)


class Metrics:
    """The bot's Prometheus metrics, in a registry of its own."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.now = monotonic

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=r)

        self.consults = counter("consultbot_consults", "Consults asked, by track", "track")
        self.closed = counter(
            "consultbot_consults_closed",
            "Consults closed, by track and outcome",
            "track",
            "outcome",
        )
        self.pages = counter(
            "consultbot_pages", "Escalation levels paged, by track and level", "track", "level"
        )
        self.escalations = counter(
            "consultbot_escalations",
            "Pages of level 2 or higher (the level before did not acknowledge)",
            "track",
        )
        self.unanswered = counter(
            "consultbot_unanswered",
            "Consults (or conference services) nobody acknowledged at any level",
            "track",
        )
        self.undelivered = counter(
            "consultbot_pages_undelivered",
            "Pages not out one timeout after their decision (the requester and admins were told)",
            "track",
        )
        self.ack_seconds = Histogram(
            "consultbot_time_to_acknowledge_seconds",
            "Seconds from the first page to the acknowledgement",
            ["track"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self._open: dict[str, str] = {}  # open consult → its track
        open_gauge = Gauge("consultbot_open_consults", "Consults not yet closed", registry=r)
        open_gauge.set_function(lambda: len(self._open))
        self.sync: SyncSource | None = None
        self.outbox: RetrySource | None = None
        self.leader: Callable[[], bool] = lambda: True  # a single instance is always active
        r.register(_Live(self))

    def attach(
        self,
        *,
        sync: SyncSource | None = None,
        outbox: RetrySource | None = None,
        leader: Callable[[], bool] | None = None,
    ) -> None:
        """The parts read when /metrics is scraped."""
        if sync is not None:
            self.sync = sync
        if outbox is not None:
            self.outbox = outbox
        if leader is not None:
            self.leader = leader

    def step(
        self, before: esc.Consult | None, events: Sequence[Event], after: esc.Consult | None
    ) -> None:
        """A step was recorded: `events` turned `before` into `after`."""
        if after is None:
            return
        track = after.track.value
        if after.state in esc.OPEN_STATES:
            self._open[after.id] = track
        else:
            self._open.pop(after.id, None)
        for event in events:
            try:
                self._count(event, track, after)
            except Exception:  # a metric must never stop a consult
                log.exception("counting a %s event failed", event.kind)

    def _count(self, event: Event, track: str, after: esc.Consult) -> None:
        kind = event.kind
        if kind is EventKind.REQUESTED:
            self.consults.labels(track).inc()
        elif kind is EventKind.PAGED:
            level = int(event.data.get("level", 1))
            self.pages.labels(track, str(level)).inc()
            if level > 1:
                self.escalations.labels(track).inc()
        elif kind in (EventKind.UNANSWERED, EventKind.SERVICE_UNANSWERED):
            self.unanswered.labels(track).inc()
        elif kind is EventKind.PAGE_UNDELIVERED:
            self.undelivered.labels(track).inc()
        elif kind is EventKind.CLOSED:
            outcome = after.outcome.value if after.outcome is not None else "none"
            self.closed.labels(track, outcome).inc()
        elif kind is EventKind.WITHDRAWN:
            self.closed.labels(track, "withdrawn").inc()
        elif kind is EventKind.ACKNOWLEDGED:
            seconds = _ack_seconds(event, after)
            if seconds is not None:
                self.ack_seconds.labels(track).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)


def _ack_seconds(event: Event, after: esc.Consult) -> float | None:
    service = event.data.get("service")
    pages: tuple[esc.Page, ...] = after.pages
    if service and after.is_conference:
        leg = after.leg(str(service))
        pages = leg.pages if leg is not None else ()
    if not pages:
        return None
    return max(0.0, (event.at - pages[0].at).total_seconds())


class _Live(Collector):
    """Values read from the running parts at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        sync = m.sync
        lag = GaugeMetricFamily(
            "consultbot_sync_lag_seconds", "Seconds since the last successful Matrix sync"
        )
        if sync is not None and sync.last_sync is not None:
            lag.add_metric([], max(0.0, m.now() - sync.last_sync))
        yield lag
        yield CounterMetricFamily(
            "consultbot_send_retries",
            "Outbox sends tried again after a failure",
            value=m.outbox.retries if m.outbox is not None else 0,
        )
        yield CounterMetricFamily(
            "consultbot_rate_limited",
            "HTTP 429 (rate limited) answers from the homeserver",
            value=sync.rate_limited if sync is not None else 0,
        )
        yield GaugeMetricFamily(
            "consultbot_leader",
            "1 when this instance is the active one",
            value=1 if m.leader() else 0,
        )


class MetricsServer:
    """`/healthz` and `/metrics` over HTTP (aiohttp, which matrix-nio brings)."""

    def __init__(
        self,
        metrics: Metrics,
        loop_alive: Callable[[], bool],
        *,
        max_age: float = SYNC_MAX_AGE_SECONDS,
        lost_seconds: float = MATRIX_LOST_SECONDS,
    ) -> None:
        self.metrics = metrics
        self._loop_alive = loop_alive
        self._max_age = max_age
        self._lost_seconds = lost_seconds
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _healthz(self, request: web.Request) -> web.Response:
        answer = health(
            self.metrics.sync,
            self._loop_alive(),
            now=self.metrics.now(),
            max_age=self._max_age,
            lost_seconds=self._lost_seconds,
            role=ROLE if self.metrics.leader() else STANDBY,  # standby until it holds the lease
        )
        return web.Response(
            status=answer.status, body=answer.body(), content_type="application/json"
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses  # the port actually bound (0 = any free one)
        self.port = int(addresses[0][1]) if addresses else port
        log.info("health and metrics on http://%s:%d/healthz and /metrics", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
