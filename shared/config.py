"""Settings, parsed once from the environment into a frozen object.

Only entry points call :func:`Settings.from_env`; everything else receives the
object, so tests can build one by hand. Kubernetes ConfigMap and Secret keys
are exactly these variable names.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from shared import operator_keys, topics, wire_text
from shared.net_guard import AllowList
from shared.session_caps import SessionCaps, caps_from_env
from shared.topics import DEFAULT_PARTITIONS


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _caps(env: Mapping[str, str]) -> SessionCaps:
    try:
        return caps_from_env(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if not value > 0:
        raise ConfigError(f"{name} must be greater than 0, got {value:g}")
    return value


def _at_least_one(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses and networks (CIDR), each normalised (``10.0.0.0/8``)."""
    out: list[str] = []
    for item in env.get(name, "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or network (CIDR)") from None
    return tuple(out)


def _address(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ConfigError(f"{name} must be an IP address to listen on (127.0.0.1, 0.0.0.0, ::), got {raw!r}") from None


def _public_url(env: Mapping[str, str], name: str) -> str:
    """A base URL (``https://mailferry.example.com``, no path, query or login), without a trailing slash."""
    raw = env.get(name, "").strip()
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - a port that is no number raises here
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None
            or parts.path not in ("", "/") or parts.query or parts.fragment or wire_text.has_control(raw)):
        raise ConfigError(f"{name} must be the address users reach intake at, such as https://mailferry.example.com "
                          f"(http or https, no path), got {raw!r}")
    return raw.rstrip("/")


def _operator_keys(env: Mapping[str, str]) -> tuple[operator_keys.OperatorKey, ...]:
    try:
        return operator_keys.parse(env.get("MAILFERRY_OPERATOR_KEYS", ""))
    except ValueError as exc:
        raise ConfigError(f"MAILFERRY_OPERATOR_KEYS: {exc}") from None


def default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "mailferry"


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 25
    starttls: bool = False
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = "mailferry@localhost"


@dataclass(frozen=True)
class DetectSettings:
    """How far and how long intake's autodetection may look.

    ``nameservers``/``dns_port``: DNS servers to ask (IP addresses); empty means the system's.
    ``http_scheme``/``http_port``: tests serve autoconfig/autodiscover over plain HTTP on a free port; in
    production these stay "https" and the default port. Redirects never leave the configured scheme.
    """

    nameservers: tuple[str, ...] = ()
    dns_port: int = 53
    step_timeout: float = 2.5
    total_timeout: float = 10.0
    http_scheme: Literal["https", "http"] = "https"
    http_port: int | None = None
    ca_file: str = ""
    max_body_bytes: int = 256 * 1024

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> DetectSettings:
        d = cls()
        port = e.get("MAILFERRY_AUTODETECT_HTTP_PORT", "").strip()
        return cls(
            nameservers=tuple(s.strip() for s in e.get("MAILFERRY_AUTODETECT_NAMESERVERS", "").split(",") if s.strip()),
            dns_port=_int(e, "MAILFERRY_AUTODETECT_DNS_PORT", d.dns_port),
            step_timeout=_float(e, "MAILFERRY_AUTODETECT_STEP_TIMEOUT", d.step_timeout),
            total_timeout=_float(e, "MAILFERRY_AUTODETECT_TOTAL_TIMEOUT", d.total_timeout),
            ca_file=e.get("MAILFERRY_CA_FILE", ""),
            # Only for test rigs and odd setups: where autoconfig/autodiscover answer (never in production).
            http_scheme="http" if e.get("MAILFERRY_AUTODETECT_HTTP_SCHEME", "") == "http" else "https",
            http_port=_int(e, "MAILFERRY_AUTODETECT_HTTP_PORT", 0) if port else None,
        )


