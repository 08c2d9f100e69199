"""The web UI in a real headless Chromium, against the real stack (nginx, 3 replicas, database)."""

import json
import re
import ssl
import threading
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from devtools import chromium
from devtools.paths import ARTIFACTS
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token
from tests.tls import ca_file, tls_dir

pytestmark = pytest.mark.browser

WAIT_SECONDS = 10
UPSTREAM_ADDRESS = re.compile(r"^\S+:\d+$")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, stack):
    """Debian's headless Chromium with a fresh profile; skipped, visibly, when it is missing.

    It asks for the stack first, so that a machine without nginx skips before starting Chromium.
    """
    if not chromium.available():
        pytest.skip(chromium.INSTALL_HINT)
    with chromium.chromium(tmp_path_factory.mktemp("browser"), trusted_ca=ca_file()) as driver:
        chromium.sign_in(driver, stack.url + "/", ADMIN, stack.admin_password())
        yield driver


def wait(driver, condition, message: str):
    """Wait, at most WAIT_SECONDS, until CONDITION(driver) is truthy; return its value."""
    return WebDriverWait(
        driver,
        WAIT_SECONDS,
        poll_frequency=0.1,
        ignored_exceptions=[StaleElementReferenceException],
    ).until(condition, message)


def text_of(driver, css: str) -> str:
    """The visible text of the first element matching CSS, or '' if there is none."""
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def click_when_shown(driver, css: str, message: str) -> None:
    """Wait until an enabled element matching CSS is shown and click it in the same step (a
    script's click on the element it just found), so that a re-render cannot make it stale."""
    wait(
        driver,
        lambda d: d.execute_script(
            """const node = document.querySelector(arguments[0]);
               if (!node || node.disabled || !node.checkVisibility()) return false;
               node.click();
               return true;""",
            css,
        ),
        message,
    )


def open_ui(driver, url: str) -> None:
    """Load the UI and wait until the table shows attendees and the replica panel is filled."""
    driver.get(url)
    wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#rows tr.row"),
        "no attendee rows",
    )
    wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#replica-list li.replica"),
        "no replica in the load-balancing panel",
    )


def assert_no_csp_violation(driver) -> None:
    """The page ran under the strict CSP: Chromium logged no blocked inline script or style."""
    blocked = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("source") == "security" or "Content Security Policy" in entry["message"]
    ]
    assert not blocked, blocked


def is_open(driver, dialog_id: str) -> bool:
    """Whether the <dialog> with DIALOG_ID is open."""
    return driver.find_element(By.ID, dialog_id).get_attribute("open") is not None


def wait_open(driver, dialog_id: str) -> None:
    """Wait until the dialog is open and shown (its opening animation starts fully transparent)."""
    wait(
        driver,
        lambda d: is_open(d, dialog_id) and d.find_element(By.ID, dialog_id).is_displayed(),
        f"#{dialog_id} did not open",
    )


def wait_closed(driver, dialog_id: str) -> None:
    """Wait until the dialog is closed."""
    wait(driver, lambda d: not is_open(d, dialog_id), f"#{dialog_id} stayed open")


def fill_form(driver, attendee: dict, replace: bool = False) -> None:
    """Type ATTENDEE into the add/edit form; REPLACE clears what the fields held first."""
    for name, value in attendee.items():
        field = driver.find_element(By.ID, f"field-{name}")
        if name == "gender":  # the one <select>
            Select(field).select_by_value(value)
            continue
        if replace:
            field.clear()
        field.send_keys(str(value))


def submit_add_form(driver, attendee: dict) -> None:
    """Open the add form, type ATTENDEE into it and submit it."""
    driver.find_element(By.ID, "add-button").click()
    wait_open(driver, "form-dialog")
    fill_form(driver, attendee)
    driver.find_element(By.ID, "form-submit").click()


def search(driver, term: str, enter: bool = False) -> None:
    """Replace the search box's text with TERM: searched after the typing pause, or at Enter."""
    box = driver.find_element(By.ID, "search")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(term, *([Keys.ENTER] if enter else []))


