"""Text normalization for matching, with a map from every normalized character back to the original text.

Evasion and ASR noise both show up as spelling: full-width letters (ｖｘ), circled digits, Traditional
characters (Whisper often writes them for Mandarin), Chinese numerals, noise characters inside a term
(加*我*微*信), stretched characters (好好好好). Terms and transcripts go through the same steps, so a term
matches however it was written; the offset map lets a finding highlight the words as they were spoken.

Two views:

* ``compact`` — NFKC, case folding, Traditional → Simplified, Chinese numerals → digits, whitespace,
  punctuation, symbols and zero-width characters dropped, runs of one repeated Chinese character
  collapsed. Lexicon terms match here.
* ``light`` — the same without dropping or collapsing anything but zero-width characters, for regular
  expressions (URLs, e-mail addresses and phone numbers keep their punctuation).

``pinyin_view`` turns a compact text into toneless pinyin syllables (each closed by ``'``), so homophones
(菠菜 = 博彩, 薇信 = 微信) match; ``initials`` gives a term's pinyin first letters (政府 → ``zf``).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Literal

from livewatch.chinese import to_simplified

View = Literal["compact", "light"]

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_NUMERAL_RUN = re.compile(f"[{''.join(_DIGITS)}{''.join(_UNITS)}]+")
SYLLABLE_END = "'"


def is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


@dataclass(frozen=True)
class NormalizedText:
    """``text`` and, for each of its characters, the ``[starts[i], ends[i])`` span of the original it came
    from (two integer lists rather than a tuple per character: a 10-hour transcript has hundreds of
    thousands of characters)."""

    original: str
    text: str
    starts: list[int]
    ends: list[int]

    @cached_property
    def spans(self) -> tuple[tuple[int, int], ...]:
        return tuple(zip(self.starts, self.ends, strict=True))

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``[start, end)`` covering normalized characters ``[start, end)``."""
        if not self.starts or end <= start:
            return (0, 0)
        return self.starts[start], self.ends[end - 1]

    def text_within(self, start: int, end: int) -> str:
        """The normalized characters that come from original characters ``[start, end)``."""
        first = bisect.bisect_left(self.starts, start)
        last = first
        while last < len(self.ends) and self.ends[last] <= end:
            last += 1
        return self.text[first:last]


def _numeral_value(run: str) -> str | None:
    """Digits for a run of Chinese numerals, or None when the run is not one well-formed number."""
    if not any(ch in _UNITS for ch in run):
        return "".join(str(_DIGITS[ch]) for ch in run)
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in _DIGITS:
            if digit is not None and digit != 0:
                return None  # 二三十 is not a number
            digit = _DIGITS[ch]
        elif ch == "万":
            if digit is None and section == 0:
                return None
            total += (section + (digit or 0)) * 10_000
            section, digit = 0, None
        else:
            unit = _UNITS[ch]
            if digit is None:
                if section != 0 or total != 0 or unit != 10:
                    return None
                digit = 1  # 十五 = 15
            section += digit * unit
            digit = None
    return str(total + section + (digit or 0))


@cache
def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@cache
def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _fold(original: str) -> tuple[str, list[int], list[int]]:
    """NFKC + case folding + Traditional → Simplified, one original character (with the combining marks
    after it, so e + U+0301 composes to é as it does in NFKC of the whole text) at a time."""
    distinct = set(original)
    if not any(_is_mark(ch) or len(_folded(ch)) != 1 for ch in distinct):
        # The usual case, and the fast one: every character folds to exactly one, so the map is the
        # identity and str.translate does the rest.
        changed = {ord(ch): _folded(ch) for ch in distinct if _folded(ch) != ch}
        folded = original.translate(changed) if changed else original
        starts = list(range(len(original)))
        ends = list(range(1, len(original) + 1))
    else:
        pieces: list[str] = []
        starts, ends = [], []
        index = 0
        while index < len(original):
            end = index + 1
            while end < len(original) and _is_mark(original[end]):
                end += 1
            out = _folded(original[index:end])
            pieces.append(out)
            starts.extend([index] * len(out))
            ends.extend([end] * len(out))
            index = end
        folded = "".join(pieces)
    simplified = to_simplified(folded)
    if len(simplified) != len(folded):  # a phrase conversion changed the length: go character by character
        simplified = "".join(to_simplified(ch) if len(to_simplified(ch)) == 1 else ch for ch in folded)
    return simplified, starts, ends


