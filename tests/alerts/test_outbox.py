"""The outbox: one key queued once, cooldown folding into a count, follow-ups at the end of the window."""

from __future__ import annotations

from livewatch.alerts.outbox import Outbox
from livewatch.alerts.routing import Route
from livewatch.state import Database
from tests.alerts.conftest import alert, later

ROUTES = [Route("hook", 300.0), Route("mail", 0.0)]


def test_same_key_is_queued_once(database: Database) -> None:
    outbox = Outbox(database.engine)
    assert outbox.add(alert(), ROUTES, later(0)) == {"hook": "queued", "mail": "queued"}
    assert outbox.add(alert(), ROUTES, later(1)) is None
    assert outbox.known("finding|a1")
    assert not outbox.known("finding|zz")
    assert len(outbox.rows()) == 2


def test_repeats_within_the_cooldown_fold_into_one_alert_with_a_count(database: Database) -> None:
    outbox = Outbox(database.engine)
    outbox.add(alert("finding|1"), ROUTES, later(0))
    assert outbox.add(alert("finding|2", at=later(40)), ROUTES, later(40)) == {"hook": "folded", "mail": "queued"}
    assert outbox.add(alert("finding|3", at=later(80)), ROUTES, later(80))["hook"] == "folded"  # type: ignore[index]
    [row] = [row for row in outbox.rows() if row.target == "hook"]
    assert row.count == 3
    assert row.key == "finding|1"
    assert row.payload["count"] == 3
    assert (row.payload["first_at"], row.payload["last_at"]) == (later(0).isoformat(), later(80).isoformat())
    assert [item["idempotency_key"] for item in row.payload["folded"]] == ["finding|2", "finding|3"]
    # cooldown 0 (the mail target): every firing is its own alert
    assert len([row for row in outbox.rows() if row.target == "mail"]) == 3


def test_after_delivery_repeats_become_one_follow_up_at_the_end_of_the_window(database: Database) -> None:
    outbox = Outbox(database.engine)
    hook = [Route("hook", 300.0)]
    outbox.add(alert("finding|1"), hook, later(0))
    first = outbox.claim(outbox.rows()[0].id)
    assert first is not None
    assert outbox.add(alert("finding|2", at=later(10)), hook, later(10)) == {"hook": "follow-up"}  # in flight
    outbox.sent(first.id, later(1))
    assert outbox.add(alert("finding|3", at=later(20)), hook, later(20)) == {"hook": "folded"}
    follow = outbox.rows(status="pending")
    assert len(follow) == 1
    assert follow[0].count == 2
    assert follow[0].payload["repeat"]
    assert follow[0].payload["repeat_of"] == "finding|1"
    assert follow[0].due_at == later(300)
    assert outbox.due("hook", later(299)) == []
    assert len(outbox.due("hook", later(300))) == 1
    # after the window a firing opens a new one
    outbox.sent(follow[0].id, later(300))
    assert outbox.add(alert("finding|4", at=later(400)), hook, later(400)) == {"hook": "queued"}


def test_other_rules_and_events_are_separate_groups(database: Database) -> None:
    outbox = Outbox(database.engine)
    hook = [Route("hook", 300.0)]
    outbox.add(alert("finding|1"), hook, later(0))
    assert outbox.add(alert("finding|2", rule="other"), hook, later(1)) == {"hook": "queued"}
    assert outbox.add(alert("finding|3", event_id="other-event"), hook, later(2)) == {"hook": "queued"}


def test_recover_returns_claimed_rows(database: Database) -> None:
    outbox = Outbox(database.engine)
    outbox.add(alert(), [Route("hook", 0)], later(0))
    row = outbox.claim(outbox.rows()[0].id)
    assert row is not None
    assert row.attempts == 1
    assert outbox.claim(row.id) is None
    assert outbox.first_try_due(later(0), ["hook"]) is False
    assert outbox.recover() == 1
    assert outbox.rows()[0].status == "pending"
    assert outbox.first_try_due(later(0), ["hook"]) is False  # tried once already
    outbox.add(alert("finding|new"), [Route("gone", 0)], later(1))
    assert outbox.first_try_due(later(1), ["hook"]) is False  # a target no longer configured
    assert outbox.first_try_due(later(1), ["gone"]) is True
