"""Text normalization for matching, with a map from every normalized character back to the original text.

Evasion and ASR noise both show up as spelling: full-width letters (ｖｘ), circled digits, Traditional
characters (Whisper often writes them for Mandarin), Chinese numerals, noise characters inside a term
(加*我*微*信), stretched characters (好好好好). Terms and transcripts go through the same steps, so a term
matches however it was written; the offset map lets a finding highlight the words as they were spoken.

Two views:

* ``compact`` — NFKC, case folding, Traditional → Simplified, spoken numbers → digits (Chinese numerals,
  English digit words read out as a number: :mod:`livewatch.rules.numbers`), whitespace,
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
from itertools import compress
from typing import Literal

from livewatch.chinese import to_simplified
from livewatch.rules.numbers import spoken_numbers

View = Literal["compact", "light"]

#: Runs of a repeated Chinese character at least this long are a stretch (好好好), not a word (往往, 扣扣).
STRETCH = 3
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


@cache
def _is_noise(char: str) -> bool:
    return unicodedata.category(char)[0] in "PSZC"  # punctuation, symbols (emoji), separators, controls


@cache
def _is_format(char: str) -> bool:
    return unicodedata.category(char) == "Cf"  # zero-width joiners, direction marks


@lru_cache(maxsize=2)
def _numbered(original: str) -> tuple[str, list[int], list[int]]:
    """Steps 1–3, shared by both views of one text (the monitor asks for both of each transcript, one after
    the other; two entries, because a 10-hour transcript's offset lists are tens of megabytes)."""
    return spoken_numbers(*_fold(original))


_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def normalize(original: str, view: View = "compact", *, collapse: bool = True) -> NormalizedText:
    """The ``view`` of ``original``; ``collapse`` shortens stretched Chinese characters in the compact view
    (a transcript's, never a term's: 扣扣 is a word, and 扣 alone is in 口红 and 折扣)."""
    text, starts, ends = _numbered(original)
    distinct = set(text)
    drop = {ch for ch in distinct if _is_format(ch)} if view == "light" else {ch for ch in distinct if _is_noise(ch)}
    if view == "light" and not drop:
        return NormalizedText(original, text, list(starts), list(ends))
    keep = [ch not in drop for ch in text]
    if "." in drop:  # a full stop between digits is a decimal point (35.5 is not 355)
        for point in _DECIMAL_POINT.finditer(text):
            keep[point.start()] = True
    kept = NormalizedText(original, "".join(compress(text, keep)), list(compress(starts, keep)),
                          list(compress(ends, keep)))
    return _collapsed(kept) if view == "compact" and collapse else kept


_STRETCHED = re.compile(f"([\u3400-\u4dbf\u4e00-\u9fff])\\1{{{STRETCH - 1},}}")


def _collapsed(compact: NormalizedText) -> NormalizedText:
    """好好好 → 好: a Chinese character said STRETCH or more times in a row is one, stretched. Doubled
    characters stay (往往, 谢谢, 扣扣 are words), as do Latin letters ("add" is not "ad") and digits."""
    text = compact.text
    if not _STRETCHED.search(text):
        return compact
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for match in _STRETCHED.finditer(text):
        first, last = match.span()
        pieces.append(text[position:first + 1])
        starts.extend(compact.starts[position:first + 1])
        ends.extend(compact.ends[position:first])
        ends.append(compact.ends[last - 1])
        position = last
    pieces.append(text[position:])
    starts.extend(compact.starts[position:])
    ends.extend(compact.ends[position:])
    return NormalizedText(compact.original, "".join(pieces), starts, ends)


@lru_cache(maxsize=65536)
def normalize_term(term: str, view: View = "compact") -> str:
    """A term's text in ``view``: never collapsed (a term means what it says, repeats included)."""
    return normalize(term, view, collapse=False).text


@lru_cache(maxsize=8192)
def _syllable(char: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return str(lazy_pinyin(char, style=Style.NORMAL)[0])


#: Sounds that Mandarin speakers and Whisper confuse: flat and retroflex initials (z/zh, c/ch, s/sh), n/l,
#: and front and back nasal finals (-n/-ng). The loose view folds each pair to one.
_LOOSE_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_LOOSE_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))


