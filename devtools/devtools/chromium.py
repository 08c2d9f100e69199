"""Debian's headless Chromium driven by Selenium: for the browser suite and `make screenshots`."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = (
    "browser suite needs Debian's chromium, chromium-driver and libnss3-tools: "
    "apt-get install -y chromium chromium-driver libnss3-tools"
)
CERTUTIL_HINT = "apt-get install -y libnss3-tools"
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
VIEWPORT = (1280, 900)


def _executable(path: Path) -> bool:
    """Whether PATH is a file this user may run."""
    return path.is_file() and os.access(path, os.X_OK)


def available() -> bool:
    """Whether Debian's chromium and chromedriver are installed, and NSS's certutil (to trust
    a certificate authority)."""
    return _executable(CHROMIUM) and _executable(CHROMEDRIVER) and bool(shutil.which("certutil"))


def _home_trusting(ca_file: Path, parent: Path) -> str:
    """A home directory whose NSS database (where Chromium on Linux keeps the authorities its
    user trusts) trusts CA_FILE to identify websites, made with NSS's certutil."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise RuntimeError(f"certutil is missing to trust {ca_file}: {CERTUTIL_HINT}")
    home = tempfile.mkdtemp(prefix="chromium-home-", dir=parent)
    database = f"sql:{home}/.pki/nssdb"
    Path(home, ".pki", "nssdb").mkdir(parents=True)
    for command in (
        [certutil, "-N", "-d", database, "--empty-password"],
        [certutil, "-A", "-d", database, "-n", "vdt2023 local CA", "-t", "C,,", "-i", str(ca_file)],
    ):
        subprocess.run(command, check=True, capture_output=True)
    return home


@contextlib.contextmanager
def chromium(profile_parent: Path, trusted_ca: Path | None = None) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile under PROFILE_PARENT and a VIEWPORT-sized page;
    it trusts TRUSTED_CA (a certificate authority's file), as a user who imported it does."""
    options = webdriver.ChromeOptions()
    # Both paths are given, so Selenium Manager has nothing to look up or download.
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=profile_parent)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env = dict(os.environ)
    if trusted_ca is not None:
        env["HOME"] = _home_trusting(trusted_ca, profile_parent)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), env=env), options=options)
    try:
        # --window-size is the outer size; make the page itself VIEWPORT, for the screenshot.
        extra_width, extra_height = driver.execute_script(
            "return [outerWidth - innerWidth, outerHeight - innerHeight]"
        )
        driver.set_window_size(VIEWPORT[0] + extra_width, VIEWPORT[1] + extra_height)
        yield driver
    finally:
        driver.quit()


def sign_in(driver: webdriver.Chrome, url: str, username: str, password: str) -> None:
    """Load the UI at URL and sign in through its sign-in dialog, waiting until it closes."""
    driver.get(url)
    wait = WebDriverWait(driver, 10, poll_frequency=0.1)
    dialog = driver.find_element(By.ID, "signin-dialog")
    wait.until(lambda d: dialog.get_attribute("open") is not None, "no sign-in dialog")
    driver.find_element(By.ID, "signin-username").send_keys(username)
    driver.find_element(By.ID, "signin-password").send_keys(password)
    driver.find_element(By.ID, "signin-submit").click()
    wait.until(lambda d: dialog.get_attribute("open") is None, "the sign-in dialog stayed open")
