"""What makes a report read at a glance: the verdict's reasons, one way of counting findings for the report
and the index, and evidence cut where a reader expects a cut (between words, or between CJK characters)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from livewatch.reports.template_context import FindingCounts, VerdictReason
from livewatch.textcut import cut_after, cut_before

#: How much evidence is shown on either side of the match, and of the match itself, in characters: the
#: transcript has the whole line, and the page must stay readable whatever the stream said or showed.
CONTEXT_SHOWN = 120
MAX_SHOWN = 200
#: A finding with nothing highlighted has a message for its evidence (a registration check's problems, a
#: loudness measurement): shown whole up to this length.
MAX_MESSAGE = 400
__all__ = ["CONTEXT_SHOWN", "MAX_MESSAGE", "MAX_SHOWN", "cut_after", "cut_before", "finding_counts", "verdict_reasons"]
_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
_STATUS_RANK = {"open": 0, "escalated": 1, "confirmed": 2}


def finding_counts(findings: Iterable[tuple[str, str]]) -> FindingCounts:
    """Counts of (severity, status) pairs, the same for the report and the index: a dismissed finding is
    counted apart and nowhere else (as the verdict ignores it)."""
    counted = dismissed = critical_high = 0
    for severity, status in findings:
        if status == "dismissed":
            dismissed += 1
            continue
        counted += 1
        critical_high += severity in ("critical", "high")
    return FindingCounts(counted, dismissed, critical_high)


def verdict_reasons(verdict: str, findings: Iterable[tuple[str, str, bool]]) -> list[VerdictReason]:
    """Why the verdict is what it is, from (severity, status, low confidence) of every finding, by the rule
    of :func:`livewatch.rules.engine.verdict`: for ``fail`` the critical and high findings not dismissed;
    for ``review`` the medium ones and those in a low-confidence span; none for ``pass``."""
    def reason(severity: str, low: bool) -> bool:
        if verdict == "fail":
            return severity in ("critical", "high")
        if verdict == "review":
            return severity == "medium" or low
        return False

    grouped = Counter((severity, status, low and verdict == "review" and severity != "medium")
                      for severity, status, low in findings if status != "dismissed" and reason(severity, low))
    order = sorted(grouped, key=lambda key: (_RANK.get(key[0], 9), key[2], _STATUS_RANK.get(key[1], 9), key[1]))
    return [VerdictReason(severity, status, grouped[severity, status, low], low)
            for severity, status, low in order]