@dataclass(frozen=True)
class Settings:
    """Every setting, with the variable it comes from documented in the README."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    intake_port: int = 8080
    http_port: int = 9100
    #: The address intake and the workers' health/metrics servers listen on: loopback unless the
    #: operator says otherwise (Kubernetes and the image set 0.0.0.0: a pod's own network is private).
    bind_host: str = "127.0.0.1"
    #: Proxies (addresses or CIDRs) whose X-Forwarded-For intake believes; none by default, so a client
    #: cannot choose the address its requests are rate-limited under.
    trusted_proxies: tuple[str, ...] = ()
    #: The address users reach intake at (``https://mailferry.example.com``): where a sign-in with Microsoft comes
    #: back to. Empty: only an intake reached on a loopback name takes it from the request (the local stack).
    public_url: str = ""
    #: Seconds a request body may stall (no bytes arriving) before intake answers 408 and closes the connection.
    body_timeout_seconds: float = 30.0
    #: Seconds a request's head (request line and headers) may take to arrive whole (slow clients: 408 or closed).
    head_timeout_seconds: float = 15.0
    #: Seconds an idle kept-alive connection stays open between two requests.
    keep_alive_seconds: float = 5.0
    #: Open connections one client address (IPv6: its /64) may hold; trusted proxies are not counted.
    max_connections_per_client: int = 32
    #: Open connections in all; past it a new one takes the place of the one waiting longest for a request.
    max_connections: int = 1000
    allow_hosts: AllowList = field(default_factory=lambda: AllowList.parse(""))
    secret_key: str = field(default="", repr=False)
    state_dir: Path = field(default_factory=default_state_dir)
    spool_dir: Path | None = None
    topic_prefix: str = ""
    topic_partitions: int = DEFAULT_PARTITIONS
    inline_limit: int = 512 * 1024
    task_size: int = 500
    fetch_batch_bytes: int = 8 * 1024 * 1024
    load_batch: int = 1000
    load_batch_bytes: int = 32 * 1024 * 1024
    load_connections: int = 4
    extract_connections: int = 8
    undo_window_hours: float = 48.0
    #: How long the undo topic keeps its records: at least the undo window plus a margin.
    undo_retention_hours: float = float(topics.DEFAULT_UNDO_RETENTION_HOURS)
    undo_batch: int = 500
    # A migration, cancel or undo that makes no progress for this long is ended as failed (it can be undone).
    stall_timeout_minutes: float = 60.0
    ews_max_connections: int = 4
    session_caps: SessionCaps = field(default_factory=SessionCaps)
    #: Chains a migration's extract tasks are dealt into: at most this many of its tasks wait in the queue.
    migration_share: int = 16
    #: Messages a migration's extraction may run ahead of its loading before its tasks wait (0: no limit).
    migration_window: int = 5000
    ca_file: str = ""
    allow_insecure_tls: bool = False
    connect_timeout: float = 15.0
    login_checks_per_minute: int = 10
    pst_max_bytes: int = 50 * 1000**3
    #: Whether anyone who reaches intake may name an account the operator's app signs in to (Microsoft 365
    #: ``auth: app``); false: only a request with an operator key (services/intake/operator_app_gate.py).
    operator_app_public: bool = False
    #: Who may use the operator API (/api/v1/operator): named keys with a role, only their SHA-256 kept.
    operator_keys: tuple[operator_keys.OperatorKey, ...] = ()
    #: Failed operator-key attempts a client address may make in a minute before it gets 429.
    operator_auth_failures_per_minute: int = 20
    #: A project's data (rows, status, reports, sealed credentials) is deleted this many days after it ended.
    project_retention_days: float = 30.0
    #: What the pre-flight estimate assumes one mailbox moves at (measured on the local stack; see README).
    estimate_messages_per_second: float = 100.0
    estimate_bytes_per_second: float = 5_000_000.0
    log_level: str = "INFO"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    autodetect: DetectSettings = field(default_factory=DetectSettings)

    @property
    def spool(self) -> Path:
        return self.spool_dir or (self.state_dir / "spool")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        d = cls()
        try:
            allow = AllowList.parse(e.get("MAILFERRY_ALLOW_HOSTS", ""))
        except ValueError as exc:
            raise ConfigError(f"MAILFERRY_ALLOW_HOSTS: {exc}") from None
        spool = e.get("MAILFERRY_SPOOL_DIR", "").strip()
        settings = cls(
            kafka_bootstrap=e.get("MAILFERRY_KAFKA_BOOTSTRAP", "").strip() or d.kafka_bootstrap,
            redis_url=e.get("MAILFERRY_REDIS_URL", "").strip() or d.redis_url,
            intake_port=_int(e, "MAILFERRY_INTAKE_PORT", d.intake_port),
            http_port=_int(e, "MAILFERRY_HTTP_PORT", d.http_port),
            bind_host=_address(e, "MAILFERRY_BIND_HOST", d.bind_host),
            trusted_proxies=_networks(e, "MAILFERRY_TRUSTED_PROXIES"),
            public_url=_public_url(e, "MAILFERRY_PUBLIC_URL"),
            body_timeout_seconds=_positive(e, "MAILFERRY_BODY_TIMEOUT_SECONDS", d.body_timeout_seconds),
            head_timeout_seconds=_positive(e, "MAILFERRY_HEAD_TIMEOUT_SECONDS", d.head_timeout_seconds),
            keep_alive_seconds=_positive(e, "MAILFERRY_KEEP_ALIVE_SECONDS", d.keep_alive_seconds),
            max_connections_per_client=_at_least_one(e, "MAILFERRY_MAX_CONNECTIONS_PER_CLIENT",
                                                     d.max_connections_per_client),
            max_connections=_at_least_one(e, "MAILFERRY_MAX_CONNECTIONS", d.max_connections),
            allow_hosts=allow,
            secret_key=e.get("MAILFERRY_SECRET_KEY", ""),
            state_dir=Path(e.get("MAILFERRY_STATE_DIR", "").strip() or default_state_dir()),
            spool_dir=Path(spool) if spool else None,
            topic_prefix=e.get("MAILFERRY_TOPIC_PREFIX", ""),
            topic_partitions=_int(e, "MAILFERRY_TOPIC_PARTITIONS", d.topic_partitions),
            inline_limit=_int(e, "MAILFERRY_INLINE_LIMIT", d.inline_limit),
            task_size=_int(e, "MAILFERRY_TASK_SIZE", d.task_size),
            fetch_batch_bytes=_int(e, "MAILFERRY_FETCH_BATCH_BYTES", d.fetch_batch_bytes),
            load_batch=_int(e, "MAILFERRY_LOAD_BATCH", d.load_batch),
            load_batch_bytes=_int(e, "MAILFERRY_LOAD_BATCH_BYTES", d.load_batch_bytes),
            load_connections=_int(e, "MAILFERRY_LOAD_CONNECTIONS", d.load_connections),
            extract_connections=_int(e, "MAILFERRY_EXTRACT_CONNECTIONS", d.extract_connections),
            undo_window_hours=_float(e, "MAILFERRY_UNDO_WINDOW_HOURS", d.undo_window_hours),
            undo_retention_hours=_float(e, "MAILFERRY_UNDO_RETENTION_HOURS", d.undo_retention_hours),
            undo_batch=_int(e, "MAILFERRY_UNDO_BATCH", d.undo_batch),
            stall_timeout_minutes=_positive(e, "MAILFERRY_STALL_TIMEOUT_MINUTES", d.stall_timeout_minutes),
            ews_max_connections=_int(e, "MAILFERRY_EWS_MAX_CONNECTIONS", d.ews_max_connections),
            ca_file=e.get("MAILFERRY_CA_FILE", ""),
            allow_insecure_tls=_bool(e, "MAILFERRY_ALLOW_INSECURE_TLS", False),
            connect_timeout=_float(e, "MAILFERRY_CONNECT_TIMEOUT", d.connect_timeout),
            login_checks_per_minute=_int(e, "MAILFERRY_LOGIN_CHECKS_PER_MINUTE", d.login_checks_per_minute),
            pst_max_bytes=_int(e, "MAILFERRY_PST_MAX_BYTES", d.pst_max_bytes),
            operator_keys=_operator_keys(e),
            operator_app_public=_bool(e, "MAILFERRY_OPERATOR_APP_PUBLIC", False),
            operator_auth_failures_per_minute=_int(e, "MAILFERRY_OPERATOR_AUTH_FAILURES_PER_MINUTE",
                                                   d.operator_auth_failures_per_minute),
            project_retention_days=_positive(e, "MAILFERRY_PROJECT_RETENTION_DAYS", d.project_retention_days),
            estimate_messages_per_second=_positive(e, "MAILFERRY_ESTIMATE_MESSAGES_PER_SECOND",
                                                   d.estimate_messages_per_second),
            estimate_bytes_per_second=_positive(e, "MAILFERRY_ESTIMATE_BYTES_PER_SECOND",
                                                d.estimate_bytes_per_second),
            log_level=e.get("MAILFERRY_LOG_LEVEL", "INFO").upper(),
            smtp=SmtpSettings(
                host=e.get("MAILFERRY_SMTP_HOST", ""),
                port=_int(e, "MAILFERRY_SMTP_PORT", 25),
                starttls=_bool(e, "MAILFERRY_SMTP_STARTTLS", False),
                user=e.get("MAILFERRY_SMTP_USER", ""),
                password=e.get("MAILFERRY_SMTP_PASSWORD", ""),
                sender=e.get("MAILFERRY_SMTP_FROM", "") or SmtpSettings.sender,
            ),
            autodetect=DetectSettings.from_env(e),
            session_caps=_caps(e),
            migration_share=max(1, _int(e, "MAILFERRY_MIGRATION_SHARE", d.migration_share)),
            migration_window=max(0, _int(e, "MAILFERRY_MIGRATION_WINDOW", d.migration_window)),
        )
        least = settings.undo_window_hours + topics.UNDO_RETENTION_MARGIN_HOURS
        if settings.undo_retention_hours < least:
            raise ConfigError(f"MAILFERRY_UNDO_RETENTION_HOURS must be at least the undo window plus "
                              f"{topics.UNDO_RETENTION_MARGIN_HOURS} hours ({least:g}), "
                              f"got {settings.undo_retention_hours:g}")
        return settings
