"""Negation scope: 我们不能保证稳赚不赔 is a disclaimer, 我们保证稳赚不赔 a promise.

A match is negated when a negation word stands before it in the same clause, close enough to govern it. The
clause ends at punctuation, at the end of an utterance and at a space between Chinese characters (Whisper
often marks a pause in Mandarin with a space instead of a comma), so in 不是我吹，这个保本保息 the 不是
does not reach the promise. Only words that deny or disclaim count: 不管 (no matter), 不用 (no need), 不仅
(not only) and bare 不 (inside 不赔, 不会亏 it is the promise itself) do not — except right before the match
(不荐股, 没包赚), where it can only be about the match. A negation word may also run into the match: in
不保证收益 the 不保证 holds the first characters of the term 保证收益.

A warning is a disclaimer too: the match said as what fraudsters say (骗子冒充主播让人加微信) or called a scam
in the same clause (说保本保息的都是骗人的, 刷单兼职都是诈骗, 冲榜这种事我们不做, "guaranteed returns are a
scam"). The warning
must be in the match's own clause and not itself denied (加我微信我们不是骗子 is still an invitation); a
comma ends it (加我微信，谨防骗子 is an invitation and a warning).

A negation governs only what it negates. One whose object is a loss or a burden is the promise, not a
disclaimer (不会亏, 不会复发, 无需吃药, 不用节食, "you won't lose", "never get sick", "no side effects"): it
governs nothing after it, while a negation before it still does (不能保证不会亏 denies the guarantee). And a
negation inside a phrase that names the listeners (没有加团的宝宝, 还没关注的家人们, 不懂的朋友) ends with
that phrase: in 没有加团的宝宝加个粉丝团 the appeal that follows is not negated.
"""

from __future__ import annotations

import bisect
import re

from livewatch.rules.normalize import NormalizedText, is_cjk

#: Chinese negation words, longest first so 从来没有 wins over 没有.
_ZH_NEGATIONS = sorted({
    "不能", "不会", "不是", "不可能", "不敢", "不保证", "不承诺", "不代表", "不存在", "不要相信", "别相信", "别信",
    "没有", "没说", "没人能", "并非", "并不", "绝不", "绝对不", "决不", "无法", "从不", "从未", "从来不", "从来没有",
    "谈不上", "不再", "不荐", "不提供", "不做", "不搞", "不需要", "不必", "无需", "远离", "不要",
    "不等于", "杜绝", "严禁", "禁止", "拒绝", "警惕", "谨防", "小心", "所谓", "提防", "防范", "骗子", "冒充", "诈骗",
}, key=len, reverse=True)
#: Words after a match, in its clause, that call it a fraud or a lie.
_ZH_WARNINGS = ("骗人", "骗子", "诈骗", "骗局", "上当", "警惕", "违法", "违规", "谣言", "假的", "别信", "不要信",
                "不可信", "当心", "套路", "陷阱", "不做", "不搞", "不提倡", "不允许", "不可取", "不能信")
_EN_WARNINGS = ("scam", "scams", "scammer", "scammers", "fraud", "frauds", "a lie", "lies", "fake", "illegal",
                "a trap")
#: Denials that undo a warning after the match: 我们不是骗子.
_DENIED_WARNING = ("不是", "并非", "不", "没", "没有", "not", "no", "isn't", "aren't", "never")
#: Bare negations that govern a match only when they touch it.
_ADJACENT = set("不没别")
_EN_NEGATIONS = ("no", "not", "never", "cannot", "can't", "cant", "don't", "dont", "doesn't", "won't", "isn't",
                 "aren't", "nobody", "nothing", "beware", "avoid")
#: Negation words that are something else before these: 小心心 is a Douyin gift ("little hearts"); 不要错过,
#: 不要犹豫 and 不要等 urge the viewer on (不要错过这个稳赚不赔的机会 is a promise).
_NOT_FOLLOWED_BY = {"小心": "心", "不要": "错过|犹豫|等|担心|怕|客气|着急|走开|忘|眨眼|再等|纠结"}
_ZH = re.compile("|".join(re.escape(word) + (f"(?!{_NOT_FOLLOWED_BY[word]})" if word in _NOT_FOLLOWED_BY else "")
                          for word in _ZH_NEGATIONS))
_WARNING = re.compile("|".join(map(re.escape, _ZH_WARNINGS)) + r"|\b(?:" + "|".join(map(re.escape, _EN_WARNINGS))
                      + r")\b", re.IGNORECASE)
_EN = re.compile(r"\b(?:" + "|".join(map(re.escape, _EN_NEGATIONS)) + r")\b", re.IGNORECASE)
#: What a negation may deny and still make a promise: a loss, a risk, a relapse, a burden the product spares
#: (不会亏, 没有风险, 不会复发, 无需吃药, 不用节食, 不会流鼻血).
_ZH_LOSSES = ("亏", "赔", "风险", "损失", "副作用", "复发", "反弹", "输", "失败", "赚不到", "吃药", "打针", "手术",
              "化疗", "节食", "运动", "生病", "过敏", "疼", "痛", "流鼻血", "套牢", "爆仓", "跌", "回撤")