def row_cells(driver) -> list[dict]:
    """The rows on screen, as {column: text}, read in one go so that a reload cannot split them."""
    return driver.execute_script(
        """return [...document.querySelectorAll('#rows tr.row')].map((row) => Object.fromEntries(
             [...row.cells].map((cell) => [cell.dataset.label, cell.innerText])));"""
    )


def served_by(driver) -> dict:
    """The badge and the highlighted replica of the panel, read in one go."""
    return driver.execute_script(
        """const badge = document.getElementById('served-by');
           const last = document.querySelector('#replica-list li.replica.is-last');
           return {replica: badge.dataset.replica, upstream: badge.dataset.upstream || '',
                   name: document.getElementById('served-by-name').textContent,
                   address: document.getElementById('served-by-addr').textContent,
                   highlighted: last ? last.dataset.replica : null};"""
    )


def record_writes(driver) -> None:
    """Wrap the page's fetch() so that the test can see every write it sends, and its body."""
    driver.execute_script(
        """window.writesSent = [];
           const original = window.fetch;
           window.fetch = (url, init = {}) => {
             if ((init.method || 'GET') !== 'GET') {
               window.writesSent.push([init.method, String(url), init.body ?? null]);
             }
             return original(url, init);
           };"""
    )


def written(driver) -> list[tuple]:
    """The writes sent since the last call, as (method, path, parsed JSON body or None)."""
    sent = driver.execute_script("return window.writesSent.splice(0)")
    return [(method, url, json.loads(body) if body else None) for method, url, body in sent]


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request, browser):
    """Keep what the browser showed when a test failed, next to the other test artifacts."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:  # the call's report is counted by now
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            browser.save_screenshot(str(ARTIFACTS / f"failed-{request.node.name}.png"))
        except WebDriverException:
            pass


def test_table_lists_the_seeded_attendees(browser, stack):
    """The page loads under the CSP and shows a page of attendees with a total and a pager."""
    open_ui(browser, stack.url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "VDT 2023 attendee directory"
    rows = row_cells(browser)
    assert rows and all(row["Full name"] and "@" in row["Email"] for row in rows)
    total = int(re.match(r"(\d+) attendees?", text_of(browser, "#summary")).group(1))
    assert total > 0
    assert re.fullmatch(r"Page 1 of \d+", text_of(browser, "#page-info"))
    docs = browser.find_element(By.CSS_SELECTOR, "a[href='/api/docs']")
    assert docs.is_displayed()
    assert_no_csp_violation(browser)


def test_add_find_edit_and_delete_an_attendee(browser, stack):
    """Add through the form, find it by searching, edit it (PATCH) and delete it (confirmed)."""
    token = uuid.uuid4().hex[:8]
    attendee = {
        "full_name": f"Selenium Tester {token}",
        "email": f"ui-{token}@example.test",
        "year_of_birth": 1999,
        "gender": "other",
        "university": "Hanoi University of Science and Technology",
        "major": "Computer Science",
    }

    def ours(row: dict) -> bool:
        """Whether ROW is the attendee this test added (its email may wrap after the @)."""
        return row["Email"].replace("\n", "") == attendee["email"]

    def our_rows(driver) -> list[dict]:
        """The rows on screen that show the attendee this test added."""
        return [row for row in row_cells(driver) if ours(row)]

    open_ui(browser, stack.url + "/")
    record_writes(browser)

    submit_add_form(browser, attendee)
    wait_closed(browser, "form-dialog")
    toast = wait(browser, lambda d: text_of(d, "#toast"), "no confirmation after adding")
    assert toast == f"Added {attendee['full_name']}."
    assert written(browser) == [("POST", "/api/attendees", attendee)]

    # Found by the search box ...
    search(browser, token)
    rows = wait(browser, our_rows, "the new attendee is not in the search results")
    assert rows[0]["Full name"] == attendee["full_name"]
    assert rows[0]["Year of birth"] == "1999"
    assert re.search(r"\b1 attendee matching", text_of(browser, "#summary"))

    # ... and first in the whole list, newest first.
    Select(browser.find_element(By.ID, "sort-select")).select_by_value("created_at")
    search(browser, "", enter=True)
    wait(
        browser,
        lambda d: "matching" not in text_of(d, "#summary") and ours(row_cells(d)[0]),
        "the new attendee is not first when sorted by date added",
    )
    assert len(row_cells(browser)) > 1
    badge = served_by(browser)
    assert badge["replica"] and UPSTREAM_ADDRESS.match(badge["upstream"]), badge
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".replica.is-last"), "no highlight")

    # A click on the row opens the details: every field, the id and both timestamps.
    click_when_shown(browser, "#rows tr.row td.col-name", "no row to open")
    wait_open(browser, "details-dialog")
    details = browser.find_element(By.ID, "details-list").text
    for label in ("Full name", "Email", "Gender", "University", "Major", "Created", "Updated"):
        assert label in details
    assert attendee["email"] in details
    assert re.search(r"\bID\s+[0-9a-f]{24}\b", details)

    # Edit from the details view: a PATCH with the changed field only.
    browser.find_element(By.ID, "details-edit").click()
    wait_open(browser, "form-dialog")
    assert browser.find_element(By.ID, "field-email").get_attribute("value") == attendee["email"]
    fill_form(browser, {"major": "Data Science"}, replace=True)
    browser.find_element(By.ID, "form-submit").click()
    wait_closed(browser, "form-dialog")
    wait(
        browser,
        lambda d: [row for row in our_rows(d) if row["Major"] == "Data Science"],
        "the edited major is not shown",
    )
    [(method, path, body)] = written(browser)
    assert (method, body) == ("PATCH", {"major": "Data Science"})
    assert re.fullmatch(r"/api/attendees/[0-9a-f]{24}", path)

    # Delete, with the confirmation in the page.
    click_when_shown(browser, "#rows tr.row button[data-action='delete']", "no Delete button")
    wait_open(browser, "delete-dialog")
    wait(
        browser,
        lambda d: attendee["email"] in text_of(d, "#delete-text"),
        "the confirmation does not name the attendee",
    )
    browser.find_element(By.ID, "delete-confirm").click()
    wait_closed(browser, "delete-dialog")
    assert [(method, body) for method, _, body in written(browser)] == [("DELETE", None)]
    wait(browser, lambda d: not our_rows(d), "the deleted attendee is still listed")
    assert_no_csp_violation(browser)


def test_bad_year_shows_the_api_message_next_to_the_year_field(browser, stack, http):
    """The form is not blocked by the browser: the API's 422 message appears by the year field."""
    token = uuid.uuid4().hex[:10]
    attendee = {
        "full_name": f"Too Old {token}",
        "email": f"old-{token}@example.test",
        "year_of_birth": 1800,
        "gender": "female",
        "university": "Can Tho University",
        "major": "Biology",
    }
    # What the API itself says about this body (a 422 writes nothing).
    answer = http.post(f"{stack.url}/api/attendees", json=attendee, timeout=10)
    assert answer.status_code == 422
    api_message = answer.json()["fields"]["year_of_birth"]

    open_ui(browser, stack.url + "/")
    submit_add_form(browser, attendee)
    shown = wait(
        browser,
        lambda d: d.find_element(By.ID, "error-year_of_birth").text,
        "no message next to the year field",
    )
    assert shown == api_message
    year = browser.find_element(By.ID, "field-year_of_birth")
    assert year.get_attribute("aria-invalid") == "true"
    assert "error-year_of_birth" in year.get_attribute("aria-describedby")
    assert is_open(browser, "form-dialog")
    assert browser.find_element(By.ID, "error-email").text == ""
    assert "some fields are invalid" in text_of(browser, "#form-banner").lower()
    browser.find_element(By.CSS_SELECTOR, "#form-dialog [data-close]").click()
    wait_closed(browser, "form-dialog")