def _numerals(text: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]]:
    if not _NUMERAL_RUN.search(text):
        return text, starts, ends
    pieces: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    position = 0
    for match in _NUMERAL_RUN.finditer(text):
        pieces.append(text[position:match.start()])
        out_starts.extend(starts[position:match.start()])
        out_ends.extend(ends[position:match.start()])
        run = match.group()
        value = _numeral_value(run)
        # Every character of a run maps to the whole run: a part of a malformed run reads differently on its
        # own (三 十 of 二三十 is "3十" here but 30 alone), so only the whole run is evidence for it.
        if value is None:  # leave the units alone, turn the digits into digits
            value = "".join(str(_DIGITS[ch]) if ch in _DIGITS else ch for ch in run)
        pieces.append(value)
        out_starts.extend([starts[match.start()]] * len(value))
        out_ends.extend([ends[match.end() - 1]] * len(value))
        position = match.end()
    pieces.append(text[position:])
    out_starts.extend(starts[position:])
    out_ends.extend(ends[position:])
    return "".join(pieces), out_starts, out_ends


@cache
def _is_noise(char: str) -> bool:
    return unicodedata.category(char)[0] in "PSZC"  # punctuation, symbols (emoji), separators, controls


@cache
def _is_format(char: str) -> bool:
    return unicodedata.category(char) == "Cf"  # zero-width joiners, direction marks


def normalize(original: str, view: View = "compact") -> NormalizedText:
    text, starts, ends = _numerals(*_fold(original))
    distinct = set(text)
    drop = {ch for ch in distinct if _is_format(ch)} if view == "light" else {ch for ch in distinct if _is_noise(ch)}
    if view == "light" and not drop:
        return NormalizedText(original, text, starts, ends)
    kept: list[str] = []
    kept_starts: list[int] = []
    kept_ends: list[int] = []
    last = ""
    for char, start, end in zip(text, starts, ends, strict=True):
        if char in drop:
            continue
        if char == last and view == "compact" and is_cjk(char):
            # 好好好 → 好: a stretched Chinese character, however often. Latin letters stay doubled ("add" is
            # not "ad") and digits always do (phone numbers).
            kept_ends[-1] = end
            continue
        kept.append(char)
        kept_starts.append(start)
        kept_ends.append(end)
        last = char
    return NormalizedText(original, "".join(kept), kept_starts, kept_ends)


@lru_cache(maxsize=65536)
def normalize_term(term: str, view: View = "compact") -> str:
    return normalize(term, view).text


@lru_cache(maxsize=8192)
def _syllable(char: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return str(lazy_pinyin(char, style=Style.NORMAL)[0])


def pinyin_view(compact: NormalizedText) -> NormalizedText:
    """Each Chinese character of a compact text as its toneless syllable plus ``'``; the rest as it is."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for char, start, end in zip(compact.text, compact.starts, compact.ends, strict=True):
        piece = _syllable(char) + SYLLABLE_END if is_cjk(char) else char
        pieces.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))
    return NormalizedText(compact.original, "".join(pieces), starts, ends)


def pinyin_of_term(term: str) -> str:
    return pinyin_view(normalize(term)).text


def initials(term: str) -> str:
    """Pinyin first letters of an all-Chinese term (政府 → zf); empty for anything else."""
    text = normalize_term(term)
    if not text or not all(is_cjk(ch) for ch in text):
        return ""
    return "".join(_syllable(ch)[0] for ch in text)
