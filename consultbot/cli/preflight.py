"""The preflight check's result and the parts of `consultbot doctor` that need no network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from consultbot.text.render import Messages

CLOCK_TOLERANCE_SECONDS = 2.0
ADMIN_TOKEN_ENV = "CONSULTBOT_SYNAPSE_ADMIN_TOKEN"


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    # Not made because a check it depends on failed (that one names the cause, once).
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str  # homeserver, login, encryption, rate_limits, admin_room, data, coverage, …
    level: Level
    key: str  # the message in templates/messages [doctor]
    params: Mapping[str, Any] = field(default_factory=dict)


def format_check(check: Check, messages: Messages) -> str:
    """`OK       homeserver: …` – the level, the check's name and what was found."""
    level = messages.text("doctor", f"level_{check.level.value}")
    name = messages.text("doctor", f"name_{check.name}")
    return f"{level:<8} {name}: {messages.text('doctor', check.key, **check.params)}"


def exit_code(checks: Sequence[Check]) -> int:
    """1 when any check failed (warnings do not fail), else 0."""
    return 1 if any(c.level is Level.FAILED for c in checks) else 0


def clock_skew(server_date: str, sent: float, received: float) -> float:
    """Seconds the homeserver's clock is ahead of ours, from its HTTP `Date` header.

    `sent` and `received` are our wall-clock times around the request. The header has whole
    seconds, so the server's time lies in [date, date + 1): its middle is compared with the
    middle of the request.
    """
    date = parsedate_to_datetime(server_date).timestamp()
    return (date + 0.5) - (sent + received) / 2


def skew_check(skew: float) -> Check:
    level = Level.OK if abs(skew) <= CLOCK_TOLERANCE_SECONDS else Level.FAILED
    key = "clock_ok" if level is Level.OK else "clock_off"
    return Check("clock", level, key, {"seconds": f"{skew:+.1f}"})


def rate_limit_check(status: int, body: Mapping[str, Any], user: str) -> Check:
    """From the answer of GET /_synapse/admin/v1/users/<user>/override_ratelimit."""
    fix = f"POST /_synapse/admin/v1/users/{user}/override_ratelimit"
    if status != 200:
        params = {"call": fix, "env": ADMIN_TOKEN_ENV}
        return Check("rate_limits", Level.WARNING, "rate_unknown", params)
    if body.get("messages_per_second") == 0 and body.get("burst_count") == 0:
        return Check("rate_limits", Level.OK, "rate_exempt")
    return Check("rate_limits", Level.WARNING, "rate_limited", {"call": fix})


DELAYED_EVENTS = "org.matrix.msc4140"


def delayed_events_check(
    versions: Mapping[str, Any], seconds: int, capabilities: Mapping[str, Any] | None = None
) -> Check:
    """From the answer of GET /_matrix/client/versions (and, when logged in, of
    /capabilities): whether the homeserver offers delayed events (MSC4140), which the notice
    when the bot is gone (`bot.dead_man_seconds`) needs, with a delay that long."""
    if not seconds:
        return Check("delayed_events", Level.OK, "delayed_off")
    features = versions.get("unstable_features")
    if not (isinstance(features, Mapping) and features.get(DELAYED_EVENTS) is True):
        return Check("delayed_events", Level.WARNING, "delayed_missing")
    limits = (capabilities or {}).get(f"{DELAYED_EVENTS}.delayed_events")
    most = limits.get("max_delay_ms") if isinstance(limits, Mapping) else None
    if isinstance(most, int) and most < seconds * 1000:
        params = {"seconds": seconds, "most": most // 1000}
        return Check("delayed_events", Level.WARNING, "delayed_too_long", params)
    return Check("delayed_events", Level.OK, "delayed_ok", {"seconds": seconds})
