"""Negation scope: 我们不能保证稳赚不赔 is a disclaimer, 我们保证稳赚不赔 a promise.

A match is negated when a negation word stands before it in the same clause, close enough to govern it. The
clause ends at punctuation, at the end of an utterance and at a space between Chinese characters (Whisper
often marks a pause in Mandarin with a space instead of a comma), so in 不是我吹，这个保本保息 the 不是
does not reach the promise. Only words that deny or disclaim count: 不管 (no matter), 不用 (no need), 不仅
(not only) and bare 不 (inside 不赔, 不会亏 it is the promise itself) do not.
"""

from __future__ import annotations

import bisect
import re

from livewatch.rules.normalize import NormalizedText, is_cjk

#: Chinese negation words, longest first so 从来没有 wins over 没有.
_ZH_NEGATIONS = sorted({
    "不能", "不会", "不是", "不可能", "不敢", "不保证", "不承诺", "不代表", "不存在", "不要相信", "别相信", "别信",
    "没有", "没说", "没人能", "并非", "并不", "绝不", "绝对不", "决不", "无法", "从不", "从未", "从来不", "从来没有",
    "谈不上",
    "不等于", "杜绝", "严禁", "禁止", "拒绝", "警惕", "谨防", "小心", "所谓",
}, key=len, reverse=True)
_EN_NEGATIONS = ("no", "not", "never", "cannot", "can't", "cant", "don't", "dont", "doesn't", "won't", "isn't",
                 "aren't", "nobody", "nothing", "beware", "avoid")
_ZH = re.compile("|".join(map(re.escape, _ZH_NEGATIONS)))
_EN = re.compile(r"\b(?:" + "|".join(map(re.escape, _EN_NEGATIONS)) + r")\b", re.IGNORECASE)
#: Characters that close a clause.
_CLAUSE_END = set("，。！？；：、,.!?;:\n…—()（）「」“”\"")
#: How far back a negation governs: Chinese characters between it and the match (不能保证 + 稳赚不赔 is 2,
#: 从来没有承诺过任何 + 保本 is 5), and English words.
ZH_SCOPE = 8
EN_SCOPE_WORDS = 5


def clause_before(text: str, start: int) -> str:
    """The part of ``text``'s clause that comes before ``start``."""
    position = start
    while position > 0:
        char = text[position - 1]
        if char in _CLAUSE_END:
            break
        if char.isspace() and position - 2 >= 0 and is_cjk(text[position - 2]) and (
                position >= len(text) or is_cjk(text[position]) or text[position].isspace()):
            break  # a pause between Chinese words
        position -= 1
    return text[position:start]


def negated(light: NormalizedText, start: int) -> bool:
    """Whether the match starting at original character ``start`` is inside a preceding negation's scope,
    judged on the light view (Simplified, numerals as digits, punctuation kept: 無法 is 无法)."""
    clause = clause_before(light.text, bisect.bisect_left(light.starts, start))
    if not clause.strip():
        return False
    zh = list(_ZH.finditer(clause))
    if zh:
        between = clause[zh[-1].end():]
        if sum(is_cjk(ch) or ch.isalnum() for ch in between) <= ZH_SCOPE:
            return True
    en = list(_EN.finditer(clause))
    return bool(en) and len(clause[en[-1].end():].split()) <= EN_SCOPE_WORDS
