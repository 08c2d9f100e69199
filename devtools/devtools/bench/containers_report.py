"""The container benchmark's markdown: the two stacks side by side, the image's settings, memory
and start-up. Every sentence with a figure is computed from the results, never typed."""

import math

from .containers_results import Figure, Results, StackResult

HEADROOM = 2.0  # a limit is this many times the most a service used under load...
LIMIT_STEP_MIB = 32  # ...rounded up to a multiple of this
NOISE = 0.10  # settings closer than this in score are called a tie


def _by_key(stack: StackResult) -> dict[tuple[str, int], Figure]:
    """A stack's figures by (endpoint, connections)."""
    return {(f.endpoint, f.connections): f for f in stack.figures}


def score(stack: StackResult) -> float:
    """The geometric mean of a stack's req/s over all its figures: no endpoint decides alone."""
    rates = [f.rps for f in stack.figures if f.rps > 0]
    return math.exp(sum(map(math.log, rates)) / len(rates)) if rates else 0.0


def _ms(value: float) -> str:
    """Milliseconds, short."""
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _seconds(value: float | None, timeout: float) -> str:
    """Seconds, or what happened when there is no figure."""
    return f"{value:.1f} s" if value is not None else f"not within {timeout:.0f} s"


def side_by_side(results: Results, ours: StackResult, practice: StackResult) -> list[str]:
    """The shipped stack against the practice-style one, endpoint by endpoint."""
    lines = [
        "## Containers side by side",
        "",
        f"Measured {results.when} on {results.cpus} cores ({'quick' if results.quick else 'full'}"
        f" run: {results.seconds} s per run, median of {results.repeats}, after a warm-up run;"
        f" the machine's load average {results.load_average[0]:.1f} at the start and"
        f" {results.load_average[1]:.1f} at the end, {results.cpus} meaning busy, more meaning"
        " other work shared the cores and the figures are noisy)."
        f" Both stacks are built here from the same local base images and run by compose in the"
        f" {results.mode} mode (no image registry answers on this machine, so the registry mode,"
        " with the official images and mongo:8.0, could not be pulled and is not measured). Both"
        " use the same database image, the nx-27017 stand-in of compose.offline.yaml, so the"
        " difference is the web and application tiers. 2 backend replicas each; load from wrk on"
        " 127.0.0.1 through the published port; creates are removed after each run.",
        "",
        f"- **{ours.label}**: compose.yaml + compose.offline.yaml as users run it, except that"
        " nginx's write limit (10 requests/s per address) is raised, or the creates would be"
        " answered 429.",
        f"- **{practice.label}**: devtools/devtools/bench/practice_style/compose.practice.yaml: "
        "the practice's"
        " Dockerfile (Flask development server), its nginx config (plain `proxy_pass`, no"
        " upstream keepalive), one database.",
        "",
        "| endpoint | connections | ours req/s | ours p50 / p99 ms | practice req/s "
        "| practice p50 / p99 ms | ours / practice | errors (ours, practice) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    theirs = _by_key(practice)
    for key, mine in _by_key(ours).items():
        other = theirs.get(key)
        if other is None:
            continue
        ratio = f"{mine.rps / other.rps:.1f}x" if other.rps else "-"
        lines.append(
            f"| {key[0]} | {key[1]} | {mine.rps:,.0f} | {_ms(mine.p50_ms)} / {_ms(mine.p99_ms)} "
            f"| {other.rps:,.0f} | {_ms(other.p50_ms)} / {_ms(other.p99_ms)} | {ratio} "
            f"| {mine.errors}, {other.errors} |"
        )
    return lines


def settings(results: Results, ours_stacks: list[StackResult]) -> list[str]:
    """Workers x threads per replica: each setting's req/s, and which is best here."""
    keys = list(dict.fromkeys(key for stack in ours_stacks for key in _by_key(stack)))
    header = " | ".join(f"{name} c{conns}" for name, conns in keys)
    lines = [
        "## The image's settings: workers x threads per replica",
        "",
        "Our stack again, with WEB_CONCURRENCY (worker processes per replica) and WEB_THREADS"
        " (threads per worker) set on `up`; req/s per endpoint and connection count. Score: the"
        " geometric mean of a row's req/s. The setting to ship: of those scoring within"
        f" {NOISE:.0%} of the best, the one whose replicas use the least memory.",
        "",
        f"| setting | {header} | score | backend MiB under load (per replica) |",
        "| --- |" + " ---: |" * (len(keys) + 2),
    ]
    for stack in ours_stacks:
        figures = _by_key(stack)
        cells = " | ".join(f"{figures[k].rps:,.0f}" if k in figures else "-" for k in keys)
        lines.append(
            f"| {stack.label} | {cells} | {score(stack):,.0f} | {backend_mib(stack):.0f} |"
        )
    lines += ["", verdict(ours_stacks)]
    return lines


def backend_mib(stack: StackResult) -> float:
    """The most memory one backend replica of STACK used under load, MiB."""
    return max((v for k, v in stack.memory_load.items() if k.startswith("backend-")), default=0.0)


def choose(ours_stacks: list[StackResult], shipped: StackResult, best: StackResult) -> StackResult:
    """Of the settings scoring within NOISE of BEST, the shipped one unless another uses NOISE
    less memory per replica; then the one using least."""
    close = [stack for stack in ours_stacks if score(stack) >= score(best) * (1 - NOISE)]
    leanest = min(close, key=lambda stack: (backend_mib(stack), -score(stack)))
    if shipped in close and backend_mib(leanest) > backend_mib(shipped) * (1 - NOISE):
        return shipped
    return leanest


def verdict(ours_stacks: list[StackResult]) -> str:
    """The setting to ship, and whether it is the shipped one (see choose)."""
    shipped = next(stack for stack in ours_stacks if stack.shipped)
    if len(ours_stacks) < 2:
        return f"Only the shipped setting ({shipped.label}) was measured in this run."
    best = max(ours_stacks, key=score)
    chosen = choose(ours_stacks, shipped, best)
    versus = (
        f"{chosen.label} scores {score(chosen) / score(shipped) - 1:+.0%} against the shipped"
        f" {shipped.workers} x {shipped.threads} (within {NOISE:.0%} of the best, {best.label},"
        f" counts as a tie) and uses {backend_mib(chosen):.0f} MiB per replica under load"
        f" against {backend_mib(shipped):.0f}"
    )
    if chosen is shipped:
        return (
            f"**Verdict:** the shipped setting ({shipped.workers} x {shipped.threads}) is right"
            f" here: the best score or within {NOISE:.0%} of it ({best.label}), and no setting"
            f" as fast uses {NOISE:.0%} less memory."
        )
    return f"**Verdict:** the shipped setting is not the right one here: {versus}."


def suggested_limit(used_mib: float) -> int:
    """A memory limit from the most a container used: HEADROOM times it, rounded up."""
    return max(LIMIT_STEP_MIB * 2, math.ceil(used_mib * HEADROOM / LIMIT_STEP_MIB) * LIMIT_STEP_MIB)


def memory(results: Results) -> list[str]:
    """Each container's memory at idle and under load, and the limit these numbers suggest."""
    lines = [
        "## Memory and start-up per container",
        "",
        "Memory as `docker stats` reports it (the container's cgroup usage less its page cache),"
        " MiB, once idle after start-up and once under load (a list run at"
        f" {results.load_memory_connections} connections). Suggested limit: {HEADROOM:g}x the"
        f" most any run of that stack kind used, rounded up to {LIMIT_STEP_MIB} MiB.",
        "",
        "| stack | container | idle MiB | under load MiB | compose mem_limit MiB |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for stack in results.stacks:
        for name, idle in stack.memory_idle.items():
            load = stack.memory_load.get(name, 0.0)
            limit = stack.mem_limits.get(name.rsplit("-", 1)[0], 0.0)
            shown = f"{limit:.0f}" if limit else "none"
            lines.append(f"| {stack.label} | {name} | {idle:.0f} | {load:.0f} | {shown} |")
    # The limits are for what compose ships: the shipped setting's stack.
    shipped = next(stack for stack in results.stacks if stack.shipped)
    most: dict[str, float] = {}
    for name, used in [*shipped.memory_idle.items(), *shipped.memory_load.items()]:
        service = name.rsplit("-", 1)[0]
        most[service] = max(most.get(service, 0.0), used)
    suggestions = ", ".join(
        f"{service} {suggested_limit(used)} MiB (most used {used:.0f})"
        for service, used in sorted(most.items())
    )
    heaviest = max(backend_mib(stack) for stack in results.stacks if not stack.practice)
    lines += [
        "",
        f"Limits the shipped setting's figures suggest: {suggestions}; the heaviest setting"
        f" measured used {heaviest:.0f} MiB per replica. Only the backend's limit is set"
        " from them (compose.yaml): the webserver's and the database's must hold what these runs"
        " do not reach (nginx's buffers at 2 workers x 4096 connections; the data set, here 48"
        " attendees), so for them these figures are a floor, not a size.",
    ]
    return lines


def startup(results: Results) -> list[str]:
    """Up to serving, up to healthy, and scale +1 to traffic, per stack."""
    lines = [
        "",
        "Start-up, images already built: from `up -d --scale backend=2` to the first 200 from"
        " /api/whoami through nginx, and to every container running and healthy (ours chain"
        " their healthchecks: database, then backend, then webserver, each checked every 5 s;"
        " the practice's backend and nginx have none, its database is the same stand-in image"
        " with the same check). Scale: from `up --no-recreate --scale backend=3` to"
        " the new replica's name in /api/whoami's answer through nginx.",
        "",
        "| stack | up to serving | up to all healthy | scale 2 -> 3 to traffic |",
        "| --- | ---: | ---: | ---: |",
    ]
    for stack in results.stacks:
        scale = _seconds(stack.scale_s, results.scale_timeout_s)
        scale = scale if stack.scale_measured else "not measured"
        lines.append(
            f"| {stack.label} | {stack.serving_s:.1f} s | {stack.healthy_s:.1f} s | {scale} |"
        )
    return lines


def render(results: Results) -> str:
    """The markdown sections for docs/benchmarks.md from one run's results."""
    ours_stacks = [stack for stack in results.stacks if not stack.practice]
    shipped = next(stack for stack in ours_stacks if stack.shipped)
    practice = next(stack for stack in results.stacks if stack.practice)
    lines = [*side_by_side(results, shipped, practice), ""]
    lines += [*settings(results, ours_stacks), ""]
    lines += memory(results) + startup(results)
    return "\n".join(lines) + "\n"
