"""How well a pack finds what it should: recall and precision on labelled sentences, and false alarms on real
text, each sentence timed as a speaker would say it and checked by the engine as the monitor checks it.

A labelled set is a tab-separated file with the header ``label<TAB>text<TAB>note``: ``label`` is the category a
reviewer would file the sentence under, or ``clean`` for a sentence no reviewer would flag. A violation is
*found* when the engine raises a finding of its category at any severity: every finding is on the reviewer's
list, ``low`` ones (review hints, such as the semantic rules') included. It is *flagged* when that finding
is ``medium`` or above, a finding on its own. A clean sentence is a *false alarm* when anything is raised
above ``low``: a hint costs a reviewer a glance, a finding a decision.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from livewatch.errors import LivewatchError
from livewatch.rules.base import RuleInput
from livewatch.rules.engine import Finding, RuleEngine, severity_rank
from livewatch.rules.examples import EXAMPLE_FACTS, EXAMPLE_START
from livewatch.rules.packs import RulePack
from livewatch.rules.transcript import Transcript, Utterance

#: Speaking pace: a fast live-commerce host says about 26 Chinese characters in 4 s
#: (../shared/research/mandarin-speech.md); English at about 15 characters a second.
CHARS_PER_S = {"zh": 26 / 4, "en": 15.0}
CLEAN = "clean"
HEADER = ["label", "text", "note"]
#: A finding a reviewer must decide on; below it, a hint.
FLAGGED = severity_rank("medium")
HINT = severity_rank("low")
SERIOUS = severity_rank("high")


class LabelledSetError(LivewatchError):
    """A labelled set that cannot be read: the file and line say where."""


@dataclass(frozen=True)
class LabelledCase:
    label: str  # a category id, or "clean"
    text: str
    language: str  # zh or en
    where: str  # file:line
    note: str = ""

    @property
    def violation(self) -> bool:
        return self.label != CLEAN


def load_cases(path: Path, language: str, categories: Iterable[str] | None = None) -> list[LabelledCase]:
    """The cases of one labelled file; ``categories`` (when given) are the labels it may use besides clean."""
    allowed = None if categories is None else {*categories, CLEAN}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise LabelledSetError(f"{path}: cannot read the labelled set: {err}") from None
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0][:3] != HEADER:
        raise LabelledSetError(f"{path}:1: the header must be {'<TAB>'.join(HEADER)}")
    cases: list[LabelledCase] = []
    seen: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        where = f"{path.name}:{number}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or len(row) > 3:
            raise LabelledSetError(f"{path}:{number}: expected label, text and an optional note, got {len(row)} fields")
        label, text = row[0].strip(), row[1].strip()
        if allowed is not None and label not in allowed:
            raise LabelledSetError(f"{path}:{number}: unknown label {label!r}")
        if not text:
            raise LabelledSetError(f"{path}:{number}: empty text")
        if text in seen:
            raise LabelledSetError(f"{path}:{number}: the same text as {seen[text]}")
        seen[text] = where
        cases.append(LabelledCase(label, text, language, where, row[2].strip() if len(row) == 3 else ""))
    return cases


def transcript_of(sentences: Iterable[str], chars_per_s: float) -> Transcript:
    """One utterance per sentence, back to back, each as long as it takes to say at ``chars_per_s``."""
    utterances = []
    at = EXAMPLE_START
    for sentence in sentences:
        length = timedelta(seconds=max(len(sentence) / chars_per_s, 1.0))
        utterances.append(Utterance(at, at + length, sentence))
        at += length
    return Transcript(utterances)


def text_rules(packs: Sequence[RulePack], *, exclude_types: Iterable[str] = ()) -> list[RulePack]:
    """The packs' rules that read transcript text (schedule, registration and audio rules need facts; barred
    names come from the configuration)."""
    excluded = {"blacklisted-person", *exclude_types}
    return [pack.with_rules(rule for rule in pack.rules if rule.text_examples and rule.type_name not in excluded)
            for pack in packs]


def findings_for(packs: Sequence[RulePack], transcript: Transcript) -> list[Finding]:
    """The engine's findings over ``transcript``, for an event on air exactly while it is spoken."""
    facts = EXAMPLE_FACTS
    if transcript.utterances:
        first, last = transcript.utterances[0].start_at, transcript.utterances[-1].end_at
        facts = replace(facts, event_id="evaluation", registered_start=first, registered_end=last,
                        on_air=((first, last),))
    return RuleEngine(packs).evaluate(RuleInput(facts, {0: transcript}))


@dataclass(frozen=True)
class CaseResult:
    case: LabelledCase
    findings: tuple[Finding, ...]

    def categories(self, at_most_rank: int) -> set[str]:
        """Categories raised at this severity rank or more serious (rank 0 is critical)."""
        return {f.category for f in self.findings if severity_rank(f.severity) <= at_most_rank}

    @property
    def found(self) -> bool:
        """Its category was raised, a review hint (``low``) included."""
        return self.case.label in self.categories(HINT)

    @property
    def flagged(self) -> bool:
        """Its category was raised at ``medium`` or above."""
        return self.case.label in self.categories(FLAGGED)

    @property
    def false_alarm(self) -> bool:
        return not self.case.violation and bool(self.categories(FLAGGED))


def evaluate_cases(packs: Sequence[RulePack], cases: Iterable[LabelledCase]) -> list[CaseResult]:
    return [CaseResult(case, tuple(findings_for(packs, transcript_of([case.text], CHARS_PER_S[case.language]))))
            for case in cases]


@dataclass(frozen=True)
class CategoryScore:
    """One category in one language: ``cases`` labelled with it, ``found`` (at any severity), ``flagged``
    (at medium or above); ``raised`` sentences on which the category was raised at any severity, ``right``
    of them labelled with it."""

    language: str
    category: str
    cases: int
    found: int
    flagged: int
    raised: int
    right: int

    @property
    def recall(self) -> float:
        return self.found / self.cases if self.cases else 1.0

    @property
    def precision(self) -> float:
        return self.right / self.raised if self.raised else 1.0


def scores(results: Sequence[CaseResult]) -> list[CategoryScore]:
    """Per language and category, sorted; categories raised but never labelled are included (precision)."""
    keys = {(r.case.language, r.case.label) for r in results if r.case.violation}
    keys |= {(r.case.language, c) for r in results for c in r.categories(HINT)}
    out = []
    for language, category in sorted(keys):
        mine = [r for r in results if r.case.language == language]
        labelled = [r for r in mine if r.case.label == category]
        raised = [r for r in mine if category in r.categories(HINT)]
        out.append(CategoryScore(language, category, len(labelled), sum(r.found for r in labelled),
                                 sum(r.flagged for r in labelled), len(raised),
                                 sum(r.case.label == category for r in raised)))
    return out


def recall_of(results: Sequence[CaseResult], language: str, *, flagged: bool = False) -> float:
    """Share of the language's violations found (``flagged``: at medium or above)."""
    violations = [r for r in results if r.case.language == language and r.case.violation]
    hits = sum(r.flagged if flagged else r.found for r in violations)
    return hits / len(violations) if violations else 1.0
