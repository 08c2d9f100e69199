"""The growth section of docs/benchmarks.md, and its chart, from GrowthResults."""

from pathlib import Path

from nginx_config import READ_TIMEOUT

from .format import ms, rps, share, table
from .growth import CONNECTIONS, GrowthResults, Point
from .wrk import Result

CHART_NAME = "benchmarks-growth.png"
GROWTH_LIMIT = 3.0
# A figure with more failed requests than this share is a failure, not a latency: nginx answers
# 502 at once while both replicas are marked down after a timeout.
ERROR_LIMIT = 0.01  # the p50 growth from the smallest to the largest size that counts as flat


def error_share(result: Result, seconds: int) -> float:
    """The share of the requests in RESULT, a stack's figure, that failed (over all its runs)."""
    requests = result.rps * seconds * result.runs
    return min(1.0, result.errors / (requests or 1)) if result.errors else 0.0


def answered(point: Point | None, of: str, seconds: int = 1) -> bool:
    """Whether POINT has a figure for OF ("stack" or "direct") made of answers, not errors."""
    figure = getattr(point, of) if point else None
    if figure is None or figure.rps <= 0:
        return False
    return of != "stack" or error_share(figure, seconds) <= ERROR_LIMIT


def stack_cell(point: Point | None, seconds: int) -> str:
    """p50 / req/s through the stack, with the errors if any; or why there is no figure."""
    if point is None or point.stack is None:
        return "-"
    if point.stack.rps <= 0:
        return f"no answer within the run ({point.stack.errors} errors)"
    if not answered(point, "stack", seconds):
        return f"failed: {share(error_share(point.stack, seconds))} errors"
    errors = f" ({point.stack.errors} errors)" if point.stack.errors else ""
    return f"{ms(point.stack.p50_ms)} / {rps(point.stack.rps)}{errors}"


def growth(points: list[Point | None], of: str, seconds: int) -> float | None:
    """p50 at the largest size / p50 at the smallest, for the stack or the direct figures."""
    values = [getattr(p, of).p50_ms if answered(p, of, seconds) else None for p in points]
    if values[0] is None or values[-1] is None or values[0] <= 0:
        return None
    return values[-1] / values[0]


def ratio(value: float | None) -> str:
    """A growth factor, or a dash."""
    return "-" if value is None else f"{value:.1f}x"


def stack_table(results: GrowthResults) -> list[str]:
    """p50 and req/s through the stack, per endpoint and size, with the p50 growth."""
    headers = ["endpoint"]
    headers += [f"{size:,}: p50 ms / req/s" for size in results.sizes]
    headers += ["p50 growth, stack", "p50 growth, database alone"]
    rows = []
    for endpoint in results.endpoints():
        points = [results.point(endpoint, size) for size in results.sizes]
        cells = [stack_cell(p, results.seconds) for p in points]
        stack, direct = growth(points, "stack", results.seconds), growth(points, "direct", 1)
        rows.append([endpoint, *cells, ratio(stack), ratio(direct)])
    return table(headers, rows)


def direct_table(results: GrowthResults) -> list[str]:
    """p50 and calls/s of the same queries straight from pymongo."""
    headers = ["query (as the endpoint makes it)"]
    headers += [f"{size:,}: p50 ms / per s" for size in results.sizes]
    rows = []
    for endpoint in results.endpoints():
        points = [results.point(endpoint, size) for size in results.sizes]
        if not any(p and p.direct for p in points):
            continue
        cells = [
            f"{ms(p.direct.p50_ms)} / {rps(p.direct.rps)}" if p and p.direct else "-"
            for p in points
        ]
        rows.append([endpoint, *cells])
    return table(headers, rows)


