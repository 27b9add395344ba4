"""A reviewer in Chromium against the real server (uvicorn on 127.0.0.1): sign in, confirm, dismiss and escalate
a finding each, see each status change; then a decision taken elsewhere reaches the open page by itself
(server-sent events)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
import yaml
from playwright.sync_api import expect, sync_playwright

from livewatch.reports.reviews import read_audit_log
from livewatch.review_server import create_app
from tests.review_server.conftest import PASSWORDS, Served
from tests.support.artifacts import artifact


@pytest.fixture
def base_url(served: Served) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(served.settings), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_reviewer_confirms_dismisses_and_escalates_in_chromium(served: Served, base_url: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed; `make test` installs Debian's chromium"
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{base_url}/forum/report.html")
        expect(page.locator("form.login")).to_be_visible()  # anonymous: the sign-in page
        page.fill("input[name=name]", "王审核")
        page.fill("input[name=password]", PASSWORDS["王审核"])
        page.click("form.login button")
        page.wait_for_url(f"{base_url}/forum/report.html")
        expect(page.locator("#review-user")).to_have_text("王审核")

        decided = {}
        for rule, action, note in (("finance-promise", "confirm", "保本保息 is a promise"),
                                   ("contact-apps", "dismiss", "a brand name"), ("late-start", "escalate", "")):
            row = page.locator("tr.finding", has_text=rule)
            finding = (row.get_attribute("id") or "").removeprefix("finding-")
            if note:
                row.locator("input[name=note]").fill(note)
            row.locator(f"button[value={action}]").click()
            page.wait_for_url(f"{base_url}/forum/report.html#finding-{finding}")
            status = {"confirm": "confirmed", "dismiss": "dismissed", "escalate": "escalated"}[action]
            expect(page.locator(f"#finding-{finding}")).to_contain_text(
                f"{status} by 王审核" + (f": {note}" if note else ""))
            decided[rule] = finding
        expect(page.locator(f"#finding-{decided['contact-apps']}")).to_have_class("finding dismissed")

        # A decision written by hand reaches the open page without a reload.
        promise = decided["finance-promise"]
        review = served.data.review_file("forum")
        entries = yaml.safe_load(review.read_text(encoding="utf-8"))
        entries[promise] = {"status": "dismissed", "reviewer": "李主管"}
        review.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
        expect(page.locator(f"#finding-{promise}")).to_have_class("finding dismissed", timeout=15_000)
        expect(page.locator(f"#finding-{promise}")).to_contain_text("dismissed by 李主管")
        page.screenshot(path=str(artifact("review-server.png")), full_page=True)
        browser.close()
    assert errors == []
    assert [(e["finding"], e["to"], e["reviewer"]) for e in read_audit_log(served.data, "forum")] == [
        (decided["finance-promise"], "confirmed", "王审核"), (decided["contact-apps"], "dismissed", "王审核"),
        (decided["late-start"], "escalated", "王审核"), (decided["finance-promise"], "dismissed", "李主管")]
