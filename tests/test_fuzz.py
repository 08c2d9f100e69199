"""Fuzzing from our own OpenAPI document: schemathesis (`st run`) with every check, as a user
runs it (the repository's schemathesis.toml, no hooks), straight at one granian replica and
through nginx: once with a seed drawn for this run, once with the fixed seed, as an admin (an
API token); and, with the fresh seed, as a viewer, as an editor, and with no credentials (every
protected operation then answers 401; schemathesis' ignored_auth check also drops the token of
the signed-in runs and expects a 401).

Zero failures means: no 5xx from the app, every status and body is one the document declares
(nginx's own errors included), schema-valid requests are accepted and invalid ones refused,
undeclared methods get 405, and what a create returns can be read, replaced, updated and
deleted through the links the document declares (the stateful phase).

A failure names its seed: `FUZZ_SEED=<seed> pytest tests/test_fuzz.py` runs it again.
"""

import os
import re
import secrets
import subprocess
import xml.etree.ElementTree as ET

import pytest
from pymongo import MongoClient

from attendee_directory import accounts
from devtools.figures import save
from devtools.local_stack.nginx import NO_LIMITS
from devtools.paths import REPO
from devtools.processes import find_executable
from tests.stack_helpers import new_stack

pytestmark = [pytest.mark.stack, pytest.mark.faults]

FIXED_SEED = 20230601  # one run that is the same every time
# A seed of its own for every run (FUZZ_SEED repeats one): the contract has to hold for every
# sample of inputs, not for one.
FRESH_SEED = int(os.environ.get("FUZZ_SEED") or secrets.randbelow(2**32))
# Examples per operation and phase, as the admin: the fixed seed about 1,100 cases, a fresh
# seed about 2,000 (about 30 s and 60 s a run on 2 cores); each other role a smaller run.
EXAMPLES = {"fixed": 30, "fresh": 60, "role": 20}
# Every run generates at least this many cases; fewer would mean schemathesis tested little.
MIN_CASES = 400
RUN_TIMEOUT_SECONDS = 300
CONTRACT = REPO / "schemathesis.toml"


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory):
    """A stack of its own: the fuzzer creates and deletes attendees, and sends writes faster
    than the default rate limit allows (429s are documented, but they would hide the app)."""
    with new_stack(tmp_path_factory, "fuzz", replicas=2, front_door=NO_LIMITS) as running:
        yield running


ROLE_PASSWORD = "the fuzzing roles' password"


def credentials(stack, who: str) -> list[str]:
    """The -H option of WHO: an API token of a user with that role made for this run alone,
    straight in the stack's database (an earlier run may have changed any user it found, and
    its failed sign-ins may have throttled this address), or none for the anonymous run."""
    if who == "anonymous":
        return []
    with MongoClient(stack.running_database().uri, tz_aware=True) as client:
        database = client[stack.mongo_db]
        name = f"fuzz-{who}-{secrets.token_hex(4)}"
        user = accounts.create_user(database, name, ROLE_PASSWORD, who, ("fuzz suite", "cli"))
        token, _ = accounts.create_token(database, str(user["_id"]), "fuzz", 1)
    return ["-H", f"Authorization: Bearer {token}"]


def replica_options(stack) -> list[str]:
    """The -H options of what a request straight to a replica sends (the run's secret)."""
    return [
        option
        for name, value in stack.replica_headers.items()
        for option in ("-H", f"{name}: {value}")
    ]


def run_schemathesis(
    base_url: str, report_dir, seed: int, examples: int, credentials: list[str]
) -> dict:
    """Run `st run` against BASE_URL's document at SEED with CREDENTIALS (-H options); return
    its counts and output."""
    st = find_executable("st")
    if st is None:
        pytest.fail("schemathesis is not installed: make test installs it (uv sync)")
    junit = report_dir / "junit.xml"
    command = [
        st,
        "--config-file",
        str(CONTRACT),
        "run",
        f"{base_url}/api/openapi.json",
        "--url",
        base_url,
        "--checks",
        "all",
        "--seed",
        str(seed),
        "--max-examples",
        str(examples),
        # One worker: hypothesis's lambda descriptions are not thread-safe on Python 3.11.
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        *credentials,
        # schemathesis' ignored_auth check cannot take away a header given with -H (it sends a
        # made-up cookie beside the real token): the anonymous run is where it applies.
        *(["--exclude-checks", "ignored_auth"] if credentials else []),
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
        "stateful": _stateful_scenarios(output),
        "output": output,
    }


def _stateful_scenarios(output: str) -> int:
    """How many scenarios the stateful phase ran (0 if it was skipped)."""
    found = re.search(r"Stateful \(in [^)]*\)\s+Scenarios:\s+(\d+)", output)
    return int(found.group(1)) if found else 0


FIGURES: dict = {}


@pytest.fixture(scope="module", autouse=True)
def figures(pytestconfig):
    """Print the runs' counts and save them for docs/operations.md (test-artifacts/fuzz.json)."""
    yield FIGURES
    save(pytestconfig, "fuzz", FIGURES)


def _check(result: dict, where: str, seed: int) -> None:
    """Zero failures and errors, enough cases that the run meant something, and the stateful
    phase run; a failure names the seed."""
    FIGURES[f"fuzzing {where} (schemathesis, all checks, seed {seed})"] = {
        key: result[key] for key in ("cases", "stateful", "operations", "failures", "errors")
    }
    again = f"seed {seed}: FUZZ_SEED={seed} pytest tests/test_fuzz.py repeats it\n"
    assert result["code"] == 0, again + result["output"][-6000:]
    assert result["failures"] == 0 and result["errors"] == 0, again + result["output"][-6000:]
    assert result["cases"] >= MIN_CASES, again + result["output"][-3000:]
    assert result["stateful"] > 0, again + result["output"][-3000:]


SEEDS = {"fresh": FRESH_SEED, "fixed": FIXED_SEED}


@pytest.mark.parametrize("kind", list(SEEDS))
def test_fuzzing_one_replica_directly_finds_nothing(fuzz_stack, tmp_path, kind):
    """Straight at one granian replica, where no rate limit or proxy hides the app."""
    replica = fuzz_stack.backends[0]
    seed = SEEDS[kind]
    result = run_schemathesis(
        f"http://127.0.0.1:{replica.port}",
        tmp_path,
        seed,
        EXAMPLES[kind],
        # The replica answers only what carries nginx's secret (as nginx adds it).
        credentials(fuzz_stack, "admin") + replica_options(fuzz_stack),
    )
    _check(result, "at one replica, as admin", seed)


@pytest.mark.parametrize("kind", list(SEEDS))
def test_fuzzing_through_nginx_finds_nothing(fuzz_stack, tmp_path, kind):
    """Through the real nginx, every path of the document (it proxies /healthz and /readyz):
    its own errors must be documented and in the JSON shape too."""
    seed = SEEDS[kind]
    result = run_schemathesis(
        fuzz_stack.url, tmp_path, seed, EXAMPLES[kind], credentials(fuzz_stack, "admin")
    )
    _check(result, "through nginx, as admin", seed)


@pytest.mark.parametrize("who", ["viewer", "editor", "anonymous"])
def test_fuzzing_as_each_other_caller_finds_nothing(fuzz_stack, tmp_path, who):
    """Through nginx, with the fresh seed: a viewer (403 on writes and on users), an editor,
    and nobody (401 on every protected operation) keep the contract too."""
    result = run_schemathesis(
        fuzz_stack.url, tmp_path, FRESH_SEED, EXAMPLES["role"], credentials(fuzz_stack, who)
    )
    _check(result, f"through nginx, as {who}", FRESH_SEED)
