"""The servers part of `make bench`: this stack against the practice-style setup, the
machine's ceilings, the proxy's cost, the WSGI servers, what metrics and sign-in cost, the
database's own rate and profiles.

One database (seeded by the backend on its first request) serves both setups: this project's
stack (nginx -> replicas under granian, started as the image starts them, by
attendee_directory.serve) and the practice-style one (plain nginx -> `python3 app.py`).
Every load run is wrk for a fixed time against 127.0.0.1; each figure is the median of repeats.
"""

import argparse
import json
import time
from contextlib import ExitStack
from pathlib import Path

from attendee_directory.config import Settings, default
from devtools.local_stack.mongo_server import start_mongo
from devtools.processes import free_port

from . import profile
from .credentials import open_url
from .database import count_attendees, query_rates, remove_bench_attendees
from .h2load import INSTALL_HINT as H2LOAD_HINT
from .h2load import h2load_binary, median_h2, run_h2load
from .servers_results import (
    AuthCost,
    MetricsCost,
    Pair,
    Profiles,
    ProxyCost,
    ServerFigures,
    ServersResults,
    TlsCost,
)
from .setups import FixedNginx, PracticeSetup, ServerConfig, ServerStack
from .wrk import WARMUP_S, median, run_wrk

MONGO_DB = default(Settings, "mongo_db")
# The backend without its sign-in check: the auth section's baseline.
UNCHECKED_APP = "devtools.bench.unchecked:app"
# granian through attendee_directory.serve, with LocalStack's defaults (what `make run` starts).
SHIPPED = ServerConfig("granian", workers=1, threads=4)
ALTERNATIVES = [
    ServerConfig("granian", workers=2, threads=4),  # the container's WEB_CONCURRENCY default
    ServerConfig("granian", workers=1, threads=16),  # more requests waiting on the database
    # gunicorn (gunicorn.conf.py beside this file), the server the backend shipped with before
    # granian.
    ServerConfig("gunicorn", workers=1, threads=4),
    ServerConfig("gunicorn", workers=2, threads=4),
    ServerConfig("gunicorn", workers=2, threads=1, worker_class="sync"),
]
ENDPOINTS = {
    "whoami": "/api/whoami",
    "list": "/api/attendees?page=1&per_page=20",
    "get": "/api/attendees/{id}",
    "create": "/api/attendees",
}


class Runner:
    """Runs wrk the same way for every section: a warm-up, then interleaved repeats."""

    def __init__(self, seconds: int, repeats: int, mongo_uri: str):
        self.seconds, self.repeats, self.mongo_uri = seconds, repeats, mongo_uri
        self.runs = 0

    def measure(self, targets: dict, connections: int, create: bool = False, warm: bool = True):
        """Median Result per target; targets take turns, in reverse order on odd repeats."""
        for name, url in targets.items() if warm else ():
            self._run(url, connections, WARMUP_S, f"warm-{name}" if create else None)
        runs: dict[str, list] = {name: [] for name in targets}
        for repeat in range(self.repeats):
            order = list(targets) if repeat % 2 == 0 else list(reversed(targets))
            for name in order:
                tag = f"{name}-c{connections}-r{repeat}" if create else None
                runs[name].append(self._run(targets[name], connections, self.seconds, tag))
        return {name: median(results) for name, results in runs.items()}

    def _run(self, url: str, connections: int, seconds: int, create_tag: str | None):
        """One wrk run; after a create run, its attendees are removed so the data stays the same."""
        self.runs += 1
        result = run_wrk(url, connections, seconds, create_tag)
        if create_tag:
            remove_bench_attendees(self.mongo_uri, MONGO_DB)
        return result


def first_id(url: str) -> str:
    """Ask the list endpoint once (the backend seeds an empty database then); return an id."""
    address = f"{url}/api/attendees?per_page=1"
    with open_url(address, timeout=30) as response:
        return json.load(response)["items"][0]["id"]


