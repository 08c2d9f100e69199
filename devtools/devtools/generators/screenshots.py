"""`make screenshots`: the docs' pictures, taken in headless Chromium from a real local stack.

- docs/screenshot.png: the web UI (attendee table, served-by badge, the per-replica split);
- docs/prometheus-targets.png: the targets the local Prometheus (`make run MONITORING=1`)
  scrapes, with their health. Debian's Prometheus package ships no web UI, so the picture is
  a plain table rendered here from Prometheus' own /api/v1/targets answer.

Not part of `make test`: a test run never rewrites a tracked file.
"""

import html
import sys
import tempfile
import time
from pathlib import Path

import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from devtools import chromium
from devtools.local_stack.stack import LocalStack
from devtools.processes import free_port
from devtools.signin import ADMIN

DOCS = Path(__file__).resolve().parent.parent / "docs"
UI_PICTURE = DOCS / "screenshot.png"
TARGETS_PICTURE = DOCS / "prometheus-targets.png"
REPLICAS = 3
WAIT_SECONDS = 30


def take_ui(driver, stack: LocalStack) -> None:
    """The UI after a few requests, so that the replica panel shows a split."""
    with requests.Session() as http:
        for _ in range(12):
            http.get(f"{stack.url}/api/whoami", timeout=5).raise_for_status()
    chromium.sign_in(driver, f"{stack.url}/", ADMIN, stack.admin_password())
    driver.get(f"{stack.url}/")
    wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rows tr.row"), "no attendee rows")
    wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#replica-list li.replica"), "no replica panel"
    )
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".replica.is-last"), "no highlight")
    # A tidy picture: no hover, no focus ring.
    ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h1")).perform()
    driver.execute_script("document.activeElement.blur()")
    driver.save_screenshot(str(UI_PICTURE))


def targets_when_up(prometheus_url: str) -> list[dict]:
    """Prometheus' active targets, once every one has been scraped successfully."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        answer = requests.get(f"{prometheus_url}/api/v1/targets?state=active", timeout=5)
        targets = answer.json()["data"]["activeTargets"]
        if targets and all(t["health"] == "up" for t in targets):
            return targets
        if time.monotonic() > deadline:
            raise TimeoutError(f"targets not all up after {WAIT_SECONDS} s: {targets}")
        time.sleep(0.5)


def targets_page(targets: list[dict], prometheus_url: str) -> str:
    """TARGETS as an HTML table: job, endpoint, health, last scrape, its duration, error."""
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(t['labels']['job'])}</td>"
        f"<td>{html.escape(t['scrapeUrl'])}</td>"
        f"<td class='{t['health']}'>{t['health'].upper()}</td>"
        f"<td>{html.escape(t['lastScrape'][11:19])} UTC</td>"
        f"<td>{t['lastScrapeDuration'] * 1000:.1f} ms</td>"
        f"<td>{html.escape(t['lastError']) or '—'}</td>"
        "</tr>"
        for t in sorted(targets, key=lambda t: (t["labels"]["job"], t["scrapeUrl"]))
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font: 15px system-ui, sans-serif; margin: 0; background: #fff; color: #1d2433; }}
main {{ display: inline-block; padding: 20px 24px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} p {{ margin: 0 0 14px; color: #5b6475; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: 7px 14px; border-bottom: 1px solid #dde2ea; }}
th {{ background: #f3f5f9; }} td.up {{ color: #fff; background: #2e8540; font-weight: 600; }}
td.down {{ color: #fff; background: #c0392b; font-weight: 600; }}
</style></head><body><main><h1>Prometheus targets</h1>
<p>{html.escape(prometheus_url)}/api/v1/targets of <code>make run MONITORING=1</code>
({REPLICAS} replicas). Debian's Prometheus has no web UI: this table is drawn from it.</p>
<table><tr><th>job</th><th>endpoint</th><th>state</th><th>last scrape</th><th>duration</th>
<th>error</th></tr>{rows}</table></main></body></html>"""


def take_targets(driver, stack: LocalStack, scratch: Path) -> None:
    """The targets table of the running stack's Prometheus."""
    assert stack.prometheus is not None, "the stack runs without Prometheus"
    page = scratch / "targets.html"
    url = stack.prometheus.url
    page.write_text(targets_page(targets_when_up(url), url))
    driver.get(page.as_uri())
    driver.find_element(By.TAG_NAME, "main").screenshot(str(TARGETS_PICTURE))


def main() -> int:
    """Start a local stack with monitoring, take both pictures, stop everything."""
    if not chromium.available():
        print(f"error: {chromium.INSTALL_HINT}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vdt-screenshots-") as scratch:
        stack = LocalStack(
            state_dir=Path(scratch) / "stack",
            replicas=REPLICAS,
            port=free_port(),
            monitoring=True,
            prometheus_port=free_port(),
            alertmanager_port=free_port(),
            extra_env={"STATS_FLUSH_SECONDS": "0"},
        )
        with stack, chromium.chromium(Path(scratch)) as driver:
            take_ui(driver, stack)
            take_targets(driver, stack, Path(scratch))
    print(f"wrote {UI_PICTURE} and {TARGETS_PICTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