def test_reloads_are_served_by_more_than_one_replica(browser, stack):
    """Reloading shows the badge naming different replicas, each with nginx's upstream address."""
    seen: dict[str, str] = {}
    for _ in range(8):
        open_ui(browser, stack.url + "/")
        badge = wait(browser, lambda d: (b := served_by(d))["replica"] and b, "no badge yet")
        assert badge["name"] == badge["replica"]
        assert UPSTREAM_ADDRESS.match(badge["address"]), badge
        seen[badge["name"]] = badge["address"]
        if len(seen) >= 2:
            break
    assert len(seen) >= 2, f"every reload was served by {seen}"
    # The panel highlights the replica that answered the last call.
    wait(
        browser,
        lambda d: (b := served_by(d))["highlighted"] == b["replica"],
        "the panel does not highlight the badge's replica",
    )
    listed = browser.find_elements(By.CSS_SELECTOR, "#replica-list li.replica")
    assert len(listed) >= 2
    assert all(re.search(r"\d+\.\d%", item.text) for item in listed)


def test_chromium_stays_on_this_machine(browser, stack):
    """Nothing the page loads comes from anywhere but the stack (no CDN, no font service)."""
    open_ui(browser, stack.url + "/")
    origins = browser.execute_script(
        "return [...new Set(performance.getEntriesByType('resource')"
        ".map((entry) => new URL(entry.name).origin))]"
    )
    assert origins and set(origins) == {stack.url}, origins