def findings(results: GrowthResults) -> list[str]:
    """Which endpoints grew more than GROWTH_LIMIT, and whether the database alone did too."""
    first, last = results.sizes[0], results.sizes[-1]
    grown, flat = [], 0
    for endpoint in results.endpoints():
        points = [results.point(endpoint, size) for size in results.sizes]
        stack = growth(points, "stack", results.seconds)
        direct = growth(points, "direct", 1)
        if stack is None:
            failed = [
                f"{p.size:,}"
                for p in points
                if p and p.stack and not answered(p, "stack", results.seconds)
            ]
            if failed:
                where = (
                    f"; the database alone grew {direct:.1f}x on the same query"
                    if direct is not None
                    else ""
                )
                grown.append(
                    f"- {endpoint}: failed through the stack at {', '.join(failed)}{where}."
                )
            continue
        if stack <= GROWTH_LIMIT:
            flat += 1
            continue
        where = (
            f"the database alone grew {direct:.1f}x on the same query"
            if direct is not None
            else "no direct figure"
        )
        grown.append(f"- {endpoint}: p50 {stack:.1f}x through the stack; {where}.")
    lines = [
        f"From {first:,} to {last:,} attendees, {flat} of {flat + len(grown)} endpoints kept "
        f"their p50 through the stack within {GROWTH_LIMIT:g}x."
    ]
    if grown:
        lines += ["", f"Grew more than {GROWTH_LIMIT:g}x, or failed:", "", *grown]
    lines += [
        "",
        f"A figure fails when more than {share(ERROR_LIMIT)} of its requests fail: a read that "
        f"a replica has not answered within nginx's `proxy_read_timeout` ({READ_TIMEOUT}, "
        "`webserver/nginx_config.py`) is a timeout, and the replica is then out of the pool "
        "for 5 s, during which nginx answers 502 at once.",
    ]
    return lines


def chart(results: GrowthResults, path: Path) -> None:
    """A log-log chart of p50 against size, one line per endpoint, stack and database."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (left, right) = pyplot.subplots(1, 2, figsize=(13, 6), sharey=True)
    panels = (
        (left, "stack", f"through nginx -> replicas ({CONNECTIONS} connections)"),
        (right, "direct", "the same queries, pymongo -> database"),
    )
    for axis, of, title in panels:
        colours = pyplot.get_cmap("tab20")
        for number, endpoint in enumerate(results.endpoints()):
            pairs = [
                (size, getattr(p, of).p50_ms)
                for size in results.sizes
                if answered(p := results.point(endpoint, size), of, results.seconds)
            ]
            if pairs:  # failed figures are left out: they are errors, not latencies
                style = {"color": colours(number % 20), "linestyle": "-" if number < 20 else ":"}
                axis.plot(*zip(*pairs, strict=True), marker="o", label=endpoint, **style)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("attendees")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    left.set_ylabel("p50 latency, ms")
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.suptitle(f"p50 per endpoint as the directory grows ({results.database})")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    pyplot.close(figure)


def render(results: GrowthResults, report_dir: Path) -> str:
    """The growth section in Markdown; its chart goes to REPORT_DIR beside the report."""
    chart_path = report_dir / CHART_NAME
    sizes = ", ".join(f"{size:,}" for size in results.sizes)
    lines = [
        "## Growth: 48 to 100,000 attendees",
        "",
        f"At {sizes} attendees: a fresh {results.database} database each time, filled by a "
        "bulk insert of deterministic generated attendees "
        "(`devtools/devtools/bench/people.py`: Vietnamese names "
        "with their real frequencies, real universities and majors), the stack as `make run` "
        f"starts it (backend: {results.backend}), wrk with {CONNECTIONS} connections, "
        f"{results.seconds} s x {results.repeats} per figure (median). Inserting took "
        + ", ".join(f"{s:.1f} s at {n:,}" for n, s in results.insert_seconds.items())
        + ". Pages hold 20 attendees; the deep page is as deep into each size as page 500 is "
        "into 100,000. Which index serves each query on MongoDB, and how the stand-in runs it: "
        "[query-shapes.md](query-shapes.md).",
        "",
    ]
    chart(results, chart_path)
    lines += [f"![p50 against size]({CHART_NAME})", ""]
    lines += [*stack_table(results), "", *findings(results), ""]
    lines += [
        "### The same queries straight to the database",
        "",
        "One pymongo client thread calling the queries that the endpoint makes (count and page "
        "for the list, find_one for get), no web tier:",
        "",
        *direct_table(results),
    ]
    return "\n".join(lines) + "\n"
