"""Checking one event: the packs its registration selects, with its per-event overrides, run over the
event's facts and transcripts. Pure: facts in, findings out (:mod:`livewatch.checking` reads the stores,
writes the findings back and applies the reviewers' decisions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import cast

from livewatch.pipeline.findings import Finding, Status
from livewatch.registration.models import Event
from livewatch.rules.base import RuleInput
from livewatch.rules.engine import RuleEngine
from livewatch.rules.packs import Override, PackLibrary, RulePack


def evaluate_event(data: RuleInput, event: Event | None, library: PackLibrary) -> tuple[list[Finding], list[RulePack]]:
    """The findings of the packs ``event`` selects (the default pack when its registration no longer
    validates), and those packs."""
    packs = library.select(event.rule_packs if event is not None else ("default",))
    overrides = [Override(o.rule, o.enabled, o.severity, tuple(o.add_terms), tuple(o.allowlist))
                 for o in (event.rule_overrides if event is not None else [])]
    return RuleEngine(packs, overrides).evaluate(data), packs


def with_statuses(findings: Sequence[Finding], stored: Mapping[str, str]) -> list[Finding]:
    """The findings with the statuses recorded for them (reviewers' decisions), the others as they are."""
    # The store holds only statuses a finding can have (the checks and the review file write them).
    return [replace(x, status=cast(Status, stored.get(x.id, x.status))) for x in findings]
