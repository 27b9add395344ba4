"""Webhook delivery through the outbox against a real receiver on 127.0.0.1: signature, payload, retries
while the receiver is down, permanent refusals, Retry-After, and a restart with alerts pending."""

from __future__ import annotations

import hmac
import json
import time
from pathlib import Path

import pytest

from livewatch.alerts import service as service_module
from livewatch.alerts.base import AlertDeliveryError, Delivery
from livewatch.alerts.channels.webhook import WebhookChannel, WebhookTarget, body_of, sign
from livewatch.alerts.outbox import FAILED, SENT, Outbox
from livewatch.alerts.service import AlertService
from livewatch.state import Database
from tests.alerts.conftest import ENV, SECRET, alert, webhook_settings
from tests.support.webhook import WebhookReceiver


def test_signed_payload_with_idempotency_key(tmp_path: Path, database: Database, receiver: WebhookReceiver) -> None:
    service = AlertService(webhook_settings(tmp_path, receiver.url), Outbox(database.engine), environ=ENV)
    service.start()
    try:
        service.raise_alert(alert())
        [got] = receiver.wait_for(lambda r: len(r) == 1, timeout=10)
    finally:
        service.stop()
    assert got.signature_ok
    assert got.headers["Idempotency-Key"] == "finding|a1" == got.payload["idempotency_key"]
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert got.headers["X-Livewatch-Delivery"] == "1"
    payload = got.payload
    assert payload["schema_version"] == 1
    assert (payload["kind"], payload["severity"], payload["category"]) == ("finding", "high", "finance-promise")
    assert payload["event"] == {"id": "forum-2026", "title": "年度论坛 <script>"}
    assert payload["matched"] == "稳赚不赔"
    assert "稳赚不赔" in payload["evidence"]
    assert payload["at"] == "2026-11-29T09:00:00+00:00"
    assert payload["count"] == 1
    assert payload["delivery"] == {"attempt": 1, "target": "hook"}
    assert "稳赚不赔".encode() in got.body  # UTF-8 on the wire, not \u escapes
    [row] = Outbox(database.engine).rows()
    assert (row.status, row.attempts, row.last_error) == (SENT, 1, None)


def test_signature_is_hmac_sha256_over_the_exact_body() -> None:
    delivery = Delivery("k", "hook", {"b": 1, "a": "é"}, 2)
    body = body_of(delivery)
    assert json.loads(body) == {"a": "é", "b": 1, "delivery": {"attempt": 2, "target": "hook"}}
    assert sign(b"key", body) == "sha256=" + hmac.new(b"key", body, "sha256").hexdigest()


def test_receiver_down_then_back_retried_and_delivered_once(tmp_path: Path, database: Database) -> None:
    receiver = WebhookReceiver(SECRET.encode())
    port = receiver.port
    receiver.stop()  # connection refused
    service = AlertService(webhook_settings(tmp_path, f"http://127.0.0.1:{port}/hook"), Outbox(database.engine),
                           environ=ENV)
    service.start()
    try:
        service.raise_alert(alert())
        time.sleep(1.5)
        # The row is "sending" while an attempt is in flight: wait for it to fall back to "pending".
        deadline = time.monotonic() + 10
        while (row := Outbox(database.engine).rows()[0]).status != "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert row.status == "pending"
        assert row.attempts >= 2
        assert "cannot reach" in (row.last_error or "")
        receiver = WebhookReceiver(SECRET.encode(), port=port)
        receiver.status = 503  # up, but in trouble: still retried
        time.sleep(1.5)
        assert receiver.requests >= 1
        assert not receiver.received
        receiver.status = 200
        receiver.wait_for(lambda r: len(r) == 1, timeout=10)
        time.sleep(1.0)  # nothing more arrives
    finally:
        service.stop()
        receiver.stop()
    assert receiver.keys() == {"finding|a1": 1}
    [row] = Outbox(database.engine).rows()
    assert row.status == SENT
    assert row.attempts >= 3


def test_permanent_refusal_is_not_retried(tmp_path: Path, database: Database, receiver: WebhookReceiver) -> None:
    receiver.status = 400
    service = AlertService(webhook_settings(tmp_path, receiver.url), Outbox(database.engine), environ=ENV)
    service.start()
    try:
        service.raise_alert(alert())
        deadline = time.monotonic() + 10
        while Outbox(database.engine).rows()[0].status != FAILED and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.6)
    finally:
        service.stop()
    [row] = Outbox(database.engine).rows()
    assert row.status == FAILED
    assert row.attempts == 1
    assert "HTTP 400" in (row.last_error or "")
    assert receiver.requests == 1


