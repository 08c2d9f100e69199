"""What the benchmark ran on: cores, CPU, memory, kernel and the versions of every tier."""

import os
import platform
import resource
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from devtools.local_stack.nginx import find_nginx, nginx_version

from .wrk import wrk_version


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    """Total memory in GiB from /proc/meminfo."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def _package(name: str) -> str:
    """The installed version of a Python distribution, or 'not installed'."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: anything else busy on the machine shows here."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def describe(database_kind: str) -> dict[str, str]:
    """Facts about this machine and the software under test, for the report's header."""
    if database_kind == "nx-27017":
        database = f"nx-27017 {_package('nx-27017')} (MongoDB wire-protocol stand-in over SQLite)"
    else:
        database = database_kind
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": _cpu_model(),
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "nginx": nginx_version(find_nginx(install=False)),
        "gunicorn": _package("gunicorn"),
        "granian": _package("granian"),
        "Flask / Werkzeug": f"{_package('flask')} / {_package('werkzeug')}",
        "pymongo": _package("pymongo"),
        "database": database,
        "wrk": wrk_version(),
        "py-spy": _package("py-spy"),
    }


def _machine_busy_seconds() -> float:
    """CPU seconds that all processes of the machine have used since boot (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds used by this process and every child that has exited and been waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CpuUsage:
    """How much of the machine's CPU the benchmark used during the run, and everything else."""

    def __init__(self):
        self.started = time.monotonic()
        self.busy, self.own = _machine_busy_seconds(), _own_seconds()

    def finish(self) -> dict[str, float]:
        """Shares of the machine's capacity (cores x wall time); call after every child exited."""
        capacity = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        busy = _machine_busy_seconds() - self.busy
        own = _own_seconds() - self.own
        return {"bench": own / capacity, "others": max(0.0, busy - own) / capacity}
