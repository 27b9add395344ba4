"""A stream's transcript as one text with a clock: every character knows when it was said.

Rules match over the whole stream, not utterance by utterance, so a phrase Whisper split across two
segments (or two audio segments) still fires once; the time of a hit comes from the word timestamps of the
characters it covers, and a hit that touches a low-confidence span is marked so the engine caps it.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import ClassVar, Protocol

from livewatch.pipeline.screen import TextChannel
from livewatch.pipeline.transcripts import SpanWord
from livewatch.rules.english import lemma_view, phonetic_view
from livewatch.rules.normalize import NormalizedText, is_cjk, normalize, pinyin_view, syllable_codes
from livewatch.textcut import ELLIPSIS, end_between_words, start_between_words

#: Joins utterances; the compact view drops it, the light view keeps it (a regex cannot bridge it by accident).
SEPARATOR = "\n"


_LATIN = re.compile("[a-z]")

class TimedWord(Protocol):
    """A word with its times: a :class:`Word`, or the transcription stage's
    :class:`~livewatch.pipeline.transcripts.SpanWord` as stored (taken as it is: a 10-hour transcript has
    about 100,000 of them, read on every check)."""

    @property
    def start_at(self) -> datetime: ...
    @property
    def end_at(self) -> datetime: ...
    @property
    def word(self) -> str: ...


@dataclass(frozen=True)
class Word:
    """A word with its times from anywhere but the transcription stage (a screen line, a rule's example)."""

    start_at: datetime
    end_at: datetime
    word: str


@dataclass(frozen=True)
class Utterance:
    """One transcript row: what Whisper heard, when, and how sure it was."""

    start_at: datetime
    end_at: datetime
    text: str
    words: tuple[TimedWord, ...] = ()
    low_confidence: bool = False
    confidence: float | None = None  # exp(avg_logprob): Whisper's mean token probability
    flags: tuple[str, ...] = ()

    @classmethod
    def heard(cls, start_at: datetime, end_at: datetime, text: str, words: Iterable[SpanWord],
              avg_logprob: float | None, flags: tuple[str, ...]) -> Utterance:
        """What the transcription stage heard (a stored span's parts): any quality flag makes it low
        confidence."""
        return cls(start_at, end_at, text, tuple(words), bool(flags),
                   None if avg_logprob is None else math.exp(avg_logprob), flags)


@dataclass(frozen=True)
class CharClock:
    """When the character at one offset of the joined text was said, and from which utterance."""

    start_at: datetime
    end_at: datetime
    utterance: int


def _clock_for(utterance: Utterance, index: int) -> list[CharClock]:
    """A clock for each character of ``utterance.text``: its word's times where the words line up with
    the text, otherwise spread evenly over the utterance."""
    text = utterance.text
    clocks: list[CharClock] = []
    joined = "".join(w.word for w in utterance.words)
    if utterance.words and joined.strip() == text.strip():
        lead = len(joined) - len(joined.lstrip())
        position = -lead
        for word in utterance.words:
            for _ in word.word:
                if 0 <= position < len(text):
                    clocks.append(CharClock(word.start_at, word.end_at, index))
                position += 1
        while len(clocks) < len(text):
            clocks.append(CharClock(utterance.words[-1].start_at, utterance.end_at, index))
        return clocks
    span = (utterance.end_at - utterance.start_at) / max(len(text), 1)
    for offset in range(len(text)):
        at = utterance.start_at + span * offset
        clocks.append(CharClock(at, at + span, index))
    return clocks


@dataclass
class Transcript:
    """The utterances of one stream in time order, joined into one text. Character clocks are worked out
    only for the utterances a hit touches: a 10-hour transcript has hundreds of thousands of characters
    and a handful of hits."""

    #: The channel its text comes from; a screen transcript (:mod:`livewatch.rules.screen_text`) is "screen".
    channel: ClassVar[TextChannel] = "speech"
    #: Whether a match may run from one utterance into the next: Whisper splits a sentence anywhere, so
    #: speech is matched as one text; two lines on screen are two things (a price tag beside a title).
    joins_lines: ClassVar[bool] = True

    utterances: Sequence[Utterance]
    #: How far this stream has been transcribed, silence included; at least the last utterance's end. Rules
    #: that wait for something to be said (a disclosure after a cue) judge once the wait has been heard.
    heard_until: datetime | None = None
    text: str = field(init=False)
    _begins: list[int] = field(init=False, repr=False)  # where each utterance starts in ``text``
    _clocks: dict[int, list[CharClock]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.utterances = sorted(self.utterances, key=lambda u: u.start_at)
        ends = [u.end_at for u in self.utterances] + ([self.heard_until] if self.heard_until is not None else [])
        self.heard_until = max(ends, default=None)
        self._begins, self._clocks = [], {}
        position = 0
        for utterance in self.utterances:
            self._begins.append(position)
            position += len(utterance.text) + len(SEPARATOR)
        self.text = SEPARATOR.join(u.text for u in self.utterances)

    def _clock(self, offset: int) -> CharClock:
        index = bisect.bisect_right(self._begins, offset) - 1
        within = offset - self._begins[index]
        if within >= len(self.utterances[index].text):  # the separator: it belongs to the next utterance
            index = min(index + 1, len(self.utterances) - 1)
            at = self.utterances[index].start_at
            return CharClock(at, at, index)
        if index not in self._clocks:
            self._clocks[index] = _clock_for(self.utterances[index], index)
        return self._clocks[index][within]

    @classmethod
    def of_lines(cls, lines: Iterable[tuple[datetime, str]], *, seconds_each: float = 4.0) -> Transcript:
        """A transcript from plain text lines (rule examples, ``rules check --text``)."""
        return cls([Utterance(at, at + timedelta(seconds=seconds_each), text) for at, text in lines])

    @cached_property
    def compact(self) -> NormalizedText:
        return normalize(self.text, "compact")

    @cached_property
    def light(self) -> NormalizedText:
        return normalize(self.text, "light")

    @cached_property
    def pinyin(self) -> NormalizedText:
        return pinyin_view(self.compact)

    @cached_property
    def loose_pinyin(self) -> NormalizedText:
        """The pinyin view with commonly confused sounds folded (zh/z, n/l, -ng/-n)."""
        return pinyin_view(self.compact, loose=True)

    @cached_property
    def has_latin(self) -> bool:
        """Whether any Latin letter was said: without one, the English views cannot match anything."""
        return _LATIN.search(self.light.text) is not None

    @cached_property
    def has_chinese(self) -> bool:
        """Whether any Chinese character was said: without one, no homophone can match."""
        return any(is_cjk(ch) for ch in set(self.compact.text))

    @cached_property
    def lemmas(self) -> NormalizedText:
        """The compact text with each English word as its lemma (cures → cure)."""
        return lemma_view(self.light)

    @cached_property
    def phonetic(self) -> NormalizedText:
        """The compact text with each English word as its Metaphone code (we chat = wechat)."""
        return phonetic_view(self.light)

    @cached_property
    def syllable_codes(self) -> str:
        """The compact text with each Chinese character as one code per syllable (same positions)."""
        return syllable_codes(self.compact.text)

    def times(self, start: int, end: int) -> tuple[datetime, datetime]:
        """Wall-clock start and end of original characters ``[start, end)``."""
        end = max(end, start + 1)
        return self._clock(start).start_at, self._clock(end - 1).end_at

    def line_of(self, start: int, end: int) -> int | None:
        """The index of the utterance that holds all of original characters ``[start, end)``; None when
        they run into another one."""
        if not self.utterances:
            return None
        index = bisect.bisect_right(self._begins, start) - 1
        return index if index >= 0 and end <= self._begins[index] + len(self.utterances[index].text) else None

    def utterances_in(self, start: int, end: int) -> list[Utterance]:
        first = self._clock(start).utterance
        last = self._clock(max(end, start + 1) - 1).utterance
        return list(self.utterances[first:last + 1])

    def evidence(self, start: int, end: int, *, context: int = 40) -> tuple[str, int, int]:
        """The original text around ``[start, end)`` and where the match sits in it: about ``context``
        characters either side, cut between words (CJK: between characters) and marked cut by an ellipsis."""
        text = self.text
        begin = start_between_words(text, max(0, start - context), start)
        finish = end_between_words(text, min(len(text), end + context), end)
        while begin < start and text[begin].isspace():
            begin += 1
        while finish > end and text[finish - 1].isspace():
            finish -= 1
        lead = ELLIPSIS if begin > 0 else ""
        tail = ELLIPSIS if finish < len(text) else ""
        window = text[begin:finish].replace(SEPARATOR, " ")
        return lead + window + tail, start - begin + len(lead), end - begin + len(lead)
