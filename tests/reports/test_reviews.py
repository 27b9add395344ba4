"""Reviewers' dispositions: the review file sets statuses, the verdict honours them, every change is
audited once, and a bad file is a clear error that changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from livewatch.checking import check_event
from livewatch.reports.reviews import ReviewError, apply_reviews, read_audit_log
from livewatch.state import DataDir
from livewatch.state.findings import FindingStore
from tests.rules.test_event_check import T0, add_run, registered, session_for


def test_review_file_sets_statuses_and_the_verdict_and_audits_each_change(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        add_run(db, T0, [(0, "这个理财保本保息", "")])
        first = check_event(session_for(data, db), "forum")
        [promise] = [f for f in first.findings if f.category == "finance-promise"]
        assert (first.verdict, promise.status) == ("fail", "open")
        review = data.review_file("forum")
        review.parent.mkdir(parents=True, exist_ok=True)
        review.write_text(f"{promise.id}:\n  status: dismissed\n  reviewer: 王审核\n  note: a quoted warning\n"
                          "0000000000000000:\n  status: confirmed\n  reviewer: 王审核\n", encoding="utf-8")
        second = check_event(session_for(data, db), "forum")
        assert {f.id: f.status for f in second.findings}[promise.id] == "dismissed"
        assert second.verdict == "pass"
        again = apply_reviews(FindingStore(db.engine), data, "forum")  # nothing new: nothing audited twice
        assert again.changes == []
        assert [i.code for i in again.issues] == ["unknown-finding"]
        review.write_text(f"{promise.id}:\n  status: escalated\n  reviewer: 李主管\n", encoding="utf-8")
        third = check_event(session_for(data, db), "forum")
        assert third.verdict == "fail"
    log = read_audit_log(data, "forum")
    assert [(e["finding"], e["from"], e["to"], e["reviewer"]) for e in log] == [
        (promise.id, "open", "dismissed", "王审核"), (promise.id, "dismissed", "escalated", "李主管")]
    assert log[0]["note"] == "a quoted warning"


def test_invalid_review_file_names_file_line_and_field_and_changes_nothing(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        add_run(db, T0, [(0, "这个理财保本保息", "")])
        check_event(session_for(data, db), "forum")
        review = data.review_file("forum")
        review.parent.mkdir(parents=True, exist_ok=True)
        review.write_text("abc:\n  status: approved\n  reviewer: x\n", encoding="utf-8")
        with pytest.raises(ReviewError) as caught:
            apply_reviews(FindingStore(db.engine), data, "forum")
        [issue] = caught.value.issues
        assert issue.render().startswith(f"{review}:2: abc.status:")
        assert "confirmed" in issue.message
        # The monitor's checks go on with the statuses they had.
        assert check_event(session_for(data, db), "forum").verdict == "fail"
    assert read_audit_log(data, "forum") == []