def record_write_headers(driver) -> None:
    """Wrap the page's fetch() so that the test sees the headers of every write it sends."""
    driver.execute_script(
        """window.writeHeaders = [];
           const original = window.fetch;
           window.fetch = (url, init = {}) => {
             if ((init.method || 'GET') !== 'GET') {
               window.writeHeaders.push([init.method, String(url), init.headers || {}]);
             }
             return original(url, init);
           };"""
    )


def write_headers(driver) -> list[tuple]:
    """The writes sent since the last call, as (method, path, headers)."""
    return [tuple(sent) for sent in driver.execute_script("return window.writeHeaders.splice(0)")]


def test_an_edit_overtaken_by_another_write_is_refused_and_shows_the_current_values(
    browser, stack, http
):
    """The form sends If-Match; on 412 it says someone else changed the attendee, shows the
    current values, and can put the user's values back to save them over the new version."""
    token = uuid.uuid4().hex[:8]
    attendee = {
        "full_name": f"Race Tester {token}",
        "email": f"race-{token}@example.test",
        "year_of_birth": 2000,
        "gender": "female",
        "university": "Vietnam National University",
        "major": "Mathematics",
    }
    created = http.post(f"{stack.url}/api/attendees", json=attendee, timeout=10)
    assert created.status_code == 201, created.text
    url = f"{stack.url}/api/attendees/{created.json()['id']}"

    open_ui(browser, stack.url + "/")
    search(browser, token, enter=True)
    row = f"#rows tr[data-id='{created.json()['id']}']"
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the attendee is not listed")
    click_when_shown(browser, f"{row} button[data-action='edit']", "no Edit button")
    wait_open(browser, "form-dialog")

    # Someone else saves a change while the form is open.
    theirs = http.patch(url, json={"major": "Physics"}, timeout=10)
    assert theirs.json()["version"] == 2

    record_write_headers(browser)
    fill_form(browser, {"major": "Data Science"}, replace=True)
    browser.find_element(By.ID, "form-submit").click()
    banner = wait(
        browser,
        lambda d: (
            "someone else changed" in text_of(d, "#form-banner").lower()
            and text_of(d, "#form-banner")
        ),
        "no message that someone else changed the attendee",
    )
    assert "412" in banner and "not saved" in banner
    assert is_open(browser, "form-dialog")
    major = browser.find_element(By.ID, "field-major")
    wait(browser, lambda d: major.get_attribute("value") == "Physics", "not the current major")
    conflict = browser.find_element(By.ID, "conflict-list").text
    assert "Data Science" in conflict and "Physics" in conflict
    [(method, _, headers)] = write_headers(browser)
    assert (method, headers.get("If-Match")) == ("PATCH", '"1"')
    stored = http.get(url, timeout=10).json()
    assert (stored["major"], stored["version"]) == ("Physics", 2)  # the stale edit was refused

    # "Use my values again" and save: the change now applies to the version the user has seen.
    browser.find_element(By.ID, "conflict-reapply").click()
    assert major.get_attribute("value") == "Data Science"
    browser.find_element(By.ID, "form-submit").click()
    wait_closed(browser, "form-dialog")
    [(method, _, headers)] = write_headers(browser)
    assert (method, headers.get("If-Match")) == ("PATCH", '"2"')
    stored = http.get(url, timeout=10).json()
    assert (stored["major"], stored["version"]) == ("Data Science", 3)
    assert http.delete(url, timeout=10).status_code == 204
    assert_no_csp_violation(browser)


