"""The alert outbox store's contract, on every state back-end (``state_backend``)."""

from __future__ import annotations

from datetime import timedelta

from livewatch.alerts.routing import Route
from livewatch.state import Database
from livewatch.state.outbox import FAILED, PENDING, SENDING, SENT, OutboxStore
from tests.alerts.conftest import alert, later

ROUTES = [Route("hook", 300.0), Route("mail", 0.0)]


def test_one_key_is_queued_once_and_repeats_fold_or_follow_up(state_backend: Database) -> None:
    outbox = OutboxStore(state_backend.engine)
    assert outbox.add(alert("finding|1"), ROUTES, later(0)) == {"hook": "queued", "mail": "queued"}
    assert outbox.add(alert("finding|1"), ROUTES, later(1)) is None
    assert outbox.known("finding|1")
    assert not outbox.known("finding|zz")
    assert outbox.add(alert("finding|2", at=later(40)), ROUTES, later(40)) == {"hook": "folded", "mail": "queued"}
    [hook] = outbox.rows(status=PENDING, event_id="forum-2026")[-1:]
    assert (hook.target, hook.count, hook.payload["count"]) == ("hook", 2, 2)
    assert [item["idempotency_key"] for item in hook.payload["folded"]] == ["finding|2"]
    claimed = outbox.claim(hook.id)
    assert claimed is not None
    assert (claimed.status, claimed.attempts) == (SENDING, 1)
    assert outbox.claim(hook.id) is None  # taken once
    assert outbox.add(alert("finding|3", at=later(50)), [ROUTES[0]], later(50)) == {"hook": "follow-up"}
    follow = [row for row in outbox.rows(status=PENDING) if row.target == "hook"]
    assert len(follow) == 1
    assert follow[0].due_at == later(300)
    assert follow[0].payload["repeat_of"] == "finding|1"
    assert outbox.rows(event_id="nobody") == []


def test_rows_move_through_their_states_and_a_crash_leaves_none_sending(state_backend: Database) -> None:
    outbox = OutboxStore(state_backend.engine)
    outbox.add(alert("finding|1"), ROUTES, later(0))
    assert outbox.first_try_due(later(0), ["hook"])
    assert not outbox.first_try_due(later(0), ["gone"])
    hook, mail = outbox.due("hook", later(0))[0], outbox.due("mail", later(0))[0]
    assert outbox.due("hook", later(-1)) == []
    assert outbox.next_due("hook") == later(0)
    assert outbox.next_due("nobody") is None
    outbox.claim(hook.id)
    outbox.retry(hook.id, "503", later(60))
    assert outbox.next_due("hook") == later(60)
    assert outbox.due("hook", later(59)) == []
    outbox.claim(hook.id)
    outbox.sent(hook.id, later(61))
    outbox.claim(mail.id)
    outbox.release(mail.id)
    assert outbox.claim(mail.id) is not None
    assert outbox.recover() == 1  # left sending by a crash
    outbox.claim(mail.id)
    outbox.failed(mail.id, "refused")
    rows = {row.target: row for row in outbox.rows()}
    assert (rows["hook"].status, rows["hook"].sent_at, rows["hook"].attempts) == (SENT, later(61), 2)
    assert (rows["mail"].status, rows["mail"].last_error, rows["mail"].attempts) == (FAILED, "refused", 3)
    assert not outbox.first_try_due(later(0) + timedelta(days=1), ["hook", "mail"])
