"""Fuzzing from our own OpenAPI document: schemathesis (`st run`) with every check, a fixed seed
and a bounded number of examples, straight at one granian replica and through nginx.

Zero failures means: no 5xx from the app, every status and body is one the document declares
(nginx's own errors included), schema-valid requests are accepted and invalid ones refused,
and what a create returns can be read, changed and deleted (the stateful phase).
"""

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devtools.figures import save
from devtools.processes import find_executable
from tests.stack_helpers import new_stack

pytestmark = [pytest.mark.stack, pytest.mark.faults]

SEED = 20230601
MAX_EXAMPLES = 50  # per operation and phase: about 800 cases, about 30 s a run on 2 cores
# Every run generates at least this many cases; fewer would mean schemathesis tested little.
MIN_CASES = 500
RUN_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory):
    """A stack of its own: the fuzzer creates and deletes attendees, and sends writes faster
    than the default rate limit allows (429s are documented, but they would hide the app)."""
    with new_stack(
        tmp_path_factory, "fuzz", replicas=2, write_rate="1000r/s", write_burst=1000
    ) as running:
        yield running


# What the run's checks accept beyond their defaults. A schema-valid If-Match may name a version
# the attendee no longer has (the fuzzer cannot know the current one): 412 is then the right
# answer to valid data, as 409 is for a taken email.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
"""
HOOKS = Path(__file__).with_name("fuzz_hooks.py")


def run_schemathesis(base_url: str, report_dir, *extra: str) -> dict:
    """Run `st run` against BASE_URL's document; return its counts and output."""
    st = find_executable("st")
    if st is None:
        pytest.fail("schemathesis is not installed: make test installs it (uv sync)")
    junit = report_dir / "junit.xml"
    config = report_dir / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        st,
        "--config-file",
        str(config),
        "run",
        f"{base_url}/api/openapi.json",
        "--url",
        base_url,
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: hypothesis's lambda descriptions are not thread-safe on Python 3.11.
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        *extra,
    ]
    # Started in the report directory: its caches (.schemathesis, .hypothesis) stay out of the
    # checkout.
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
        cwd=report_dir,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
    )
    output = done.stdout + done.stderr
    (report_dir / "output.txt").write_text(output)
    suite = ET.parse(junit).getroot()  # noqa: S314 (our own tool wrote it, here)
    generated = re.search(r"(\d+) generated", output)
    return {
        "code": done.returncode,
        "operations": int(suite.get("tests")),
        "failures": int(suite.get("failures")),
        "errors": int(suite.get("errors")),
        "cases": int(generated.group(1)) if generated else 0,
        "output": output,
    }


FIGURES: dict = {}


@pytest.fixture(scope="module", autouse=True)
def figures(pytestconfig):
    """Print the runs' counts and save them for docs/operations.md (test-artifacts/fuzz.json)."""
    yield FIGURES
    save(pytestconfig, "fuzz", FIGURES)


def _check(result: dict, where: str) -> None:
    """Zero failures and errors, and enough cases that the run meant something."""
    FIGURES[f"fuzzing {where} (schemathesis, all checks, seed {SEED})"] = {
        key: result[key] for key in ("cases", "operations", "failures", "errors")
    }
    assert result["code"] == 0, result["output"][-6000:]
    assert result["failures"] == 0 and result["errors"] == 0, result["output"][-6000:]
    assert result["cases"] >= MIN_CASES, result["output"][-3000:]


def test_fuzzing_one_replica_directly_finds_nothing(fuzz_stack, tmp_path):
    """Straight at one granian replica, where no rate limit or proxy hides the app."""
    replica = fuzz_stack.backends[0]
    _check(run_schemathesis(f"http://127.0.0.1:{replica.port}", tmp_path), "at one replica")


def test_fuzzing_through_nginx_finds_nothing(fuzz_stack, tmp_path):
    """Through the real nginx: its own errors must be documented and in the JSON shape too.

    /healthz is the replicas' liveness probe and nginx does not publish it (nginx has its own,
    /nginx-health), so it is the one documented path left out here.
    """
    _check(
        run_schemathesis(fuzz_stack.url, tmp_path, "--exclude-path", "/healthz"),
        "through nginx",
    )
