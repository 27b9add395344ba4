"""The rule engine: packs + an event's facts and transcripts → findings and a verdict.

The engine owns everything rule types leave out: per-event overrides, time-window scoping, cooldown and
de-duplication, the ASR guard (a hit inside a span the transcriber flagged is capped at ``medium``, that
is "review", never a violation on its own), stable finding ids, and the verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from livewatch.errors import LivewatchError
from livewatch.fields import SeverityName
from livewatch.pipeline.findings import Finding, Status, Verdict, finding_id
from livewatch.rules.base import Hit, Rule, RuleInput
from livewatch.rules.packs import Override, RulePack
from livewatch.rules.regexes import rule_time_limit, time_limit

log = logging.getLogger(__name__)

__all__ = ["Finding", "RuleEngine", "Status", "Verdict", "finding_id", "verdict"]

SEVERITIES: tuple[SeverityName, ...] = ("critical", "high", "medium", "low", "info")
#: Where a hit in a low-confidence transcript span is capped: "review", never a violation on its own.
LOW_CONFIDENCE_CAP: SeverityName = "medium"
#: The category and severity of the finding a rule that failed (or ran out of time) gives instead of its
#: own: the event was not fully checked, so its verdict is at least "review", never "pass".
RULE_ERROR_CATEGORY = "rule-error"
RULE_ERROR_SEVERITY: SeverityName = "medium"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class RuleEngine:
    packs: Sequence[RulePack]
    overrides: Sequence[Override] = ()

    def active_rules(self) -> list[tuple[RulePack, Rule, Override | None]]:
        by_rule = {o.rule: o for o in self.overrides}
        active = []
        for pack in self.packs:
            for rule in pack.rules:
                override = by_rule.get(rule.id)
                if override is not None and not override.enabled:
                    continue
                if override is not None:
                    rule = rule.with_additions(override.add_terms, override.allowlist)
                active.append((pack, rule, override))
        return active

    def evaluate(self, data: RuleInput) -> list[Finding]:
        findings: list[Finding] = []
        echoes: list[Finding] = []  # of supplementary rules: kept only where no other rule found the same
        limit = rule_time_limit(data.text_length)
        for pack, rule, override in self.active_rules():
            try:
                with time_limit(limit):  # every regular expression of the rule shares one limit
                    hits = [h for h in rule.evaluate(data) if _in_scope(rule, h, data)]
            except Exception as err:  # one broken rule must not hide every other finding, nor pass silently
                log.warning("rule %s of %s failed on event %s: %s", rule.id, pack.ref, data.facts.event_id, err,
                            exc_info=not isinstance(err, LivewatchError))
                findings.append(_rule_error(pack, rule, data, err))
                continue
            severity = override.severity if override and override.severity else rule.spec.severity
            made = [self._finding(pack, rule, severity, hit, data, count)
                    for hit, count in _cooled(hits, rule.spec.cooldown_s)]
            (echoes if rule.supplementary else findings).extend(made)
        findings += [e for e in echoes if not any(_overlaps(e, f) for f in findings)]
        return sorted(findings, key=lambda f: (f.start_at, f.rule))

    @staticmethod
    def _finding(pack: RulePack, rule: Rule, severity: SeverityName, hit: Hit, data: RuleInput,
                 count: int) -> Finding:
        capped = severity
        if hit.low_confidence and severity_rank(severity) < severity_rank(LOW_CONFIDENCE_CAP):
            capped = LOW_CONFIDENCE_CAP
        event_id = data.facts.event_id
        channel = hit.channel or rule.channel
        return Finding(
            id=finding_id(event_id, rule.id, hit.start_at, hit.stream, hit.matched, channel), event_id=event_id,
            rule=rule.id,
            pack=pack.ref, pack_sha256=pack.sha256, category=rule.spec.category, severity=capped,
            start_at=hit.start_at, end_at=hit.end_at,
            offset_s=round((hit.start_at - data.facts.on_air_start).total_seconds(), 2), matched=hit.matched,
            evidence=hit.evidence, highlight=(hit.highlight_start, hit.highlight_end), normalized=hit.normalized,
            legal_basis=pack.legal_basis(rule), asr_confidence=hit.asr_confidence,
            low_confidence=hit.low_confidence, rule_severity=severity, title=rule.spec.title, stream=hit.stream,
            count=count, details=dict(hit.details), channel=channel, frame=hit.frame, box=hit.box,
        )


def _rule_error(pack: RulePack, rule: Rule, data: RuleInput, err: Exception) -> Finding:
    """The finding that stands for a rule that could not be evaluated on this event."""
    event_id, at = data.facts.event_id, data.facts.on_air_start
    reason = str(err) if isinstance(err, LivewatchError) else f"{type(err).__name__}: {err}"
    evidence = f"rule {rule.id} could not be evaluated: {reason}"
    return Finding(
        id=finding_id(event_id, rule.id, at, None, RULE_ERROR_CATEGORY), event_id=event_id, rule=rule.id,
        pack=pack.ref, pack_sha256=pack.sha256, category=RULE_ERROR_CATEGORY, severity=RULE_ERROR_SEVERITY,
        start_at=at, end_at=at, offset_s=0.0, matched="", evidence=evidence, highlight=(0, 0), normalized="",
        legal_basis=None, asr_confidence=None, low_confidence=False, rule_severity=RULE_ERROR_SEVERITY,
        title=f"Rule could not be evaluated ({rule.spec.category})", details={"error": reason}, channel=rule.channel,
    )


def _overlaps(echo: Finding, finding: Finding) -> bool:
    """Whether ``finding`` already covers what a supplementary rule's ``echo`` found: the same category,
    stream and channel, overlapping in time."""
    return (echo.category == finding.category and echo.stream == finding.stream and echo.channel == finding.channel
            and finding.start_at <= echo.end_at and echo.start_at <= finding.end_at)


def _in_scope(rule: Rule, hit: Hit, data: RuleInput) -> bool:
    scope = rule.spec.scope
    if scope is None:
        return True
    start, end = data.facts.on_air_start, data.facts.on_air_end
    minutes = (hit.start_at - start).total_seconds() / 60
    if scope.first_minutes is not None and minutes > scope.first_minutes:
        return False
    if scope.last_minutes is not None and hit.start_at < end - timedelta(minutes=scope.last_minutes):
        return False
    if scope.from_minutes is not None and minutes < scope.from_minutes:
        return False
    return scope.to_minutes is None or minutes <= scope.to_minutes


def _cooled(hits: Iterable[Hit], cooldown_s: float) -> list[tuple[Hit, int]]:
    """Hits of one rule closer than the cooldown (per stream and channel: what was shown keeps its frame,
    what was said its words) become one, with a count; identical hits (the same term at the same span,
    found by two views) are one hit in any case."""
    merged: list[tuple[Hit, int]] = []
    last: dict[tuple[int | None, str | None], int] = {}
    for hit in sorted(hits, key=lambda h: (h.start_at, h.end_at)):
        key = (hit.stream, hit.channel)
        index = last.get(key)
        if index is not None:
            first, count = merged[index]
            same = (first.start_at, first.end_at, first.matched) == (hit.start_at, hit.end_at, hit.matched)
            if same or (hit.start_at - first.start_at).total_seconds() < cooldown_s:
                merged[index] = (replace(first, end_at=max(first.end_at, hit.end_at)), count + (not same))
                continue
        last[key] = len(merged)
        merged.append((hit, 1))
    return merged


def verdict(findings: Iterable[Finding]) -> Verdict:
    """``fail``: a critical or high finding not dismissed; ``review``: a medium one, or any hit in a
    low-confidence span; else ``pass``."""
    result: Verdict = "pass"
    for finding in findings:
        if finding.status == "dismissed":
            continue
        if finding.severity in ("critical", "high"):
            return "fail"
        if finding.severity == "medium" or finding.low_confidence:
            result = "review"
    return result
