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
from functools import cached_property, lru_cache
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
    """``text`` and, for each of its characters, the ``[start, end)`` span of the original it came from."""

    original: str
    text: str
    spans: tuple[tuple[int, int], ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``[start, end)`` covering normalized characters ``[start, end)``."""
        if not self.spans or end <= start:
            return (0, 0)
        return self.spans[start][0], self.spans[end - 1][1]

    @cached_property
    def _starts(self) -> list[int]:
        return [span[0] for span in self.spans]

    def text_within(self, start: int, end: int) -> str:
        """The normalized characters that come from original characters ``[start, end)``."""
        first = bisect.bisect_left(self._starts, start)
        last = first
        while last < len(self.spans) and self.spans[last][1] <= end:
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


def _fold(original: str) -> tuple[list[str], list[tuple[int, int]]]:
    """NFKC + case folding + Traditional → Simplified, one original character (with the combining marks
    after it, so e + U+0301 composes to é as it does in NFKC of the whole text) at a time."""
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(original):
        end = index + 1
        while end < len(original) and unicodedata.category(original[end])[0] == "M":
            end += 1
        for out in unicodedata.normalize("NFKC", original[index:end]).casefold():
            chars.append(out)
            spans.append((index, end))
        index = end
    joined = "".join(chars)
    simplified = to_simplified(joined)
    if len(simplified) == len(joined):
        chars = list(simplified)
    else:  # a phrase conversion changed the length: convert character by character to keep the map
        chars = [to_simplified(ch) if len(to_simplified(ch)) == 1 else ch for ch in chars]
    return chars, spans


def _numerals(chars: list[str], spans: list[tuple[int, int]]) -> tuple[list[str], list[tuple[int, int]]]:
    text = "".join(chars)
    out_chars: list[str] = []
    out_spans: list[tuple[int, int]] = []
    position = 0
    for match in _NUMERAL_RUN.finditer(text):
        out_chars.extend(chars[position:match.start()])
        out_spans.extend(spans[position:match.start()])
        run = match.group()
        value = _numeral_value(run)
        # Every character of a run maps to the whole run: a part of a malformed run reads differently on its
        # own (三 十 of 二三十 is "3十" here but 30 alone), so only the whole run is evidence for it.
        whole = (spans[match.start()][0], spans[match.end() - 1][1])
        if value is None:  # leave the units alone, turn the digits into digits
            out_chars.extend(str(_DIGITS[ch]) if ch in _DIGITS else ch for ch in run)
            out_spans.extend([whole] * len(run))
        else:
            out_chars.extend(value)
            out_spans.extend([whole] * len(value))
        position = match.end()
    out_chars.extend(chars[position:])
    out_spans.extend(spans[position:])
    return out_chars, out_spans


def _is_noise(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "PSZC"  # punctuation, symbols (emoji too), separators, controls and zero-width


def normalize(original: str, view: View = "compact") -> NormalizedText:
    chars, spans = _numerals(*_fold(original))
    kept_chars: list[str] = []
    kept_spans: list[tuple[int, int]] = []
    for char, span in zip(chars, spans, strict=True):
        if view == "light":
            if unicodedata.category(char) == "Cf":
                continue
        elif _is_noise(char):
            continue
        elif kept_chars and kept_chars[-1] == char and is_cjk(char):
            # 好好好 → 好: a stretched Chinese character, however often. Latin letters stay doubled ("add" is
            # not "ad") and digits always do (phone numbers).
            kept_spans[-1] = (kept_spans[-1][0], span[1])
            continue
        kept_chars.append(char)
        kept_spans.append(span)
    return NormalizedText(original, "".join(kept_chars), tuple(kept_spans))


@lru_cache(maxsize=65536)
def normalize_term(term: str, view: View = "compact") -> str:
    return normalize(term, view).text


@lru_cache(maxsize=8192)
def _syllable(char: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return str(lazy_pinyin(char, style=Style.NORMAL)[0])


def pinyin_view(compact: NormalizedText) -> NormalizedText:
    """Each Chinese character of a compact text as its toneless syllable plus ``'``; the rest as it is."""
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    for char, span in zip(compact.text, compact.spans, strict=True):
        piece = _syllable(char) + SYLLABLE_END if is_cjk(char) else char
        chars.extend(piece)
        spans.extend([span] * len(piece))
    return NormalizedText(compact.original, "".join(chars), tuple(spans))


def pinyin_of_term(term: str) -> str:
    return pinyin_view(normalize(term)).text


def initials(term: str) -> str:
    """Pinyin first letters of an all-Chinese term (政府 → zf); empty for anything else."""
    text = normalize_term(term)
    if not text or not all(is_cjk(ch) for ch in text):
        return ""
    return "".join(_syllable(ch)[0] for ch in text)
