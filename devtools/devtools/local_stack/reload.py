"""`make dev` (RELOAD=1): the backend's code is watched, and a change restarts the replicas one
at a time, each waited for before the next, so that nginx always has one to send requests to.

The UI needs nothing of this: nginx serves it from the directory on disk (UI_ROOT), so a change
there is served on the next request.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import attendee_directory

# What a replica loads at start: its code and its bundled data (the sample attendees).
WATCHED_SUFFIXES = (".py", ".json")


def package_dir() -> Path:
    """Where the replicas import the backend from: this process's attendee_directory, found on
    the same sys.path (PYTHONPATH first) that the replicas it starts inherit."""
    return Path(attendee_directory.__file__).resolve().parent


def _files(root: Path) -> Iterator[Path]:
    """The watched files under ROOT, bytecode caches left out."""
    for path in root.rglob("*"):
        if path.suffix in WATCHED_SUFFIXES and "__pycache__" not in path.parts:
            yield path


@dataclass
class CodeWatcher:
    """Tells whether any watched file under ROOT was added, removed or changed since the last
    call (by modification time and size: a poll, no inotify dependency)."""

    root: Path = field(default_factory=package_dir)
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._seen = self._snapshot()

    def _snapshot(self) -> dict[Path, tuple[int, int]]:
        snapshot = {}
        for path in _files(self.root):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # removed while the tree was walked: the next poll sees it gone
            snapshot[path] = (stat.st_mtime_ns, stat.st_size)
        return snapshot

    def changed(self) -> list[Path]:
        """The files that differ from the last call's view (empty: nothing changed)."""
        now = self._snapshot()
        differ = sorted(
            path for path in now.keys() | self._seen.keys() if now.get(path) != self._seen.get(path)
        )
        self._seen = now
        return differ
