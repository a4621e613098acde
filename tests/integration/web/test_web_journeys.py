"""The officer's journeys in headless Chromium (issue 21, item 6), each page checked with
axe-core for serious or critical accessibility violations.

One store for the module: two real runs of the demo credit audit (LightGBM on German
credit; the earlier one at another decision threshold, so comparing them shows changes),
the later one stored with its PDF report and adverse-action letters issued with a review
so strict that they are held. Journeys: attest (``retention_months: 25`` turns
REGB-12-RETENTION into a pass; evaluation 1 stays readable), sign off (the signed PDF and
``auditor verify`` name the signer), compare two audits, and review held letters
(approve issues with the reviewer in the event log, reject never issues, four eyes
refuses the issuer). The attest journey includes the refusal of a misspelt key (it
replaces the earlier ``tests/test_web_browser_attest.py``).

axe-core is vendored (``tests/vendor/axe-core``, MPL-2.0, version in its header): nothing
is fetched at test time. Screenshots go to ``tmp_path`` and to ``$AUDITOR_SCREENSHOTS``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from test_web_browser import _shot, browser
from typer.testing import CliRunner

import auditor
from auditor.cli import app as cli
from auditor.store import open_store, save_audit
from auditor.store.decisions import load_decisions
from auditor.store.models import Event, Letter
from auditor.users import add_user
from auditor.web.app import create_app
from auditor.web.settings import WebSettings
from tests._paths import REPO
from tests._web import PASSWORD, USERS, LiveServer, add_users, live_server_factory

__all__ = ["browser", "live_server_factory"]  # fixtures used by name
pytestmark = pytest.mark.browser

AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
RULE = "REGB-12-RETENTION"


@dataclass(frozen=True)
class Stored:
    """The module's store: its URL, the earlier and the later audit, the issuer's name."""

    url: str
    earlier: str
    later: str
    issuer: str


@pytest.fixture(scope="module")
def stored(credit_case: Any, tmp_path_factory: pytest.TempPathFactory) -> Stored:
    from auditor.service import perform_audit

    folder = tmp_path_factory.mktemp("journeys")
    url = f"sqlite:///{folder / 'web.db'}"
    data = yaml.safe_load(credit_case.spec_path.read_text())
    for key in ("model", "data"):
        data[key]["path"] = str(credit_case.spec_path.parent / data[key]["path"])
    data.setdefault("explain", {})["quality"] = {"enabled": False}
    earlier = auditor.run_audit({**data, "threshold": 0.6})
    with open_store(url) as store:
        add_users(store)
        with store.session() as session:
            save_audit(session, earlier)
    # the later run: stored with its PDF; letters held by a review that moves every
    # continuous feature by half its spread (as tests/test_letters_queue.py does)
    data["letters"]["review"] = {"draws": 5, "noise": 0.5, "threshold": 0.0, "scale": "spread"}
    spec = folder / "credit.yaml"
    spec.write_text(yaml.safe_dump(data))
    later = perform_audit(spec, database_url=url, fast_render=True).result.audit_id
    with open_store(url) as store, store.session() as session:
        decisions = load_decisions(session, later)
    declined = [d for d, f in zip(decisions.ids, decisions.favorable, strict=True) if not f][:4]
    done = CliRunner().invoke(
        cli, ["letters", later, "--decisions", ",".join(declined), "--db", url, "-q"]
    )
    assert done.exit_code in (0, 1), done.output  # 1: some letters held, as intended
    with open_store(url) as store, store.session() as session:
        issuer = session.scalars(select(Event.user).where(Event.kind == "letters.issued")).first()
    assert issuer
    return Stored(url, earlier.audit_id, later, issuer)


class Axe:
    """Runs axe-core on pages and collects the serious and critical violations."""

    def __init__(self) -> None:
        self.script = AXE.read_text(encoding="utf-8")
        self.found: dict[str, list[str]] = {}

    def check(self, page: Any, name: str) -> None:
        page.add_script_tag(content=self.script)
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — e.g. {v['nodes'][0]['target']}"
            for v in result
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            self.found[name] = bad


@pytest.fixture
def axe() -> Axe:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: the vendored axe-core must ship with the tests")
    return Axe()


def _server(
    stored: Stored, tmp_path: Path, start: Callable[[Any], LiveServer], *, four_eyes: bool
) -> LiveServer:
    settings = WebSettings(
        database_url=stored.url, data_root=tmp_path, secret=b"k" * 32, four_eyes=four_eyes
    )
    return start(create_app(settings))


def _sign_in(browser: Any, server: LiveServer, name: str, axe: Axe | None = None) -> Any:
    # bypass_csp: only so the test can inject axe-core; the pages' own CSP stays in force
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{server.url}/login")
    if axe is not None:
        axe.check(page, "login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/audits$"))
    return page


def _pdf_text(pdf: bytes, folder: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    path = folder / "signed.pdf"
    path.write_bytes(pdf)
    return subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_attest_sign_off_and_compare(
    browser: Any,
    stored: Stored,
    axe: Axe,
    tmp_path: Path,
    live_server_factory: Callable[[Any], LiveServer],
) -> None:
    from auditor.cli_report import rerender_report
    from auditor.store import load_result

    server = _server(stored, tmp_path, live_server_factory, four_eyes=False)
    shots = tmp_path / "shots"
    shots.mkdir()
    page = _sign_in(browser, server, USERS["officer"], axe)
    axe.check(page, "audits")
    audit = f"{server.url}/audits/{stored.later}"

    # attest: the open evidence is offered; 25 months turns the rule into a pass
    page.goto(audit)
    axe.check(page, "audit")
    retention = page.locator("tr", has_text=RULE).filter(has_text="record_retention").first
    assert "Needs attestation" in retention.inner_text()
    assert "retention_months: not attested yet" in retention.inner_text()
    # a misspelt key: refused, the key named, nothing stored
    page.fill("#evidence", "retention_month: 25")
    page.click("#attest-submit")
    error = page.locator("#attest-error").inner_text()
    assert "retention_month" in error
    assert "no rule" in error
    assert page.locator("#evaluations tbody tr").count() == 1
    page.fill("#evidence", "retention_months: 25")
    page.set_input_files(
        "#document",
        files=[{"name": "retention.txt", "mimeType": "text/plain", "buffer": b"25 months"}],
    )
    page.click("#attest-submit")
    page.wait_for_url(re.compile(r".*evaluation=2.*"))
    row = page.locator("tr", has_text=RULE).filter(has_text="record_retention").first
    assert "Pass" in row.inner_text()
    assert "retention_months = 25 attested by otto" in row.inner_text()
    row.scroll_into_view_if_needed()
    _shot(page, shots, "journey-01-attested-finding", element=row)
    _shot(page, shots, "journey-02-evaluations", element=page.locator("#sec-evaluations"))

    # the previous evaluation is still readable: what changed from evaluation 1
    page.click("#compare-evaluations")
    changed = page.locator("#compare-findings").inner_text()
    assert re.search(rf"{RULE}\s+record_retention\s+Needs attestation\s+Pass", changed)
    axe.check(page, "compare evaluations")
    with open_store(stored.url) as store, store.session() as session:
        first = load_result(session, stored.later, evaluation=1)
    assert [f.status for f in first.findings if f.rule_id == RULE] == ["needs_attestation"]

    # sign off the report rendered from evaluation 2
    rerender_report(stored.later, preset="aaa", database_url=stored.url, user="test")
    page.goto(audit)
    page.fill("#signoff-role", "Chief Compliance Officer")
    page.click("#signoff-submit")
    page.wait_for_url(re.compile(r".*#sign-offs$"))
    signed = page.locator("#sign-offs").inner_text()
    assert "otto" in signed
    assert "Chief Compliance Officer" in signed
    _shot(page, shots, "journey-03-signed", element=page.locator("#sign-offs"))
    href = page.locator("#sign-offs a").first.get_attribute("href")
    assert href is not None
    pdf = page.request.get(server.url + href).body()
    text = _pdf_text(pdf, tmp_path)
    assert "otto" in text
    assert "Chief Compliance Officer" in text
    verified = CliRunner().invoke(cli, ["verify", "--db", stored.url])
    assert verified.exit_code == 0, verified.output
    assert "otto" in verified.output
    assert "Chief Compliance Officer" in verified.output

    # the trail lists the attestation and the sign-off
    page.click("#audit-trail-link")
    trail = page.inner_text("main")
    assert "otto" in trail
    axe.check(page, "trail")

    # compare the two audits (the earlier one ran at threshold 0.6)
    page.goto(audit)
    page.select_option("#compare-with", stored.earlier)
    page.click("#compare-submit")
    page.wait_for_url(re.compile(rf".*/compare\?with_audit={stored.earlier}"))
    head = page.inner_text("main")
    assert stored.earlier[:8] in head
    assert stored.later[:8] in head
    assert page.locator("#compare-findings tbody tr").count() >= 1
    assert page.locator("#compare-ratios tbody tr").count() >= 1
    axe.check(page, "compare audits")
    _shot(page, shots, "journey-04-compare")
    page.goto(f"{audit}?status=fail#sec-findings")
    axe.check(page, "findings filtered")
    for path in ("/policies", "/audits/new", "/schedules", "/letters"):
        page.goto(server.url + path)
        axe.check(page, path)
    page.context.close()
    assert not axe.found, "\n".join(f"{p}: {v}" for p, vs in axe.found.items() for v in vs)


def test_review_held_letters(
    browser: Any,
    stored: Stored,
    axe: Axe,
    tmp_path: Path,
    live_server_factory: Callable[[Any], LiveServer],
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    with open_store(stored.url) as store:
        add_user(store, stored.issuer, "officer", PASSWORD, actor="test")
    server = _server(stored, tmp_path, live_server_factory, four_eyes=True)

    # four eyes: the officer who issued the letters may not review them
    page = _sign_in(browser, server, stored.issuer)
    page.goto(f"{server.url}/letters/review")
    held = page.locator("#review-queue tbody tr", has_text="Held for review")
    assert held.count() >= 2, "the strict review should hold at least two letters"
    first_id = held.first.get_attribute("id")
    assert first_id is not None
    held.first.locator("button[value=approve]").click()
    refused = page.locator("#review-error").inner_text()
    assert "four" in refused.lower() or stored.issuer in refused
    _shot(page, shots, "journey-05-four-eyes")
    page.context.close()

    page = _sign_in(browser, server, USERS["officer"])
    page.goto(f"{server.url}/letters/review")
    axe.check(page, "letters review")
    _shot(page, shots, "journey-06-queue")
    page.locator(f"#{first_id} button[value=approve]").click()
    page.wait_for_selector("#reviewed")
    assert re.search(r"approve by otto", page.locator("#reviewed").inner_text())
    second = page.locator("#review-queue tbody tr", has_text="Held for review").first
    second_id = second.get_attribute("id")
    assert second_id is not None
    second.locator("input[name=note]").fill("reasons unstable under review")
    second.locator("button[value=reject]").click()
    page.wait_for_selector("#reviewed >> text=reject by otto")
    _shot(page, shots, "journey-07-reviewed", element=page.locator("#reviewed"))
    page.goto(f"{server.url}/letters/{second_id.removeprefix('letter-')}")
    assert "Reject by otto" in page.inner_text("main")
    axe.check(page, "letter")
    page.context.close()

    approved, rejected = (int(i.removeprefix("letter-")) for i in (first_id, second_id))
    with open_store(stored.url) as store, store.session() as session:
        status = dict(session.execute(select(Letter.id, Letter.status)).all())
        events = session.execute(select(Event.kind, Event.user, Event.payload)).all()
    assert status[approved] == "issued"
    assert status[rejected] == "rejected"
    reviews = [(k, u, str(p)) for k, u, p in events if "review" in k or "status" in k]
    assert any(u == "otto" and f"{approved}" in p for _k, u, p in reviews), reviews
    assert not axe.found, "\n".join(f"{p}: {v}" for p, vs in axe.found.items() for v in vs)
