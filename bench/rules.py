"""Lexicon matching speed: a 10,000-term lexicon over a 10-hour transcript, side by side in one run.

    .venv/bin/python bench/rules.py [--terms N] [--hours H] [--repeat N] [--seed S] [--planted N] [--profile N]

Compares the livewatch rule engine (one ``lexicon`` rule holding every term, in a pack built in memory,
evaluated by ``RuleEngine([pack]).evaluate(RuleInput(facts, {0: transcript}))``) with the straightforward
alternative: ``re.compile("|".join(re.escape(term) ...))`` of the same terms, longest first, and
``finditer`` over each utterance's lowercased text. The engine's time is the full evaluation, normalization
of the transcript included (every timed run gets a new ``Transcript``, whose normalized views are cached per
object); building the Aho–Corasick automaton and compiling the regular expression are one-off costs,
reported on their own lines and left out of the ratio. Building the ``Transcript`` objects (joining the
utterances; character clocks are worked out only for hits) is reported on its own line too, with the
end-to-end ratio that counts it.

The data is synthetic and deterministic (``--seed``): the shipped pack's seed terms
(``livewatch/rules/packs/cn-live-events.yaml``) plus distinct synthetic terms up to ``--terms`` (about 70 %
Chinese, 2–6 common characters; 30 % English, 1–3 words), and one utterance every 4 s (about 70 % Chinese,
30 % English sentences of realistic length, written from a vocabulary of everyday words). Synthetic terms
that occur in the filler text are redrawn and the filler avoids the seed terms, so the only matches are the
``--planted`` term occurrences put at known utterances (and checked not to run into a neighbouring term);
both contenders must find every one of them, so they do equal work. Absolute seconds mean little on a
shared machine; the ratio, measured back to back, is the result (target: engine >= 20x faster).
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import gc
import io
import pstats
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from random import Random
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.rules.base import EventFacts, RuleInput  # noqa: E402
from livewatch.rules.engine import Finding, RuleEngine  # noqa: E402
from livewatch.rules.matching import TermMatcher  # noqa: E402
from livewatch.rules.normalize import is_cjk, normalize, normalize_term  # noqa: E402
from livewatch.rules.packs import RulePack, builtin_pack_paths, load_pack  # noqa: E402
from livewatch.rules.transcript import Transcript, Utterance  # noqa: E402
from livewatch.rules.types.text import LexiconRule, LexiconSpec  # noqa: E402

T = TypeVar("T")

SHIPPED_PACK = "cn-live-events"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECONDS_EACH = 4.0  # one utterance every 4 s
CHINESE_SHARE = 0.7
TARGET = 20.0

#: Common Simplified characters that synthetic Chinese terms are drawn from (numerals left out: the engine
#: reads them as digits). Many of them also occur in the filler vocabulary, as they would in real speech.
COMMON_CHARS = (
    "的是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多"
    "然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它"
    "头经长儿回位分爱老因很给名法间斯知世什次使身者被高已亲其进此话常与活正感见明问力理尔点文几定本公特做外"
    "孩相西果走将月实向声车全信重机工物气每并别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克"
    "代员许先口由死安写性马光白或住难望教命花结乐色更拉东神记处让母父应直字场平报友关放至张认接告入笑内英军"
    "候民岁往何度山觉路带男边风解叫任金快原吃妈变通师立象数失满战远格士音轻目条呢病始达深完今提求清王化空业"
    "思切怎非找片罗钱吗语元喜曾离飞科言干流欢约各即指合反题必该论交终林请医晚制球决传画保读运及则房早院量苦"
    "火布品近坐产答星精视连司巴奇管类未朋且婚台夜青北队久乎越观落尽形影红爸令周吧识步希亚术留市热送兴造谈容"
    "极随演收首根讲整式取照办强石古华拿计您装似足双妻尼转诉米称丽客南领节衣站黑刻统断福城故历惊脸选包紧争另"
    "建维绝树系伤示愿持史谁准联妇纪基买志静阿诗独复痛消社算义竟确酒需单治卡幸兰念举仅钟怕共毛句息功官待究跟"
    "穿室易游程号居考突皮哪费倒价图具刚脑永歌响商礼细专黄块脚味灵改据般破引食仍存众注笔甚某沉血备习校默务土"
    "微娘须试怀料调广苏显赛查密议底列富梦错座参除跑亮假印设线温虽掉京初养香停际致阳纸李纳验助激够严证帝饭忘"
    "趣支春集丈木研班普导顿睡展跳获艺波察群皇段急庭创区奥器谢弟店否害草排背止组州朝封睛板角况曲顺尚乡呀懂莫"
)

#: Everyday words the Chinese filler sentences are written with (a live-shopping host's small talk).
CHINESE_WORDS = [
    "我们", "今天", "大家", "这个", "那个", "产品", "真的", "非常", "喜欢", "时候", "朋友", "直播间", "看看",
    "介绍", "一下", "价格", "质量", "颜色", "味道", "觉得", "可以", "没有", "就是", "什么", "怎么", "还是", "已经",
    "因为", "所以", "但是", "如果", "现在", "刚才", "马上", "准备", "开始", "欢迎", "新来的", "宝宝们", "关注",
    "主播", "问题", "回答", "时间", "地方", "东西", "衣服", "材料", "设计", "感觉", "舒服", "漂亮", "简单", "方便",
    "特别", "其实", "应该", "需要", "知道", "告诉", "大概", "左右", "尺寸", "适合", "夏天", "冬天", "孩子", "家里",
    "厨房", "使用", "方法", "效果", "看到", "听到", "一起", "一点", "一些", "这样", "那样", "还有", "然后",
    "接下来", "我们家", "这款", "那款", "面料", "口感", "包装", "快递", "发货", "售后", "仓库", "款式", "手感",
    "上身", "搭配", "日常", "出门", "上班", "周末", "早上", "晚上", "了", "的", "吧", "呢", "啊", "吗", "很", "也",
    "都", "还", "再", "又", "和", "跟", "给", "在", "是", "有", "说", "看", "来", "去", "做", "用", "要", "会",
    "能", "想", "我", "你", "他", "她", "它",
]

#: Everyday English words the English filler sentences are written with.
ENGLISH_WORDS = [
    "we", "you", "they", "it", "this", "that", "these", "those", "here", "there", "now", "today", "tonight",
    "really", "very", "quite", "just", "also", "still", "so", "and", "or", "but", "because", "if", "when", "while",
    "then", "after", "before", "about", "with", "without", "from", "into", "onto", "over", "under", "is", "are",
    "was", "were", "be", "been", "have", "has", "had", "do", "does", "did", "can", "could", "will", "would",
    "should", "might", "must", "good", "great", "nice", "lovely", "simple", "easy", "little", "big", "small",
    "long", "short", "warm", "cool", "soft", "light", "dark", "new", "old", "time", "day", "week", "year",
    "morning", "evening", "people", "friend", "friends", "family", "kitchen", "table", "chair", "colour", "size",
    "fabric", "style", "shape", "fit", "look", "looks", "feel", "feels", "think", "know", "see", "show", "tell",
    "ask", "answer", "question", "questions", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "ten", "first", "second", "next", "last", "many", "much", "more", "most", "some", "every", "each",
    "other", "another", "thing", "things", "way", "part", "piece", "pieces", "room", "home", "work", "weekend",
    "summer", "winter", "welcome", "everyone", "thanks", "thank", "please", "let", "me", "us", "our", "your",
    "their", "my", "his", "her", "its", "the", "a", "an", "of", "to", "in", "on", "at", "for", "by", "as", "not",
    "no", "yes", "okay", "well", "right", "left", "up", "down", "out", "off", "back", "again", "once", "twice",
    "maybe", "sure",
]

#: Words synthetic English terms are made of (none of them is a filler word).
TERM_WORDS = [
    "crypto", "bonus", "jackpot", "miracle", "formula", "platinum", "voucher", "lottery", "casino", "wager",
    "payout", "rebate", "leverage", "margin", "futures", "forex", "hedge", "yield", "dividend", "premium", "elixir",
    "detox", "serum", "capsule", "tonic", "remedy", "cure", "immune", "boost", "slimming", "fatburn", "herbal",
    "ginseng", "collagen", "keto", "vegan", "organic", "turbo", "mega", "ultra", "supreme", "elite", "royal",
    "golden", "diamond", "jade", "lucky", "fortune", "karma", "amulet", "talisman", "charm", "spirit", "ritual",
    "prophecy", "oracle", "tarot", "viral", "trending", "exclusive", "secret", "hidden", "insider", "leaked",
    "banned", "forbidden", "censored", "uncut", "explicit", "telegram", "whatsapp", "signal", "discord", "snapchat",
    "tiktok", "wechat", "weibo", "qq", "alipay", "paypal", "venmo", "bitcoin", "ether", "token", "airdrop",
    "presale", "mint", "staking", "wallet", "exchange", "broker", "pump", "dump", "moon", "rocket", "lambo",
    "whale", "refund", "giveaway", "raffle", "sweepstake", "prize", "reward", "cashback", "coupon", "promo",
    "flash", "clearance", "bargain", "gamble", "poker", "roulette", "blackjack", "slots", "betting", "odds",
    "bookie", "parlay", "spread", "handicap", "derby", "racing", "pyramid", "scheme", "recruit", "downline",
    "upline", "referral", "commission", "passive", "income", "riches", "millionaire", "guru", "mentor", "coach",
    "masterclass", "bootcamp", "webinar", "seminar", "academy", "diploma", "certified", "licensed", "steroid",
    "hormone", "pill", "tablet", "injection", "syringe", "clinic", "surgeon", "doctor", "pharmacy", "prescription",
]

NUMERALS = set("零〇一二三四五六七八九十百千万两")
CHINESE_MARKS = "。？！"
ENGLISH_MARKS = ".?!"


def shipped_seed_terms() -> list[str]:
    """Every ``terms`` list of the shipped pack's rules (lexicons and the conditions of other types); not the
    allowlists."""
    path = next(p for p in builtin_pack_paths() if p.stem == SHIPPED_PACK)
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "terms" and isinstance(inner, list):
                    found.extend(str(t) for t in inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for rule in load_pack(path).rules:
        walk(rule.spec.model_dump())
    return list(dict.fromkeys(found))


def is_chinese(term: str) -> bool:
    return any(is_cjk(ch) for ch in term)


def compact(text: str) -> str:
    return normalize(text).text


# --- the transcript ---------------------------------------------------------------------------------------


def chinese_sentence(rng: Random, words: list[str]) -> list[str]:
    """Words (and marks) of one Chinese sentence, 10–40 characters."""
    length = rng.randint(10, 40)
    pieces: list[str] = []
    count = 0
    while count < length:
        word = rng.choice(words)
        pieces.append(word)
        count += len(word)
        if count < length - 4 and rng.random() < 0.12:
            pieces.append("，")
    pieces.append(rng.choice(CHINESE_MARKS))
    return pieces


def english_sentence(rng: Random, words: list[str]) -> list[str]:
    """Words of one English sentence, 6–20 words, the first capitalized, the last with its mark."""
    pieces = [rng.choice(words) for _ in range(rng.randint(6, 20))]
    pieces[0] = pieces[0].capitalize()
    for index in range(1, len(pieces) - 1):
        if rng.random() < 0.06:
            pieces[index] += ","
    pieces[-1] += rng.choice(ENGLISH_MARKS)
    return pieces


def join_sentence(pieces: list[str], chinese: bool) -> str:
    return "".join(pieces) if chinese else " ".join(pieces)


@dataclass
class Corpus:
    terms: list[str]
    seed_terms: list[str]
    utterances: list[Utterance]
    planted: list[tuple[int, str]]  # (utterance index, term) of every planted occurrence
    setup_s: float


def filler_words(seed_terms: list[str]) -> tuple[list[str], list[str]]:
    """The filler vocabularies, without any word that could spell a seed term."""
    seeds_lower = [t.lower() for t in seed_terms]
    chinese = [w for w in CHINESE_WORDS if not any(s in w for s in seeds_lower)]
    english = [w for w in ENGLISH_WORDS if not any(s in w for s in seeds_lower if not is_chinese(s))]
    return chinese, english


def _part_of(word: str, term: str) -> bool:
    """Whether ``word`` can be part of a term spelled across words: inside it, or sharing its first or last
    character."""
    if term.isascii():
        return word in term.split()
    return word in term or word[-1] == term[0] or word[0] == term[-1]


def make_terms(rng: Random, count: int, seed_terms: list[str], filler_lower: str, filler_compact: str) -> list[str]:
    """Seed terms, then distinct synthetic ones (distinct also once normalized) that the filler never spells."""
    pool = [ch for ch in dict.fromkeys(COMMON_CHARS) if is_cjk(ch) and ch not in NUMERALS and compact(ch) == ch]
    words = [w for w in dict.fromkeys(TERM_WORDS) if w not in set(ENGLISH_WORDS)]
    terms = list(seed_terms)
    keys = {compact(t) for t in terms}
    while len(terms) < count:
        if rng.random() < CHINESE_SHARE:
            chars = [rng.choice(pool)]
            while len(chars) < rng.randint(2, 6):
                ch = rng.choice(pool)
                if ch != chars[-1]:  # a doubled character is collapsed by the engine: keep terms as they are
                    chars.append(ch)
            term = "".join(chars)
        else:
            term = " ".join(rng.sample(words, rng.randint(1, 3)))
        key = compact(term)
        if key != term.replace(" ", "") or key in keys or term.lower() in filler_lower or key in filler_compact:
            continue
        keys.add(key)
        terms.append(term)
    return terms[:max(count, len(seed_terms))]


def clean_plant(before: str, term: str, after: str, naive_set: set[str], key_set: set[str], longest: int) -> bool:
    """Whether ``term`` between ``before`` and ``after`` is found as itself by both contenders: no other term
    overlaps it, in the lowercased text (naive) or the normalized one (engine)."""
    lower = (before + term + after).lower()
    start, end = len(before), len(before) + len(term)
    for first in range(max(0, start - longest), end):
        for last in range(max(first + 1, start + 1), min(len(lower), first + longest) + 1):
            if (first, last) != (start, end) and lower[first:last] in naive_set:
                return False
    head, key, tail = compact(before), compact(term), compact(after)
    joined = compact(before + term + after)
    if joined != head + key + tail:  # normalization ran across the term's edge (a numeral run, say)
        return False
    start, end = len(head), len(head) + len(key)
    for first in range(max(0, start - longest), end):
        for last in range(max(first + 1, start + 1), min(len(joined), first + longest) + 1):
            if (first, last) != (start, end) and joined[first:last] in key_set:
                return False
    return True


def make_corpus(term_count: int, hours: float, planted: int, seed: int) -> Corpus:
    began = time.perf_counter()
    seed_terms = shipped_seed_terms()
    chinese_words, english_words = filler_words(seed_terms)
    for _ in range(8):
        rng = Random(seed)
        count = max(1, round(hours * 3600 / SECONDS_EACH))
        sentences: list[tuple[bool, list[str]]] = []
        for _ in range(count):
            chinese = rng.random() < CHINESE_SHARE
            sentences.append((chinese, chinese_sentence(rng, chinese_words) if chinese
                              else english_sentence(rng, english_words)))
        starts = [T0 + timedelta(seconds=index * SECONDS_EACH + rng.uniform(0, 0.3)) for index in range(count)]
        texts = [join_sentence(pieces, chinese) for chinese, pieces in sentences]
        filler = Transcript([Utterance(at, at + timedelta(seconds=SECONDS_EACH - 0.4), text)
                             for at, text in zip(starts, texts, strict=True)])
        # The engine's own matcher says whether the filler spells a seed term (it knows the whole-word rules).
        leaks = {t for t in seed_terms if t.lower() in filler.text.lower()}
        leaks |= {m.term for m in TermMatcher(tuple(seed_terms)).find(filler)}
        if not leaks:
            break
        # Two filler words side by side spell a term (her + family, 直播间 + 价): drop the words it is made of.
        chinese_words = [w for w in chinese_words if not any(_part_of(w, leak) for leak in leaks)]
        english_words = [w for w in english_words if not any(_part_of(w, leak.lower()) for leak in leaks)]
    else:
        raise SystemExit(f"the filler spells seed terms {sorted(leaks)}: change the vocabulary")
    terms = make_terms(rng, term_count, seed_terms, filler.text.lower(), filler.compact.text)
    del filler

    naive_set = {t.lower() for t in terms}
    key_set = {compact(t) for t in terms}
    longest = max(max(map(len, naive_set)), max(map(len, key_set)))
    by_language = {True: [t for t in terms if is_chinese(t)], False: [t for t in terms if not is_chinese(t)]}
    plants: list[tuple[int, str]] = []
    for index in sorted(rng.sample(range(count), min(planted, count))):
        chinese, pieces = sentences[index]
        # The neighbouring utterances matter too: the normalized view joins utterances without a gap.
        previous = texts[index - 1] if index else ""
        following = texts[index + 1] if index + 1 < count else ""
        for _ in range(1000):
            term = rng.choice(by_language[chinese])
            at = rng.randint(0, len(pieces) - 1)  # before the last word (and its mark)
            if chinese:
                before, after = "".join(pieces[:at]), "".join(pieces[at:])
            else:
                before = " ".join(pieces[:at]) + (" " if at else "")
                after = " " + " ".join(pieces[at:])
            if clean_plant(previous + "\n" + before, term, after + "\n" + following, naive_set, key_set, longest):
                texts[index] = before + term + after
                plants.append((index, term))
                break
        else:
            raise SystemExit(f"found no clean place for a term in utterance {index}")

    utterances = [Utterance(at, at + timedelta(seconds=SECONDS_EACH - 0.4), text)
                  for at, text in zip(starts, texts, strict=True)]
    normalize_term.cache_clear()  # the seed check above filled it: the automaton build must start cold
    return Corpus(terms, seed_terms, utterances, plants, time.perf_counter() - began)


# --- the contenders --------------------------------------------------------------------------------------


def build_pack(terms: list[str]) -> RulePack:
    spec = LexiconSpec.model_validate({"id": "bench.lexicon", "type": "lexicon", "category": "bench",
                                       "severity": "high", "terms": terms})
    return RulePack("bench", "1", "bench", "-", Path("bench.yaml"), {}, (LexiconRule(spec),))


def facts_for(hours: float) -> EventFacts:
    end = T0 + timedelta(hours=hours)
    return EventFacts("bench", T0, end, on_air=((T0, end),), run_status="finished")


def naive_pattern(terms: list[str]) -> re.Pattern[str]:
    # Lowercased like the text it runs over (the pack has terms such as "V信" and "DM me ...").
    return re.compile("|".join(re.escape(t.lower()) for t in sorted(terms, key=len, reverse=True)))


def naive_find(pattern: re.Pattern[str], utterances: list[Utterance]) -> list[tuple[int, int, str]]:
    return [(index, match.start(), match.group())
            for index, utterance in enumerate(utterances)
            for match in pattern.finditer(utterance.text.lower())]


def timed(action: Callable[[], T]) -> tuple[float, T]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def fresh_transcripts(utterances: list[Utterance], times: list[float]) -> Iterator[Transcript]:
    """New Transcript objects (each with empty normalization caches), their construction timed into ``times``."""
    while True:
        gc.collect()
        spent, transcript = timed(lambda: Transcript(utterances))
        times.append(spent)
        yield transcript


def planted_found(planted: list[tuple[int, str]], found: set[tuple[int, str]]) -> int:
    return sum((index, term) in found for index, term in planted)


def engine_found(findings: list[Finding], utterances: list[Utterance]) -> set[tuple[int, str]]:
    starts = [u.start_at for u in utterances]
    return {(bisect.bisect_right(starts, f.start_at) - 1, f.matched) for f in findings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terms", type=int, default=10_000, help="lexicon size, seed terms included")
    parser.add_argument("--hours", type=float, default=10.0, help="transcript length (one utterance every 4 s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per contender (median is reported)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the synthetic terms and transcript")
    parser.add_argument("--planted", type=int, default=200, help="term occurrences planted in the transcript")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile one engine evaluation and one Transcript construction (top N functions)")
    args = parser.parse_args()
    if args.repeat < 1 or args.terms < 1 or args.hours <= 0 or args.planted < 0:
        parser.error("--repeat and --terms must be at least 1, --hours above 0, --planted not negative")

    corpus = make_corpus(args.terms, args.hours, args.planted, args.seed)
    utterances, terms = corpus.utterances, corpus.terms
    chars = sum(len(u.text) for u in utterances)
    chinese_terms = sum(map(is_chinese, terms))
    chinese_utterances = sum(is_chinese(u.text) for u in utterances)
    hours = (utterances[-1].end_at - utterances[0].start_at).total_seconds() / 3600
    print(f"terms: {len(terms):,} ({chinese_terms:,} Chinese, {len(terms) - chinese_terms:,} English; "
          f"{len(corpus.seed_terms)} seed terms of {SHIPPED_PACK})")
    print(f"utterances: {len(utterances):,} ({chinese_utterances / len(utterances):.0%} Chinese); "
          f"characters: {chars:,}; hours: {hours:.2f}; planted occurrences: {len(corpus.planted)}")
    print(f"(data generated in {corpus.setup_s:.1f} s; seed {args.seed}; {args.repeat} timed run(s) each, median)")

    # One-off costs, outside the ratio.
    compile_s, pattern = timed(lambda: naive_pattern(terms))
    spec_s, pack = timed(lambda: build_pack(terms))
    engine = RuleEngine([pack])
    facts = facts_for(args.hours)
    tiny = Transcript([Utterance(T0, T0 + timedelta(seconds=4), "warm-up")])
    # The first evaluation builds the rule's matcher: every term normalized, the Aho–Corasick automaton made.
    automaton_s, _ = timed(lambda: engine.evaluate(RuleInput(facts, {0: tiny})))
    print()
    print("one-off costs (not in the ratio)")
    print(f"  naive: re.compile of the alternation           {compile_s:8.3f} s")
    print(f"  engine: lexicon spec validation + pack          {spec_s:8.3f} s")
    print(f"  engine: automaton build (terms normalized)      {automaton_s:8.3f} s")

    build_times: list[float] = []
    transcripts = fresh_transcripts(utterances, build_times)

    def evaluate(transcript: Transcript) -> list[Finding]:
        return engine.evaluate(RuleInput(facts, {0: transcript}))

    first = next(transcripts)
    first_s, findings = timed(partial(evaluate, first))
    again_s, _ = timed(partial(evaluate, first))
    second_s, _ = timed(partial(evaluate, next(transcripts)))
    del first
    print()
    print("engine: first evaluation vs. later ones (normalized views are cached per Transcript object)")
    print(f"  first evaluation (new Transcript)               {first_s:8.3f} s")
    print(f"  second evaluation (another new Transcript)      {second_s:8.3f} s")
    print(f"  the first Transcript again (views cached)       {again_s:8.3f} s  (matching and findings only)")

    engine_times: list[float] = []
    naive_times: list[float] = []
    naive_hits: list[tuple[int, int, str]] = []
    for _ in range(args.repeat):
        transcript = next(transcripts)
        spent, findings = timed(partial(evaluate, transcript))
        engine_times.append(spent)
        del transcript
        gc.collect()
        spent, naive_hits = timed(lambda: naive_find(pattern, utterances))
        naive_times.append(spent)
    engine_s, naive_s = statistics.median(engine_times), statistics.median(naive_times)
    build_s = statistics.median(build_times)

    engine_set = engine_found(findings, utterances)
    naive_set = {(index, text) for index, _, text in naive_hits}
    planted_lower = [(index, term.lower()) for index, term in corpus.planted]
    print()
    print("matches (both must find every planted occurrence)")
    print(f"  engine: {len(findings):,} findings, planted found "
          f"{planted_found(corpus.planted, engine_set)}/{len(corpus.planted)}")
    print(f"  naive:  {len(naive_hits):,} matches, planted found "
          f"{planted_found(planted_lower, naive_set)}/{len(corpus.planted)}")
    print()
    width = 46
    print(f"{'contender':<{width}}  seconds")
    print(f"{'naive re alternation (finditer per utterance)':<{width}}  {naive_s:7.3f}")
    print(f"{'livewatch engine (evaluate, normalization in)':<{width}}  {engine_s:7.3f}")
    print(f"{'(Transcript construction, per transcript)':<{width}}  {build_s:7.3f}")
    ratio = naive_s / engine_s
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"speed-up of the engine over the naive alternation: {ratio:.2f}x "
          f"(target >= {TARGET:g}x: {verdict})")
    print(f"end to end, Transcript construction counted: {naive_s / (engine_s + build_s):.2f}x")

    if args.profile:
        profile("one engine evaluation (new Transcript)", partial(evaluate, next(transcripts)), args.profile)
        profile("Transcript construction", partial(Transcript, utterances), args.profile)


def profile(title: str, action: Callable[[], object], top: int) -> None:
    gc.collect()
    profiler = cProfile.Profile()
    profiler.runcall(action)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print()
    print(f"profile of {title}, by own time")
    print(out.getvalue().rstrip())


if __name__ == "__main__":
    main()
