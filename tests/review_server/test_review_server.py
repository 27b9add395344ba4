"""The review server over a real data directory: decisions land in the review file, the audit log and every
static page alike; two reviewers at once lose nothing; forged, anonymous and read-only requests change nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from livewatch.reports.reviews import audit_trail
from livewatch.review_server import create_app
from livewatch.review_server.cookies import COOKIE
from livewatch.review_server.passwords import hash_password, verify_password
from tests.review_server.conftest import Served, form_token, report_page, serve_forum, sign_in


def finding_ids(page: BeautifulSoup) -> dict[str, str]:
    """Rule → finding id, from the page's rows."""
    ids: dict[str, str] = {}
    for row in page.select("tr.finding"):
        rule = str(row["data-rule"])
        ids[rule] = str(row["id"]).removeprefix("finding-")
    return ids


def decide(client: TestClient, token: str, finding: str, action: str, note: str = "") -> int:
    response = client.post(f"/forum/findings/{finding}", data={"csrf": token, "action": action, "note": note},
                           follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"] == f"/forum/report.html#finding-{finding}"
    return response.status_code


def test_confirm_dismiss_escalate_agree_in_review_file_audit_log_report_index_and_json(
        served: Served, client: TestClient) -> None:
    sign_in(client, "王审核")
    page = report_page(client)
    ids = finding_ids(page)
    promise, contact, late = (ids["finance-promise.guaranteed-returns"], ids["traffic-diversion.contact-apps"],
                              ids["schedule.late-start"])
    token = form_token(page)
    assert decide(client, token, promise, "confirm", "保本保息: a promise, not a quote") == 303
    assert decide(client, token, contact, "dismiss", "a brand name") == 303
    assert decide(client, token, late, "escalate") == 303

    review = yaml.safe_load(served.data.review_file("forum").read_text(encoding="utf-8"))
    assert review == {promise: {"status": "confirmed", "reviewer": "王审核",
                                "note": "保本保息: a promise, not a quote"},
                      contact: {"status": "dismissed", "reviewer": "王审核", "note": "a brand name"},
                      late: {"status": "escalated", "reviewer": "王审核"}}
    trail = audit_trail(served.data, "forum")
    assert not trail.breaks
    assert not trail.bad_lines
    assert [(e["finding"], e["to"], e["reviewer"]) for e in trail.entries] == [
        (promise, "confirmed", "王审核"), (contact, "dismissed", "王审核"), (late, "escalated", "王审核")]

    folder = served.data.report_dir("forum")
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    statuses = {f["id"]: f["status"] for f in document["findings"]}
    assert (statuses[promise], statuses[contact], statuses[late]) == ("confirmed", "dismissed", "escalated")
    static = BeautifulSoup((folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    assert not static.select("form"), "the static report has no forms"
    assert not static.select(".review-bar")
    for finding, status in ((promise, "confirmed"), (contact, "dismissed"), (late, "escalated")):
        row = static.select_one(f"#finding-{finding}")
        assert row is not None
        assert status in row.get_text()
    assert "dismissed" in (static.select_one(f"#finding-{contact}")["class"] or [])  # type: ignore[index]
    assert "by 王审核" in static.get_text()  # the review log
    [row] = BeautifulSoup((served.data.reports / "index.html").read_text(encoding="utf-8"), "html.parser").select(
        "tr.event")
    not_dismissed = [f for f in document["findings"] if f["status"] != "dismissed"]
    assert int(str(row["data-findings"])) == len(not_dismissed)

    served_page = report_page(client)  # the server shows the same, with the decision and who took it
    mine = served_page.select_one(f"#finding-{promise}")
    assert mine is not None
    assert "confirmed by 王审核: 保本保息" in mine.get_text()
    reopened = decide(client, form_token(served_page), contact, "reopen")
    assert reopened == 303
    assert contact not in yaml.safe_load(served.data.review_file("forum").read_text(encoding="utf-8"))


def test_two_reviewers_at_once_both_keep_their_decision(served: Served) -> None:
    app = create_app(served.settings)
    with TestClient(app) as first, TestClient(app) as second:
        sign_in(first, "王审核")
        sign_in(second, "李主管")
        ids = finding_ids(report_page(first))
        work = [(first, ids["finance-promise.guaranteed-returns"], "confirm"),
                (second, ids["traffic-diversion.contact-apps"], "dismiss"),
                (first, ids["schedule.late-start"], "escalate")]
        tokens = {id(client): form_token(report_page(client)) for client in (first, second)}
        start = threading.Barrier(len(work))
        codes: list[int] = []

        def act(client: TestClient, finding: str, action: str) -> None:
            start.wait()
            codes.append(decide(client, tokens[id(client)], finding, action))

        threads = [threading.Thread(target=act, args=job) for job in work]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert codes == [303, 303, 303]
    review = yaml.safe_load(served.data.review_file("forum").read_text(encoding="utf-8"))
    assert {finding: (d["status"], d["reviewer"]) for finding, d in review.items()} == {
        ids["finance-promise.guaranteed-returns"]: ("confirmed", "王审核"),
        ids["traffic-diversion.contact-apps"]: ("dismissed", "李主管"),
        ids["schedule.late-start"]: ("escalated", "王审核")}
    assert len(audit_trail(served.data, "forum").entries) == 3


def test_a_hand_edit_is_kept_when_the_server_decides(served: Served, client: TestClient) -> None:
    sign_in(client, "王审核")
    page = report_page(client)
    ids = finding_ids(page)
    promise, contact = ids["finance-promise.guaranteed-returns"], ids["traffic-diversion.contact-apps"]
    served.data.review_file("forum").write_text(
        f"{promise}:\n  status: dismissed\n  reviewer: 手写\n  note: by hand\n", encoding="utf-8")
    assert decide(client, form_token(page), contact, "confirm") == 303
    review = yaml.safe_load(served.data.review_file("forum").read_text(encoding="utf-8"))
    assert review[promise] == {"status": "dismissed", "reviewer": "手写", "note": "by hand"}
    assert review[contact]["reviewer"] == "王审核"
    # An invalid hand edit: the server refuses to act and the file stays as the reviewer left it.
    served.data.review_file("forum").write_text(f"{promise}:\n  status: approved\n", encoding="utf-8")
    assert decide(client, form_token(page), contact, "dismiss") == 409
    assert served.data.review_file("forum").read_text(encoding="utf-8") == f"{promise}:\n  status: approved\n"


def test_forged_anonymous_viewer_and_wrong_password_change_nothing(served: Served, client: TestClient) -> None:
    anonymous = client.get("/forum/report.html", follow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login?next=/forum/report.html")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/forum/findings.json", follow_redirects=False).status_code == 303
    assert "Sign in" in client.get("/forum/report.html").text
    assert decide(client, "anything", "0000000000000000", "confirm") == 403

    sign_in(client, "王审核", password="not the password")
    assert client.get("/", follow_redirects=False).status_code == 303

    sign_in(client, "张看看")  # a viewer reads, and cannot act
    page = report_page(client)
    assert not page.select("form.decide")
    [finding, *_] = finding_ids(page).values()
    token = form_token(page)  # the sign-out form's: a valid token, the wrong role
    assert decide(client, token, finding, "confirm") == 403

    client.cookies.clear()
    sign_in(client, "王审核")
    assert decide(client, "forged", finding, "confirm") == 403  # a forged form
    assert client.post(f"/forum/findings/{finding}", data={"action": "confirm"}).status_code == 403
    cookie = client.cookies[COOKIE]
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie[:-1] + ("0" if cookie[-1] != "0" else "1"))  # a tampered session
    assert client.get("/", follow_redirects=False).status_code == 303
    assert not served.data.review_file("forum").exists()
    assert audit_trail(served.data, "forum").entries == ()


def test_report_files_are_served_and_nothing_else(served: Served, client: TestClient) -> None:
    sign_in(client, "王审核")
    report_page(client)
    response = client.get("/forum/findings.json")
    assert response.status_code == 200
    assert response.json()["event"]["id"] == "forum"
    assert client.get("/forum/report.html.bak").status_code == 404
    assert client.get("/forum/../livewatch.db").status_code == 404
    assert client.get("/nope/report.html").status_code == 404
    index = BeautifulSoup(client.get("/").text, "html.parser")
    link = index.select_one("tr.event a")
    assert link is not None
    assert link["href"] == "forum/report.html"
    assert "王审核" in index.get_text()


def test_a_trusted_proxy_header_signs_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEWATCH_SERVER_SECRET", "a test secret, not a real one")
    served = serve_forum(tmp_path, trusted_header="X-Remote-User")
    proxy = {b"X-Remote-User": "赵代理".encode()}  # as nginx passes it on: UTF-8 bytes
    with TestClient(create_app(served.settings)) as client:
        page = BeautifulSoup(client.get("/forum/report.html", headers=proxy).text,
                             "html.parser")
        assert page.select_one("#review-user") is not None
        [finding, *_] = finding_ids(page).values()
        response = client.post(f"/forum/findings/{finding}", headers=proxy,
                               data={"csrf": form_token(page), "action": "escalate"}, follow_redirects=False)
        assert response.status_code == 303
        client.cookies.clear()
        assert client.get("/", follow_redirects=False).status_code == 303  # without the header: nobody
    assert audit_trail(served.data, "forum").entries[0]["reviewer"] == "赵代理"


def test_password_hashes() -> None:
    stored = hash_password("审核密码")
    assert stored.startswith("scrypt$")
    assert "审核密码" not in stored
    assert verify_password("审核密码", stored)
    assert not verify_password("审核密码x", stored)
    assert hash_password("审核密码") != stored  # salted
    pbkdf2 = "pbkdf2_sha256$1000$c2FsdA==$" + __import__("base64").b64encode(
        __import__("hashlib").pbkdf2_hmac("sha256", b"pw", b"salt", 1000)).decode()
    assert verify_password("pw", pbkdf2)
    assert not verify_password("pw", "scrypt$bad")


def test_hash_password_command_prints_a_hash_that_signs_in() -> None:
    from click.testing import CliRunner

    from livewatch.cli import cli

    result = CliRunner().invoke(cli, ["review", "hash-password", "--password-stdin"], input="审核密码-long\n")
    assert result.exit_code == 0, result.output
    stored = result.output.strip()
    assert stored.startswith("scrypt$")
    assert verify_password("审核密码-long", stored)
    short = CliRunner().invoke(cli, ["review", "hash-password", "--password-stdin"], input="short\n")
    assert short.exit_code == 2
