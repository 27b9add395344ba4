"""One misheard syllable in a long term (near-pinyin), the ``none_of`` window of a composite rule
(``none_within_s``), and the default pack on Whisper base's mishearings of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livewatch.rules.engine import RuleEngine, severity_rank
from livewatch.rules.matching import TermMatcher
from livewatch.rules.normalize import syllables
from livewatch.rules.packs import PackLibrary
from livewatch.rules.transcript import Transcript
from tests.rules.test_rule_types import FACTS, evaluate, highlighted, said

# --- one syllable misheard -------------------------------------------------------------------------------

LONG: dict[str, Any] = {"id": "long", "type": "lexicon", "pinyin": True,
                        "terms": ["刷礼物抽奖", "全网最低价", "扫屏幕上的二维码", "保本保息", "零风险投资",
                                  "绝对不会亏"]}


@pytest.mark.parametrize(("text", "expected"), [
    # Whisper base on the demo's second pair of voices: one syllable of five or eight heard as another
    ("说历物抽奖", [("刷礼物抽奖", "说历物抽奖")]),  # shuo for shua, first syllable
    ("前往最低价", [("全网最低价", "前往最低价")]),  # qian for quan
    ("扫屏幕上的奥威马", [("扫屏幕上的二维码", "扫屏幕上的奥威马")]),  # ao for er (二 is the digit 2)
    # the same mechanism in sentences nobody heard: the wrong syllable anywhere, the match on its syllables
    ("今晚说礼物抽奖，快来", [("刷礼物抽奖", "说礼物抽奖")]),
    ("这款是全网最低假，赶紧", [("全网最低价", "全网最低假")]),
    ("大家扫屏幕上的二维妈进群", [("扫屏幕上的二维码", "扫屏幕上的二维妈")]),
    ("这是灵风险投资", [("零风险投资", "灵风险投资")]),  # a homophone plus one syllable off, still one off
    ("这是零风景投资", [("零风险投资", "零风景投资")]),  # the third syllable
])
def test_one_misheard_syllable_in_a_long_term(tmp_path: Path, text: str, expected: list[tuple[str, str]]) -> None:
    findings = evaluate(tmp_path, LONG, said(text))
    assert [(f.matched, highlighted(f)) for f in findings] == expected
    assert all(f.details["how"] in {"near-pinyin", "pinyin"} for f in findings)


def test_a_homophone_is_no_extra_syllable_off(tmp_path: Path) -> None:
    # 讲 and 奖 are both jiang: only shuo for shua is off
    findings = evaluate(tmp_path, LONG, said("说历物抽讲"))
    assert [(f.matched, f.details["how"]) for f in findings] == [("刷礼物抽奖", "near-pinyin")]


@pytest.mark.parametrize("text", [
    "说历物抽烟",  # two syllables off of five
    "前往最低点",  # two off
    "全网最",  # a part of the term
    "保本保修",  # a four-syllable term one off: four syllables one off are in ordinary speech
    "零风向投诉",  # two off of five
    "这是零风险投诉",  # the last syllable off: 绝对不会亏 would be in every 绝对不会买
    "我下次绝对不会再来了",
    "今天天气很好，我们聊聊",
    "扫屏幕上的23维码",  # the digit of 23 is not one syllable
])
def test_near_misses_do_not_fire(tmp_path: Path, text: str) -> None:
    assert evaluate(tmp_path, LONG, said(text)) == []


@pytest.mark.parametrize(("term", "said_as"), [("年化收益30%", 9), ("年化收益百分之三十", 9), ("105", 4), ("10", 1),
                                               ("20005", 4), ("15.5%", 7), ("张三丰", 3), ("3个月", 3)])
def test_a_number_counts_as_it_is_said(term: str, said_as: int) -> None:
    assert syllables(term) == said_as


@pytest.mark.parametrize(("text", "expected"), [
    # Whisper base on the demo's second pair of voices: 收益 heard as 修议, a comma before the next number
    ("跟着我们头,年华修议百分之三十,一年就能回饭。", [("年化收益30%", "年华修议百分之三十")]),
    ("年化修益30%，赶紧", [("年化收益30%", "年化修益30")]),  # the percent sign is not in the compact view
])
def test_a_term_with_a_number_is_long_enough_for_one_misheard_syllable(
        text: str, expected: list[tuple[str, str]]) -> None:
    matcher = TermMatcher(("年化收益30%",), pinyin=True)
    transcript = Transcript.of_lines([(FACTS.registered_start, text)])
    assert [(m.term, text[m.start:m.end]) for m in matcher.find(transcript)] == expected


def test_digits_joined_in_what_was_said_are_one_number_at_a_near_match() -> None:
    # 年华修议百分之三十一 is 31 percent, not the term's 30: the digits touch in the original
    matcher = TermMatcher(("年化收益30%",), pinyin=True)
    transcript = Transcript.of_lines([(FACTS.registered_start, "年华修议百分之三十一年就能回本")])
    assert list(matcher.find(transcript)) == []


def test_near_pinyin_needs_pinyin(tmp_path: Path) -> None:
    assert evaluate(tmp_path, {**LONG, "pinyin": False}, said("说历物抽奖")) == []


def test_near_pinyin_is_reported_as_such_and_exact_text_still_wins() -> None:
    matcher = TermMatcher(("刷礼物抽奖", "刷火箭抽奖"), pinyin=True)
    transcript = Transcript.of_lines([(FACTS.registered_start, "刷礼物抽奖，说火箭抽奖")])
    assert [(m.term, m.how) for m in matcher.find(transcript)] == [("刷礼物抽奖", "normalized"),
                                                                      ("刷火箭抽奖", "near-pinyin")]


def test_terms_sharing_a_half_are_each_verified() -> None:
    matcher = TermMatcher(("刷礼物抽奖", "刷礼物抽签"), pinyin=True)
    transcript = Transcript.of_lines([(FACTS.registered_start, "说礼物抽签")])
    assert [(m.term, m.how) for m in matcher.find(transcript)] == [("刷礼物抽签", "near-pinyin")]


# --- the none_of window ------------------------------------------------------------------------------------

RETURNS: dict[str, Any] = {
    "id": "returns", "type": "composite", "at_least": 2, "within_s": 10,
    "any_of": [{"terms": ["保本", "稳赚"]}, {"terms": ["年化", "收益"]}, {"pattern": r"\d+%"}],
    "none_of": [{"terms": ["保本保息", "稳赚不赔"]}],
}
SECOND_CLAIM = "[0] 保本保息，稳赚不赔\n[7] 年化收益百分之三十"


def test_none_of_hides_the_whole_window_by_default(tmp_path: Path) -> None:
    assert evaluate(tmp_path, RETURNS, said(SECOND_CLAIM)) == []


@pytest.mark.parametrize(("text", "expected"), [
    (SECOND_CLAIM, ["年化收益百分之三十"]),  # the second claim, 7 s after the first, is its own finding
    ("[0] 保本保息，年化收益百分之三十", []),  # the same sentence: the lexicon already raised it
    ("[0] 年化收益\n[2] 保本保息", []),  # the lexicon's claim just after the cues: its 保本 does not count
    ("[0] 年化收益百分之三十\n[6] 保本保息", ["年化收益百分之三十"]),  # a claim, then the lexicon's 6 s later
])
def test_none_within_s_narrows_the_none_of_window(tmp_path: Path, text: str, expected: list[str]) -> None:
    findings = evaluate(tmp_path, {**RETURNS, "none_within_s": 3}, said(text))
    assert [highlighted(f)[:len(e)] for f, e in zip(findings, expected, strict=False)] == expected
    assert len(findings) == len(expected)


def test_none_within_s_for_all_of_rules(tmp_path: Path) -> None:
    rule = {"id": "sell", "type": "composite", "within_s": 30, "all_of": [{"terms": ["下单"]}, {"terms": ["链接"]}],
            "none_of": [{"terms": ["广告"]}]}
    text = "[0] 本节目是广告\n[20] 点链接下单"
    assert evaluate(tmp_path, rule, said(text)) == []
    assert len(evaluate(tmp_path, {**rule, "none_within_s": 5}, said(text))) == 1
    assert evaluate(tmp_path, {**rule, "none_within_s": 5}, said("[0] 本节目是广告，点链接下单")) == []


# --- the default pack -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def default_engine() -> RuleEngine:
    """Built once for the file: loading the default pack takes seconds, and an engine holds no state."""
    return RuleEngine(PackLibrary().select(["default"]))


@pytest.mark.parametrize(("text", "category", "serious"), [
    ("今天说历物抽奖，大家冲", "tipping-inducement", False),
    ("[0] 前往最低价\n[10] 赶紧点链接下单", "absolute-terms", True),
    ("大家扫屏幕上的奥威马，进群领资料", "traffic-diversion", True),
    ("[0] 保本保息，稳赚不赔\n[7] 年化秀意百分之三十", "finance-promise", True),
    ("[0] 最低价就在这里\n[10] 赶紧点链接下单", "absolute-terms", True),
])
def test_default_pack_on_the_demo_mishearings(default_engine: RuleEngine, text: str, category: str,
                                             serious: bool) -> None:
    findings = default_engine.evaluate(said(text))
    hits = [f for f in findings if f.category == category]
    assert hits
    if serious:
        assert any(severity_rank(f.severity) <= severity_rank("high") for f in hits)
    if text.startswith("[0] 保本保息"):
        assert len([f for f in hits if f.rule == "finance-promise.return-cues"]) == 1
