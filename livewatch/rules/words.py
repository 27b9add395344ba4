"""Chinese word boundaries from a real segmenter, so a term never matches across two words.

Chinese is written without spaces, so a lexicon term is found inside longer text by its characters alone:
下单 inside 以下单位 (以下 + 单位), 加群 inside 增加群众, 断根 inside 判断根本, 包赚 inside 面包赚钱. A match
counts only where no word that jieba finds (with the pack's terms in its dictionary, so a term is one word
where it can be one) runs across either end of it.

The segmenter is livewatch's own ``jieba.Tokenizer`` (terms added to it never change how other users of
jieba in the process segment), built on first use, and shared: terms are added once, under a lock. Only
the sentence around a match is segmented, not the transcript: matches are few, transcripts are long.
HMM new-word discovery is off, so characters jieba does not know (a misheard homophone, 寶本寶西) stay
single characters, each one its own boundary, and a mishearing is never glued to its neighbours.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from livewatch.rules.normalize import NormalizedText, is_cjk, normalize_term

if TYPE_CHECKING:
    import jieba

#: How many characters on each side of a match are segmented with it: enough for jieba to see the words
#: that touch the match (dictionary words are rarely longer than 6).
CONTEXT = 10

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_known: set[str] = set()


def _segmenter() -> jieba.Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # it announces loading its dictionary on stderr
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        _tokenizer = tokenizer
    return _tokenizer


def add_terms(terms: Iterable[str]) -> None:
    """Put the Chinese terms (as normalized text, so Traditional and numerals match) in the dictionary."""
    keys = {key for key in (normalize_term(term, "light") for term in terms) if sum(map(is_cjk, key)) >= 2}
    with _lock:
        new = keys - _known
        if not new:
            return
        tokenizer = _segmenter()
        for key in sorted(new):
            # The lowest frequency at which jieba keeps the term whole when it stands alone: a term is one
            # word where it can be, but no stronger than the words around it (以下单位 stays 以下 + 单位).
            tokenizer.suggest_freq(key, tune=True)
        _known.update(new)


def _words(text: str) -> list[tuple[int, int]]:
    """The ``[start, end)`` of each word jieba finds in ``text``."""
    with _lock:
        words = list(_segmenter().cut(text, HMM=False))
    spans = []
    position = 0
    for word in words:
        spans.append((position, position + len(word)))
        position += len(word)
    return spans


def on_word_boundaries(light: NormalizedText, start: int, end: int) -> bool:
    """Whether original characters ``[start, end)`` are whole words: no word of the sentence runs across
    either end (以下 across the start of 下单 in 以下单位). A word that holds the whole match is no objection:
    玩博彩 holds 博彩, and which of two matching terms stands is the matcher's choice, not the segmenter's."""
    first = bisect.bisect_left(light.starts, start)
    past = bisect.bisect_left(light.starts, end, lo=first)
    text = light.text
    if first >= len(text) or past <= first:
        return True
    check_start = first > 0 and is_cjk(text[first - 1]) and is_cjk(text[first])
    check_end = past < len(text) and is_cjk(text[past - 1]) and is_cjk(text[past])
    if not (check_start or check_end):
        return True
    begin = first
    while begin > 0 and first - begin < CONTEXT and is_cjk(text[begin - 1]):
        begin -= 1
    finish = past
    while finish < len(text) and finish - past < CONTEXT and is_cjk(text[finish]):
        finish += 1
    low, high = first - begin, past - begin
    for a, b in _words(text[begin:finish]):
        if check_start and a < low < b < high:
            return False
        if check_end and low < a < high < b:
            return False
    return True
