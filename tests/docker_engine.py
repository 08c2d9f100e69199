"""The container suites' shared skip: visible, with the reason and the way out."""

import pytest

from devtools.compose import engine_problem


def skip_without_engine() -> None:
    """Skip the calling suite, visibly and with the way out, when no Docker engine answers."""
    problem = engine_problem()
    if problem:
        pytest.skip(problem, allow_module_level=True)