@lru_cache(maxsize=8192)
def loose_syllable(syllable: str) -> str:
    """A toneless syllable with the commonly confused sounds folded: zhuan → zuan, neng → len."""
    for long, short in _LOOSE_INITIALS:
        if syllable.startswith(long):
            syllable = short + syllable[len(long):]
            break
    for long, short in _LOOSE_FINALS:
        if syllable.endswith(long):
            return syllable[:-len(long)] + short
    return syllable


def pinyin_view(compact: NormalizedText, *, loose: bool = False) -> NormalizedText:
    """Each Chinese character of a compact text as its toneless syllable plus ``'`` (folded by
    :func:`loose_syllable` when ``loose``); the rest as it is."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for char, start, end in zip(compact.text, compact.starts, compact.ends, strict=True):
        syllable = _syllable(char) if is_cjk(char) else ""
        piece = (loose_syllable(syllable) if loose else syllable) + SYLLABLE_END if syllable else char
        pieces.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))
    return NormalizedText(compact.original, "".join(pieces), starts, ends)


def pinyin_of_term(term: str, *, loose: bool = False) -> str:
    return pinyin_view(normalize(term, collapse=False), loose=loose).text


#: A number written in digits, with its decimals and a percent sign: said as Chinese syllables.
_WRITTEN_NUMBER = re.compile(r"(\d+)(?:\.(\d+))?(%|％)?")


def syllables(term: str) -> int:
    """How many syllables a term has when said in Chinese: its Chinese characters (numerals included: 张三丰
    has three) and its numbers written in digits as they are read out (30% is 百分之三十, five), so a term
    is as long however its number was written (年化收益30% and 年化收益百分之三十 both have nine)."""
    said = sum(is_cjk(ch) for ch in term)
    for number in _WRITTEN_NUMBER.finditer(term):
        whole, decimals, percent = number.groups()
        said += _integer_syllables(whole) + (1 + len(decimals) if decimals else 0) + (3 if percent else 0)
    return said


def _integer_syllables(digits: str) -> int:
    """Syllables of a whole number read in Chinese: a digit and its unit (十, 百, 千) for each non-zero
    digit, 零 once for a run of zeros inside, 万/亿 after a non-empty group; 10-19 drop their 一 (十五)."""
    digits = digits.lstrip("0")
    if not digits:
        return 1
    said = 0
    groups = [digits[max(end - 4, 0):end] for end in range(len(digits), 0, -4)][::-1]
    for index, group in enumerate(groups):
        spoken = group.lstrip("0") if index == 0 else group
        zero_run = False
        for place, digit in enumerate(spoken):
            unit = len(spoken) - place - 1
            if digit == "0":
                zero_run = True
                continue
            said += (1 if zero_run and said else 0) + 1 + (1 if unit else 0)
            zero_run = False
        if spoken.strip("0"):
            said += 1 if index < len(groups) - 1 else 0
    if len(digits) == 2 and digits[0] == "1":
        said -= 1  # 十五, not 一十五
    return said


def initials(term: str) -> str:
    """Pinyin first letters of an all-Chinese term (政府 → zf); empty for anything else."""
    text = normalize_term(term)
    if not text or not all(is_cjk(ch) for ch in text):
        return ""
    return "".join(_syllable(ch)[0] for ch in text)


#: Syllable codes: each toneless syllable as one private-use character (plane 15), so a text of syllables is
#: a string with one character per syllable and near matches compare syllables, not letters.
_SYLLABLE_CODE_BASE = 0xF0000
_SYLLABLE_CODES: dict[str, str] = {}


def is_syllable_code(char: str) -> bool:
    return ord(char) >= _SYLLABLE_CODE_BASE


@lru_cache(maxsize=16384)
def _syllable_code(char: str) -> str:
    if not is_cjk(char):
        return char
    syllable = _syllable(char)
    return _SYLLABLE_CODES.setdefault(syllable, chr(_SYLLABLE_CODE_BASE + len(_SYLLABLE_CODES)))


def syllable_codes(compact_text: str) -> str:
    """A compact text with each Chinese character as its syllable's code and the rest as it is: one
    character for one, so positions are the compact text's (菜 and 彩 are the same code)."""
    return compact_text.translate({ord(ch): _syllable_code(ch) for ch in set(compact_text) if is_cjk(ch)})
