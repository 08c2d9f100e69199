"""The container benchmark's results: what containers.py measures and containers_report.py
renders, saved as JSON between the two."""

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Figure:
    """One endpoint at one connection count: the median of the repeats."""

    endpoint: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    spread: float  # (fastest - slowest repeat) / median


@dataclass
class StackResult:
    """One stack under one setting: throughput, start-up and memory."""

    label: str
    practice: bool
    workers: int | None  # granian's per replica (None: the Flask development server)
    threads: int | None
    shipped: bool
    serving_s: float  # from `up` to the first 200 from /api/whoami through nginx
    healthy_s: float  # from `up` to every container running (and healthy, where checked)
    scale_measured: bool
    scale_s: float | None  # from `--scale backend=3` to the new replica answering; None: never
    memory_idle: dict[str, float]  # MiB per container (service-N)
    memory_load: dict[str, float]
    mem_limits: dict[str, float]  # MiB, the limits compose set (0: none)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Results:
    """A whole run: how it was made and every stack's figures."""

    when: str
    quick: bool
    seconds: int
    repeats: int
    connections: list[int]
    mode: str
    cpus: int
    scale_timeout_s: float
    load_memory_connections: int
    load_average: list[float]  # the machine's 1-minute load average at the start and the end
    stacks: list[StackResult] = field(default_factory=list)

    def to_json(self) -> str:
        """The results as JSON text."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Results":
        """Results from to_json's text."""
        raw = json.loads(text)
        stacks = [
            StackResult(**{**s, "figures": [Figure(**f) for f in s["figures"]]})
            for s in raw.pop("stacks")
        ]
        return cls(**raw, stacks=stacks)