def test_an_add_whose_answer_was_lost_is_retried_with_the_same_key(browser, stack, http):
    """The first POST is stored but its answer never arrives; saving again sends the same
    Idempotency-Key, gets the first result replayed, and the attendee exists once."""
    token = uuid.uuid4().hex[:8]
    attendee = {
        "full_name": f"Retry Tester {token}",
        "email": f"retry-{token}@example.test",
        "year_of_birth": 1998,
        "gender": "male",
        "university": "Da Nang University of Technology",
        "major": "Mechanical Engineering",
    }
    open_ui(browser, stack.url + "/")
    # The connection breaks after the request was sent: the page sees a network error.
    browser.execute_script(
        """window.posts = [];
           const original = window.fetch;
           window.fetch = async (url, init = {}) => {
             if ((init.method || 'GET') !== 'POST') return original(url, init);
             const response = await original(url, init);
             window.posts.push([init.headers['Idempotency-Key'],
                                response.headers.get('Idempotent-Replayed')]);
             if (window.posts.length === 1) throw new TypeError('Failed to fetch');
             return response;
           };"""
    )
    submit_add_form(browser, attendee)
    wait(
        browser,
        lambda d: "network error" in text_of(d, "#form-banner").lower(),
        "no network error shown",
    )
    listing = http.get(f"{stack.url}/api/attendees", params={"q": token}, timeout=10).json()
    assert listing["total"] == 1  # stored, though the page never heard

    browser.find_element(By.ID, "form-submit").click()
    wait_closed(browser, "form-dialog")
    toast = wait(browser, lambda d: text_of(d, "#toast"), "no confirmation after the retry")
    assert toast == f"Added {attendee['full_name']}."
    [(first_key, first_replayed), (second_key, second_replayed)] = browser.execute_script(
        "return window.posts"
    )
    assert re.fullmatch(r"[0-9a-f-]{32,36}", first_key)
    assert second_key == first_key
    assert (first_replayed, second_replayed) == (None, "true")
    listing = http.get(f"{stack.url}/api/attendees", params={"q": token}, timeout=10).json()
    assert listing["total"] == 1
    assert http.delete(f"{stack.url}/api/attendees/{listing['items'][0]['id']}").status_code == 204


def test_a_delete_overtaken_by_an_edit_is_refused_and_shows_the_record_as_it_is(
    browser, stack, http
):
    """Delete sends If-Match: after someone else's edit it is refused with the current values
    shown, and a second Delete deletes the attendee as it is now."""
    token = uuid.uuid4().hex[:8]
    attendee = {
        "full_name": f"Delete Race {token}",
        "email": f"delete-{token}@example.test",
        "year_of_birth": 1997,
        "gender": "male",
        "university": "Can Tho University",
        "major": "Biology",
    }
    created = http.post(f"{stack.url}/api/attendees", json=attendee, timeout=10).json()
    url = f"{stack.url}/api/attendees/{created['id']}"
    open_ui(browser, stack.url + "/")
    search(browser, token, enter=True)
    row = f"#rows tr[data-id='{created['id']}']"
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the attendee is not listed")
    click_when_shown(browser, f"{row} button[data-action='delete']", "no Delete button")
    wait_open(browser, "delete-dialog")

    new_email = f"moved-{token}@example.test"
    assert http.patch(url, json={"email": new_email}, timeout=10).status_code == 200
    browser.find_element(By.ID, "delete-confirm").click()
    wait(
        browser,
        lambda d: "someone else changed" in text_of(d, "#delete-banner").lower(),
        "no message that someone else changed the attendee",
    )
    wait(browser, lambda d: new_email in text_of(d, "#delete-text"), "not the current email")
    assert is_open(browser, "delete-dialog")
    assert http.get(url, timeout=10).status_code == 200  # not deleted

    browser.find_element(By.ID, "delete-confirm").click()
    wait_closed(browser, "delete-dialog")
    assert http.get(url, timeout=10).status_code == 404


