"""Settings: read from environment variables, parsed and validated in one place.

Every setting is a field below, its default written once; the variable is the field's name in
upper case (MONGO_URI), and NAME_FILE names a file holding the value instead (a Docker or
Kubernetes secret, e.g. MONGO_URI_FILE=/run/secrets/mongo_uri). The local run, the benchmark
and the server launcher take their defaults from here too.
"""

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(RuntimeError):
    """A required setting is missing or a setting has an invalid value."""


def _lowercase(value: object) -> object:
    """Compare names in lower case and without surrounding spaces: ` INFO` means info."""
    return value.strip().lower() if isinstance(value, str) else value


LogLevel = Annotated[
    Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lowercase)
]
LogFormat = Annotated[Literal["text", "json"], BeforeValidator(_lowercase)]


class _SecretFiles(PydanticBaseSettingsSource):
    """NAME_FILE=path: the value of NAME is that file's contents, surrounding whitespace removed."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Read one field's file, if its NAME_FILE variable is set (the base class asks)."""
        variable = f"{field_name.upper()}_FILE"
        path = os.environ.get(variable)
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8").strip(), field_name, False
        except OSError as exc:
            raise ConfigError(f"{variable}={path} cannot be read: {exc}") from exc

    def __call__(self) -> dict[str, Any]:
        """The values of every field whose NAME_FILE is set."""
        values = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, name)
            if value is not None:
                values[name] = value
        return values


class _Environment(BaseSettings):
    """Settings read from NAME or NAME_FILE; a bad or missing one is a ConfigError naming it."""

    # Empty variables count as unset, as `NAME=` in a compose file means "use the default".
    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True)

    log_level: LogLevel = "info"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then NAME_FILE, then NAME: a secret file wins over the variable."""
        return init_settings, _SecretFiles(settings_cls), env_settings

    @classmethod
    def from_env(cls) -> Self:
        """Build the settings from the environment; ConfigError names each bad variable."""
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(cls._explain(exc)) from None

    @classmethod
    def _explain(cls, error: ValidationError) -> str:
        """One line per refused variable: its name, what was wrong, and the value given."""
        lines = []
        for problem in error.errors():
            name = str(problem["loc"][0]).upper()
            if problem["type"] == "missing":
                lines.append(f"{name} (or {name}_FILE) is required")
            else:
                lines.append(f"{name}: {problem['msg']}, got {problem['input']!r}")
        return "; ".join(lines)


class Settings(_Environment):
    """Everything the application can be told from outside."""

    mongo_uri: str = Field(min_length=1)
    mongo_db: str = "vdt2023"
    # pymongo's timeoutMS, the bound of every database operation (and of server selection and
    # connecting): shorter than nginx's 2 s read timeout (webserver/nginx_config.py), so that a
    # replica whose database is gone or frozen answers its JSON 503 before nginx gives up on it.
    mongo_timeout_ms: int = Field(1000, ge=100)
    replica_name: str = Field(default_factory=socket.gethostname)
    seed_on_start: bool = True
    max_body_bytes: int = Field(16 * 1024, ge=1024)
    stats_flush_seconds: float = Field(1.0, ge=0)
    log_format: LogFormat = "text"
    access_log: bool = True
    # Prometheus metrics (metrics.py): off, nothing is counted and /metrics is a 404; the
    # benchmark measures what they cost (make bench).
    metrics: bool = True
    idempotency_key_ttl_seconds: int = Field(24 * 3600, ge=1)
    # Accounts (accounts.py): the first admin is created on first start from ADMIN_PASSWORD
    # (or ADMIN_PASSWORD_FILE, a secret) when no user of that name exists yet; later changes
    # go through `python -m attendee_directory users`.
    admin_username: str = Field("admin", min_length=1, max_length=64)
    admin_password: SecretStr | None = None
    # A browser session lasts this long after sign-in (it is not extended by use).
    session_lifetime_seconds: int = Field(12 * 3600, ge=60)
    # API tokens expire after the days asked for, at most this many.
    token_max_days: int = Field(365, ge=1)
    # A replica trusts a session or token it checked for this long (0: every request reads the
    # database); whatever revokes one answers only after this long, when no replica trusts it
    # any more (credentials.CredentialCache; the cost: docs/benchmarks.md).
    credential_cache_seconds: float = Field(0.5, ge=0, le=2)
    # Failed sign-ins (signin_throttle.py): an account (or a client address) may fail this many
    # times, then waits SIGNIN_DELAY_SECONDS, twice that after the next failure, and so on up
    # to SIGNIN_MAX_DELAY_SECONDS. An address gets more attempts than an account: one address
    # may be a whole office behind one NAT.
    signin_account_attempts: int = Field(5, ge=1)
    signin_address_attempts: int = Field(20, ge=1)
    signin_delay_seconds: float = Field(1.0, gt=0)
    signin_max_delay_seconds: float = Field(15 * 60, gt=0)
    # How many proxies in front of the replica append to X-Forwarded-For (nginx: 1). The client
    # address is the entry that many places from the end; 0 trusts no header (the peer address).
    forwarded_hops: int = Field(1, ge=0)

    def first_admin(self) -> tuple[str, str] | None:
        """The admin to create on first start: (ADMIN_USERNAME, ADMIN_PASSWORD), if one is set."""
        if self.admin_password is None:
            return None
        return self.admin_username, self.admin_password.get_secret_value()

    @classmethod
    def _explain(cls, error: ValidationError) -> str:
        """As the base class's, with an example for the one setting that has no default."""
        if any(problem["loc"][0] == "mongo_uri" for problem in error.errors()):
            return "MONGO_URI (or MONGO_URI_FILE) is required, e.g. mongodb://127.0.0.1:27017/"
        return super()._explain(error)


class ServerSettings(_Environment):
    """What granian is told (serve.py): where to listen, how many workers and threads."""

    host: str = "0.0.0.0"  # noqa: S104 (the container's port)
    port: int = Field(5000, ge=1)
    # Worker processes; each builds its own app and MongoClient. One per replica: on 2 cores with
    # 2 replicas a second worker scored no higher and cost ~45 MiB more per replica
    # (docs/benchmarks.md, "Containers"); raise it on a bigger machine with fewer replicas.
    web_concurrency: int = Field(1, ge=1)
    # Threads per worker that run requests (Flask and pymongo block).
    web_threads: int = Field(4, ge=1)
    # Seconds in-flight requests get to finish after SIGTERM before the workers are killed.
    graceful_timeout: int = Field(20, ge=1)


def default(settings: type[BaseSettings], name: str) -> Any:
    """The default of one setting, for the tools that start the app (local run, benchmark)."""
    return settings.model_fields[name].get_default(call_default_factory=True)
