"""The Prometheus config and alert rules pass promtool: config, rules, and every rule's tests."""

import re
import shutil
import subprocess

import pytest

from devtools.paths import REPO

MONITORING = REPO / "monitoring"
INSTALL = "scripts/install-from-forky.sh promtool"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    """Run promtool with ARGS in monitoring/; skip, saying how to install it, if absent."""
    if shutil.which("promtool") is None:
        pytest.skip(f"promtool is not installed: run `{INSTALL}` (Debian forky's 3.5.3)")
    return subprocess.run(
        ["promtool", *args], cwd=MONITORING, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "tests/alerts_test.yml"),
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool_accepts(args):
    """promtool exits 0: the config loads, the rules parse, every rule test passes."""
    result = _promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_tests_and_a_runbook_line():
    """Each alert is named in the rule tests (firing and not) and has a runbook anchor in docs."""
    alerts = re.findall(r"^\s+- alert: (\w+)$", (MONITORING / "alerts.yml").read_text(), re.M)
    assert len(alerts) >= 6
    tests = (MONITORING / "tests" / "alerts_test.yml").read_text()
    # Each case: "alertname: X" then "exp_alerts: []" (must not fire) or a list (must fire).
    cases = re.findall(r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", tests)
    runbook = (MONITORING.parent / "docs" / "monitoring.md").read_text()
    for alert in alerts:
        mine = [empty for name, empty in cases if name == alert]
        assert "" in mine, f"{alert}: no firing test"
        assert " []" in mine, f"{alert}: no not-firing test"
        assert f"### {alert}" in runbook, f"{alert}: no runbook line in docs/monitoring.md"