NEW_ATTENDEE = {
    "full_name": "Accounts Browser Tester",
    "year_of_birth": 2001,
    "gender": "female",
    "university": "Hanoi University of Science and Technology",
    "major": "Data Science",
}
VIEWER_PASSWORD = "a viewer's password"
EDITOR_PASSWORD = "an editor's password"


@pytest.fixture(scope="module")
def people(stack, stack_token):
    """A viewer and an editor on the stack, made by its admin through the API."""
    admin = {"Authorization": f"Bearer {stack_token}"}
    for name, role, password in (
        ("browser-viewer", "viewer", VIEWER_PASSWORD),
        ("browser-editor", "editor", EDITOR_PASSWORD),
    ):
        body = {"username": name, "password": password, "role": role}
        made = requests.post(f"{stack.url}/api/users", json=body, headers=admin, timeout=10)
        assert made.status_code in (201, 409), made.text


def sign_out(driver) -> None:
    """Sign out through the header's button: the sign-in dialog comes back."""
    driver.find_element(By.ID, "sign-out").click()
    wait_open(driver, "signin-dialog")


def test_a_viewer_sees_no_write_controls_and_an_editor_adds(browser, stack, people):
    """Sign out, sign in as a viewer: the table, the name and role, and no add, edit or delete
    control; sign in as an editor: add an attendee through the form; sign out again."""
    open_ui(browser, stack.url + "/")
    sign_out(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "#account:not([hidden])")
    chromium.sign_in(browser, stack.url + "/", "browser-viewer", VIEWER_PASSWORD)
    open_ui(browser, stack.url + "/")
    assert text_of(browser, "#account-name") == "browser-viewer"
    assert text_of(browser, "#account-role") == "viewer"
    assert not browser.find_element(By.ID, "add-button").is_displayed()
    visible = [
        b for b in browser.find_elements(By.CSS_SELECTOR, "#rows button") if b.is_displayed()
    ]
    assert {b.get_attribute("data-action") for b in visible} == {"view"}

    sign_out(browser)
    chromium.sign_in(browser, stack.url + "/", "browser-editor", EDITOR_PASSWORD)
    open_ui(browser, stack.url + "/")
    assert browser.find_element(By.ID, "add-button").is_displayed()
    email = f"editor.{uuid.uuid4().hex[:8]}@example.edu"
    attendee = {**NEW_ATTENDEE, "email": email}
    submit_add_form(browser, attendee)
    wait_closed(browser, "form-dialog")
    search(browser, attendee["full_name"], enter=True)
    wait(browser, lambda d: any(r["Email"] == email for r in row_cells(d)), "the add is not listed")
    sign_out(browser)
    chromium.sign_in(browser, stack.url + "/", ADMIN, stack.admin_password())


def show_tokens_of(driver, username: str) -> None:
    """In the open Users panel, show USERNAME's tokens: click their Tokens button once their
    entry is listed, else Next while the panel is not loading (the list is paged by name)."""
    wait(
        driver,
        lambda d: d.execute_script(
            """const list = document.getElementById('users-list');
               if (list.hasAttribute('aria-busy')) return false;
               const entry = [...list.querySelectorAll('li.user-entry')]
                 .find((li) => li.dataset.username === arguments[0]);
               const next = document.getElementById('users-next');
               if (!entry) { if (!next.disabled) next.click(); return false; }
               entry.querySelector('button[data-action="tokens"]').click();
               return true;""",
            username,
        ),
        f"{username} is not in the Users panel",
    )


