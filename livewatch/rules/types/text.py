"""Rule types over text: lexicon (any-of terms), regex, and the blacklist's names. They read the channels
their spec names (``channels``: what was said, what was shown on screen, or both)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from pydantic import Field, field_validator

from livewatch.fields import SingleLine, StrictModel
from livewatch.rules.base import Hit, Rule, RuleInput, RuleSpec, hit_for
from livewatch.rules.matching import TermMatcher
from livewatch.rules.negation import negated, warned
from livewatch.rules.regexes import Pattern, check_pattern, compiled, spans
from livewatch.rules.transcript import Transcript


class Condition(StrictModel):
    """What to look for in the text: terms (normalized any-of) and/or a regular expression."""

    terms: list[SingleLine] = Field(default_factory=list)
    pattern: str | None = Field(None, description="Regular expression over the lightly normalized text.")
    allow: list[SingleLine] = Field(default_factory=list, description="Longer phrases that must not fire.")
    allow_pattern: str | None = Field(None, description="A regular expression over the lightly normalized text: "
                                      "a match inside one of its matches does not fire (第一 before a counter, "
                                      "最好 before a verb).")
    pinyin: bool = Field(False, description="Also match homophones through toneless pinyin (菠菜 = 博彩).")
    initials: bool = Field(False, description="Also match Latin tokens that are a term's pinyin initials.")
    fuzzy: bool = Field(False, description="Also match English terms Whisper misheard slightly.")
    negatable: bool = Field(False, description="A match inside a preceding negation's scope (不能保证…, "
                            "没有…, never…) or called a fraud in its clause (…都是骗人的) is a disclaimer and "
                            "does not count.")

    @field_validator("pattern", "allow_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else _compiled(value)


def _compiled(pattern: str) -> str:
    check_pattern(pattern)  # valid, and not one that can backtrack catastrophically
    return pattern


@dataclass(frozen=True, order=True)
class Found:
    start: int  # original characters of the transcript text
    end: int
    matched: str
    how: str


@dataclass(frozen=True)
class ConditionMatcher:
    condition: Condition

    @cached_property
    def terms(self) -> TermMatcher:
        c = self.condition
        return TermMatcher(tuple(c.terms), tuple(c.allow), c.pinyin, c.initials, c.fuzzy)

    @cached_property
    def regex(self) -> Pattern | None:
        return None if self.condition.pattern is None else compiled(self.condition.pattern)

    @cached_property
    def allowed(self) -> Pattern | None:
        return None if self.condition.allow_pattern is None else compiled(self.condition.allow_pattern)

    def find(self, transcript: Transcript) -> list[Found]:
        found = []
        if self.condition.terms:
            found = [Found(m.start, m.end, m.term, m.how) for m in self.terms.find(transcript)]
        if self.regex is not None:
            light = transcript.light
            for first, past, matched in spans(self.regex, light.text):  # within the rule's time limit
                start, end = light.original_span(first, past)
                if transcript.joins_lines or transcript.line_of(start, end) is not None:
                    found.append(Found(start, end, matched, "regex"))
        if self.condition.negatable:
            light = transcript.light
            found = [f for f in found if not negated(light, f.start) and not warned(light, f.start, f.end)]
        if self.allowed is not None and found:
            light = transcript.light
            allowed = [light.original_span(first, past) for first, past, _ in spans(self.allowed, light.text)]
            found = [f for f in found if not any(a <= f.start and f.end <= b for a, b in allowed)]
        return sorted(found, key=lambda f: f.start)


class LexiconSpec(RuleSpec, Condition):
    """``type: lexicon`` — any of ``terms`` (or ``pattern``) anywhere in the transcript."""


class LexiconRule(Rule):
    type_name = "lexicon"
    spec_model = LexiconSpec
    spec: LexiconSpec
    extendable = ""

    @cached_property
    def matcher(self) -> ConditionMatcher:
        return ConditionMatcher(self.spec)

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        for stream, transcript in data.each_text(self.spec.channels):
            for found in self.matcher.find(transcript):
                yield hit_for(transcript, stream, found.start, found.end, found.matched, {"how": found.how})



class RegexSpec(RuleSpec):
    """``type: regex`` — a regular expression over the lightly normalized text (phone numbers, IDs)."""

    pattern: str
    allow: list[SingleLine] = Field(default_factory=list)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _compiled(value)


class RegexRule(Rule):
    type_name = "regex"
    spec_model = RegexSpec
    spec: RegexSpec
    extendable = ""

    @cached_property
    def matcher(self) -> ConditionMatcher:
        # The spec was validated when the pack was loaded (pattern checked): no second check on every use.
        return ConditionMatcher(Condition.model_construct(pattern=self.spec.pattern, allow=self.spec.allow))

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        allow = TermMatcher(tuple(self.spec.allow)) if self.spec.allow else None
        for stream, transcript in data.each_text(self.spec.channels):
            allowed = allow.find(transcript) if allow else []
            for found in self.matcher.find(transcript):
                if any(a.start <= found.start and found.end <= a.end for a in allowed):
                    continue
                yield hit_for(transcript, stream, found.start, found.end, found.matched, {"how": "regex"})



class BlacklistedPersonSpec(RuleSpec):
    """``type: blacklisted-person`` — a barred person's name or alias spoken in the broadcast (names come
    from the global configuration's blacklist, never from the pack)."""

    pinyin: bool = True


class BlacklistedPersonRule(Rule):
    type_name = "blacklisted-person"
    spec_model = BlacklistedPersonSpec
    spec: BlacklistedPersonSpec

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        people = getattr(data.facts.blacklist, "people", ())
        names = {name: person for person in people for name in (person.name, *person.aliases)}
        if not names:
            return
        matcher = TermMatcher(tuple(names), pinyin=self.spec.pinyin)
        for stream, transcript in data.each_text(self.spec.channels):
            for match in matcher.find(transcript):
                person = names[match.term]
                yield hit_for(transcript, stream, match.start, match.end, match.term,
                              {"how": match.how, "person": person.name, "reason": person.reason})

    def example_input(self, example: Any, base: Any) -> RuleInput:
        from livewatch.registration.blacklist import BarredPerson, Blacklist

        data = super().example_input(example, base)
        barred = Blacklist((BarredPerson(name="张三丰", aliases=["Zhang Sanfeng"], reason="example"),))
        return replace(data, facts=replace(base, blacklist=barred))
