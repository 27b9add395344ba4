"""Rule types about what is said when: proximity, boolean composition (and claims from several cues),
required disclosure, counts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import cached_property

from pydantic import Field, model_validator

from livewatch.pipeline.run_status import FINAL
from livewatch.rules.base import Hit, Rule, RuleInput, RuleSpec, hit_for
from livewatch.rules.transcript import Transcript
from livewatch.rules.types.text import Condition, ConditionMatcher, Found


def _timed(transcript: Transcript, matcher: ConditionMatcher) -> list[tuple[datetime, Found]]:
    return [(transcript.times(f.start, f.end)[0], f) for f in matcher.find(transcript)]


def _near(at: datetime, found: Sequence[tuple[datetime, Found]], before: float, after: float) -> bool:
    return any(at - timedelta(seconds=before) <= when <= at + timedelta(seconds=after) for when, _ in found)


class CompositeSpec(RuleSpec):
    """``type: composite`` — fires where every ``all_of`` condition, at least one ``any_of`` condition (when
    given) and no ``none_of`` condition match within ``within_s`` seconds of the first condition's match.

    With ``at_least: N`` it is a claim recognised from several cues: N or more of the ``any_of`` conditions
    match within ``within_s`` seconds of the first of them (and no ``none_of`` condition that near). A cure
    claim is a cure word, a disease and "no more medicine"; any two are enough, so one misheard word does
    not lose the claim.

    ``none_within_s`` narrows what a ``none_of`` match hides: only the matches within that many seconds of it
    (the same sentence) do not count, and the rest must still make the finding. Without it, a ``none_of``
    match within ``within_s`` of the first match hides the finding. A lexicon that already raised one claim
    then does not hide a second claim said a few seconds later."""

    all_of: list[Condition] = Field(default_factory=list)
    any_of: list[Condition] = Field(default_factory=list)
    none_of: list[Condition] = Field(default_factory=list)
    at_least: int | None = Field(None, ge=1)
    within_s: float = Field(30, gt=0)
    none_within_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _has_an_anchor(self) -> CompositeSpec:
        if not self.all_of and not self.any_of:
            raise ValueError("a composite rule needs all_of or any_of conditions")
        if self.at_least is not None and (self.all_of or self.at_least > len(self.any_of)):
            raise ValueError(f"at_least: {self.at_least} needs that many any_of conditions and no all_of")
        return self


def _vetoed(spec: CompositeSpec, first: datetime, found_none: Sequence[Sequence[tuple[datetime, Found]]]) -> bool:
    """Whether a ``none_of`` condition matched within ``within_s`` of the first match (without
    ``none_within_s``; with it, :func:`_unvetoed` has dropped the matches near a ``none_of`` one already)."""
    return spec.none_within_s is None and any(_near(first, group, spec.within_s, spec.within_s)
                                              for group in found_none)


def _unvetoed(spec: CompositeSpec, found: list[tuple[datetime, Found]],
              found_none: Sequence[Sequence[tuple[datetime, Found]]]) -> list[tuple[datetime, Found]]:
    """With ``none_within_s``, the matches that are not that near a ``none_of`` match: those belong to the
    claim the ``none_of`` condition already stands for."""
    if spec.none_within_s is None:
        return found
    near = spec.none_within_s
    return [(at, f) for at, f in found if not any(_near(at, group, near, near) for group in found_none)]


class CompositeRule(Rule):
    type_name = "composite"
    spec_model = CompositeSpec
    spec: CompositeSpec

    @cached_property
    def groups(self) -> tuple[list[ConditionMatcher], list[ConditionMatcher], list[ConditionMatcher]]:
        return ([ConditionMatcher(c) for c in self.spec.all_of], [ConditionMatcher(c) for c in self.spec.any_of],
                [ConditionMatcher(c) for c in self.spec.none_of])

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        if self.spec.at_least is not None:
            yield from self._cues(data, self.spec.at_least)
            return
        all_of, any_of, none_of = self.groups
        window = self.spec.within_s
        for stream, transcript in sorted(data.transcripts.items()):
            found_none = [_timed(transcript, m) for m in none_of]
            found_all = [_unvetoed(self.spec, _timed(transcript, m), found_none) for m in all_of]
            found_any = [_unvetoed(self.spec, _timed(transcript, m), found_none) for m in any_of]
            anchors = found_all[0] if found_all else sorted(x for group in found_any for x in group)
            for at, anchor in anchors:
                if not all(_near(at, group, window, window) for group in found_all[1:]):
                    continue
                if found_any and not any(_near(at, group, window, window) for group in found_any):
                    continue
                if _vetoed(self.spec, at, found_none):
                    continue
                partners = sorted(f for group in [*found_all[1:], *found_any] for w, f in group
                                  if abs((w - at).total_seconds()) <= window and f != anchor)
                end = max([anchor.end, *(f.end for f in partners)])
                start = min([anchor.start, *(f.start for f in partners)])
                hit = hit_for(transcript, stream, start, end, anchor.matched,
                              {"with": [f.matched for f in partners]})
                yield hit

    def _cues(self, data: RuleInput, at_least: int) -> Iterator[Hit]:
        _, any_of, none_of = self.groups
        window = timedelta(seconds=self.spec.within_s)
        for stream, transcript in sorted(data.transcripts.items()):
            found_none = [_timed(transcript, m) for m in none_of]
            found = sorted((at, group, f) for group, matcher in enumerate(any_of)
                           for at, f in _unvetoed(self.spec, _timed(transcript, matcher), found_none))
            index = 0
            while index < len(found):
                begin = found[index][0]
                first_of: dict[int, tuple[int, Found]] = {}
                for later, (at, group, f) in enumerate(found[index:], index):
                    if at - begin > window:
                        break
                    first_of.setdefault(group, (later, f))
                if len(first_of) < at_least or _vetoed(self.spec, begin, found_none):
                    index += 1
                    continue
                cues = sorted(f for _, f in first_of.values())
                # The finding covers what was said from the first cue to the last: where the claim was made.
                yield hit_for(transcript, stream, cues[0].start, max(f.end for f in cues), cues[0].matched,
                              {"with": [f.matched for f in cues[1:]], "how": sorted({f.how for f in cues})})
                index = max(later for later, _ in first_of.values()) + 1


class ProximitySpec(RuleSpec):
    """``type: proximity`` — ``a`` within ``within_s`` seconds of ``b`` (either order)."""

    a: Condition
    b: Condition
    within_s: float = Field(30, gt=0)


class ProximityRule(Rule):
    type_name = "proximity"
    spec_model = ProximitySpec
    spec: ProximitySpec
    extendable = "a"

    @cached_property
    def composite(self) -> CompositeRule:
        s = self.spec
        return CompositeRule(CompositeSpec(id=s.id, type="composite", category=s.category, severity=s.severity,
                                           all_of=[s.a, s.b], within_s=s.within_s))

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        return self.composite.evaluate(data)


class DisclosureSpec(RuleSpec):
    """``type: disclosure`` — after a promotion ``cue``, a ``disclosure`` must be said within ``within_s``
    seconds (or in the ``before_s`` seconds before the cue); a finding when it is not."""

    cue: Condition
    disclosure: Condition
    within_s: float = Field(60, gt=0)
    before_s: float = Field(0, ge=0)


class DisclosureRule(Rule):
    type_name = "disclosure"
    spec_model = DisclosureSpec
    spec: DisclosureSpec
    extendable = "cue"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        cue, disclosure = ConditionMatcher(self.spec.cue), ConditionMatcher(self.spec.disclosure)
        live = data.facts.run_status is not None and data.facts.run_status not in FINAL
        for stream, transcript in sorted(data.transcripts.items()):
            said = _timed(transcript, disclosure)
            heard_until = transcript.heard_until
            for at, found in _timed(transcript, cue):
                if _near(at, said, self.spec.before_s, self.spec.within_s):
                    continue
                if live and heard_until is not None and heard_until < at + timedelta(seconds=self.spec.within_s):
                    continue  # the disclosure may still come: judge when the window has been heard
                yield hit_for(transcript, stream, found.start, found.end, found.matched,
                              {"missing": "disclosure", "within_s": self.spec.within_s})


class CountSpec(RuleSpec):
    """``type: count`` — ``threshold`` or more matches of ``condition`` inside any ``window_s`` seconds."""

    condition: Condition
    threshold: int = Field(ge=2)
    window_s: float = Field(gt=0)


class CountRule(Rule):
    type_name = "count"
    spec_model = CountSpec
    spec: CountSpec
    extendable = "condition"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        matcher = ConditionMatcher(self.spec.condition)
        window = timedelta(seconds=self.spec.window_s)
        for stream, transcript in sorted(data.transcripts.items()):
            found = _timed(transcript, matcher)
            first = 0
            last_fired_end = -1
            for index, (at, _) in enumerate(found):
                while at - found[first][0] > window:
                    first += 1
                if index - first + 1 >= self.spec.threshold and first > last_fired_end:
                    run = [f for _, f in found[first:index + 1]]
                    yield hit_for(transcript, stream, run[0].start, run[-1].end, run[-1].matched,
                                  {"count": len(run), "window_s": self.spec.window_s})
                    last_fired_end = index  # the next finding needs a fresh set of matches

