"""The servers part's section of docs/benchmarks.md, every number computed from its results."""

from pathlib import Path

from .format import ms, rps, share, table
from .profile import Profile
from .servers import ENDPOINTS
from .servers_results import Pair, ServersResults
from .setups import LAUNCHERS
from .wrk import THREADS as WRK_THREADS
from .wrk import TIMEOUT_S, WARMUP_S, Result

# How the report names each query of DatabaseRates.
QUERY_LABELS = {
    "list_exact_count": "list page, exact count (count_documents + find 20)",
    "list_stored_count": "list page, stored count (estimated_document_count + find 20)",
    "exact_count": "count_documents({}) alone",
    "stored_count": "estimated_document_count() alone",
    "first_page": "find first page of 20 alone",
    "get_by_id": "find_one by _id (the get endpoint)",
}
# The stack counts as database-bound when it gets this share of the direct loop's list pages/s.
BOTTLENECK_SHARE = 0.6


def cells(result: Result) -> list[str]:
    """req/s, p50, p99 and errors of one result."""
    return [rps(result.rps), ms(result.p50_ms), ms(result.p99_ms), str(result.errors)]


def ratio(pair: Pair) -> str:
    """Ours over practice-style in req/s."""
    return f"{pair.ratio:.2f}x"


class Report:
    """The report's sections, each built from the results dictionary of run.py."""

    def __init__(self, results: ServersResults):
        self.r = results
        self.shipped = results.shipped
        self.top = results.top
        self.list_top = results.endpoints["list"][self.top]
        # measure() fills these in every run; None only in results it has not finished.
        assert results.nginx_ceiling is not None and results.hello_ceiling is not None
        assert results.proxy_config is not None and results.database_rates is not None
        self.nginx_ceiling, self.hello_ceiling = results.nginx_ceiling, results.hello_ceiling
        self.proxy_config, self.rates = results.proxy_config, results.database_rates

    def render(self) -> str:
        """The whole document."""
        sections = [
            self.header(),
            self.method(),
            self.comparison(),
            self.database(),
            self.ceilings(),
            self.proxy(),
            self.servers(),
            self.metrics(),
            self.auth(),
            self.tls(),
            self.request_path(),
            self.profiles(),
        ]
        return "\n".join(line for section in sections for line in [*section, ""]).rstrip() + "\n"

    def header(self) -> list[str]:
        """The part's title and its headline figure."""
        ours, practice = self.list_top.ours, self.list_top.practice
        return [
            "## This stack against the practice-style setup",
            "",
            f"Listing the first page of 20 attendees at {self.top} connections, this stack "
            f"serves {rps(ours.rps)} requests/s (p99 {ms(ours.p99_ms)} ms) against "
            f"{rps(practice.rps)} requests/s (p99 {ms(practice.p99_ms)} ms) for the "
            f"practice-style setup: {self.list_top.ratio:.2f}x. Both wait on the same "
            "database stand-in; see [the database](#the-database-stand-in).",
        ]

    def method(self) -> list[str]:
        """How the figures were taken."""
        shipped = self.shipped
        replicas, connections = self.r.replicas, ", ".join(map(str, self.r.connections))
        ours = (
            "this repository's stack as `make run` starts it: nginx from "
            "`webserver/nginx.conf.template` (HTTP/1.1 and keepalive to the upstream) in front "
            f"of {replicas} replicas, each {shipped.label} (workers x threads per replica), "
            f"started by {shipped.launcher}; the app writes one access-log line per request "
            "itself. nginx's write rate limit is raised for the run, so that the create runs "
            "measure the application, not the limiter."
        )
        practice = (
            "`devtools/devtools/bench/practice_style/app.py` run as its image runs it "
            "(`python3 app.py`, the Flask "
            f"development server), {replicas} replicas, behind nginx with the official image's "
            "`nginx.conf` and a plain `proxy_pass` to a round-robin upstream: HTTP/1.0 and a new "
            "connection to a backend for every request."
        )
        data = (
            "both talk to one database process, seeded once by the backend with its "
            f"{self.r.seeded} sample attendees; the attendees that a create run adds are "
            "deleted after it."
        )
        load = (
            f"wrk, {WRK_THREADS} threads, keep-alive connections, {self.r.seconds} s per run, "
            f"{self.r.repeats} runs per figure; each setup first gets an unrecorded "
            f"{WARMUP_S} s warm-up (per endpoint in the comparison, per section elsewhere). The "
            "setups take turns, in reverse order on every other repeat. A figure is the run "
            "with the median requests/s, with that run's p50 and p99. Errors are HTTP statuses "
            f">= 400, socket errors and answers slower than {TIMEOUT_S} s, added up over all "
            f"runs. Connections: {connections}."
        )
        endpoints = (
            "`GET /api/whoami` (no database), `GET /api/attendees?page=1&per_page=20` (a count "
            "and the first page, in both setups), `GET /api/attendees/<id>`, `POST "
            "/api/attendees` (a new email every request). The create runs come last, so that the "
            "inserts and deletes they cause cannot change what the other sections measure."
        )
        return [
            "### Method",
            "",
            f"- **Ours**: {ours}",
            f"- **Practice-style**: {practice}",
            f"- **Same data, same database**: {data}",
            f"- **Load**: {load}",
            f"- **Endpoints**: {endpoints}",
            f"- **Noise**: {self.noise()}",
        ]

    def all_results(self) -> list[Result]:
        """Every figure of the run."""
        pairs = [pair for by in self.r.endpoints.values() for pair in by.values()]
        found = [r for pair in pairs for r in (pair.ours, pair.practice)]
        found += [self.nginx_ceiling, self.hello_ceiling]
        found += [r for cost in self.r.proxy.values() for r in (cost.via_nginx, cost.direct)]
        return found + [r for figures in self.r.servers for r in (figures.whoami, figures.list)]

    def spreads(self) -> list[float]:
        """Every figure's spread, smallest first."""
        return sorted(result.spread for result in self.all_results())

    def median_spread(self) -> float:
        """The run's typical noise: the median of the figures' spreads."""
        spreads = self.spreads()
        return spreads[(len(spreads) - 1) // 2]

    def noise(self) -> str:
        """How much the repeats of one figure differed, over the whole run."""
        spreads, middle = self.spreads(), self.median_spread()
        return (
            f"the fastest and slowest repeat of a figure differed by {share(middle)} of its "
            f"median (median over the run's {len(spreads)} figures; at most {share(spreads[-1])}). "
            "Differences between setups smaller than that are not significant."
        )

    def comparison(self) -> list[str]:
        """The main table: each endpoint and connection count, both setups."""
        rows = [
            [endpoint, str(connections), *cells(pair.ours), *cells(pair.practice), ratio(pair)]
            for endpoint, by in self.r.endpoints.items()
            for connections, pair in by.items()
        ]
        headers = ["endpoint", "conns", "ours req/s", "p50 ms", "p99 ms", "errors"]
        headers += ["practice req/s", "p50 ms", "p99 ms", "errors", "ours / practice"]
        return ["### Ours vs practice-style", "", *table(headers, rows)]

    def served_list_rate(self) -> float:
        """The database's own rate for the list page as backend/ asks for it (stored count)."""
        return self.rates.list_stored_count

    def database_bound(self) -> bool:
        """Whether the stack's list comes close enough to the database's own rate to be bound."""
        return self.list_top.ours.rps >= BOTTLENECK_SHARE * self.served_list_rate()

    def database(self) -> list[str]:
        """The database stand-in's own rate, and whether it is the bottleneck."""
        rates = self.rates
        served, ours = self.served_list_rate(), self.list_top.ours.rps
        rows = [[label, rps(getattr(rates, name))] for name, label in QUERY_LABELS.items()]
        return [
            "### The database stand-in",
            "",
            "The same queries straight from pymongo, no web tier at all: the best of a loop in "
            f"{' and in '.join(map(str, rates.threads))} client threads (the second as many "
            "as the stack's replicas have worker threads):",
            "",
            *table(["query", "per second"], rows),
            "",
            f"Unfiltered, the list endpoint reads its total from the collection's stored size: "
            f"{rps(rates.list_stored_count)} list pages/s here against "
            f"{rps(rates.list_exact_count)} with an exact count. "
            f"At {self.top} connections the stack's list endpoint served {rps(ours)} requests/s: "
            f"{share(ours / served)} of the {rps(served)} list pages/s that the direct loop gets "
            "from the same database. " + self.bottleneck_sentence(),
        ]

    def bottleneck_sentence(self) -> str:
        """Say whether the database bounds the list endpoint."""
        if self.database_bound():
            return (
                "**The database stand-in is the bottleneck**: nx-27017 is one Python process "
                "over SQLite (one core at most), and the list page costs it two queries."
            )
        return "The database is not what bounds the list endpoint in this run."

    def ceilings(self) -> list[str]:
        """What the machine can do at all, and the application tier without the database."""
        whoami = self.r.endpoints["whoami"][self.top].ours
        rows = [
            ["nginx answering a fixed 200 itself", *cells(self.nginx_ceiling)],
            [
                f"bare WSGI hello-world, one replica, {self.shipped.label}, direct",
                *cells(self.hello_ceiling),
            ],
            [
                "application tier alone: ours, `/api/whoami` (Flask, no database), via nginx",
                *cells(whoami),
            ],
        ]
        return [
            "### Ceilings of this machine",
            "",
            f"At {self.top} connections, measured in the same run:",
            "",
            *table(["what", "req/s", "p50 ms", "p99 ms", "errors"], rows),
        ]

    def proxy(self) -> list[str]:
        """The cost of the proxy tier against one replica with all the workers."""
        rows = [
            [endpoint, *cells(cost.via_nginx), *cells(cost.direct), share(cost.cost)]
            for endpoint, cost in self.r.proxy.items()
        ]
        headers = ["endpoint", "via nginx req/s", "p50", "p99", "errors", "direct req/s", "p50"]
        headers += ["p99", "errors", "proxy cost"]
        return [
            "### Proxy cost",
            "",
            f"Ours through nginx ({self.r.replicas} replicas of {self.shipped.label}) "
            f"against one replica with the same total workers ({self.proxy_config.label}) hit "
            f"directly, {self.top} connections:",
            "",
            *table(headers, rows),
        ]

    def metrics(self) -> list[str]:
        """What the metrics cost (a section only if the run measured it)."""
        return metrics_section(self.r) if self.r.metrics else []

    def auth(self) -> list[str]:
        """What signing in costs (a section only if the run measured it)."""
        return auth_section(self.r) if self.r.auth else []

    def tls(self) -> list[str]:
        """What TLS costs (a section only if the run measured it)."""
        return tls_section(self.r) if self.r.tls else []

    def request_path(self) -> list[str]:
        """Each endpoint on one replica as a share of a one-view Flask app's rate and tail."""
        found = self.r.request_path
        if not found:
            return []
        flask = found["flask"]
        rows = [['one-view Flask app (`jsonify(hello="world")`)', *cells(flask), "1", "1"]]
        for endpoint in ("whoami", "list", "get"):
            result = found[endpoint]
            rows.append(
                [
                    f"`{ENDPOINTS[endpoint]}`",
                    *cells(result),
                    f"{result.rps / flask.rps:.2f}",
                    f"{result.p99_ms / flask.p99_ms:.1f}" if flask.p99_ms else "-",
                ]
            )
        listed, served = found["list"].rps, self.served_list_rate()
        headers = ["on one replica", "req/s", "p50 ms", "p99 ms", "errors"]
        headers += ["share of Flask's req/s", "p99 / Flask's"]
        return [
            "### The request path against a one-view Flask app",
            "",
            f"One replica of ours ({self.shipped.label}, metrics and access log on) and a Flask "
            "app with one view under the same launcher and settings "
            "(`devtools/devtools/bench/flask_hello.py`), each hit directly, in turns, at "
            f"{self.top} connections. What ours adds to Flask is its own request path "
            "(`backend/attendee_directory/request_path.py`: replica header and count, metrics, "
            "access line) and, for list and get, the database. Its metrics are prometheus-client's "
            "in-process values while a replica runs one worker (the default): nothing to add up, "
            "and no process-wide lock per value as its multiprocess mode takes, which several "
            "workers still use (each worker's files, added up at /metrics). Its access line is a "
            "string queued for a writer thread, not a logging record:",
            "",
            *table(headers, rows),
            "",
            f"The list endpoint on one replica served {rps(listed)} pages/s: "
            f"{share(listed / served)} of the {rps(served)} list pages/s that the direct pymongo "
            "loop gets from the same database with the same two commands (the stored count and "
            "the first page).",
        ]

    def servers(self) -> list[str]:
        """granian (shipped) and gunicorn gthread / sync, each under the same stack."""
        ranked, shipped = self.r.ranked(), self.shipped
        rows = [
            [
                figures.config.label + (" (shipped)" if figures.config == shipped else ""),
                *cells(figures.whoami),
                *cells(figures.list),
                rps(figures.score),
            ]
            for figures in ranked
        ]
        headers = ["server, workers x threads per replica", "whoami req/s", "p50", "p99"]
        headers += ["errors", "list req/s", "p50", "p99", "errors", "score"]
        kinds = sorted({figures.config.server for figures in ranked})
        started = "; ".join(f"{kind} by {LAUNCHERS[kind]}" for kind in kinds)
        mine = next(figures for figures in ranked if figures.config == shipped)
        return [
            "### WSGI servers and settings",
            "",
            f"The whole stack ({self.r.replicas} replicas behind the same nginx) under "
            f"each configuration, all started at once and measured in turns at {self.top} "
            "connections. Score: the geometric mean of the two req/s, so that neither the "
            "database-free nor the database-bound endpoint decides alone. Started as: "
            f"{started}; workers and threads from WEB_CONCURRENCY and WEB_THREADS under both. "
            "Neither server writes an access log: the app writes its own line per request.",
            "",
            *table(headers, rows),
            "",
            f"Fastest: {ranked[0].config.label}, score {rps(ranked[0].score)}; the shipped "
            f"{shipped.label}: {rps(mine.score)}.",
        ]

    def profiles(self) -> list[str]:
        """Where one replica's and the database's samples went under load."""
        found = self.r.profiles
        lines = ["### Profile of the hot path", ""]
        if found.error or found.list_replica is None:
            return [*lines, f"Not profiled: {found.error}"]
        lines.append(
            "py-spy sampled one replica (all its processes) and the database while wrk loaded "
            "the endpoint through nginx. Shares are of all samples; a row is the innermost frame "
            "of the package and the call it was making."
        )
        for sampled, load, title in (
            (found.list_replica, found.list_load, "list, replica (`attendee_directory`)"),
            (found.list_database, found.list_load, "list, database (`nx_27017`)"),
            (found.whoami_replica, found.whoami_load, "whoami, replica (`attendee_directory`)"),
        ):
            if sampled is None or load is None:
                continue
            rows = [[f"`{label}`", share(value)] for label, value in sampled.calls]
            rows += [
                [f"outside the package: `{label}`", share(value)]
                for label, value in sampled.outside_leaves
            ]
            lines += [
                "",
                f"**{title}**: {sampled.samples} samples at {rps(load.rps)} req/s; "
                f"{share(sampled.outside)} outside the package.",
                "",
                *table(["where", "share"], rows),
            ]
        return [*lines, "", *self.profile_finding(found.list_replica)]

    @staticmethod
    def calls_share(profile: Profile, *words: str) -> float:
        """The share of PROFILE's samples in calls whose label contains any of WORDS."""
        return sum(v for label, v in profile.calls if any(word in label for word in words))

    @staticmethod
    def top_leaves(profile: Profile, count: int = 3) -> str:
        """PROFILE's largest rows outside its package, with their shares."""
        return ", ".join(
            f"`{name}` {share(value)}" for name, value in profile.outside_leaves[:count]
        )

    @staticmethod
    def largest(profile: Profile) -> str:
        """The largest row of PROFILE, in or outside its package, with its share."""
        rows = [(f"`{label}`", v) for label, v in profile.calls]
        rows += [(f"`{label}` (outside the package)", v) for label, v in profile.outside_leaves]
        if not rows:
            return "nothing (no samples)"
        label, value = max(rows, key=lambda row: row[1])
        return f"{label}, {share(value)}"

    def profile_finding(self, replica: Profile) -> list[str]:
        """What the list's count costs and what dominates REPLICA (sampled under list load)."""
        found, rates = self.r.profiles, self.rates
        counted, found_page, estimated = rates.exact_count, rates.first_page, rates.stored_count
        exact_share = self.calls_share(replica, "count_documents")
        stored_share = self.calls_share(replica, "estimated_document_count")
        page_share = self.calls_share(replica, "Cursor", "find")
        lines = [
            "Without a filter, the list reads its total with `estimated_document_count()`, the "
            f"collection's stored size. Alone, the database answers {rps(counted)} "
            f"`count_documents({{}})`/s, {rps(found_page)} first-page finds/s and "
            f"{rps(estimated)} `estimated_document_count()`/s; a whole list page, "
            f"{rps(rates.list_exact_count)}/s with the exact count and "
            f"{rps(rates.list_stored_count)}/s with the stored one.",
            "",
            f"Under list load, the replica waits for the stored count in "
            f"{share(stored_share)} of its samples and reads the page in {share(page_share)} "
            f"(`count_documents`: {share(exact_share)}); its largest row is "
            f"{self.largest(replica)}, and {share(replica.outside)} of its samples are outside "
            f"the package (the largest: {self.top_leaves(replica)}).",
        ]
        if found.list_database is not None:
            database = found.list_database
            lines[-1] += (
                f" In the database, the largest row is {self.largest(database)}, and "
                f"{share(database.outside)} of its samples are outside its package."
            )
        if found.whoami_replica is not None:
            whoami = found.whoami_replica
            lines += [
                "",
                f"Under whoami load (no database), the replica's largest row is "
                f"{self.largest(whoami)}; {share(whoami.outside)} of its samples are outside the "
                "application's code: in the WSGI server and Flask; the largest: "
                f"{self.top_leaves(whoami)}. The handling around the application decides "
                "this endpoint's rate, and [the WSGI servers](#wsgi-servers-and-settings) differ "
                "in exactly that.",
            ]
        return lines


def metrics_section(results: ServersResults) -> list[str]:
    """What the Prometheus metrics cost: the shipped stack with METRICS on and off."""
    rows = [
        [endpoint, *cells(cost.on), *cells(cost.off), share(cost.cost)]
        for endpoint, cost in results.metrics.items()
    ]
    headers = ["endpoint", "with req/s", "p50 ms", "p99 ms", "errors"]
    headers += ["without req/s", "p50 ms", "p99 ms", "errors", "throughput the metrics take"]
    return [
        "### What the metrics cost",
        "",
        f"The shipped stack with its Prometheus metrics (the default) against the same stack "
        f"with `METRICS=false`, both running, measured in turns at {results.top} connections. "
        "whoami touches no database, so there the metrics' share is at its largest; a "
        "negative share is noise.",
        "",
        *table(headers, rows),
    ]


def auth_section(results: ServersResults) -> list[str]:
    """What the sign-in check costs: each way of signing in against the unchecked stack."""
    rows = []
    for endpoint, cost in results.auth.items():
        rows.append([endpoint, "unchecked (baseline)", *cells(cost.unchecked), "-"])
        rows += [
            [endpoint, way, *cells(found), share(cost.cost(way))]
            for way, found in cost.signed_in.items()
        ]
    headers = ["endpoint", "signed in with", "req/s", "p50 ms", "p99 ms", "errors"]
    headers.append("throughput the check takes")
    worst = max(
        (cost.cost(way), endpoint, way)
        for endpoint, cost in results.auth.items()
        for way in cost.signed_in
        if "no cache" not in way
    )
    return [
        "### What signing in costs",
        "",
        f"The shipped stack, signed in with an API token (`Authorization: Bearer`) and with a "
        f"browser's session cookie, against the same stack with the sign-in check taken out "
        f"(`devtools/devtools/bench/unchecked.py`, the benchmark's baseline only), all running, "
        f"measured in turns through nginx at {results.top} connections. A replica trusts a "
        "credential it has read for `CREDENTIAL_CACHE_SECONDS` (0.5 s) while it has read the "
        "revocation generation within 0.1 s (one tiny read per 50 ms per worker process under "
        'load); the "no cache" rows set it to 0, '
        "one indexed read by `_id` per request. With the shipped cache the check takes at most "
        f"{share(worst[0])} of the throughput ({worst[1]}, {worst[2]}); a negative share is noise.",
        "",
        *table(headers, rows),
    ]


def tls_section(results: ServersResults) -> list[str]:
    """What TLS costs: plain HTTP against HTTPS with HTTP/1.1 and with HTTP/2."""
    headers = ["endpoint", "plain HTTP/1.1 req/s", "p50 ms", "p99 ms", "errors"]
    headers += ["HTTPS HTTP/1.1 req/s", "p50 ms", "p99 ms", "errors", "throughput TLS takes"]
    headers += ["HTTPS HTTP/2 req/s", "mean ms", "errors"]
    rows = []
    for endpoint, cost in results.tls.items():
        http2 = cost.http2
        h2 = [rps(http2.rps), ms(http2.mean_ms), str(http2.errors)] if http2 else ["-"] * 3
        rows.append([endpoint, *cells(cost.plain), *cells(cost.https), share(cost.cost), *h2])
    worst = max((cost.cost, endpoint) for endpoint, cost in results.tls.items())
    lines = [
        "### What TLS costs",
        "",
        f"The shipped stack with HTTPS at nginx (TLS 1.3 here, an ECDSA P-256 certificate from "
        f"`scripts/make-secrets.sh`, the settings of `webserver/nginx_config.py`) against the "
        f"same stack on plain HTTP, both running, measured in turns through nginx at "
        f"{results.top} keep-alive connections (wrk: HTTP/1.1; the handshakes happen once per "
        "connection, so this is the cost of encrypting each request and answer). HTTP/2 over "
        "the same HTTPS is measured with h2load (one stream at a time per connection; it "
        "reports a mean, not percentiles). At most TLS takes "
        f"{share(worst[0])} of the throughput ({worst[1]}); a negative share is noise.",
        "",
        *table(headers, rows),
    ]
    if results.h2load_missing:
        lines += ["", f"HTTP/2 was not measured: h2load is missing ({results.h2load_missing})."]
    return lines


def render(results: ServersResults, _report_dir: Path) -> str:
    """The Markdown section for one run's RESULTS (it writes no file beside the report)."""
    return Report(results).render()
