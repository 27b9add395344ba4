"""``type: semantic`` — an utterance that means what a category's example sentences mean, in wordings no
lexicon lists (包你回本 said as 投进去的钱一分不会少, "you'll double your money" for "guaranteed returns").

Each utterance long enough to judge is encoded (:mod:`livewatch.rules.semantic`) and compared with the rule's
``like`` sentences (the violation, Chinese and English) and its ``unlike`` sentences (neutral talk of the same
topic, and disclaimers). It fires when its best ``like`` similarity reaches ``threshold`` and beats the best
``unlike`` one by ``margin``.

The encoder names the topic well but does not read logic: "we never promise returns" is as close to "we
promise returns" as the promise itself. So a negation guard drops an utterance whose best-matching clause is
negated (:mod:`livewatch.rules.negation`, as ``negatable`` lexicons do), except where what is negated is a loss
(不会亏, 没有任何风险, "you can't lose", "no side effects": there the negation *is* the promise).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from livewatch.fields import SeverityName, SingleLine
from livewatch.pipeline.findings import DetailValue
from livewatch.pipeline.screen import TextChannel
from livewatch.rules.base import Hit, Rule, RuleInput, RuleSpec, hit_for
from livewatch.rules.engine import severity_rank
from livewatch.rules.negation import negated
from livewatch.rules.normalize import is_cjk, normalize
from livewatch.rules.semantic import Vectors, shared_encoder
from livewatch.rules.transcript import SEPARATOR, Transcript, Utterance

#: The most a semantic finding can be. Similarity says an utterance is *about* a violation's topic, not that
#: it makes the claim (a disclaimer, a question, a quotation score alike): a reviewer reads it, and it never
#: fails an event or changes its verdict, whatever severity the pack gives the rule.
MAX_SEVERITY: SeverityName = "low"
#: Shorter utterances carry too little meaning to judge (对对对, "ok thanks"): USE scores them near anything.
MIN_CJK_CHARS = 6
MIN_WORDS = 4
#: Defaults chosen on the ``tune`` half of real text (bench/semantic.py): at 0.40 and 0.03 the default pack's
#: four semantic rules fire on their examples and raise about one finding per hour of consumer reviews and
#: one to two per hour of English chat; 0.45 misses 4 of their 18 `fires` examples.
DEFAULT_THRESHOLD = 0.40
DEFAULT_MARGIN = 0.03

_CLAUSE = re.compile(r"[，。！？；：、,.!?;:…\n]+")
_WORD = re.compile(r"[A-Za-z0-9']+")
#: What a negation may deny and still make the claim: a loss, a risk, a relapse (不会亏, no risk at all).
_ZH_LOSSES = ("亏", "赔", "风险", "损失", "副作用", "复发", "反弹", "输", "失败", "赚不到")
_EN_LOSSES = frozenset({"lose", "losing", "lost", "loss", "losses", "risk", "risks", "risky", "fail", "fails",
                        "side", "relapse", "downside", "worry"})
#: How far after a negation its object is looked for: Chinese characters and English words, up to the next
#: negation (不能保证你不会亏 denies the guarantee; its 亏 belongs to the 不会 the guarantee was about).
_ZH_OBJECT_CHARS = 6
_EN_OBJECT_WORDS = 4
_ZH_NEGATORS = re.compile(r"[不没无别非未]")
_EN_NEGATORS = frozenset({"no", "not", "never", "cannot", "can't", "cant", "don't", "dont", "doesn't", "won't",
                          "isn't", "aren't", "nobody", "nothing"})


def judgeable(text: str) -> bool:
    """Whether an utterance is long enough to judge: six Chinese characters, or four words."""
    cjk = sum(is_cjk(ch) for ch in text)
    return cjk >= MIN_CJK_CHARS if cjk else len(_WORD.findall(text)) >= MIN_WORDS


def clauses(text: str) -> list[str]:
    return [part.strip() for part in _CLAUSE.split(text) if part.strip()]


def _denies_a_loss(governed: str) -> bool:
    """Whether the words a negation governs begin with a loss (会亏, 任何风险, "lose money")."""
    if is_cjk(governed[:1]):
        chars = "".join(ch for ch in governed if is_cjk(ch))
        stop = _ZH_NEGATORS.search(chars)
        window = chars[:min(_ZH_OBJECT_CHARS, stop.start() if stop else len(chars))]
        return any(loss in window for loss in _ZH_LOSSES)
    words = []
    for word in (w.lower() for w in _WORD.findall(governed)[:_EN_OBJECT_WORDS]):
        if word in _EN_NEGATORS:
            break
        words.append(word)
    return any(word in _EN_LOSSES for word in words)


def disclaims(clause: str) -> bool:
    """Whether a negation in ``clause`` denies something other than a loss: 我们不能保证收益, "we never
    promise returns", 严禁赌博 (but not 绝对不会亏, "you can't lose")."""
    light = normalize(clause, "light")
    inside = False
    for index, char in enumerate(clause):
        starts_word = is_cjk(char) or (char.isalnum() and (index == 0 or not clause[index - 1].isalnum()))
        if not starts_word:
            continue
        governed = negated(light, index, touching=False)
        if governed and not inside and not _denies_a_loss(clause[index:]):
            return True
        inside = governed
    return False


