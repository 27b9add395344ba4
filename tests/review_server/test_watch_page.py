"""The review server's "watch this URL" page (issue 22): a signed-in reviewer starts an inspection with the
session's token, refused as a registration would be; a viewer sees the running inspections only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from livewatch.review_server import create_app
from livewatch.settings import Settings
from tests.review_server.conftest import Served, form_token, sign_in

URL = "https://live.example.com/room/9"


@pytest.fixture
def settings(served: Served, tmp_path: Path) -> Settings:
    return served.settings.model_copy(update={"schedules_dir": tmp_path / "schedules"})


@pytest.fixture
def watching(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _page(client: TestClient) -> BeautifulSoup:
    response = client.get("/watch")
    assert response.status_code == 200, response.text
    return BeautifulSoup(response.text, "html.parser")


def _start(client: TestClient, token: str, **fields: str) -> int:
    response = client.post("/watch", data={"csrf": token, **fields}, follow_redirects=False)
    return response.status_code


def test_a_reviewer_starts_an_inspection_and_sees_it_listed(watching: TestClient, settings: Settings) -> None:
    assert watching.get("/watch", follow_redirects=False).status_code == 303  # sign in first
    sign_in(watching, "王审核")
    page = _page(watching)
    assert page.select_one("#no-monitor") is not None  # nothing would record it yet: said on the page
    assert page.select_one("#no-inspections") is not None
    token = form_token(page)
    assert _start(watching, "forged", url=URL) == 403
    refused = watching.post("/watch", data={"csrf": token, "url": "file:///etc/passwd"})
    assert refused.status_code == 400
    error = BeautifulSoup(refused.text, "html.parser").select_one("#watch-error")
    assert error is not None
    assert "URL scheme 'file' is not allowed" in error.get_text()
    assert not (settings.schedules_dir / "adhoc").exists() or not list((settings.schedules_dir / "adhoc").iterdir())

    response = watching.post("/watch", data={"csrf": token, "url": URL, "duration": "10m", "tip_from": "a viewer",
                                             "note": "a QR code to a WeChat group"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    event_id = response.headers["location"].removeprefix("/watch?started=")
    written = yaml.safe_load((settings.schedules_dir / "adhoc" / f"{event_id}.yaml").read_text(encoding="utf-8"))
    assert written["kind"] == "inspection"
    assert written["streams"] == [{"url": URL}]
    assert written["inspection"]["inspector"] == "王审核"
    assert written["inspection"]["tip_from"] == "a viewer"
    page = _page(watching)
    [row] = page.select("tr.inspection")
    assert row["data-event"] == event_id
    assert row["data-status"] == "waiting"
    assert URL in row.get_text()
    assert "a viewer" in row.get_text()


def test_a_viewer_cannot_start_an_inspection(watching: TestClient, settings: Settings) -> None:
    sign_in(watching, "张看看")
    page = _page(watching)
    assert page.select_one("form.watch") is None
    assert page.select_one("#read-only") is not None
    assert _start(watching, form_token(page), url=URL) == 403  # the sign-out form's token: valid, wrong role
    assert not (settings.schedules_dir / "adhoc").exists()
