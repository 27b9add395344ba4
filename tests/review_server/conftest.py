"""A real data directory with real findings, and the review server over it (Starlette's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from livewatch.review_server import create_app
from livewatch.review_server.passwords import hash_password
from livewatch.settings import ReviewerAccount, ReviewSettings, Settings
from livewatch.state import DataDir
from tests.rules.test_event_check import T0, add_run, registered

PASSWORDS = {"王审核": "审核密码-one", "李主管": "supervisor-two", "张看看": "viewer-three"}
ROLES = {"王审核": "reviewer", "李主管": "reviewer", "张看看": "viewer"}
#: Hashed once per test session: scrypt is slow on purpose.
_HASHES: dict[str, str] = {}


def accounts() -> list[ReviewerAccount]:
    for name, password in PASSWORDS.items():
        _HASHES.setdefault(name, hash_password(password))
    return [ReviewerAccount(name=name, password_hash=_HASHES[name], role=ROLES[name]) for name in PASSWORDS]


@dataclass(frozen=True)
class Served:
    data: DataDir
    settings: Settings


def serve_forum(folder: Path, **review: object) -> Served:
    """The test forum: a guaranteed-return promise and a contact-app diversion, said after a late start."""
    data = DataDir(folder / "data")
    with registered(data) as db:
        add_run(db, T0 + timedelta(minutes=20), [(0, "大家好", ""), (30, "这个理财保本保息", ""),
                                                 (60, "加我V信聊", "")])
    settings = Settings(data_dir=data.root, review=ReviewSettings(accounts=accounts(), **review))
    return Served(data, settings)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    monkeypatch.setenv("LIVEWATCH_SERVER_SECRET", "a test secret, not a real one")
    return serve_forum(tmp_path)


@pytest.fixture
def client(served: Served) -> Iterator[TestClient]:
    with TestClient(create_app(served.settings)) as client:
        yield client


def sign_in(client: TestClient, name: str, password: str | None = None) -> None:
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    token = page.select_one("input[name=csrf]")
    assert token is not None
    response = client.post("/login", data={"csrf": str(token["value"]), "next": "/", "name": name,
                                           "password": PASSWORDS[name] if password is None else password},
                           follow_redirects=False)
    assert response.status_code == (303 if password is None else 401), response.text


def report_page(client: TestClient) -> BeautifulSoup:
    response = client.get("/forum/report.html")
    assert response.status_code == 200, response.text
    return BeautifulSoup(response.text, "html.parser")


def form_token(page: BeautifulSoup) -> str:
    token = page.select_one("form.decide input[name=csrf]") or page.select_one("input[name=csrf]")
    assert token is not None
    return str(token["value"])
