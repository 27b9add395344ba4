"""Finding terms in a transcript: Aho–Corasick over the normalized views, allowlists, homophones, and
fuzzy matching for English that Whisper misheard.

One automaton per view holds every term of a matcher, so a 10,000-term lexicon costs one pass over the
text however many terms it has (``bench/rules.py`` compares this with a ``re`` alternation of the same terms).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import ahocorasick

from livewatch.rules.english import has_gerund, lemma_key, phonetic_key
from livewatch.rules.normalize import (
    SYLLABLE_END,
    NormalizedText,
    initials,
    is_syllable_code,
    normalize_term,
    pinyin_of_term,
    syllable_codes,
    syllables,
)
from livewatch.rules.transcript import Transcript
from livewatch.rules.words import add_terms, on_word_boundaries

#: rapidfuzz partial-ratio score (0-100) at which a misheard English phrase counts as the term.
FUZZY_SCORE = 88.0
#: Terms shorter than this (compact letters) are never fuzzy-matched: short words match everything.
FUZZY_MIN_LENGTH = 8
#: Terms with fewer Chinese syllables than this never match as homophones: the pinyin of two syllables is
#: in too much ordinary speech (wen zhuan, gen zhi, kou kou: bench/detection.py measures it).
PINYIN_MIN_SYLLABLES = 3
#: Terms with at least this many syllables also match with the commonly confused sounds folded (zh/z, ch/c,
#: sh/s, n/l, -ng/-n): four syllables in a row that agree but for those are still that term.
LOOSE_MIN_SYLLABLES = 4
#: Terms with at least this many syllables also match with exactly one syllable, not the last, heard as
#: another (刷礼物抽奖 as 说历物抽奖, 全网最低价 as 前往最低价: Whisper mishears one sound). Four syllables
#: one off are in ordinary speech; five are not (bench/detection.py measures it).
NEAR_MIN_SYLLABLES = 5


#: Matches that are not Chinese words: initials are Latin letters, fuzzy matches English.
_NOT_WORDS = frozenset({"initials", "fuzzy", "lemma", "phonetic"})


@dataclass(frozen=True)
class Match:
    """A term found at original characters ``[start, end)`` of the transcript text."""

    start: int
    end: int
    term: str
    how: str  # normalized, lemma, pinyin, loose-pinyin, near-pinyin, initials, phonetic or fuzzy


def _automaton(keys: Iterable[tuple[str, str]]) -> ahocorasick.Automaton | None:
    automaton = ahocorasick.Automaton()
    for key, term in keys:
        if key:
            automaton.add_word(key, (len(key), term))
    if len(automaton) == 0:
        return None
    automaton.make_automaton()
    return automaton


def _halves(keys: dict[str, str], *, head: bool) -> ahocorasick.Automaton:
    """An automaton of each key's first (or second) half, the value every (key, term) with that half."""
    automaton = ahocorasick.Automaton()
    by_half: dict[str, list[tuple[str, str]]] = {}
    for key, term in keys.items():
        by_half.setdefault(key[:len(key) // 2] if head else key[len(key) // 2:], []).append((key, term))
    for half, entries in by_half.items():
        automaton.add_word(half, (len(half), tuple(entries)))
    automaton.make_automaton()
    return automaton


def _ascii_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True)
class TermMatcher:
    """Any-of matching for a list of terms, with an allowlist of longer phrases that must not fire."""

    terms: tuple[str, ...]
    allow: tuple[str, ...] = ()
    pinyin: bool = False
    initials: bool = False
    fuzzy: bool = False
    #: Chinese terms match only on word boundaries (livewatch/rules/words.py); allow phrases match anywhere.
    words: bool = True

    @cached_property
    def _compact(self) -> ahocorasick.Automaton | None:
        return _automaton((normalize_term(t), t) for t in self.terms)

    @cached_property
    def _lemmas(self) -> ahocorasick.Automaton | None:
        # English terms whatever their inflection: the text's words and the term's are both lemmas. A term
        # named by an -ing form ("betting") matches as written only: its lemma is everyday talk ("I bet").
        return _automaton((lemma_key(t), t) for t in self.terms
                          if t.isascii() and any(ch.isalpha() for ch in t) and not has_gerund(t))

    @cached_property
    def _phonetic(self) -> ahocorasick.Automaton | None:
        return _automaton((phonetic_key(t), t) for t in self.terms)

    @cached_property
    def _pinyin(self) -> ahocorasick.Automaton | None:
        # Homophones only for terms with enough Chinese in them; pinyin of Latin letters is the letters.
        return _automaton((pinyin_of_term(t), t) for t in self.terms if syllables(t) >= PINYIN_MIN_SYLLABLES)

    @cached_property
    def _loose(self) -> ahocorasick.Automaton | None:
        return _automaton((pinyin_of_term(t, loose=True), t) for t in self.terms
                          if syllables(t) >= LOOSE_MIN_SYLLABLES)

    @cached_property
    def _near(self) -> tuple[ahocorasick.Automaton, ahocorasick.Automaton] | None:
        # A term with one syllable wrong has one half right: index the halves, verify the rest on a hit.
        long = {key: t for t in self.terms if syllables(t) >= NEAR_MIN_SYLLABLES
                and (key := syllable_codes(normalize_term(t)))}
        if not long:
            return None
        return _halves(long, head=True), _halves(long, head=False)

    @cached_property
    def _initials(self) -> dict[str, str]:
        return {key: t for t in self.terms if len(key := initials(t)) >= 2}

    @cached_property
    def _allow(self) -> TermMatcher | None:
        return TermMatcher(self.allow, words=False) if self.allow else None

    @cached_property
    def _in_dictionary(self) -> bool:
        # The terms and the allowed phrases are words (or fixed phrases) the segmenter must know as such.
        add_terms((*self.terms, *self.allow))
        return True

    def find(self, transcript: Transcript) -> list[Match]:
        found: dict[tuple[int, int], Match] = {}
        for match in self._raw(transcript):
            found.setdefault((match.start, match.end), match)
        if not transcript.joins_lines:  # lines on screen: a match must not run from one into the next
            found = {key: m for key, m in found.items() if transcript.line_of(m.start, m.end) is not None}
        if self.words and self._in_dictionary:
            found = {key: m for key, m in found.items() if m.how in _NOT_WORDS or syllables(m.term) < 2
                     or on_word_boundaries(transcript.light, m.start, m.end)}
        matches = sorted(found.values(), key=lambda m: (m.start, -m.end))
        if self._allow is not None:
            allowed = self._allow.find(transcript)
            matches = [m for m in matches if not any(a.start <= m.start and m.end <= a.end for a in allowed)]
        return _drop_nested(matches)

    def _raw(self, transcript: Transcript) -> Iterator[Match]:
        yield from _scan(self._compact, transcript.compact, "normalized")
        if self._lemmas is not None and transcript.has_latin:
            yield from _scan(self._lemmas, transcript.lemmas, "lemma")
        if self.pinyin and transcript.has_chinese:
            yield from _scan(self._pinyin, transcript.pinyin, "pinyin")
            if self._loose is not None:
                yield from _scan(self._loose, transcript.loose_pinyin, "loose-pinyin")
            if self._near is not None:
                yield from _scan_near(*self._near, transcript)
        if self.initials and self._initials:
            yield from self._scan_initials(transcript)
        if self.fuzzy and transcript.has_latin:
            if self._phonetic is not None:
                yield from _scan(self._phonetic, transcript.phonetic, "phonetic")
            yield from self._scan_fuzzy(transcript)

    def _scan_initials(self, transcript: Transcript) -> Iterator[Match]:
        """Latin-letter tokens that are exactly a Chinese term's pinyin initials (zf for 政府)."""
        text = transcript.light.text
        position = 0
        while position < len(text):
            if not (text[position].isascii() and text[position].isalpha()):
                position += 1
                continue
            end = position
            while end < len(text) and text[end].isascii() and text[end].isalpha():
                end += 1
            term = self._initials.get(text[position:end])
            if term is not None:
                yield Match(*transcript.light.original_span(position, end), term, "initials")
            position = end

    @cached_property
    def _fuzzy_keys(self) -> dict[int, list[tuple[str, str]]]:
        """English terms long enough to match fuzzily, as (key, term), by key length."""
        by_length: dict[int, list[tuple[str, str]]] = {}
        for term in self.terms:
            key = normalize_term(term)
            if len(key) >= FUZZY_MIN_LENGTH and key.isascii():
                by_length.setdefault(len(key), []).append((key, term))
        return by_length

    def _scan_fuzzy(self, transcript: Transcript) -> Iterator[Match]:
        from rapidfuzz import fuzz, process

        compact = transcript.compact
        text = compact.text
        for length, keys in sorted(self._fuzzy_keys.items()):
            # Slide over the text in overlapping windows so that one phrase is found wherever it is; every key of
            # one length shares the windows, and all of them are scored in one call (rapidfuzz's C loop), so only
            # the few windows that score are aligned in Python.
            width, step = length * 3, length
            begins = range(0, max(len(text) - length, 0) + 1, step)
            windows = [text[begin:begin + width] for begin in begins]
            if not windows:
                continue
            scores = process.cdist([key for key, _ in keys], windows, scorer=fuzz.partial_ratio,
                                   score_cutoff=FUZZY_SCORE, workers=1)
            for row, (key, term) in enumerate(keys):
                for column in scores[row].nonzero()[0]:
                    begin = begins[int(column)]
                    aligned = fuzz.partial_ratio_alignment(key, windows[int(column)], score_cutoff=FUZZY_SCORE)
                    if aligned is None:
                        continue
                    start, end = begin + aligned.dest_start, begin + aligned.dest_end
                    span = _snap_to_words(compact.original, *compact.original_span(start, end))
                    if span is not None:
                        yield Match(*span, term, "fuzzy")


def _snap_to_words(original: str, start: int, end: int) -> tuple[int, int] | None:
    """Move a fuzzy match's ends to the nearest word boundaries.

    The alignment runs over the compact text, where words touch, so it can take the last letter of the word
    before ("get. Can the QR code" aligned from the "t" of "get" for "scan the qr code") or stop inside a
    word; the finding's time would then start at the wrong word. Each end goes to whichever boundary of the
    word it cuts is closer (a tie keeps the word); a match that shrinks to nothing is dropped."""
    if 0 < start < len(original) and _ascii_word_char(original[start - 1]) and _ascii_word_char(original[start]):
        first, past = _word_around(original, start)
        start = first if start - first <= past - start else past
    if 0 < end < len(original) and _ascii_word_char(original[end - 1]) and _ascii_word_char(original[end]):
        first, past = _word_around(original, end)
        end = past if past - end <= end - first else first
    while start < end and not original[start].isalnum():
        start += 1
    while end > start and not original[end - 1].isalnum():
        end -= 1
    return (start, end) if start < end else None


def _word_around(original: str, index: int) -> tuple[int, int]:
    """The ASCII word that has characters on both sides of ``index``, as ``[first, past)``."""
    first, past = index, index
    while first > 0 and _ascii_word_char(original[first - 1]):
        first -= 1
    while past < len(original) and _ascii_word_char(original[past]):
        past += 1
    return first, past


def _scan_near(heads: ahocorasick.Automaton, tails: ahocorasick.Automaton, transcript: Transcript) -> Iterator[Match]:
    """Long terms with exactly one syllable heard as another: a half found exactly, the whole one off."""
    codes = transcript.syllable_codes
    compact = transcript.compact
    for is_head, automaton in ((True, heads), (False, tails)):
        for last, (length, entries) in automaton.iter(codes):
            for key, term in entries:
                first = last - length + 1 if is_head else last + 1 - len(key)
                end = first + len(key)
                if first < 0 or end > len(codes) or not _one_syllable_off(key, codes[first:end]):
                    continue
                # Whole words and whole numbers at both ends, as for the other views (30，一年 is 30 and 1).
                if (first > 0 and _joined_word(compact, first - 1)) or (
                        end < len(codes) and _joined_word(compact, end - 1)):
                    continue
                yield Match(*compact.original_span(first, end), term, "near-pinyin")


def _one_syllable_off(key: str, heard: str) -> bool:
    """Whether ``heard`` is ``key`` with exactly one syllable another (not two; nothing else different), and
    not the last one: a term whose start is ordinary speech is everywhere with another last word (绝对不会亏
    as 绝对不会买, 绝对不会再: 24 times in 54 hours of reviews), while Whisper's slips measured so far were
    at the start or in the middle (说历物抽奖, 前往最低价, 扫屏幕上的奥威马)."""
    differ = [index for index, (a, b) in enumerate(zip(key, heard, strict=True)) if a != b]
    return (len(differ) == 1 and differ[0] < len(key) - 1 and _one_syllable(key, differ[0])
            and _one_syllable(heard, differ[0]))


def _one_syllable(codes: str, index: int) -> bool:
    """Whether character ``index`` is said as one syllable: a Chinese one, or a digit on its own (the 二 of
    二维码 is 2 in the compact text; a digit of 30 is not one syllable of 三十)."""
    if is_syllable_code(codes[index]):
        return True
    return codes[index].isdigit() and not any(0 <= near < len(codes) and codes[near].isdigit()
                                               for near in (index - 1, index + 1))


def _joined_word(view: NormalizedText, index: int) -> bool:
    """Whether compact characters ``index`` and ``index + 1`` are both Latin letters or both digits, and
    nothing stood between them in the original (punctuation and spaces are dropped from the compact view)."""
    a, b = view.text[index], view.text[index + 1]
    return (_ascii_word_char(a) and _ascii_word_char(b)) and a.isdigit() == b.isdigit() and _joined(view, index)


def _scan(automaton: ahocorasick.Automaton | None, view: NormalizedText, how: str) -> Iterator[Match]:
    if automaton is None:
        return
    original, text = view.original, view.text
    for last, (length, term) in automaton.iter(text):
        first = last - length + 1
        # A homophone starts on a syllable: "an'" is not in "ban'".
        if how.endswith("pinyin") and first > 0 and text[first - 1] != SYLLABLE_END and text[first - 1].isalpha():
            continue
        # A lemma or a word's code is matched whole: "kr" is not the end of "skr".
        if how in _WHOLE_WORDS and not _whole_words(view, first, last):
            continue
        # A number in a term is a whole number, also when it was said in Chinese numerals: 第1 (第一) is not
        # in 第11 (第十一), 30 is not in 300 (三百).
        # Digits are one number only where nothing stood between them in the original: 30，一年 is 30 and 1.
        if text[first].isdigit() and first > 0 and text[first - 1].isdigit() and _joined(view, first - 1):
            continue
        if text[last].isdigit() and last + 1 < len(text) and text[last + 1].isdigit() and _joined(view, last):
            continue
        start, end = view.original_span(first, last + 1)
        # A Latin term must be a whole word in the original text: "best" is not in "bestow".
        if _ascii_word_char(original[start]) and start > 0 and _ascii_word_char(original[start - 1]):
            continue
        if _ascii_word_char(original[end - 1]) and end < len(original) and _ascii_word_char(original[end]):
            continue
        yield Match(start, end, term, how)


_WHOLE_WORDS = frozenset({"lemma", "phonetic"})


def _whole_words(view: NormalizedText, first: int, last: int) -> bool:
    """Whether view characters ``[first, last]`` begin a word's piece and end one (each character of a word's
    lemma or code maps to the whole word)."""
    starts = view.starts
    return (first == 0 or starts[first - 1] != starts[first]) and (
        last + 1 >= len(starts) or starts[last + 1] != starts[last])


def _joined(view: NormalizedText, index: int) -> bool:
    """Whether characters ``index`` and ``index + 1`` of a view touch in the original (or share it)."""
    return view.starts[index + 1] <= view.ends[index]


def _drop_nested(matches: list[Match]) -> list[Match]:
    """Keep the longest of overlapping matches (全网最低价 rather than 最低价 inside it)."""
    kept: list[Match] = []
    for match in sorted(matches, key=lambda m: (m.start, -(m.end - m.start))):
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept
