"""Hostile alert receivers (issue 15, items 3 and 10): a Retry-After that pushes an alert decades ahead or
cannot be parsed, a receiver or SMTP server that drips its answer one byte a second, a stop while a delivery
hangs, a crash mid-delivery. Every receiver is a real server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livewatch.alerts.base import AlertDeliveryError, Delivery
from livewatch.alerts.channels.email import EmailChannel, EmailTarget
from livewatch.alerts.channels.webhook import WebhookChannel, WebhookTarget
from livewatch.alerts.outbox import PENDING, SENDING, Outbox
from livewatch.alerts.service import AlertService, send_test
from livewatch.capture.context import utc_now
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from tests.alerts.conftest import ENV, SECRET, alert, webhook_settings
from tests.hostile.drip import HTTP_ANSWER, SMTP_GREETING, DripServer, elapsed
from tests.support.webhook import WebhookReceiver

#: Seconds a deadline may overrun: the timer's wake-up and the client's unwinding, on a busy machine.
SLACK_S = 1.5


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(SECRET.encode("utf-8"))
    yield hook
    hook.stop()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    with Database.open(DataDir(tmp_path / "data")) as db:
        yield db


@pytest.mark.parametrize("retry_after", [
    "999999999",                       # 31 years: put an alert due in 2058
    "9" * 20,                          # overflowed timedelta: the row stayed `sending` until a restart
    "1" + "0" * 400,                   # float() of it is inf
    "Fri, 31 Dec 9999 23:59:59 GMT",   # an HTTP date at the end of time
    "²",                               # str.isdigit() says yes, float() says no
    "garbage; \xff",                   # neither a number nor a date
    "-5",
])
def test_retry_after_is_capped_and_never_leaves_a_row_sending(tmp_path: Path, database: Database,
                                                              receiver: WebhookReceiver, retry_after: str) -> None:
    receiver.status = 503
    receiver.extra_headers = {"Retry-After": retry_after}
    settings = webhook_settings(tmp_path, receiver.url, retry_max_s=60)
    service = AlertService(settings, Outbox(database.engine), environ=ENV)
    service.raise_alert(alert())
    outbox = Outbox(database.engine)
    [row] = outbox.due("hook", utc_now())
    before = utc_now()
    assert not service.deliver(row)
    [row] = outbox.rows()
    assert row.status == PENDING, row.last_error
    assert row.due_at <= before + timedelta(seconds=60 * 1.0 + 1), row.due_at
    assert "HTTP 503" in (row.last_error or "")


def test_a_capped_retry_does_not_swallow_later_alerts(tmp_path: Path, database: Database,
                                                      receiver: WebhookReceiver) -> None:
    """An alert pushed to 2058 stayed `pending`, so every alert of its group for 31 years was folded into
    it. Capped, the row is due within retry_max_s and delivers what was folded into it."""
    receiver.status = 429
    receiver.extra_headers = {"Retry-After": "999999999"}
    settings = webhook_settings(tmp_path, receiver.url, retry_base_s=0.1, retry_max_s=0.5)
    service = AlertService(settings, Outbox(database.engine), environ=ENV)
    service.start()
    try:
        service.raise_alert(alert("finding|a1"))
        deadline = time.monotonic() + 10
        while receiver.requests < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        receiver.status, receiver.extra_headers = 200, {}
        service.raise_alert(alert("finding|a2"))
        [got] = receiver.wait_for(lambda got: len(got) >= 1, timeout=10)
    finally:
        service.stop()
    assert got.payload["idempotency_key"] == "finding|a1"
    assert got.payload["count"] == 2


def test_give_up_after_s_bounds_a_retry_after(tmp_path: Path, database: Database, receiver: WebhookReceiver) -> None:
    receiver.status = 503
    receiver.extra_headers = {"Retry-After": "3600"}
    settings = webhook_settings(tmp_path, receiver.url, retry_max_s=3600, give_up_after_s=5)
    service = AlertService(settings, Outbox(database.engine), environ=ENV)
    service.raise_alert(alert())
    outbox = Outbox(database.engine)
    [row] = outbox.due("hook", utc_now())
    service.deliver(row)
    [row] = outbox.rows()
    assert row.status == PENDING
    assert (row.due_at - row.created_at).total_seconds() <= 5  # the last try falls at give_up_after_s
    late = AlertService(settings, Outbox(database.engine), environ=ENV, clock=lambda: row.due_at)
    late.deliver(row)
    [row] = outbox.rows()
    assert row.status == "failed"
    assert "given up" in (row.last_error or "")


def test_rows_left_sending_by_a_crash_go_back_to_pending(tmp_path: Path, database: Database,
                                                         receiver: WebhookReceiver) -> None:
    settings = webhook_settings(tmp_path, receiver.url)
    AlertService(settings, Outbox(database.engine), environ=ENV).raise_alert(alert())
    outbox = Outbox(database.engine)
    [row] = outbox.rows()
    assert outbox.claim(row.id) is not None  # a monitor claimed it, then died
    assert outbox.rows()[0].status == SENDING
    service = AlertService(settings, Outbox(database.engine), environ=ENV)
    service.start()
    try:
        receiver.wait_for(lambda got: len(got) == 1, timeout=10)
    finally:
        service.stop()
    assert [r.status for r in outbox.rows()] == ["sent"]


def test_webhook_that_drips_its_answer_is_cut_at_timeout_s(tmp_path: Path) -> None:
    drip = DripServer(HTTP_ANSWER)
    try:
        target = webhook_settings(tmp_path, drip.url, timeout_s=2).alerts[0]
        assert isinstance(target, WebhookTarget)
        start = time.monotonic()
        with pytest.raises(AlertDeliveryError, match="did not answer in full within timeout_s = 2 s") as err:
            WebhookChannel(target, ENV).send(Delivery("k", "hook", {"a": 1}, 1))
        assert elapsed(start) <= 2 + SLACK_S
        assert not err.value.permanent  # a slow receiver may be faster next time
    finally:
        drip.stop()


def test_alerts_test_is_bounded_by_timeout_s_with_a_dripping_smtp_server(tmp_path: Path) -> None:
    """`alerts test` kept running past 40 s with timeout_s = 3 against a server dripping its greeting."""
    smtp = DripServer(SMTP_GREETING, read_first=False)
    hook = DripServer(HTTP_ANSWER)
    try:
        settings = Settings(data_dir=tmp_path / "data", alerts=[
            {"name": "mail", "type": "email", "to": ["reviewer@example.org"], "smtp_host": "127.0.0.1",
             "smtp_port": smtp.port, "timeout_s": 2},
            {"name": "hook", "type": "webhook", "url": hook.url, "timeout_s": 2}])
        start = time.monotonic()
        results = send_test(settings, environ=ENV)
        assert elapsed(start) <= 2 * 2 + 2 * SLACK_S
    finally:
        smtp.stop()
        hook.stop()
    assert "did not finish within timeout_s = 2 s" in (results["mail"] or "")
    assert "did not answer in full within timeout_s = 2 s" in (results["hook"] or "")


def test_smtp_server_that_drips_after_the_greeting_is_cut_at_timeout_s(tmp_path: Path) -> None:
    # A fast greeting, then EHLO's answer a byte a second: the deadline holds past the first exchange.
    slow = DripServer(b"250-" + b"x" * 200 + b"\r\n", greeting=b"220 hi\r\n")
    try:
        target = Settings(data_dir=tmp_path / "data", alerts=[
            {"name": "mail", "type": "email", "to": ["r@example.org"], "smtp_host": "127.0.0.1",
             "smtp_port": slow.port, "timeout_s": 2}]).alerts[0]
        assert isinstance(target, EmailTarget)
        start = time.monotonic()
        with pytest.raises(AlertDeliveryError, match="did not finish within timeout_s = 2 s"):
            EmailChannel(target, {}).send(Delivery("k", "mail", alert().payload(), 1))
        assert elapsed(start) <= 2 + SLACK_S
    finally:
        slow.stop()


def test_stop_does_not_wait_for_a_dripping_receiver_and_releases_its_row(tmp_path: Path,
                                                                         database: Database) -> None:
    drip = DripServer(HTTP_ANSWER)
    try:
        settings = webhook_settings(tmp_path, drip.url, timeout_s=60)
        service = AlertService(settings, Outbox(database.engine), environ=ENV)
        service.start()
        service.raise_alert(alert())
        deadline = time.monotonic() + 10
        while drip.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the attempt is now reading the dripped answer
        start = time.monotonic()
        service.stop()
        assert elapsed(start) <= 2 + SLACK_S
    finally:
        drip.stop()
    [row] = Outbox(database.engine).rows()
    assert row.status == PENDING  # not `sending`: the next start sends it (same idempotency key)
