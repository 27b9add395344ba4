"""A pack is a tested artifact: every rule carries examples it must fire on and examples it must pass,
and ``livewatch rules test`` (and the test suite, over every shipped pack) runs them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from livewatch.rules.base import EventFacts, Rule
from livewatch.rules.engine import RuleEngine
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
    expected: str  # fires or passes
    example: Any
    ok: bool
    detail: str = ""

    def describe(self) -> str:
        shown = self.example if isinstance(self.example, str) else repr(self.example)
        shown = shown.replace("\n", " | ")
        verdict = "ok" if self.ok else "FAILED"
        return f"{verdict}  {self.rule}  should {'fire' if self.expected == 'fires' else 'pass'}: {shown}{self.detail}"


def run_examples(pack: RulePack) -> Iterator[ExampleResult]:
    for rule in pack.rules:
        for expected in ("fires", "passes"):
            for example in getattr(rule.spec.examples, expected):
                yield _run(pack, rule, expected, example)


def _run(pack: RulePack, rule: Rule, expected: str, example: Any) -> ExampleResult:
    try:
        data = rule.example_input(example, EXAMPLE_FACTS)
    except Exception as err:  # a malformed example is a failed example, with the reason
        return ExampleResult(pack.ref, rule.id, expected, example, False, f"  (cannot read example: {err})")
    findings = RuleEngine([pack.with_rules([rule])]).evaluate(data)
    fired = bool(findings)
    detail = ""
    if fired and expected == "passes":
        detail = "  (fired on: " + ", ".join(repr(f.matched) for f in findings) + ")"
    return ExampleResult(pack.ref, rule.id, expected, example, fired == (expected == "fires"), detail)