def endpoint_table(runner, args, setups: dict, endpoints: list[str]) -> dict:
    """Ours vs practice-style for ENDPOINTS, at each connection count."""
    some_id = first_id(setups["ours"].url)
    table: dict[str, dict[int, Pair]] = {}
    for endpoint in endpoints:
        path = ENDPOINTS[endpoint].format(id=some_id)
        for connections in args.connections:
            targets = {name: setup.url + path for name, setup in setups.items()}
            print(f"  {endpoint} at {connections} connections ...", flush=True)
            found = runner.measure(
                targets,
                connections,
                create=endpoint == "create",
                warm=connections == args.connections[0],  # once per endpoint is enough
            )
            table.setdefault(endpoint, {})[connections] = Pair(found["ours"], found["practice"])
    return table


def ceilings(runner, args, stacks: ExitStack, state: Path, mongo_uri: str) -> dict:
    """nginx answering a fixed 200, and a bare WSGI hello-world on one replica, directly."""
    nginx = stacks.enter_context(FixedNginx(state / "fixed-200"))
    hello = stacks.enter_context(
        ServerStack(
            state_dir=state / "hello",
            replicas=1,
            port=free_port(),
            mongo_uri=mongo_uri,
            config=SHIPPED,
            app="devtools.bench.hello:app",
        )
    )
    targets = {"nginx": nginx.url + "/", "hello": hello.replica_url() + "/"}
    return runner.measure(targets, max(args.connections))


def proxy_cost(runner, args, stacks: ExitStack, state: Path, ours: ServerStack) -> tuple:
    """Through nginx to the replicas vs straight to one replica with all their workers:
    that replica's configuration and the cost per endpoint."""
    total = ServerConfig(SHIPPED.server, SHIPPED.workers * args.replicas, SHIPPED.threads)
    direct = stacks.enter_context(
        ServerStack(
            state_dir=state / "direct",
            replicas=1,
            port=free_port(),
            mongo_uri=ours.mongo_uri,
            config=total,
        )
    )
    costs = {}
    for endpoint in ("list", "whoami"):
        path = ENDPOINTS[endpoint]
        targets = {"nginx": ours.url + path, "direct": direct.replica_url() + path}
        found = runner.measure(targets, max(args.connections), warm=endpoint == "list")
        costs[endpoint] = ProxyCost(found["nginx"], found["direct"])
    return total, costs


def request_path(runner, args, stacks: ExitStack, state: Path, ours: ServerStack) -> dict:
    """One replica of ours (shipped settings; metrics and access log on) against a one-view
    Flask app under the same launcher and settings, each hit directly, in turns."""
    flask = ServerStack(
        state_dir=state / "flask-hello",
        replicas=1,
        port=free_port(),
        mongo_uri=ours.mongo_uri,
        config=SHIPPED,
        app="devtools.bench.flask_hello:app",
    )
    ceiling = stacks.enter_context(flask).replica_url() + "/"
    some = first_id(ours.url)
    targets = {"flask": ceiling}
    targets |= {
        endpoint: ours.replica_url() + ENDPOINTS[endpoint].format(id=some)
        for endpoint in ("whoami", "list", "get")
    }
    return runner.measure(targets, max(args.connections))


def metrics_cost(runner, args, stacks: ExitStack, state: Path, ours: ServerStack) -> dict:
    """The shipped stack against a copy with METRICS=false, both running, measured in turns."""
    plain = ServerStack(
        state_dir=state / "no-metrics",
        replicas=args.replicas,
        port=free_port(),
        mongo_uri=ours.mongo_uri,
        config=SHIPPED,
        extra_env={"METRICS": "false"},
    )
    url = stacks.enter_context(plain).url
    costs = {}
    for endpoint in ("whoami", "get"):
        path = ENDPOINTS[endpoint].format(id=first_id(ours.url))
        found = runner.measure({"on": ours.url + path, "off": url + path}, max(args.connections))
        costs[endpoint] = MetricsCost(found["on"], found["off"])
    return costs


# The ways the auth section signs in: (credential, CREDENTIAL_CACHE_SECONDS or None for the
# shipped default). "token" is the shipped stack itself.
SIGN_INS = {
    "token": ("token", None),
    "session": ("session", None),
    "token, no cache": ("token", "0"),
    "session, no cache": ("session", "0"),
}


