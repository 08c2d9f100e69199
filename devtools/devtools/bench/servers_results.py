"""What the servers part measures, as typed results (the report reads these, nothing else)."""

import math
from dataclasses import dataclass, field

from .h2load import H2Run
from .profile import Profile
from .setups import ServerConfig
from .wrk import Result, Run


@dataclass(frozen=True)
class Pair:
    """Ours against the practice-style setup at one endpoint and connection count."""

    ours: Result
    practice: Result

    @property
    def ratio(self) -> float:
        """Ours' req/s over practice-style's."""
        return self.ours.rps / self.practice.rps if self.practice.rps else math.inf


@dataclass(frozen=True)
class ProxyCost:
    """One endpoint through nginx against one replica with all the workers, hit directly."""

    via_nginx: Result
    direct: Result

    @property
    def cost(self) -> float:
        """1 - (through nginx / direct) in req/s."""
        return 1 - self.via_nginx.rps / self.direct.rps


@dataclass(frozen=True)
class MetricsCost:
    """One endpoint of the shipped stack with its Prometheus metrics on and with METRICS=false."""

    on: Result
    off: Result

    @property
    def cost(self) -> float:
        """1 - (with metrics / without) in req/s: the share of throughput the metrics take."""
        return 1 - self.on.rps / self.off.rps if self.off.rps else 0.0


@dataclass(frozen=True)
class AuthCost:
    """One endpoint through the shipped stack, signed in each way, against the same stack with
    the sign-in check taken out (bench/unchecked.py)."""

    unchecked: Result
    signed_in: dict[str, Result]  # way of signing in -> figures

    def cost(self, way: str) -> float:
        """1 - (signed in that WAY / unchecked) in req/s: the share the check takes."""
        found = self.signed_in[way]
        return 1 - found.rps / self.unchecked.rps if self.unchecked.rps else 0.0


@dataclass(frozen=True)
class TlsCost:
    """One endpoint through nginx over plain HTTP, over HTTPS with HTTP/1.1 (both wrk), and over
    HTTPS with HTTP/2 (h2load, when installed)."""

    plain: Result
    https: Result
    http2: H2Run | None

    @property
    def cost(self) -> float:
        """1 - (HTTPS / plain HTTP) in req/s, both HTTP/1.1: the share TLS takes."""
        return 1 - self.https.rps / self.plain.rps if self.plain.rps else 0.0


@dataclass(frozen=True)
class ServerFigures:
    """The whole stack under one WSGI server configuration."""

    config: ServerConfig
    whoami: Result
    list: Result

    @property
    def score(self) -> float:
        """The geometric mean of whoami's and list's req/s: neither endpoint decides alone."""
        return math.sqrt(self.whoami.rps * self.list.rps)


@dataclass(frozen=True)
class DatabaseRates:
    """Queries/s of the list and get endpoints' queries straight from pymongo (best of THREADS)."""

    threads: tuple[int, ...]
    list_exact_count: float  # count_documents({}) + the first page
    list_stored_count: float  # estimated_document_count() + the first page (what the list does)
    exact_count: float
    stored_count: float
    first_page: float
    get_by_id: float


@dataclass
class Profiles:
    """py-spy's samples of one replica (and the database) under list, then whoami load."""

    error: str | None = None
    list_load: Run | None = None
    list_replica: Profile | None = None
    list_database: Profile | None = None
    whoami_load: Run | None = None
    whoami_replica: Profile | None = None


@dataclass
class ServersResults:
    """The servers part: ours vs practice-style, ceilings, proxy cost, servers, database."""

    connections: list[int]
    seconds: int
    repeats: int
    replicas: int
    shipped: ServerConfig
    database: str = ""
    seeded: int = 0
    wrk_runs: int = 0
    endpoints: dict[str, dict[int, Pair]] = field(default_factory=dict)
    nginx_ceiling: Result | None = None
    hello_ceiling: Result | None = None
    proxy_config: ServerConfig | None = None
    proxy: dict[str, ProxyCost] = field(default_factory=dict)
    servers: list[ServerFigures] = field(default_factory=list)
    metrics: dict[str, MetricsCost] = field(default_factory=dict)
    auth: dict[str, AuthCost] = field(default_factory=dict)
    tls: dict[str, TlsCost] = field(default_factory=dict)
    h2load_missing: str | None = None  # the install hint, when h2load was not found
    # One replica, direct: "flask" (a one-view Flask app, same launcher), whoami, list, get.
    request_path: dict[str, Result] = field(default_factory=dict)
    database_rates: DatabaseRates | None = None
    profiles: Profiles = field(default_factory=Profiles)

    @property
    def top(self) -> int:
        """The highest connection count, where the headline figures are taken."""
        return max(self.connections)

    def ranked(self) -> list[ServerFigures]:
        """Every server configuration, best score first."""
        return sorted(self.servers, key=lambda figures: -figures.score)
