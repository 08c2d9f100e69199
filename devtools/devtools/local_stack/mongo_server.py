"""The database for local runs and tests: MONGO_URI if given, else mongod, else nx-27017.

nx-27017 is a MongoDB wire-protocol server over SQLite (PyPI). It stands in for MongoDB where
no mongod binary can be installed; it has no authentication. Which one runs is always said.
"""

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..processes import find_executable, free_port, start, stop, wait_until


@dataclass
class MongoServer:
    """A MongoDB wire-protocol server that this process started, or one that was given."""

    uri: str
    kind: str  # "external", "mongod" or "nx-27017"
    data_dir: Path | None = None
    port: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line saying which database this is, for logs and test reports."""
        if self.kind == "external":
            return f"external MongoDB at MONGO_URI ({self.uri.split('@')[-1]})"
        note = (
            " (MongoDB wire-protocol stand-in over SQLite, no auth)"
            if self.kind == "nx-27017"
            else ""
        )
        return f"{self.kind}{note} on {self.uri}, data in {self.data_dir}"

    def stop(self) -> None:
        """Stop the server if this process started it; its data directory stays."""
        if self.process is not None:
            stop(self.process)
            self.process = None

    def restart(self) -> None:
        """Start the server again on the same port and data directory.

        stop() reaps a server that died; its pid file would otherwise make nx-27017 refuse to
        start ("already running") if another process has taken that pid meanwhile.
        """
        if self.data_dir is None or self.port is None:
            raise RuntimeError(f"{self.describe()} was not started here: it is not restarted")
        self.stop()
        _pid_file(self.data_dir).unlink(missing_ok=True)
        self.process = _launch(self.kind, self.data_dir, self.port)
        _wait_ready(self.uri, self.process)


def _pid_file(data_dir: Path) -> Path:
    """Where nx-27017 records its pid; it refuses to start while that pid is alive."""
    return data_dir / "nx-27017.pid"


def _nx_27017_command() -> list[str]:
    """The nx-27017 entry point, preferring the one installed beside this Python."""
    found = find_executable("nx-27017")
    if found:
        return [found]
    raise RuntimeError("nx-27017 is not installed: pip install nx-27017 (or set MONGO_URI)")


def _launch(kind: str, data_dir: Path, port: int) -> subprocess.Popen:
    """Start mongod or nx-27017 on 127.0.0.1:PORT with its data in DATA_DIR."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if kind == "mongod":
        args = ["mongod", "--bind_ip", "127.0.0.1", "--port", str(port), "--dbpath", str(data_dir)]
    else:
        # nx-27017 refuses to start while its pid file names a live process: one per data dir.
        args = [
            *_nx_27017_command(),
            "--data-dir",
            str(data_dir),
            "--pid-file",
            str(_pid_file(data_dir)),
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
        ]
    return start(args, data_dir / f"{kind}.log")


def _ping(uri: str) -> bool:
    """True when the server at URI answers a ping."""
    try:
        client: MongoClient[dict] = MongoClient(
            uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        with client:
            client.admin.command("ping")
        return True
    except PyMongoError:
        return False


def _wait_ready(uri: str, process: subprocess.Popen | None) -> None:
    """Wait until the server answers, failing early if its process dies."""
    wait_until(lambda: _ping(uri), timeout=30, what=f"database at {uri}", process=process)


def start_mongo(data_dir: Path, uri: str | None = None, port: int | None = None) -> MongoServer:
    """Use URI if given; otherwise start mongod if it is on PATH, else nx-27017, in DATA_DIR."""
    if uri:
        _wait_ready(uri, None)
        return MongoServer(uri=uri, kind="external")
    kind = "mongod" if shutil.which("mongod") else "nx-27017"
    port = port or free_port()
    process = _launch(kind, data_dir, port)
    server = MongoServer(f"mongodb://127.0.0.1:{port}/", kind, data_dir, port, process)
    try:
        _wait_ready(server.uri, process)
    except BaseException:
        server.stop()
        raise
    return server
