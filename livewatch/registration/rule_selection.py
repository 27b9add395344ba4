"""A registration's ``rule_packs`` and ``rule_overrides`` must name what exists.

The rule engine applies an override by rule id and ignores an id it does not know, so a mistyped id (or an
id from another numbering, ``P14.guaranteed-returns``) would leave the officer believing a rule was tightened
or silenced when nothing changed. These checks make each such entry an error, pinned to its line, with the
ids the officer most likely meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from livewatch.issues import FieldPath, Issue
from livewatch.registration.models import Event, RuleOverride
from livewatch.rules.base import Rule
from livewatch.rules.packs import PACK_ALIASES, PackLibrary, RulePack, RulePackError
from livewatch.sourcemap import LineMap

#: At most this many ids are offered; a whole category (``schedule.*``) fits.
MAX_SUGGESTIONS = 5
#: How alike (difflib's ratio) a rule id, name or category must be to be offered, and how far below the
#: closest one the others may be.
SUGGEST_CUTOFF = 0.7
SUGGEST_MARGIN = 0.1


def rule_selection_issues(event: Event, library: PackLibrary, *, file: Path, lines: LineMap,
                          prefix: FieldPath = ()) -> list[Issue]:
    """Errors for every pack the event selects that does not exist and every override that names no rule
    of the selected packs, or asks a rule for something it cannot do."""

    def issue(path: FieldPath, code: str, message: str) -> Issue:
        where = (*prefix, *path)
        return Issue(file, lines.line_of(where), where, message, code=code, event_id=event.id)

    packs: list[RulePack] = []
    issues: list[Issue] = []
    for index, ref in enumerate(event.rule_packs):
        try:
            packs.append(library.get(ref))
        except RulePackError:
            issues.append(issue(("rule_packs", index), "unknown-rule-pack", _unknown_pack(ref, library)))
    if issues:
        # An override may well name a rule of the missing pack; calling it unknown would mislead.
        return issues
    first_at: dict[str, int] = {}
    for index, override in enumerate(event.rule_overrides):
        path: FieldPath = ("rule_overrides", index)
        rules = [rule for pack in packs for rule in pack.rules if rule.id == override.rule]
        if not rules:
            issues.append(issue((*path, "rule"), "unknown-rule", _unknown_rule(override.rule, packs)))
            continue
        if override.rule in first_at:
            earlier: FieldPath = ("rule_overrides", first_at[override.rule])
            # The engine keeps one override per rule (the last), so the earlier entry would be lost unseen.
            issues.append(issue((*path, "rule"), "duplicate-override",
                                f"rule '{override.rule}' is already overridden by rule_overrides"
                                f"[{earlier[1]}] (line {lines.line_of((*prefix, *earlier))}); only one entry "
                                "per rule takes effect, so merge the two"))
            continue
        first_at[override.rule] = index
        issues += [issue((*path, name), "override-not-applicable", message)
                   for name, message in _inapplicable(rules[0], override)]
    return issues


def _unknown_pack(ref: str, library: PackLibrary) -> str:
    pack_id, _, version = ref.partition("@")
    known = sorted({pack.id for pack in library.packs()} | set(PACK_ALIASES))
    real_id = PACK_ALIASES.get(pack_id, pack_id)
    versions = [pack.version for pack in library.packs() if pack.id == real_id]
    if version and versions:
        return (f"rule pack '{real_id}' has no version {version}; available: {', '.join(versions)} "
                f"(or write '{pack_id}' alone for the newest)")
    close = difflib.get_close_matches(pack_id, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    available = ", ".join(pack.ref for pack in library.packs()) or "none"
    return (f"no rule pack '{pack_id}'; {hint}available: {available} ('default' is "
            f"{PACK_ALIASES['default']}; user packs go in the configuration's rule_packs_dir)")


def _unknown_rule(wanted: str, packs: Sequence[RulePack]) -> str:
    searched = ", ".join(pack.ref for pack in packs) or "none"
    close = suggest_rules(wanted, [rule for pack in packs for rule in pack.rules])
    if len(close) == 1:
        hint = f"did you mean '{close[0]}'? "
    elif close:
        hint = "did you mean one of " + ", ".join(f"'{rule_id}'" for rule_id in close) + "? "
    else:
        hint = ""
    return (f"no rule '{wanted}' in the selected rule packs (searched: {searched}); {hint}"
            "(`livewatch rules list` shows every rule id)")


def suggest_rules(wanted: str, rules: Sequence[Rule]) -> list[str]:
    """Rule ids close to ``wanted``, best first. A rule is compared as a whole id, by its name after the
    category (``guaranteed-returns``) and by its category (``absolute-terms``), each against ``wanted`` and
    its part after the first dot; so an id from another numbering (``P14.guaranteed-returns``,
    ``P05.absolute-terms``) still finds its rules. Only the ids about as close as the closest are offered, so
    a category shared with the closest does not bring in all its neighbours."""
    key = wanted.lower()
    tail = key.partition(".")[2]
    parts = [key, tail] if tail else [key]
    scores: dict[str, float] = {}
    for rule in rules:
        rule_id = rule.id.lower()
        name = rule_id.partition(".")[2] or rule_id
        score = max(
            _similarity(key, rule_id),
            *(_similarity(part, candidate) for part in parts for candidate in (name, rule.spec.category.lower())),
        )
        scores[rule.id] = max(score, scores.get(rule.id, 0.0))
    best = max(scores.values(), default=0.0)
    close = [rule_id for rule_id, score in scores.items() if score >= SUGGEST_CUTOFF and score >= best - SUGGEST_MARGIN]
    return sorted(close, key=lambda rule_id: -scores[rule_id])[:MAX_SUGGESTIONS]


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _inapplicable(rule: Rule, override: RuleOverride) -> Iterator[tuple[str, str]]:
    """``(field, message)`` for each of ``add_terms``/``allowlist`` the rule's type has no place for; the
    engine would drop them without a word (see :meth:`Rule.with_additions`)."""
    takes_terms, takes_allow = _extension_points(rule)
    kind = f"rule '{rule.id}' is a {rule.type_name} rule"
    if override.add_terms and not takes_terms:
        why = ("it matches a pattern, not a list of terms, so there is nothing to add terms to"
               if takes_allow else "it judges facts about the broadcast, not words, so it has no terms")
        keep = "allowlist, enabled and severity still apply" if takes_allow else "enabled and severity still apply"
        yield "add_terms", f"{kind}: {why}; remove add_terms ({keep})"
    if override.allowlist and not takes_allow:
        yield "allowlist", (f"{kind}: it judges facts about the broadcast, not words, so there are no phrases to "
                            "allow; remove allowlist (enabled and severity still apply)")


def _extension_points(rule: Rule) -> tuple[bool, bool]:
    """Whether the rule takes extra terms, and whether it takes allowlist phrases."""
    name = rule.extendable
    if name is None:
        return False, False
    target: Any = rule.spec if name == "" else getattr(rule.spec, name)
    fields = type(target).model_fields
    return "terms" in fields, "allow" in fields


__all__ = ["rule_selection_issues", "suggest_rules"]
