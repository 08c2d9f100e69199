"""Figures that suites measure: printed in the test report and saved under test-artifacts/, from
where `make figures` copies them into the documents (a test run rewrites no tracked file)."""

import json

from .paths import ARTIFACTS


def say(config, tag: str, line: str) -> None:
    """Print LINE in the test report, even while pytest captures output."""
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capture = config.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[{tag}] {line}")


def save(config, tag: str, figures: dict) -> None:
    """Print FIGURES and write them to test-artifacts/TAG.json."""
    for name, value in figures.items():
        say(config, tag, f"{name}: {json.dumps(value)}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{tag}.json").write_text(json.dumps(figures, indent=2) + "\n")