def token_of(base_url: str, username: str, password: str) -> tuple[str, str, str]:
    """A new API token of USERNAME's, made through the API: (its secret, id and name)."""
    name = f"browser-{uuid.uuid4().hex[:8]}"
    secret = api_token(base_url, username, password, name=name)
    mine = requests.get(f"{base_url}/api/tokens", headers=bearer(secret), timeout=10)
    assert mine.status_code == 200, mine.text
    token_id = next(token["id"] for token in mine.json()["items"] if token["name"] == name)
    return secret, token_id, name


def bearer(secret: str) -> dict:
    """The Authorization header that sends an API token."""
    return {"Authorization": f"Bearer {secret}"}


def test_an_admin_revokes_another_users_token_in_the_users_panel(browser, stack, http, people):
    """As admin: the Users panel lists the viewer with role and access; their token (made
    through the API) is listed with its times; Revoke sends one DELETE, the row goes, and the
    API refuses the token from then on (401)."""
    secret, token_id, name = token_of(stack.url, "browser-viewer", VIEWER_PASSWORD)
    assert http.get(f"{stack.url}/api/attendees", headers=bearer(secret)).status_code == 200
    open_ui(browser, stack.url + "/")
    click_when_shown(browser, "#users-button", "no Users button for the admin")
    wait_open(browser, "users-dialog")
    show_tokens_of(browser, "browser-viewer")
    entry = 'li.user-entry[data-username="browser-viewer"]'
    row = f'{entry} tr[data-token-id="{token_id}"]'
    wait(browser, lambda d: text_of(d, f"{row} .token-name") == name, "the token is not listed")
    assert text_of(browser, f"{entry} .pill") == "viewer"
    assert not browser.find_elements(By.CSS_SELECTOR, f"{entry} .pill-disabled")
    times = browser.find_elements(By.CSS_SELECTOR, f"{row} time")
    assert [t.get_attribute("datetime") != "" for t in times] == [True, True]

    record_writes(browser)
    click_when_shown(browser, f'{row} button[data-action="revoke"]', "no Revoke button")
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, row), "the row stayed")
    focused = "return document.activeElement.closest('dialog')?.id"
    wait(browser, lambda d: d.execute_script(focused) == "users-dialog", "focus left the panel")
    path = f"/api/users/browser-viewer/tokens/{token_id}"
    assert set(written(browser)) == {("DELETE", path, None)}
    refused = requests.get(f"{stack.url}/api/attendees", headers=bearer(secret), timeout=10)
    assert refused.status_code == 401, refused.text
    listed = http.get(f"{stack.url}/api/users/browser-viewer/tokens").json()["items"]
    assert token_id not in {token["id"] for token in listed}
    click_when_shown(browser, "#users-dialog .dialog-actions [data-close]", "no Close button")
    wait_closed(browser, "users-dialog")
    # Nothing of it lingers (the dialog's close event, which clears it, comes as its own task).
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#users-list li"), "lingers")
    assert_no_csp_violation(browser)


def test_a_viewer_has_no_users_panel_and_revokes_their_own_token(browser, stack, people):
    """As a viewer: no Users button, and its click (by script) opens nothing; My API tokens
    lists the viewer's own token, Revoke removes it, and the API refuses it (401)."""
    secret, token_id, name = token_of(stack.url, "browser-viewer", VIEWER_PASSWORD)
    open_ui(browser, stack.url + "/")
    sign_out(browser)
    chromium.sign_in(browser, stack.url + "/", "browser-viewer", VIEWER_PASSWORD)
    try:
        open_ui(browser, stack.url + "/")
        assert not browser.find_element(By.ID, "users-button").is_displayed()
        browser.execute_script("document.getElementById('users-button').click()")
        assert not is_open(browser, "users-dialog")
        click_when_shown(browser, "#tokens-button", "no API tokens button for the viewer")
        wait_open(browser, "tokens-dialog")
        row = f'#my-tokens tr[data-token-id="{token_id}"]'
        wait(browser, lambda d: text_of(d, f"{row} .token-name") == name, "token not listed")
        click_when_shown(browser, f'{row} button[data-action="revoke"]', "no Revoke button")
        wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, row), "the row stayed")
        refused = requests.get(f"{stack.url}/api/attendees", headers=bearer(secret), timeout=10)
        assert refused.status_code == 401, refused.text
        click_when_shown(browser, "#tokens-dialog .dialog-actions [data-close]", "no Close")
        wait_closed(browser, "tokens-dialog")
        assert_no_csp_violation(browser)
    finally:
        open_ui(browser, stack.url + "/")  # a fresh page: no dialog left open over the header
        sign_out(browser)
        chromium.sign_in(browser, stack.url + "/", ADMIN, stack.admin_password())


