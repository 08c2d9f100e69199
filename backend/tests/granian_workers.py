"""The worker processes of a real granian replica, read from /proc, for the process tests."""

from pathlib import Path


def worker_pids(main_pid: int) -> list[int]:
    """The pids of the workers that granian's main process MAIN_PID spawned.

    multiprocessing also starts a resource tracker beside them; the workers run spawn_main.
    """
    children = []
    for task in Path(f"/proc/{main_pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
