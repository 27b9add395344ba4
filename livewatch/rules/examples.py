"""A pack is a tested artifact: every rule carries examples it must fire on and examples it must pass,
and ``livewatch rules test`` (and the test suite, over every shipped pack) runs them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from livewatch.rules.base import EventFacts, Rule
from livewatch.rules.engine import RULE_ERROR_CATEGORY, RuleEngine
from livewatch.rules.packs import RulePack

#: The event every example happens at: two hours, on air exactly as registered.
EXAMPLE_START = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
EXAMPLE_FACTS = EventFacts(
    event_id="example", registered_start=EXAMPLE_START, registered_end=EXAMPLE_START + timedelta(hours=2),
    on_air=((EXAMPLE_START, EXAMPLE_START + timedelta(hours=2)),), run_status="finished",
    tolerances={"early_start": 5, "late_start": 10, "overrun": 15},
)


@dataclass(frozen=True)
class ExampleResult:
    pack: str
    rule: str
    expected: str  # fires, passes, or limits (the rule finishes within its time limit on hostile text)
    example: Any
    ok: bool
    detail: str = ""

    def describe(self) -> str:
        shown = self.example if isinstance(self.example, str) else repr(self.example)
        shown = shown.replace("\n", " | ")
        verdict = "ok" if self.ok else "FAILED"
        should = {"fires": "fire", "passes": "pass", "limits": "finish in time on"}[self.expected]
        return f"{verdict}  {self.rule}  should {should}: {shown}{self.detail}"


def run_examples(pack: RulePack) -> Iterator[ExampleResult]:
    for rule in pack.rules:
        for expected in ("fires", "passes"):
            for example in getattr(rule.spec.examples, expected):
                yield _run(pack, rule, expected, example)
        probe = _probe(rule)
        if probe is not None:
            yield _stress(pack, rule, probe)


def _patterns(value: Any) -> Iterator[str]:
    """Every ``pattern`` and ``allow_pattern`` in a rule's spec, however deep its conditions."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("pattern", "allow_pattern") and isinstance(item, str):
                yield item
            else:
                yield from _patterns(item)
    elif isinstance(value, list):
        for item in value:
            yield from _patterns(item)


def _probe(rule: Rule) -> str | None:
    """Text made to make the rule's regular expressions backtrack: long runs of each character they name
    (and of a digit, a letter, a space and a Chinese character), each ended by one that breaks the run."""
    patterns = list(_patterns(rule.spec.model_dump()))
    if not patterns or not rule.text_examples:
        return None
    named = {ch for pattern in patterns for ch in pattern if ch.isprintable() and ch not in "\\()[]{}?*+|^$.#"}
    runs = sorted(named | set("1a 中"))[:40]
    return "\n".join(ch * 60 + "!" + (ch + " ") * 30 + "\u0000" for ch in runs)


def _stress(pack: RulePack, rule: Rule, probe: str) -> ExampleResult:
    """The rule on :func:`_probe`'s text must finish within its time limit (a ``rule-error`` otherwise)."""
    data = rule.example_input(probe, EXAMPLE_FACTS)
    errors = [f for f in RuleEngine([pack.with_rules([rule])]).evaluate(data) if f.category == RULE_ERROR_CATEGORY]
    detail = f"  ({errors[0].evidence})" if errors else ""
    return ExampleResult(pack.ref, rule.id, "limits", "long runs of the characters its patterns name", not errors,
                         detail)


def _run(pack: RulePack, rule: Rule, expected: str, example: Any) -> ExampleResult:
    try:
        data = rule.example_input(example, EXAMPLE_FACTS)
    except Exception as err:  # a malformed example is a failed example, with the reason
        return ExampleResult(pack.ref, rule.id, expected, example, False, f"  (cannot read example: {err})")
    findings = RuleEngine([pack.with_rules([rule])]).evaluate(data)
    errors = [f for f in findings if f.category == RULE_ERROR_CATEGORY]
    if errors:  # a rule that cannot be evaluated neither fires nor passes
        return ExampleResult(pack.ref, rule.id, expected, example, False, f"  ({errors[0].evidence})")
    fired = bool(findings)
    detail = ""
    if fired and expected == "passes":
        detail = "  (fired on: " + ", ".join(repr(f.matched) for f in findings) + ")"
    return ExampleResult(pack.ref, rule.id, expected, example, fired == (expected == "fires"), detail)