def auth_cost(runner, args, stacks: ExitStack, state: Path, ours: ServerStack) -> dict:
    """The shipped stack signed in with a token and with a session cookie, with the credential
    cache and without (one database read per request), against the same stack with the sign-in
    check taken out (bench/unchecked.py): all running, measured in turns through nginx."""
    urls = {"unchecked": _auth_stack(args, stacks, state, ours, "unchecked", app=UNCHECKED_APP)}
    for way, (credential, cache_seconds) in SIGN_INS.items():
        if way == "token":
            urls[way] = ours.url
            continue
        extra_env = {"CREDENTIAL_CACHE_SECONDS": cache_seconds} if cache_seconds else {}
        urls[way] = _auth_stack(
            args, stacks, state, ours, way, credential=credential, extra_env=extra_env
        )
    costs = {}
    some_id = first_id(ours.url)
    for endpoint in ("list", "get"):
        print(f"  {endpoint}: signed in {len(SIGN_INS)} ways and unchecked ...", flush=True)
        path = ENDPOINTS[endpoint].format(id=some_id)
        targets = {way: url + path for way, url in urls.items()}
        found = runner.measure(targets, max(args.connections))
        unchecked = found.pop("unchecked")
        costs[endpoint] = AuthCost(unchecked, found)
    return costs


def tls_cost(runner, args, stacks: ExitStack, state: Path, ours: ServerStack) -> tuple:
    """The shipped stack with TLS at nginx (its certificate from scripts/make-secrets.sh)
    against the same stack on plain HTTP (ours), both running, measured in turns; and HTTP/2
    over the same HTTPS with h2load, when installed. The results, and the install hint if not."""
    secure = ServerStack(
        state_dir=state / "tls",
        replicas=args.replicas,
        port=free_port(),
        https_port=free_port(),
        tls=True,
        tls_dir=state / "tls" / "secrets",
        mongo_uri=ours.mongo_uri,
        config=SHIPPED,
    )
    stacks.enter_context(secure)
    some_id = first_id(ours.url)
    missing = None if h2load_binary() else H2LOAD_HINT
    costs = {}
    for endpoint in ("whoami", "list", "get"):
        print(f"  {endpoint}: plain HTTP, HTTPS (HTTP/1.1, HTTP/2) ...", flush=True)
        path = ENDPOINTS[endpoint].format(id=some_id)
        found = runner.measure({"plain": ours.url + path, "https": secure.url + path}, args.top)
        http2 = None
        if missing is None:
            runs = [
                run_h2load(secure.url + path, args.top, args.seconds) for _ in range(args.repeats)
            ]
            http2 = median_h2(runs)
        costs[endpoint] = TlsCost(found["plain"], found["https"], http2)
    return costs, missing


def _auth_stack(args, stacks: ExitStack, state: Path, ours: ServerStack, name: str, **more) -> str:
    """Start one more stack like OURS (MORE: its app, credential, environment); its URL."""
    stack = ServerStack(
        state_dir=state / "auth" / name.replace(", ", "-").replace(" ", "-"),
        replicas=args.replicas,
        port=free_port(),
        mongo_uri=ours.mongo_uri,
        config=SHIPPED,
        **more,
    )
    return stacks.enter_context(stack).url


def server_comparison(runner, args, stacks: ExitStack, state: Path, ours: ServerStack) -> list:
    """The same stack under each WSGI server configuration, all running, measured in turns."""
    urls = {SHIPPED.label: ours.url}
    for config in ALTERNATIVES:
        stack = ServerStack(
            state_dir=state / "servers" / config.label.replace(" ", "-"),
            replicas=args.replicas,
            port=free_port(),
            mongo_uri=ours.mongo_uri,
            config=config,
        )
        urls[config.label] = stacks.enter_context(stack).url
    comparison = {}
    for endpoint in ("whoami", "list"):
        print(f"  {endpoint} under {len(urls)} server configurations ...", flush=True)
        targets = {label: url + ENDPOINTS[endpoint] for label, url in urls.items()}
        warm = endpoint == "whoami"  # the first endpoint warms each stack for both
        comparison[endpoint] = runner.measure(targets, max(args.connections), warm=warm)
    configs = [SHIPPED, *ALTERNATIVES]
    return [
        ServerFigures(c, comparison["whoami"][c.label], comparison["list"][c.label])
        for c in configs
    ]


