"""The homeserver.yaml of the embedded Synapse (devkit/synapse.py), made for a local set-up."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from consultbot.domain.errors import ConsultbotError

logger = logging.getLogger(__name__)

CONFIG_FILE = "homeserver.yaml"
LOG_CONFIG_FILE = "log.config"
DATABASE_FILE = "homeserver.db"
SYNAPSE = (sys.executable, "-m", "synapse.app.homeserver")

# Rate limits high enough that a test suite creating many users, rooms and messages in a
# burst never hits them; production keeps Synapse's defaults.
_RELAXED = {"per_second": 10000, "burst_count": 100000}
_RELAXED_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _RELAXED,
    "rc_registration": _RELAXED,
    "rc_registration_token_validity": _RELAXED,
    "rc_login": {"address": _RELAXED, "account": _RELAXED, "failed_attempts": _RELAXED},
    "rc_admin_redaction": _RELAXED,
    "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
    "rc_joins_per_room": _RELAXED,
    "rc_key_requests": _RELAXED,
    "rc_3pid_validation": _RELAXED,
    "rc_invites": {"per_room": _RELAXED, "per_user": _RELAXED, "per_issuer": _RELAXED},
    "rc_third_party_invite": _RELAXED,
    "rc_media_create": _RELAXED,
    "rc_presence": {"per_user": _RELAXED},
    "rc_delayed_event_mgmt": _RELAXED,
    "rc_room_creation": _RELAXED,
    "rc_reports": _RELAXED,
    "rc_user_directory": _RELAXED,
    "rc_profile": _RELAXED,
}

# Delayed events (MSC4140): Synapse offers them only when `max_event_delay_duration` is set
# (and `experimental_features.msc4140_max_delayed_events_per_user`, default 100, is not 0).
# The development homeserver offers them, so the bot's "Konsultboten svarar inte" notice can
# be tried locally; production homeservers decide for themselves (`doctor` reports it).
MAX_EVENT_DELAY = "1h"
# Synapse keeps at most 100 pending delayed events per user by default: one notice per open
# consult room. docs/deploy.md asks a region with more consults open at once to raise it; the
# development homeserver does (a benchmark's rush leaves hundreds open).
MAX_DELAYED_EVENTS = 10_000
_MAX_DELAYED_KEY = "msc4140_max_delayed_events_per_user"

# WARNING and above only, to stderr (which the parent sends to LOG_FILE). At INFO Synapse
# logs every request line; message bodies never appear at WARNING.
_LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
loggers:
  synapse.storage.SQL:
    level: WARNING
root:
  level: WARNING
  handlers: [console]
disable_existing_loggers: false
"""


class HomeserverError(ConsultbotError):
    """The embedded homeserver could not be started, or refused an admin request."""


@dataclass(frozen=True, kw_only=True)
class SynapseSettings:
    """What a local Synapse is made with: where its state lives and how it listens."""

    data_dir: Path
    port: int
    server_name: str
    relax_rate_limits: bool
    fast_passwords: bool
    federation_port: int | None
    # MSC4140 delayed events on (`max_event_delay_duration`) or off (the key removed).
    delayed_events: bool = True

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE


async def generate_config(settings: SynapseSettings) -> None:
    """Let Synapse write a new homeserver.yaml (secrets, signing key) for the server name."""
    logger.info("Generating Synapse config in %s", settings.data_dir)
    process = await asyncio.create_subprocess_exec(
        *SYNAPSE,
        "--server-name",
        settings.server_name,
        "--config-path",
        str(settings.config_path),
        "--data-directory",
        str(settings.data_dir),
        "--generate-config",
        "--report-stats=no",
        cwd=settings.data_dir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0 or not settings.config_path.exists():
        raise HomeserverError(
            "generating the Synapse config failed "
            f"(exit {process.returncode}):\n{output.decode(errors='replace')}"
        )
    # We write our own log config; drop the generated one so nobody edits it in vain.
    (settings.data_dir / f"{settings.server_name}.log.config").unlink(missing_ok=True)


def write_config(settings: SynapseSettings) -> None:
    """Rewrite the settings this module manages (listener, paths, logging, registration,
    rate limits, delayed events) in homeserver.yaml; the others are left as they are."""
    config = yaml.safe_load(settings.config_path.read_text(encoding="utf-8"))
    if not isinstance(config, dict):
        raise HomeserverError(f"{settings.config_path} is not a YAML mapping")
    if config.get("server_name") != settings.server_name:
        raise HomeserverError(
            f"{settings.config_path} is for server {config.get('server_name')!r}, not "
            f"{settings.server_name!r}; use another data directory"
        )
    data = settings.data_dir
    listeners: list[dict[str, Any]] = [
        {
            "port": settings.port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": False,
            "resources": [{"names": ["client"], "compress": False}],
        }
    ]
    for key in ("tls_certificate_path", "tls_private_key_path"):
        config.pop(key, None)
    config.pop("federation_verify_certificates", None)
    config.pop("ip_range_whitelist", None)
    if settings.federation_port is not None:
        listeners.append(
            {
                "port": settings.federation_port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": True,
                "resources": [{"names": ["federation", "keys"], "compress": False}],
            }
        )
        cert, private_key = self_signed_certificate(settings.data_dir)
        config.update(
            {
                "tls_certificate_path": str(cert),
                "tls_private_key_path": str(private_key),
                "federation_verify_certificates": False,
                "ip_range_whitelist": ["127.0.0.1"],
            }
        )
    config.update(
        {
            "pid_file": str(data / "homeserver.pid"),
            "listeners": listeners,
            "database": {"name": "sqlite3", "args": {"database": str(data / DATABASE_FILE)}},
            "media_store_path": str(data / "media_store"),
            "signing_key_path": str(data / f"{settings.server_name}.signing.key"),
            "log_config": str(data / LOG_CONFIG_FILE),
            "enable_registration": False,
            "report_stats": False,
            "suppress_key_server_warning": True,
            "trusted_key_servers": [],
            "presence": {"enabled": False},
            "enable_metrics": False,
            "url_preview_enabled": False,
        }
    )
    config.pop("max_event_delay_duration", None)
    features = dict(config.pop("experimental_features", None) or {})
    features.pop(_MAX_DELAYED_KEY, None)
    if settings.delayed_events:
        config["max_event_delay_duration"] = MAX_EVENT_DELAY
        features[_MAX_DELAYED_KEY] = MAX_DELAYED_EVENTS
    if features:
        config["experimental_features"] = features
    for key in _RELAXED_RATE_LIMITS:
        config.pop(key, None)
    if settings.relax_rate_limits:
        config.update(_RELAXED_RATE_LIMITS)
    config.pop("bcrypt_rounds", None)
    if settings.fast_passwords:
        config["bcrypt_rounds"] = 4
    if not config.get("registration_shared_secret"):
        raise HomeserverError(f"{settings.config_path} has no registration_shared_secret")
    (data / LOG_CONFIG_FILE).write_text(_LOG_CONFIG, encoding="utf-8")
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    settings.config_path.write_text(text, encoding="utf-8")
    settings.config_path.chmod(0o600)  # it holds the registration secret


def self_signed_certificate(data_dir: Path) -> tuple[Path, Path]:
    """A certificate for the loopback federation listener (made once, kept)."""
    cert_path, key_path = data_dir / "federation.crt", data_dir / "federation.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def registration_shared_secret(config_path: Path) -> str:
    """The secret of shared-secret registration, from homeserver.yaml."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    return str(config["registration_shared_secret"])
