"""Settings: read from environment variables, parsed and validated in one place."""

import os
import socket
from dataclasses import dataclass

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")


class ConfigError(RuntimeError):
    """A required setting is missing or a setting has an invalid value."""


def _read(name: str, default: str | None = None) -> str | None:
    """Return NAME from the environment, or the contents of the file named by NAME_FILE."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def number(name: str, default: str, kind: type, minimum: float) -> int | float:
    """Parse a numeric setting and check its lower bound."""
    raw = _read(name, default)
    try:
        value = kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _flag(name: str, default: str) -> bool:
    """Parse a boolean setting written as 1/0, true/false, yes/no or on/off."""
    raw = (_read(name, default) or "").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def log_level() -> str:
    """LOG_LEVEL as a name that logging knows: debug, info, warning, error or critical."""
    raw = (_read("LOG_LEVEL", "info") or "info").strip().lower()
    if raw not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw


def log_format() -> str:
    """LOG_FORMAT: text (human-readable lines, the default) or json (one object per line)."""
    raw = (_read("LOG_FORMAT", "text") or "text").strip().lower()
    if raw not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything the application can be told from outside."""

    mongo_uri: str
    mongo_db: str = "vdt2023"
    # Shorter than nginx's 2 s read timeout (webserver/nginx_config.py), so that a replica whose
    # database is gone answers its JSON 503 before nginx gives up on it and tries another.
    mongo_timeout_ms: int = 1000
    replica_name: str = ""
    seed_on_start: bool = True
    max_body_bytes: int = 16 * 1024
    stats_flush_seconds: float = 1.0
    log_level: str = "info"
    log_format: str = "text"
    access_log: bool = True
    idempotency_key_ttl_seconds: int = 24 * 3600

    @classmethod
    def from_env(cls) -> "Settings":
        """Build the settings from the environment; MONGO_URI (or MONGO_URI_FILE) is required."""
        uri = _read("MONGO_URI")
        if not uri:
            raise ConfigError(
                "MONGO_URI (or MONGO_URI_FILE) is required, e.g. mongodb://127.0.0.1:27017/"
            )
        return cls(
            mongo_uri=uri,
            mongo_db=_read("MONGO_DB", "vdt2023") or "vdt2023",
            mongo_timeout_ms=int(number("MONGO_TIMEOUT_MS", "1000", int, 100)),
            replica_name=_read("REPLICA_NAME") or socket.gethostname(),
            seed_on_start=_flag("SEED_ON_START", "true"),
            max_body_bytes=int(number("MAX_BODY_BYTES", str(16 * 1024), int, 1024)),
            stats_flush_seconds=float(number("STATS_FLUSH_SECONDS", "1.0", float, 0)),
            log_level=log_level(),
            log_format=log_format(),
            access_log=_flag("ACCESS_LOG", "true"),
            idempotency_key_ttl_seconds=int(
                number("IDEMPOTENCY_KEY_TTL_SECONDS", str(24 * 3600), int, 1)
            ),
        )
