"""The container benchmark's results object and renderer (bench/containers*.py): a results object
built here survives its JSON round trip, and the markdown shows its figures and its verdict."""

from devtools.bench.containers_report import render, suggested_limit
from devtools.bench.containers_results import Figure, Results, StackResult


def stack(
    label: str, rps: float, practice: bool = False, shipped: bool = False, backend: float = 100.0
) -> StackResult:
    """A stack whose whoami and list figures are RPS and RPS / 4 at 16 connections, whose
    backends use BACKEND and BACKEND + 10 MiB at idle (20 more under load)."""
    figures = [
        Figure("whoami", 16, rps, 2.0, 9.0, 0, 0.05),
        Figure("list", 16, rps / 4, 20.0, 90.0, 1, 0.05),
    ]
    memory = {
        "backend-1": backend,
        "backend-2": backend + 10,
        "database-1": 30.0,
        "webserver-1": 8.0,
    }
    return StackResult(
        label, practice, None if practice else 2, None if practice else 4, shipped,
        1.5, 12.0, not practice, None if practice else 3.25, memory,
        {name: used + 20 for name, used in memory.items()}, {"backend": 256.0}, figures,
    )  # fmt: skip


def results(*stacks: StackResult) -> Results:
    """A run made of STACKS."""
    return Results(
        "2026-11-29 03:00 UTC", False, 4, 2, [16], "offline", 2, 30, 16, [1.0, 2.5], list(stacks)
    )


def test_results_survive_their_json_round_trip():
    """from_json(to_json(r)) == r, figures and memory included."""
    original = results(stack("ours 2x4", 4000, shipped=True), stack("practice", 1000, True))
    assert Results.from_json(original.to_json()) == original


def test_render_shows_both_stacks_figures_and_ratio():
    """The side-by-side table has both stacks' req/s and ours / practice."""
    text = render(results(stack("ours 2x4", 4000, shipped=True), stack("practice", 1000, True)))
    for heading in ("## Containers side by side", "## The image's settings", "## Memory and"):
        assert heading in text
    assert "| whoami | 16 | 4,000 | 2.0 / 9.0 | 1,000 | 2.0 / 9.0 | 4.0x | 0, 0 |" in text
    assert "| ours 2x4 | backend-2 | 110 | 130 | 256 |" in text
    assert "suggest: backend 288 MiB (most used 130), database 128 MiB (most used 50)" in text
    assert "| practice | 1.5 s | 12.0 s | not measured |" in text
    assert "| ours 2x4 | 1.5 s | 12.0 s | 3.2 s |" in text


def test_verdict_keeps_the_shipped_setting_on_a_tie_in_speed_and_memory():
    """5% faster and as heavy: a tie, the shipped setting stays."""
    shipped, practice = stack("ours 2x4", 4000, shipped=True), stack("practice", 1000, True)
    text = render(results(shipped, practice, stack("ours 1x4", 4200)))
    assert "**Verdict:** the shipped setting (2 x 4) is right here" in text


def test_verdict_names_a_setting_as_fast_and_lighter_or_clearly_faster():
    """As fast with 40% less memory per replica, or 50% faster: that setting is named."""
    shipped, practice = stack("ours 2x4", 4000, shipped=True), stack("practice", 1000, True)
    lighter = render(results(shipped, practice, stack("ours 1x4", 3800, backend=60)))
    assert "not the right one here: ours 1x4 scores -5% against the shipped 2 x 4" in lighter
    assert "uses 90 MiB per replica under load against 130" in lighter
    faster = render(results(shipped, practice, stack("ours 1x16", 6000)))
    assert "not the right one here: ours 1x16 scores +50% against" in faster


def test_suggested_limit_is_twice_the_use_rounded_up_to_32_mib():
    """130 MiB used -> 260 -> 288 MiB; tiny use still gets 64 MiB."""
    assert suggested_limit(130) == 288
    assert suggested_limit(3) == 64