def test_retry_after_and_give_up(tmp_path: Path, database: Database, receiver: WebhookReceiver) -> None:
    receiver.status = 429
    receiver.extra_headers = {"Retry-After": "30"}
    settings = webhook_settings(tmp_path, receiver.url, retry_max_s=60)  # honoured up to retry_max_s
    service = AlertService(settings, Outbox(database.engine), environ=ENV)
    service.start()
    try:
        service.raise_alert(alert())
        deadline = time.monotonic() + 10
        while receiver.requests < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        service.stop()
    [row] = Outbox(database.engine).rows()
    assert row.status == "pending"
    assert receiver.requests == 1
    assert 28 <= (row.due_at - row.created_at).total_seconds() <= 32
    short = webhook_settings(tmp_path, receiver.url, give_up_after_s=0.5)
    service = AlertService(short, Outbox(database.engine), environ=ENV, clock=lambda: row.due_at)
    service.deliver(row)
    [row] = Outbox(database.engine).rows()
    assert row.status == FAILED
    assert "given up: undelivered 0.5 s after it was raised" in (row.last_error or "")
    assert receiver.requests == 1  # past give_up_after_s it is not tried again


def test_missing_secret_and_redirect(receiver: WebhookReceiver, tmp_path: Path) -> None:
    target = webhook_settings(tmp_path, receiver.url).alerts[0]
    assert isinstance(target, WebhookTarget)
    with pytest.raises(AlertDeliveryError, match="LIVEWATCH_WEBHOOK_SECRET is not set") as err:
        WebhookChannel(target, {}).send(Delivery("k", "hook", {"a": 1}, 1))
    assert not err.value.permanent
    assert receiver.requests == 0
    receiver.status = 302
    receiver.extra_headers = {"Location": "http://127.0.0.1:9/elsewhere"}
    with pytest.raises(AlertDeliveryError, match="redirects are not followed") as err:
        WebhookChannel(target, ENV).send(Delivery("k", "hook", {"a": 1}, 1))
    assert err.value.permanent


def test_pending_alerts_survive_a_restart_and_go_out_once(tmp_path: Path, database: Database) -> None:
    receiver = WebhookReceiver(SECRET.encode())
    receiver.status = 503
    settings = webhook_settings(tmp_path, receiver.url)
    first = AlertService(settings, Outbox(database.engine), environ=ENV)
    first.start()
    for number in range(3):
        first.raise_alert(alert(f"finding|n{number}", rule=f"rule-{number}"))
    time.sleep(0.8)
    first.stop()
    outbox = Outbox(database.engine)
    assert sorted(row.status for row in outbox.rows()) == ["pending"] * 3
    # A crash in the middle of a delivery leaves a row claimed; it goes out again after the restart.
    assert outbox.claim(outbox.rows()[0].id) is not None
    receiver.status = 200
    second = AlertService(settings, Outbox(database.engine), environ=ENV)
    second.raise_alert(alert("finding|n0", rule="rule-0"))  # raised again by the next check: not new
    second.start()
    try:
        receiver.wait_for(lambda r: len(r) == 3, timeout=10)
        time.sleep(1.0)
    finally:
        second.stop()
        receiver.stop()
    assert receiver.keys() == {"finding|n0": 1, "finding|n1": 1, "finding|n2": 1}
    assert all(item.signature_ok for item in receiver.received)
    assert {row.status for row in outbox.rows()} == {SENT}


def test_remembered_keys_are_bounded_and_the_outbox_still_knows_the_rest(
        tmp_path: Path, database: Database, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_module, "SEEN_KEYS", 2)
    service = AlertService(webhook_settings(tmp_path, receiver.url), Outbox(database.engine), environ=ENV)
    for number in range(3):
        service.raise_alert(alert(f"finding|n{number}", rule=f"rule-{number}"))
    assert len(service._seen) == 2  # a monitor that runs for months keeps a bounded set
    service.raise_alert(alert("finding|n0", rule="rule-0"))  # forgotten here, known to the outbox: not new
    assert sorted(row.key for row in Outbox(database.engine).rows()) == ["finding|n0", "finding|n1", "finding|n2"]