def test_an_expired_session_asks_again_and_keeps_the_typed_form(browser, stack, http):
    """The session ends while the add form is open (signed out elsewhere): saving brings the
    sign-in dialog back over the form, which still holds what was typed; after signing in,
    saving again adds the attendee."""
    open_ui(browser, stack.url + "/")
    email = f"expired.{uuid.uuid4().hex[:8]}@example.edu"
    browser.find_element(By.ID, "add-button").click()
    wait_open(browser, "form-dialog")
    fill_form(browser, {**NEW_ATTENDEE, "email": email})
    # The session ends on the server (as a sign-out in another tab would end it).
    assert "vdt_session" not in browser.execute_script("return document.cookie")  # HttpOnly
    cookie = browser.get_cookie("vdt_session")["value"]
    ended = requests.delete(f"{stack.url}/api/session", cookies={"vdt_session": cookie}, timeout=10)
    assert ended.status_code == 204
    browser.find_element(By.ID, "form-submit").click()
    wait_open(browser, "signin-dialog")
    assert is_open(browser, "form-dialog")
    assert browser.find_element(By.ID, "field-email").get_attribute("value") == email
    browser.find_element(By.ID, "signin-username").send_keys(ADMIN)
    browser.find_element(By.ID, "signin-password").send_keys(stack.admin_password())
    browser.find_element(By.ID, "signin-submit").click()
    wait_closed(browser, "signin-dialog")
    browser.find_element(By.ID, "form-submit").click()
    wait_closed(browser, "form-dialog")
    found = http.get(f"{stack.url}/api/attendees", params={"q": NEW_ATTENDEE["full_name"]})
    assert email in {a["email"] for a in found.json()["items"]}


def test_a_page_on_another_port_cannot_write_with_the_victims_cookie(
    browser, stack, http, tmp_path
):
    """CSRF: a page served over HTTPS from another 127.0.0.1 port (the same site, so the
    SameSite=Lax cookie goes along; a plain-HTTP page would be another site, and the cookie would
    stay home) posts a form and a fetch to the API: both refused, nothing stored."""
    email = f"csrf.{uuid.uuid4().hex[:8]}@example.edu"
    body = json.dumps({**NEW_ATTENDEE, "email": email})
    page = f"""<!doctype html><body>
<form id="f" method="post" action="{stack.url}/api/attendees" enctype="text/plain">
<input name='{body[:-1]},"x":"' value='"}}'></form>
<script>
fetch("{stack.url}/api/attendees", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: {json.dumps(body)}}})
  .finally(() => {{ document.title = "fetched"; document.getElementById("f").submit(); }});
</script></body>"""
    (tmp_path / "attack.html").write_text(page)
    handler = lambda *args: SimpleHTTPRequestHandler(  # noqa: E731
        *args, directory=str(tmp_path)
    )
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_dir() / "tls.crt", tls_dir() / "tls.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        open_ui(browser, stack.url + "/")  # the victim is signed in
        browser.get(f"https://127.0.0.1:{port}/attack.html")
        wait(browser, lambda d: "/api/attendees" in d.current_url, "the form was not submitted")
        # Refused as a signed-in request (the cookie went along), not as an anonymous one.
        answer = browser.find_element(By.TAG_NAME, "body").text
        assert "cross_site_request" in answer or "csrf_token_missing" in answer, answer
    finally:
        server.shutdown()
        server.server_close()
    found = http.get(f"{stack.url}/api/attendees", params={"q": NEW_ATTENDEE["full_name"]})
    assert email not in {a["email"] for a in found.json()["items"]}