def profiles(args, state: Path, ours: ServerStack, database_pid: int | None) -> Profiles:
    """py-spy on one replica (and on the database) while wrk loads list, then whoami."""
    seconds = max(4, args.seconds)
    found = Profiles()
    for endpoint in ("list", "whoami"):
        time.sleep(1)  # requests still in flight from the last load finish first
        targets = {"replica": (ours.backends[0].running().pid, "attendee_directory")}
        if endpoint == "list" and database_pid is not None:
            targets["database"] = (database_pid, "nx_27017")
        recordings = {}
        for name, (pid, _) in targets.items():
            output = state / "profiles" / f"{endpoint}-{name}.txt"
            output.parent.mkdir(parents=True, exist_ok=True)
            recordings[name] = (profile.start_recording(pid, seconds, output), output)
        time.sleep(0.5)  # py-spy attaches before the load starts
        load = run_wrk(ours.url + ENDPOINTS[endpoint], max(args.connections), seconds)
        for name, (process, output) in recordings.items():
            profile.finish_recording(process, output)
            setattr(found, f"{endpoint}_{name}", profile.summarize(output, targets[name][1]))
        setattr(found, f"{endpoint}_load", load)
    return found


def measure(args) -> ServersResults:
    """Start the database and every setup, run each section, stop it all; the results."""
    state = args.state_dir / "servers"
    results = ServersResults(args.connections, args.seconds, args.repeats, args.replicas, SHIPPED)
    with ExitStack() as stacks:
        print(f"bench: starting the database and both setups under {state} ...", flush=True)
        database = start_mongo(state / "db")
        stacks.callback(database.stop)
        results.database = database.kind
        common = {"replicas": args.replicas, "mongo_uri": database.uri}
        ours = stacks.enter_context(
            ServerStack(state_dir=state / "ours", port=free_port(), config=SHIPPED, **common)
        )
        first_id(ours.url)  # seeds the database before the practice-style setup reads it
        results.seeded = count_attendees(database.uri, MONGO_DB)
        practice = stacks.enter_context(
            PracticeSetup(state / "practice", database.uri, MONGO_DB, args.replicas)
        )
        runner = Runner(args.seconds, args.repeats, database.uri)
        setups = {"ours": ours, "practice": practice}
        print("bench: endpoints, ours vs practice-style", flush=True)
        results.endpoints = endpoint_table(runner, args, setups, ["whoami", "list", "get"])
        print("bench: ceilings, proxy cost, WSGI servers", flush=True)
        found = ceilings(runner, args, stacks, state, database.uri)
        results.nginx_ceiling, results.hello_ceiling = found["nginx"], found["hello"]
        results.proxy_config, results.proxy = proxy_cost(runner, args, stacks, state, ours)
        results.servers = server_comparison(runner, args, stacks, state, ours)
        print("bench: what the metrics cost, the request path against a Flask view", flush=True)
        results.metrics = metrics_cost(runner, args, stacks, state, ours)
        results.request_path = request_path(runner, args, stacks, state, ours)
        print("bench: what signing in costs", flush=True)
        results.auth = auth_cost(runner, args, stacks, state, ours)
        print("bench: what TLS costs", flush=True)
        results.tls, results.h2load_missing = tls_cost(
            runner, argparse.Namespace(**vars(args), top=max(args.connections)), stacks, state, ours
        )
        print("bench: the database's own rate, then profiles", flush=True)
        # One client thread, and as many as the stack's replicas have worker threads: the best.
        threads = [1, args.replicas * SHIPPED.workers * SHIPPED.threads]
        seconds = min(1, args.seconds)
        results.database_rates = query_rates(database.uri, MONGO_DB, seconds, threads)
        try:
            # Only the Python stand-in can be sampled by py-spy; mongod is not a Python process.
            assert database.process is not None  # start_mongo started it, here
            nx_pid = database.process.pid if database.kind == "nx-27017" else None
            results.profiles = profiles(args, state, ours, nx_pid)
        except profile.ProfilerUnavailable as exc:
            results.profiles = Profiles(error=str(exc))
        # Creates last: the stand-in's count slows down for good after many inserts and deletes.
        print("bench: creates, ours vs practice-style", flush=True)
        results.endpoints |= endpoint_table(runner, args, setups, ["create"])
        results.wrk_runs = runner.runs
    return results
