"""End to end in headless Chromium: log in, upload a spec, watch the audit finish, open
the findings, download the PDF, look up a letter, add a schedule.

Uses Debian's ``chromium`` (no browser download) through Playwright's ``executable_path``.
Skipped when Chromium or Playwright is missing, unless ``$CI`` is set: then it fails.
Screenshots go to ``tmp_path`` (and to ``$AUDITOR_SCREENSHOTS`` when set, to look at).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.demo import DemoCase
from auditor.store import open_store
from tests._web import (
    PASSWORD,
    USERS,
    LiveServer,
    add_users,
    insert_letter,
    live_server_factory,  # noqa: F401 (fixture)
    make_app,
)

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("AUDITOR_CHROMIUM", "/usr/bin/chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and $CI is set: the browser tests must run in CI")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright (dev extra) is not installed")
    if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


def _shot(page: Any, folder: Path, name: str, *, element: Any = None) -> None:
    path = folder / f"{name}.png"
    if element is not None:
        element.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("AUDITOR_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


def test_officer_journey_in_chromium(
    browser: Any,
    credit_case: DemoCase,
    tmp_path: Path,
    live_server_factory: Callable[[Any], LiveServer],  # noqa: F811
) -> None:
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    data_root = credit_case.spec_path.parent
    with open_store(db_url) as store:
        add_users(store)
    server = live_server_factory(make_app(db_url, data_root))
    shots = tmp_path / "shots"
    shots.mkdir()
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)

    # anonymous: the login page, nothing else
    page.goto(f"{server.url}/audits")
    assert "/login" in page.url
    page.fill("input[name=name]", USERS["officer"])
    page.fill("input[name=password]", PASSWORD)
    _shot(page, shots, "01-login")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/audits$"))

    # a spec with a typo: a clear error view naming the key, nothing started
    bad = tmp_path / "bad.yaml"
    bad.write_text(credit_case.spec_path.read_text().replace("domain: credit", "domain: loans"))
    page.goto(f"{server.url}/audits/new")
    page.set_input_files("input[name=spec]", str(bad))
    page.click("button:has-text('Start audit')")
    error = page.locator(".alert-error").inner_text()
    assert "bad.yaml" in error
    assert "domain" in error
    _shot(page, shots, "02-bad-spec")

    # upload the real spec; the audit runs in the background with visible progress
    page.set_input_files("input[name=spec]", str(credit_case.spec_path))
    page.click("button:has-text('Start audit')")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f]+$"))
    _shot(page, shots, "03-job-running")
    page.wait_for_selector("#job[data-state=completed]", timeout=180_000)
    _shot(page, shots, "04-job-completed")
    page.click("text=Open the findings")
    page.wait_for_url(re.compile(r".*/audits/[0-9a-f-]{36}$"))
    assert page.locator("#sec-findings h2").count() >= 2  # one heading per pack
    assert page.locator("#sec-results table.data").count() >= 2
    charts = page.locator("figure.chart img")  # SVG charts as data: images, as in the PDF
    assert charts.count() >= 1
    # rendered, not blocked by the Content-Security-Policy: the image has a width
    assert page.evaluate("document.querySelector('figure.chart img').naturalWidth") > 0
    assert "SHA-256 matches" in page.locator("#pdf-check").inner_text()
    _shot(page, shots, "05-audit")
    _shot(page, shots, "06-findings", element=page.locator("#sec-findings"))

    # download the stored PDF; its bytes are the stored report's
    with page.expect_download() as info:
        page.click("#download-pdf")
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    audit_id = page.url.rsplit("/", 1)[-1]
    with open_store(db_url) as store:
        from auditor.store import get_report

        with store.session() as session:
            stored = get_report(session, audit_id)
        assert stored is not None
        assert hashlib.sha256(pdf).hexdigest() == stored.sha256
        letter_id = insert_letter(store, audit_id, "A-1042", pdf=b"%PDF-1.7 letter")

    # look up a letter by decision id and open it
    page.click("nav.mainnav >> text=Letters")
    page.fill("input[name=decision_id]", "A-1042")
    page.click("button:has-text('Look up')")
    page.click('table.grid a:text-is("View")')
    page.wait_for_url(re.compile(rf".*/letters/{letter_id}$"))
    frame = page.frame_locator("iframe.letter")
    assert "Notice of action taken" in frame.locator("h1").inner_text()
    assert "matches the stored content" in page.inner_text("main")
    _shot(page, shots, "07-letter")

    # add a schedule for the same spec (relative to the data root) and pause it
    page.click("nav.mainnav >> text=Schedules")
    page.fill("input[name=name]", "credit-weekly")
    page.fill("input[name=spec_path]", credit_case.spec_path.name)
    page.fill("input[name=cron]", "0 6 * * 1")
    page.click("button:has-text('Add schedule')")
    row = page.locator("tr", has_text="credit-weekly")
    assert "active" in row.inner_text()
    row.locator("button:has-text('Pause')").click()
    assert "paused" in page.locator("tr", has_text="credit-weekly").inner_text()
    _shot(page, shots, "08-schedules")

    page.click("nav.mainnav >> text=Policy packs")
    _shot(page, shots, "09-policies")
    page.click("nav.mainnav >> text=Audits")
    _shot(page, shots, "10-audits")
    context.close()
