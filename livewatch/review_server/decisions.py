"""A reviewer's decision, taken in the browser: written to ``reviews/<event-id>.yaml`` (the source of truth,
as a hand edit would write it), then the event is checked and published again exactly as ``livewatch
report`` does, which appends the audit log and rewrites report.html, findings.json/.csv and the index.

Everything from reading the review file to the last page written happens under one lock (a thread lock
and an ``flock`` beside the review files), so two reviewers deciding at once both keep their decision
and the pages are never written by two checks at the same time.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from livewatch.checking import check_event
from livewatch.errors import LivewatchError
from livewatch.i18n import N_, Message
from livewatch.pipeline.run_status import FINAL
from livewatch.reports.render import publish_context
from livewatch.reports.reviews import Disposition, read_reviews
from livewatch.reports.template_context import DecisionNote, ReportContext
from livewatch.rules.packs import PackLibrary
from livewatch.session import Session
from livewatch.state import DataDir

Action = Literal["confirmed", "dismissed", "escalated", "open"]
ACTIONS: dict[str, Action] = {"confirm": "confirmed", "dismiss": "dismissed", "escalate": "escalated",
                              "reopen": "open"}
LOCK_NAME = ".review-server.lock"
_thread_lock = threading.RLock()


class _Depth(threading.local):
    depth = 0


_held = _Depth()

HEADER = ("# Reviewers' decisions for this event: finding id → status (confirmed, dismissed, escalated),\n"
          "# reviewer and note. Written by `livewatch serve`; hand edits keep working.\n")


class DecisionError(LivewatchError):
    """A decision cannot be recorded (unknown finding, a bad note); nothing was written. ``message`` is what
    the reviewer reads, in the page's language; ``str()`` is its English."""

    def __init__(self, message: Message) -> None:
        self.message = message
        super().__init__(str(message))


#: The catalog's words for a decision's fields and what is wrong with them (the validator's own text is the
#: fallback, shown as data).
_FIELD_NAMES = {"reviewer": N_("reviewer"), "note": N_("note")}
_PROBLEMS = {"string_too_long": N_("the %(field)s is longer than %(limit)s characters"),
             "string_too_short": N_("the %(field)s is empty")}


def _decision_problem(error: ErrorDetails) -> Message:
    where = ".".join(map(str, error["loc"]))
    name = Message(_FIELD_NAMES[where]) if where in _FIELD_NAMES else where
    limit = (error.get("ctx") or {}).get("max_length", 0)
    if error["type"] in _PROBLEMS:
        return Message(_PROBLEMS[error["type"]], {"field": name, "limit": int(limit)})
    return Message(N_("the %(field)s cannot be recorded: %(problem)s"), {"field": name, "problem": error["msg"]})


@dataclass(frozen=True)
class Decision:
    """One reviewer's decision on one finding, as a form sent it."""

    event_id: str
    finding_id: str
    action: Action
    reviewer: str
    note: str | None


@contextmanager
def review_lock(data: DataDir) -> Iterator[None]:
    """Held while the review file is read, rewritten and the event published (threads and processes).
    Re-entrant within a thread: an flock taken twice through two descriptors would wait for itself."""
    with _thread_lock:
        if _held.depth:
            _held.depth += 1
            try:
                yield
            finally:
                _held.depth -= 1
            return
        folder = data.make_folder(data.reviews)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held.depth = 1
            yield
        finally:
            _held.depth = 0
            os.close(fd)  # closing releases the flock


def review_yaml(decisions: dict[str, Disposition]) -> str:
    body = {finding_id: decision.model_dump(exclude_none=True) for finding_id, decision in decisions.items()}
    return HEADER + (yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=1000) if body else "{}\n")


def record(session: Session, decision: Decision, library: PackLibrary) -> ReportContext:
    """Write the decision into the review file and publish the event again; its report's new context."""
    data = session.data
    path = data.review_file(decision.event_id)
    with review_lock(data):
        if decision.finding_id not in session.findings.statuses(decision.event_id):
            raise DecisionError(Message(N_("event %(event)s has no finding %(finding)s"),
                                        {"event": decision.event_id, "finding": decision.finding_id}))
        decisions = read_reviews(path)  # a hand edit that is invalid stops here (ReviewError), changing nothing
        if decision.action == "open":
            decisions.pop(decision.finding_id, None)
        else:
            try:
                decisions[decision.finding_id] = Disposition(status=decision.action, reviewer=decision.reviewer,
                                                             note=decision.note or None)
            except ValidationError as err:
                problems = tuple(_decision_problem(e) for e in err.errors())
                raise DecisionError(Message(N_("the decision cannot be recorded: %(problems)s"),
                                            {"problems": problems})) from None
        data.write_whole(path, review_yaml(decisions))
        return republish(session, decision.event_id, library)


def republish(session: Session, event_id: str, library: PackLibrary) -> ReportContext:
    """Check the event (applying the review file, auditing each change) and write its pages, as
    ``livewatch report`` does."""
    with review_lock(session.data):
        audio = session.records.latest_status(event_id) in FINAL
        check = check_event(session, event_id, library=library, audio=audio)
        return publish_context(session, check)[1]


def decided_by(data: DataDir, event_id: str) -> dict[str, DecisionNote]:
    """Finding id → its status, reviewer and note, from the review file (empty when it is missing or invalid)."""
    try:
        decisions = read_reviews(data.review_file(event_id))
    except LivewatchError:
        return {}
    return {finding_id: DecisionNote(d.status, d.reviewer or "", d.note or "") for finding_id, d in decisions.items()}
