"""Chinese matching that survives ASR: each mechanism on its own (homophones with their guards, spoken numbers,
negation scope, claims from several cues), then the default pack on violations as Whisper ``base`` writes
Mandarin speech and on disclaimers and near misses that must stay quiet."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from livewatch.rules.engine import RuleEngine, severity_rank
from livewatch.rules.normalize import normalize, normalize_term
from livewatch.rules.packs import PackLibrary, RulePackError
from livewatch.rules.types.timing import CompositeSpec
from tests.rules.test_rule_types import FACTS, evaluate, highlighted, said

# --- homophones -----------------------------------------------------------------------------------------

PROMISES: dict[str, Any] = {"id": "promise", "type": "lexicon", "terms": ["保本保息", "稳赚不赔", "扣扣", "稳赚"],
                            "pinyin": True}


@pytest.mark.parametrize(("text", "expected"), [
    # Whisper base's mishearings: same toneless syllables, other characters (often Traditional)
    ("這個產品寶本寶西", [("保本保息", "寶本寶西", "pinyin")]),
    ("我們報本報西", [("保本保息", "報本報西", "pinyin")]),
    ("理财报本报息", [("保本保息", "报本报息", "pinyin")]),
    ("这款保本保溪", [("保本保息", "保本保溪", "pinyin")]),
    ("跟着投穩專不陪", [("稳赚不赔", "穩專不陪", "pinyin")]),
    ("这个项目稳转不赔", [("稳赚不赔", "稳转不赔", "pinyin")]),
    # the commonly confused sounds (zh/z here) count for four syllables or more
    ("这个稳钻不赔", [("稳赚不赔", "稳钻不赔", "loose-pinyin")]),
    # exact text still wins as "normalized"
    ("保本保息", [("保本保息", "保本保息", "normalized")]),
    # near misses: two-syllable terms match only as written; 扣扣 keeps its repeat (扣 alone is in 口红, 折扣)
    ("这个口红的折扣很大，口感也好", []),
    ("我问转账的事", []),
    ("加我扣扣", [("扣扣", "扣扣", "normalized")]),
    ("保本色，保细节", []),
])
def test_homophones_of_long_terms(tmp_path: Path, text: str, expected: list[tuple[str, str, str]]) -> None:
    findings = evaluate(tmp_path, PROMISES, said(text))
    assert [(f.matched, highlighted(f), f.details["how"]) for f in findings] == expected


@pytest.mark.parametrize(("terms", "text", "fires"), [
    (["粉丝群"], "进我们的粉丝群", True),
    (["粉丝群"], "进我们的粉诗群", False),  # shi/si is loose: three syllables must agree exactly
    (["扫码进群"], "大家扫吗进裙", True),
    (["安全"], "你办完全部", False),  # two syllables: no homophones at all
    (["安全感"], "很有安全感", True),
    (["安全感"], "你办完全感", False),  # a homophone starts on a syllable: "an" is not in "wan"
])
def test_homophone_guards(tmp_path: Path, terms: list[str], text: str, fires: bool) -> None:
    rule = {"id": "t", "type": "lexicon", "terms": terms, "pinyin": True}
    assert bool(evaluate(tmp_path, rule, said(text))) is fires


def test_terms_keep_repeats_but_a_stretched_transcript_collapses() -> None:
    assert normalize_term("扣扣") == "扣扣"
    assert normalize_term("好好好") == "好好好"
    assert normalize("好好好").text == "好"
    assert normalize("稳稳稳赚").text == "稳赚"
    assert normalize("往往读").text == "往往读"  # a doubled character is a word, not a stretch


# --- spoken numbers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("original", "light", "compact"), [
    ("年化收益百分之三十", "年化收益30%", "年化收益30"),
    ("百分之三十五点五", "35.5%", "35.5"),
    ("收益百分之十五點五", "收益15.5%", "收益15.5"),
    ("百分之百", "100%", "100"),
    ("百分之30", "30%", "30"),
    ("幺三八一二三四五六七八", "13812345678", "13812345678"),
    ("幺蛾子", "幺蛾子", "幺蛾子"),  # 幺 alone is a word
    ("三点五十分", "3点50分", "3点50分"),  # a time, not 3.5
    ("两万", "20000", "20000"),
    ("利率3.5%", "利率3.5%", "利率3.5"),
])
def test_spoken_numbers(original: str, light: str, compact: str) -> None:
    assert normalize(original, "light").text == light
    assert normalize(original).text == compact


def test_a_spoken_percent_matches_a_written_one_and_highlights_the_words_said(tmp_path: Path) -> None:
    rule = {"id": "rate", "type": "lexicon", "terms": ["年化收益30%"]}
    [finding] = evaluate(tmp_path, rule, said("我们年化收益百分之三十，放心"))
    assert highlighted(finding) == "年化收益百分之三十"
    assert evaluate(tmp_path, rule, said("年化收益百分之三百")) == []
    # a number after a comma is another number: 30，一年 is 30 and 1, not 301
    [finding] = evaluate(tmp_path, rule, said("年化收益百分之三十，一年回本"))
    assert highlighted(finding) == "年化收益百分之三十"
    assert evaluate(tmp_path, rule, said("年化收益三十一")) == []
    regex = {"id": "pct", "type": "regex", "pattern": r"\d+(?:\.\d+)?%"}
    [finding] = evaluate(tmp_path, regex, said("收益有百分之三十五点五呢"))
    assert (finding.matched, highlighted(finding)) == ("35.5%", "百分之三十五点五")


# --- negation scope ---------------------------------------------------------------------------------------

NEGATABLE: dict[str, Any] = {"id": "promise", "type": "lexicon", "terms": ["稳赚不赔", "保本保息", "根治",
                                                                          "guaranteed returns"],
                             "pinyin": True, "negatable": True}


@pytest.mark.parametrize(("text", "fires"), [
    ("投资有风险，我们不能保证稳赚不赔", False),
    ("我们保证稳赚不赔", True),
    ("不是我吹，这个保本保息", True),  # the negation does not reach over the clause boundary
    ("不是我吹 这个保本保息", True),  # nor over a pause Whisper wrote as a space
    ("理财产品没有保本保息这一说", False),
    ("我们从来没有承诺过任何保本保息", False),
    ("糖尿病目前無法根治，請遵醫囑", False),  # Traditional characters: 無法 is 无法
    ("我们不能保证什么东西但是这个产品绝对保本保息", True),  # too far from the negation to be governed by it
    ("不管怎样都保本保息", True),  # 不管 is "no matter", not a negation
    ("穩專不陪，不会错", True),  # 不 inside the term is the promise itself
    ("我們不能保證穩專不陪", False),  # a misheard disclaimer is still a disclaimer
    ("There are no guaranteed returns in investing", False),
    ("we never promise guaranteed returns", False),
    ("this gives guaranteed returns, no doubt", True),
])
def test_negation_scope(tmp_path: Path, text: str, fires: bool) -> None:
    assert bool(evaluate(tmp_path, NEGATABLE, said(text))) is fires


@pytest.mark.parametrize(("text", "fires"), [
    # a negation whose object is a loss or a burden is the promise: it governs nothing after it
    ("这个方子无需吃药就能根治", True),
    ("不会复发的根治方法", True),
    ("you can't lose, this gives guaranteed returns", True),
    ("you won't lose with guaranteed returns", True),
    # while a negation before it still disclaims, and a prohibition is no promise
    ("我们不能保证不会亏，更没有保本保息", False),
    ("糖尿病不要吃药根治", False),
    ("we never lose sight of it: there are no guaranteed returns", False),
])
def test_a_promise_negation_governs_nothing(tmp_path: Path, text: str, fires: bool) -> None:
    assert bool(evaluate(tmp_path, NEGATABLE, said(text))) is fires


APPEAL: dict[str, Any] = {"id": "appeal", "type": "lexicon", "terms": ["加个粉丝团", "点个关注"], "negatable": True}


@pytest.mark.parametrize(("text", "fires"), [
    ("没有加团的宝宝加个粉丝团", True),  # the negation is inside the phrase naming the listeners
    ("还没关注的家人们点个关注", True),
    ("我们不需要大家加个粉丝团", False),
    ("没人能逼你加个粉丝团", False),
])
def test_a_negation_inside_a_phrase_naming_listeners_ends_with_it(tmp_path: Path, text: str,
                                                                   fires: bool) -> None:
    assert bool(evaluate(tmp_path, APPEAL, said(text))) is fires


def test_negation_is_a_per_rule_switch(tmp_path: Path) -> None:
    rule = {**NEGATABLE, "negatable": False}
    assert evaluate(tmp_path, rule, said("我们不能保证稳赚不赔"))


# --- claims from several cues ----------------------------------------------------------------------------

CURE: dict[str, Any] = {
    "id": "cure", "type": "composite", "at_least": 2, "within_s": 10,
    "any_of": [{"terms": ["根治", "治好", "断根"], "negatable": True},
               {"terms": ["糖尿病", "高血压"]},
               {"terms": ["不用吃药", "停药", "不用打针"], "negatable": True}],
}


@pytest.mark.parametrize(("text", "expected"), [
    # the cure word misheard (根據): the disease and "no more medicine" still make the claim
    ("吃了這個茶，能根據糖尿病，以後不用吃藥了", "糖尿病，以後不用吃藥"),
    ("[0] 这个方子治好了很多人\n[4] 他们的高血压", None),  # across utterances: highlighted in the first
    ("根治糖尿病", "根治糖尿病"),
    ("喝三个月糖尿病就断跟了，再也不用打针", "糖尿病就断跟了，再也不用打针"),
])
def test_a_claim_from_two_of_three_cues(tmp_path: Path, text: str, expected: str | None) -> None:
    [finding] = evaluate(tmp_path, CURE, said(text))
    if expected is not None:
        assert highlighted(finding) == expected


@pytest.mark.parametrize("text", [
    "糖尿病要按时吃药",  # one cue
    "[0] 糖尿病\n[30] 停药",  # too far apart
    "糖尿病患者不能随便停药",  # the second cue is negated
    "这部电影治好了我的失眠",  # a cure word, but no disease of the list and no medicine
])
def test_one_cue_is_not_a_claim(tmp_path: Path, text: str) -> None:
    assert evaluate(tmp_path, CURE, said(text)) == []


def test_cues_stay_quiet_where_another_rule_already_raised_it(tmp_path: Path) -> None:
    rule = {**CURE, "none_of": [{"terms": ["根治"]}]}
    assert evaluate(tmp_path, rule, said("根治糖尿病")) == []
    assert evaluate(tmp_path, rule, said("治好糖尿病"))


def test_one_claim_said_twice_far_apart_is_two_findings(tmp_path: Path) -> None:
    findings = evaluate(tmp_path, CURE, said("[0] 根治糖尿病\n[60] 高血压停药"))
    assert [highlighted(f) for f in findings] == ["根治糖尿病", "高血压停药"]


@pytest.mark.parametrize("spec", [
    {"at_least": 4},
    {"at_least": 2, "all_of": [{"terms": ["x"]}]},
])
def test_at_least_needs_enough_any_of_and_no_all_of(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CompositeSpec.model_validate({"id": "c", "type": "composite", "category": "t", "severity": "high",
                                      "any_of": CURE["any_of"], **spec})


def test_a_bad_at_least_in_a_pack_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RulePackError):
        evaluate(tmp_path, {**CURE, "at_least": 5}, said("x"))


# --- the default pack on Whisper-style Mandarin -------------------------------------------------------

MISHEARD = [
    ("這個產品寶本寶西，大家放心買", "finance-promise"),
    ("我們這個理財報本報西，到期就拿錢", "finance-promise"),
    ("跟着老师投，穩專不陪", "finance-promise"),
    ("年化收益百分之三十，闭眼买就行", "finance-promise"),
    ("零風險，每年收益百分之十五點五", "finance-promise"),
    ("吃了這個茶，能根據糖尿病，以後不用吃藥了", "medical-claim"),
    ("我的高血压就是喝这个治号的，现在都停药了", "medical-claim"),
    ("這個膏藥包至百病", "medical-claim"),
    ("大家掃屏幕上的二維碼，進群領資料", "traffic-diversion"),
    ("想要课程的加个V，私聊我", "traffic-diversion"),
    ("点練接进我们的粉丝群，群里有福利", "traffic-diversion"),
    ("有问题打电话幺三八，一二三四，五六七八", "traffic-diversion"),
    ("有事找我绿泡泡", "traffic-diversion"),
]

QUIET = [
    "投資有風險，我們不能保證穩賺不賠",
    "糖尿病目前無法根治，請遵醫囑",
    "我们不会承诺收益，请理性投资",
    "这个口红的折扣很大，口感也好",
    "门口扫码支付就可以，很方便",
    "扫码点餐，然后加我们会员",
    "他在村里很有威信",
    "今天吃菠菜，我往往读书到半夜",
    "这本书让我收益匪浅",
]


@functools.cache
def _default_text_engine() -> RuleEngine:
    """Built once for the file: loading the default pack takes seconds, and an engine holds no state."""
    pack = PackLibrary().get("default")
    text_rules = pack.with_rules(r for r in pack.rules if r.text_examples and r.type_name != "blacklisted-person")
    return RuleEngine([text_rules])


def _serious(text: str) -> list[tuple[str, str]]:
    findings = _default_text_engine().evaluate(said(text, FACTS))
    return [(f.category, f.matched) for f in findings if severity_rank(f.severity) <= severity_rank("high")]


@pytest.mark.parametrize(("text", "category"), MISHEARD)
def test_the_default_pack_hears_misheard_violations(text: str, category: str) -> None:
    assert category in {c for c, _ in _serious(text)}


@pytest.mark.parametrize("text", QUIET)
def test_the_default_pack_stays_quiet_on_disclaimers_and_near_misses(text: str) -> None:
    assert _serious(text) == []


def test_one_claim_is_one_finding_in_the_default_pack() -> None:
    assert len(_serious("吃了就能根治糖尿病，不用吃药")) == 1
    # the return cues (保本 + 收益 + 10%) add nothing where the promise itself was heard
    assert _serious("这个产品保本保息，年化收益百分之十") == [("finance-promise", "保本保息")]
