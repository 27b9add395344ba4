"""Rule types about what is said (or shown) when: proximity, boolean composition (and claims from several
cues), required disclosure, counts.

They combine channels: a rule that reads speech and screen takes its conditions' matches from both, so a
spoken pitch with 广告 shown on screen within the window is disclosed, and 全网最低价 on a banner while the host
says 赶紧下单 is an absolute term while selling. A match in speech is at one moment (its first word); a line on
screen is there for as long as it was visible, so it is near what was said any time it was up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import ClassVar

from pydantic import Field, model_validator

from livewatch.pipeline.findings import DetailValue
from livewatch.pipeline.run_status import FINAL
from livewatch.pipeline.screen import TextChannel
from livewatch.rules.base import Hit, Rule, RuleInput, RuleSpec, hit_for
from livewatch.rules.transcript import Transcript
from livewatch.rules.types.text import Condition, ConditionMatcher, Found


@dataclass(frozen=True, order=True)
class Timed:
    """A match and when it was there: ``at`` to ``until`` (the same moment for speech: its first word; the
    line's whole visible span for the screen), in the stream's transcript number ``source``."""

    at: datetime
    until: datetime
    source: int
    found: Found


def _timed(transcripts: Sequence[Transcript], matcher: ConditionMatcher) -> list[Timed]:
    """The matches of ``matcher`` in every transcript of one stream."""
    out = []
    for source, transcript in enumerate(transcripts):
        for f in matcher.find(transcript):
            start, end = transcript.times(f.start, f.end)
            out.append(Timed(start, start if transcript.joins_lines else end, source, f))
    return out


def _near(span: Timed, found: Iterable[Timed], before: float, after: float) -> bool:
    """Whether any of ``found`` was there from ``before`` seconds before ``span`` to ``after`` seconds after it."""
    earliest, latest = span.at - timedelta(seconds=before), span.until + timedelta(seconds=after)
    return any(earliest <= other.until and other.at <= latest for other in found)


def _hit(transcripts: Sequence[Transcript], stream: int, anchor: Timed, partners: Sequence[Timed],
         matched: str, details: Mapping[str, DetailValue]) -> Hit:
    """A hit in the anchor's transcript over the anchor and the partners beside it there (in speech, any;
    on screen, those in the anchor's line); partners on another channel are named in ``also_on``."""
    transcript = transcripts[anchor.source]
    line = None if transcript.joins_lines else transcript.line_of(anchor.found.start, anchor.found.end)
    beside = [p.found for p in partners if p.source == anchor.source
              and (line is None or transcript.line_of(p.found.start, p.found.end) == line)]
    start = min([anchor.found.start, *(f.start for f in beside)])
    end = max([anchor.found.end, *(f.end for f in beside)])
    elsewhere = sorted({transcripts[p.source].channel for p in partners if p.source != anchor.source})
    also = {"also_on": elsewhere} if elsewhere else {}
    return hit_for(transcript, stream, start, end, matched, {**details, **also})


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


def _vetoed(spec: CompositeSpec, first: Timed, found_none: Sequence[Sequence[Timed]]) -> bool:
    """Whether a ``none_of`` condition matched within ``within_s`` of the first match (without
    ``none_within_s``; with it, :func:`_unvetoed` has dropped the matches near a ``none_of`` one already)."""
    return spec.none_within_s is None and any(_near(first, group, spec.within_s, spec.within_s)
                                              for group in found_none)


def _unvetoed(spec: CompositeSpec, found: list[Timed], found_none: Sequence[Sequence[Timed]]) -> list[Timed]:
    """With ``none_within_s``, the matches that are not that near a ``none_of`` match: those belong to the
    claim the ``none_of`` condition already stands for."""
    if spec.none_within_s is None:
        return found
    near = spec.none_within_s
    return [x for x in found if not any(_near(x, group, near, near) for group in found_none)]


def _in_order(found: Iterable[Timed]) -> list[Timed]:
    """Transcript by transcript, in the order of the text (as the matches were found)."""
    return sorted(found, key=lambda x: (x.source, x.found))


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
        for stream, transcripts in data.texts(self.spec.channels).items():
            found_none = [_timed(transcripts, m) for m in none_of]
            found_all = [_unvetoed(self.spec, _timed(transcripts, m), found_none) for m in all_of]
            found_any = [_unvetoed(self.spec, _timed(transcripts, m), found_none) for m in any_of]
            anchors = found_all[0] if found_all else sorted(x for group in found_any for x in group)
            for anchor in anchors:
                if not all(_near(anchor, group, window, window) for group in found_all[1:]):
                    continue
                if found_any and not any(_near(anchor, group, window, window) for group in found_any):
                    continue
                if _vetoed(self.spec, anchor, found_none):
                    continue
                partners = _in_order(x for group in [*found_all[1:], *found_any] for x in group
                                     if _near(anchor, (x,), window, window) and x != anchor)
                yield _hit(transcripts, stream, anchor, partners, anchor.found.matched,
                           {"with": [x.found.matched for x in partners]})

    def _cues(self, data: RuleInput, at_least: int) -> Iterator[Hit]:
        _, any_of, none_of = self.groups
        window = timedelta(seconds=self.spec.within_s)
        for stream, transcripts in data.texts(self.spec.channels).items():
            found_none = [_timed(transcripts, m) for m in none_of]
            found = sorted((x.at, group, x) for group, matcher in enumerate(any_of)
                           for x in _unvetoed(self.spec, _timed(transcripts, matcher), found_none))
            index = 0
            while index < len(found):
                first = found[index][2]
                first_of: dict[int, tuple[int, Timed]] = {}
                for later, (at, group, x) in enumerate(found[index:], index):
                    if at - first.until > window:
                        break
                    first_of.setdefault(group, (later, x))
                if len(first_of) < at_least or _vetoed(self.spec, first, found_none):
                    index += 1
                    continue
                cues = sorted(x for _, x in first_of.values())
                # The finding covers what was said from the first cue to the last: where the claim was made.
                yield _hit(transcripts, stream, cues[0], cues[1:], cues[0].found.matched,
                           {"with": [x.found.matched for x in _in_order(cues[1:])],
                            "how": sorted({x.found.how for x in cues})})
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
                                           all_of=[s.a, s.b], within_s=s.within_s, channels=s.channels))

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
        wait = timedelta(seconds=self.spec.within_s)
        for stream, transcripts in data.texts(self.spec.channels).items():
            said = _timed(transcripts, disclosure)
            # How far the stream has been transcribed (and read on screen): the disclosure may come on either.
            heard_until = max((t.heard_until for t in transcripts if t.heard_until is not None), default=None)
            for pitch in _timed(transcripts, cue):
                if _near(pitch, said, self.spec.before_s, self.spec.within_s):
                    continue
                if live and heard_until is not None and heard_until < pitch.until + wait:
                    continue  # the disclosure may still come: judge when the window has been heard
                yield _hit(transcripts, stream, pitch, (), pitch.found.matched,
                           {"missing": "disclosure", "within_s": self.spec.within_s})


class CountSpec(RuleSpec):
    """``type: count`` — ``threshold`` or more matches of ``condition`` inside any ``window_s`` seconds.
    Speech only: a count measures how often something is *said*; a line on screen stays there, and its
    appearances count OCR's flicker, not repetition."""

    readable_channels: ClassVar[tuple[TextChannel, ...]] = ("speech",)

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
        for stream, transcript in data.each_text(self.spec.channels):
            found = _timed([transcript], matcher)
            first = 0
            last_fired_end = -1
            for index, x in enumerate(found):
                while x.at - found[first].at > window:
                    first += 1
                if index - first + 1 >= self.spec.threshold and first > last_fired_end:
                    run = [y.found for y in found[first:index + 1]]
                    yield hit_for(transcript, stream, run[0].start, run[-1].end, run[-1].matched,
                                  {"count": len(run), "window_s": self.spec.window_s})
                    last_fired_end = index  # the next finding needs a fresh set of matches