_EN_LOSSES = frozenset({"lose", "losing", "lost", "loss", "losses", "risk", "risks", "risky", "fail", "fails",
                        "side", "relapse", "downside", "worry", "diet", "dieting", "exercise", "surgery", "pills",
                        "meds", "medication", "medicine", "sick", "ill", "pain", "crash", "drop", "down"})
#: The negations that can promise (不会亏); 不能, 不要, 别, 严禁 or "avoid" before a loss forbid or warn.
_PROMISING = ("不会", "无需", "不需要", "不必", "没有", "不再", "绝不", "绝对不", "决不", "从不", "从来不", "不可能",
              "并不", "不存在", "不用", "不", "没", "无", "no", "never", "won't", "can't", "cannot", "cant", "not",
              "don't", "dont", "doesn't", "nothing")
#: How far after a negation its object is looked for, up to the next negation.
_ZH_OBJECT_CHARS = 6
_EN_OBJECT_WORDS = 4
_ZH_NEGATOR = re.compile(r"[不没无别非未]")
_EN_WORD = re.compile(r"[A-Za-z0-9']+")
#: The end of a phrase naming the listeners, which a negation inside it does not reach past: 没有加团的宝宝.
_LISTENERS = re.compile(r"的(?:宝宝|宝子|宝贝|家人|朋友|新朋友|兄弟|姐妹|小伙伴|伙伴|粉丝|人|同学|哥哥|姐姐|老铁|观众|"
                        r"亲|小可爱|友友|大哥|铁子|话)们?")
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


def clause_after(text: str, end: int) -> str:
    """The part of ``text``'s clause that comes after ``end``."""
    position = end
    while position < len(text):
        char = text[position]
        if char in _CLAUSE_END:
            break
        if char.isspace() and position > 0 and is_cjk(text[position - 1]) and (
                position + 1 >= len(text) or is_cjk(text[position + 1])):
            break
        position += 1
    return text[end:position]


def negated(light: NormalizedText, start: int, *, touching: bool = True) -> bool:
    """Whether the match starting at original character ``start`` is inside a preceding negation's scope,
    judged on the light view (Simplified, numerals as digits, punctuation kept: 無法 is 无法). ``touching``:
    also a bare 不/没/别 right before it and a negation word running into it (for a match, which begins a
    term; not for any character of a sentence)."""
    index = bisect.bisect_left(light.starts, start)
    text = light.text
    if touching and index > 0 and text[index - 1] in _ADJACENT and not promises(text, index):
        return True
    # A negation word that runs into the match: 不保证 + 收益.
    if touching and any(m.start() < index < m.end() for m in _ZH.finditer(text, max(0, index - 4), index + 4)):
        return True
    clause = clause_before(text, index)
    listeners = list(_LISTENERS.finditer(clause))
    if listeners:
        clause = clause[listeners[-1].end():]
    if not clause.strip():
        return False
    zh = [m for m in _ZH.finditer(clause) if not promises(text, index - len(clause) + m.end())]
    if zh:
        between = clause[zh[-1].end():]
        if sum(is_cjk(ch) or ch.isalnum() for ch in between) <= ZH_SCOPE:
            return True
    en = [m for m in _EN.finditer(clause) if not promises(text, index - len(clause) + m.end())]
    return bool(en) and len(clause[en[-1].end():].split()) <= EN_SCOPE_WORDS


def promises(text: str, past: int) -> bool:
    """Whether the negation that ends at ``past`` in ``text`` says a loss or a burden will not come (不会亏,
    无需吃药, "won't lose"): then it is the promise itself and governs nothing. Prohibitions and warnings
    (不能随便停药, 不要吃药, 严禁, "avoid") are never promises."""
    before = text[max(0, past - 8):past].casefold()
    if not any(before.endswith(word) for word in _PROMISING):
        return False
    after = text[past:past + 24]
    if is_cjk(after[:1]):
        chars = "".join(ch for ch in after if is_cjk(ch))
        stop = _ZH_NEGATOR.search(chars)
        window = chars[:min(_ZH_OBJECT_CHARS, stop.start() if stop else len(chars))]
        return any(loss in window for loss in _ZH_LOSSES)
    for word in (w.lower() for w in _EN_WORD.findall(after)[:_EN_OBJECT_WORDS]):
        if word in _EN_LOSSES:
            return True
        if _EN.fullmatch(word):
            return False
    return False


def warned(light: NormalizedText, start: int, end: int) -> bool:
    """Whether the match at original characters ``[start, end)`` is called a fraud, a lie or a trap later in
    its own clause, by a warning that is not itself denied."""
    past = bisect.bisect_left(light.starts, end)
    after = clause_after(light.text, past)[:16]
    for found in _WARNING.finditer(after):
        before = after[max(0, found.start() - 4):found.start()].rstrip().casefold()
        if not any(before.endswith(word) for word in _DENIED_WARNING):
            return True
    return False