class SemanticSpec(RuleSpec):
    """``type: semantic`` — an utterance close in meaning to ``like`` and not to ``unlike``; findings at ``low``.
    Speech only: thresholds and margins were chosen on sentences, and lines on screen are fragments of a layout
    (a price tag, a title), which the encoder scores near anything."""

    readable_channels: ClassVar[tuple[TextChannel, ...]] = ("speech",)

    like: list[SingleLine] = Field(min_length=2, description="Example sentences of the violation (zh and en).")
    unlike: list[SingleLine] = Field(min_length=1, description="Neutral sentences of the same topic and "
                                     "disclaimers: an utterance closer to these is not a finding.")
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, lt=1, description="Least cosine similarity to a like sentence.")
    margin: float = Field(DEFAULT_MARGIN, ge=0, lt=1, description="How much closer to like than to unlike.")
    negatable: bool = Field(True, description="Drop utterances whose matching clause is negated (a disclaimer).")

    @field_validator("severity")
    @classmethod
    def _capped(cls, value: SeverityName) -> SeverityName:
        return MAX_SEVERITY if severity_rank(value) < severity_rank(MAX_SEVERITY) else value


@dataclass(frozen=True)
class Score:
    like: float
    unlike: float
    nearest: str

    @property
    def margin(self) -> float:
        return self.like - self.unlike


class SemanticRule(Rule):
    type_name = "semantic"
    spec_model = SemanticSpec
    spec: SemanticSpec
    supplementary = True

    @cached_property
    def _examples(self) -> tuple[Vectors, Vectors]:
        encoder = shared_encoder()
        return encoder.encode(self.spec.like), encoder.encode(self.spec.unlike)

    def score(self, texts: list[str]) -> list[Score]:
        """Each text's best similarity to ``like`` (and which sentence) and to ``unlike``."""
        if not texts:
            return []
        like, unlike = self._examples
        vectors = shared_encoder().encode(texts)
        to_like, to_unlike = vectors @ like.T, vectors @ unlike.T
        best = np.argmax(to_like, axis=1)
        return [Score(float(to_like[row, column]), float(to_unlike[row].max()), self.spec.like[column])
                for row, column in enumerate(best)]

    def fires(self, score: Score) -> bool:
        return score.like >= self.spec.threshold and score.margin >= self.spec.margin

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        for stream, transcript in sorted(data.transcripts.items()):
            spans = list(_utterance_spans(transcript))
            scores = self.score([transcript.text[start:end] for _, start, end in spans])
            for (utterance, start, end), score in zip(spans, scores, strict=True):
                if not self.fires(score):
                    continue
                text = transcript.text[start:end]
                if self.spec.negatable and self._disclaimer(text):
                    continue
                hit = hit_for(transcript, stream, start, end, text, _details(score))
                # The finding is the utterance: its own times (character clocks spread evenly over an
                # utterance without word times can overshoot its end by rounding).
                yield replace(hit, evidence=text, highlight_start=0, highlight_end=len(text),
                              start_at=max(hit.start_at, utterance.start_at),
                              end_at=min(hit.end_at, utterance.end_at))

    def _disclaimer(self, text: str) -> bool:
        """Whether the clause of ``text`` that is closest to ``like`` is negated."""
        parts = clauses(text)
        if len(parts) > 1:
            scores = self.score(parts)
            parts = [parts[max(range(len(parts)), key=lambda i: scores[i].like)]]
        return disclaims(parts[0])


def _details(score: Score) -> dict[str, DetailValue]:
    return {"how": "semantic", "score": round(score.like, 3), "margin": round(score.margin, 3),
            "nearest": score.nearest}


def _utterance_spans(transcript: Transcript) -> Iterator[tuple[Utterance, int, int]]:
    """Each judgeable utterance and its ``[start, end)`` in the transcript's text, surrounding spaces left out."""
    position = 0
    for utterance in transcript.utterances:
        text = utterance.text
        lead = len(text) - len(text.lstrip())
        stripped = text.strip()
        if stripped and judgeable(stripped):
            yield utterance, position + lead, position + lead + len(stripped)
        position += len(text) + len(SEPARATOR)
