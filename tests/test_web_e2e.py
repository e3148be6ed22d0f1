"""The compliance web page in a real browser (Debian Chromium driven by Playwright) against a real server."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import make_docx, make_pdf

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SURVEILRISK_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
FACE = [
    "Orion FR-500 Face Search Appliance",
    "Resolution: 1920 x 1080 | Channels: 32 | Power: 150 W | Rack: 1U",
    "Every face captured by the connected cameras is compared with a blacklist of wanted persons, and the "
    "operator receives an alarm with the matched photo within two seconds.",
    "Built for police and public security bureaus operating city-wide surveillance networks.",
]
LENS = ["Varifocal lens VL-2812", "Focal length 2.8-12 mm, F1.4, IR corrected, CS mount, metal housing."]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory, shipped_classifier):
    """The real app under uvicorn on a free port, with a fresh database and one key per role."""
    import uvicorn

    from serving.app import create_app
    from serving.auth import create_key
    from serving.db import make_engine, make_session_factory, session_scope, upgrade
    from serving.settings import ServiceSettings as Settings

    root = tmp_path_factory.mktemp("web")
    settings = Settings(data_dir=root, max_upload_bytes=200_000)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    keys = {}
    with session_scope(make_session_factory(engine)) as s:
        for role, name in (("screener", "sam"), ("reviewer", "rita")):
            keys[role] = create_key(s, role=role, name=name)[1]
    engine.dispose()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, classifier=shipped_classifier), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", keys
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("SURVEILRISK_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page, base: str, key: str, path: str = "/") -> None:
    page.goto(base + path)
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")  # keyboard only
    page.locator("#role").wait_for()


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def test_upload_screen_history_review(server, page, tmp_path):
    base, keys = server
    page.goto(base + "/")
    _shot(page, "01-sign-in")
    _sign_in(page, base, keys["screener"])
    assert page.locator("#role").inner_text() == "screener"

    pdf = tmp_path / "orion-fr500.pdf"
    pdf.write_bytes(make_pdf(FACE))
    docx = tmp_path / "lens.docx"
    docx.write_bytes(make_docx(LENS))
    big = tmp_path / "huge.txt"
    big.write_text("camera " * 60_000)
    page.set_input_files("#file-input", [str(pdf), str(docx), str(big)])
    page.wait_for_selector("#doc-list li[data-name='lens.docx'] .badge")
    page.wait_for_selector("#doc-list li[data-name='orion-fr500.pdf'] .badge")
    error = page.locator("#doc-list li[data-name='huge.txt'] .msg.error")
    error.wait_for()
    assert "too large" in error.inner_text() and "200,000 bytes" in error.inner_text()

    page.locator("#doc-list li[data-name='orion-fr500.pdf'] button").click()
    badge = page.locator("#tier-badge")
    assert badge.inner_text().lower() in {"high", "critical"}
    assert page.locator("#tier-reason").inner_text()
    marks = page.locator("#doctext mark.ev")
    assert marks.count() > 0
    source = _squash(" ".join(FACE))
    for i in range(marks.count()):
        assert _squash(marks.nth(i).inner_text()) in source
    link = page.locator("a[data-label='face_identification']")
    link.click()
    flashed = page.locator("#doctext mark.flash")
    flashed.first.wait_for()
    assert "face_identification" in flashed.first.get_attribute("data-labels")
    _shot(page, "02-result")

    page.get_by_label("Destination country").fill("BR")
    page.get_by_label("End-user type").select_option("public_security")
    page.get_by_label("Your reference (optional)").fill("PO-E2E-1")
    page.get_by_role("button", name="Screen and store").click()
    action = page.locator("#action-badge")
    action.wait_for()
    assert action.inner_text().lower() in {"escalate", "block"}
    screening_id = page.locator("#screening-id").inner_text()
    assert page.locator("#permalink").get_attribute("href") == f"/screenings/{screening_id}"
    _shot(page, "03-decision")

    page.get_by_role("button", name="History").click()
    row = page.locator(f"#history-rows tr[data-id='{screening_id}']")
    row.wait_for()
    assert "PO-E2E-1" in row.inner_text()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download CSV").click()
    csv_path = tmp_path / "history.csv"
    dl.value.save_as(csv_path)
    assert screening_id in csv_path.read_text()
    _shot(page, "04-history")
    row.locator("a").click()
    page.locator("#s-decision-card").wait_for()
    assert page.locator("#review-form").count() == 0  # screeners cannot review

    # a reviewer opens the permalink and corrects the screening
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, base, keys["reviewer"], f"/screenings/{screening_id}")
    page.locator("#review-form").wait_for()
    page.get_by_label("Correct it").check()
    page.locator("#rv-covert").check()
    page.get_by_label("Quote from the text showing Covert").fill("within two seconds")
    page.get_by_label("Comment").fill("Checked against the vendor's manual.")
    page.get_by_role("button", name="Submit review").click()
    page.wait_for_selector("#review-list li")
    assert "Corrected by rita" in page.locator("#review-list").inner_text()
    _shot(page, "05-review")

    report = page.evaluate(
        """async ([id, key]) => { const r = await fetch(`/v1/screenings/${id}/report`,
               {headers: {Authorization: `Bearer ${key}`}}); return [r.status, await r.text()]; }""",
        [screening_id, keys["reviewer"]],
    )
    assert report[0] == 200 and "Export screening report" in report[1] and screening_id in report[1]


def test_paste_text_and_accessibility_basics(server, page):
    from playwright.sync_api import expect

    base, keys = server
    _sign_in(page, base, keys["screener"])
    page.get_by_label("Product text").fill("\n".join(LENS))
    page.get_by_role("button", name="Analyse text").click()
    page.locator("#tier-badge").wait_for()
    assert page.locator("#tier-badge").inner_text().lower() in {"minimal", "limited"}
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
              .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
              .map(e => e.id || e.name)"""
    )
    assert unlabeled == []
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key").fill("sr_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("not accepted")
