"""Every rule type through the engine, table-driven: tiny packs written to YAML and loaded as users'
packs are, evaluated on short transcripts (``[mm:ss]`` lines, or utterances with word times) and facts."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from livewatch.rules.base import EventFacts, Gap, RuleInput, example_lines
from livewatch.rules.engine import Finding, RuleEngine, finding_id, verdict
from livewatch.rules.packs import Override, RulePack, load_pack
from livewatch.rules.transcript import Transcript, Utterance, Word

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FACTS = EventFacts(
    event_id="ev-1", registered_start=T0, registered_end=T0 + timedelta(hours=2),
    on_air=((T0, T0 + timedelta(hours=2)),), run_status="finished",
    tolerances={"early_start": 5, "late_start": 10, "overrun": 15},
)
_files = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def minutes(value: float) -> datetime:
    return T0 + timedelta(minutes=value)


def pack_of(tmp_path: Path, *rules: dict[str, Any]) -> RulePack:
    """A pack file with ``rules`` (category ``test`` and severity ``high`` unless given), loaded."""
    document = {
        "id": "test-pack", "version": "1.0", "title": "Test pack",
        "rules": [{"category": "test", "severity": "high", **rule} for rule in rules],
    }
    path = tmp_path / f"pack-{next(_files)}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_pack(path)


def evaluate(tmp_path: Path, rule: dict[str, Any], data: RuleInput,
             overrides: tuple[Override, ...] = ()) -> list[Finding]:
    return RuleEngine([pack_of(tmp_path, rule)], overrides).evaluate(data)


def said(example: str, facts: EventFacts = FACTS) -> RuleInput:
    """Transcript lines as rule examples write them: ``[mm:ss] text`` (seconds from the on-air start)."""
    return RuleInput(facts, {0: Transcript.of_lines(example_lines(example, facts.on_air_start))})


def highlighted(finding: Finding) -> str:
    return finding.evidence[finding.highlight[0]:finding.highlight[1]]


# --- lexicon --------------------------------------------------------------------------------------------

SUPERLATIVES: dict[str, Any] = {
    "id": "absolute", "type": "lexicon", "severity": "medium",
    "terms": ["最好", "第一", "全网最低价", "最低价", "the best"],
    "allow": ["第一次", "第一位嘉宾", "the best way to learn"],
}


@pytest.mark.parametrize(("text", "expected"), [
    ("这是我第一次来这里", []),
    ("欢迎第一位嘉宾", []),
    ("我们的产品是行业第一", ["第一"]),
    ("这是全网最低价", ["全网最低价"]),  # not 最低价 as well: the longer match wins
    ("今天最低价", ["最低价"]),
    ("全網最低價", ["全网最低价"]),
    ("全*网*最*低*价", ["全网最低价"]),
    ("第一次来，我们是行业第一", ["第一"]),
    ("我们是第1名", ["第一"]),
    ("我们是第十一名", []),  # 第11: the number in a term is a whole number
    ("第一百位观众", []),
    ("第12期节目", []),
    ("最好好好好", ["最好"]),  # stretched: one hit
    ("最好，最好", ["最好", "最好"]),  # said twice: two hits (the rule has no cooldown)
    ("This is the best cream", ["the best"]),
    ("This is THE BEST cream", ["the best"]),
    ("the best way to learn is practice", []),
    ("大家好", []),
])
def test_lexicon_any_of_with_allowlist(tmp_path: Path, text: str, expected: list[str]) -> None:
    findings = evaluate(tmp_path, SUPERLATIVES, said(text))
    assert [f.matched for f in findings] == expected


@pytest.mark.parametrize(("text", "fires"), [
    ("年化收益30%", True),
    ("年化收益三十", True),
    ("年化收益三十个点", True),
    ("年化收益三百", False),
    ("年化收益300%", False),
    ("年化收益130%", False),
])
def test_lexicon_numbers_in_terms_are_whole_numbers(tmp_path: Path, text: str, fires: bool) -> None:
    rule = {"id": "returns", "type": "lexicon", "terms": ["年化收益30%"]}
    assert bool(evaluate(tmp_path, rule, said(text))) is fires


def test_lexicon_finding_carries_evidence_and_what_was_matched(tmp_path: Path) -> None:
    (finding,) = evaluate(tmp_path, SUPERLATIVES, said("[00:30] 家人们 這是全網最低價 快来"))
    assert finding.matched == "全网最低价"
    assert highlighted(finding) == "全網最低價"
    assert finding.normalized == "全网最低价"
    assert finding.rule == "absolute"
    assert finding.category == "test"
    assert finding.severity == "medium"
    assert finding.pack == "test-pack@1.0"
    assert finding.stream == 0
    assert finding.details["how"] == "normalized"
    assert finding.offset_s > 30


def test_lexicon_counts_each_place_once(tmp_path: Path) -> None:
    findings = evaluate(tmp_path, SUPERLATIVES, said("[0] 行业第一\n[120] 全网最低价\n[240] 第一次来"))
    assert [(f.matched, round(f.offset_s)) for f in findings] == [("第一", 2), ("全网最低价", 120)]


# --- regex ----------------------------------------------------------------------------------------------

PHONE: dict[str, Any] = {"id": "phone", "type": "regex", "pattern": r"(?<!\d)1[3-9]\d(?:[\s-]?\d){8}(?!\d)"}


@pytest.mark.parametrize(("text", "evidence"), [
    ("打我电话13812345678", "13812345678"),
    ("电话 138 1234 5678 找我", "138 1234 5678"),
    ("电话 138-1234-5678", "138-1234-5678"),
    ("电话１３８１２３４５６７８", "１３８１２３４５６７８"),
    ("电话一三八一二三四五六七八", "一三八一二三四五六七八"),
    ("电话一三八 一二三四 五六七八", "一三八 一二三四 五六七八"),
    ("今天卖出了12345件", None),
    ("2026年12月1日", None),
    ("订单号 113812345678", None),  # twelve digits: not a phone number
    ("电话 138 1234 567", None),
])
def test_regex_phone_numbers(tmp_path: Path, text: str, evidence: str | None) -> None:
    findings = evaluate(tmp_path, PHONE, said(text))
    assert [highlighted(f) for f in findings] == ([] if evidence is None else [evidence])
    for finding in findings:
        assert finding.details["how"] == "regex"


def test_regex_allowlist(tmp_path: Path) -> None:
    rule = {**PHONE, "allow": ["客服热线13800000000"]}
    assert evaluate(tmp_path, rule, said("客服热线13800000000")) == []
    assert len(evaluate(tmp_path, rule, said("私人电话13812345678"))) == 1


# --- composite ------------------------------------------------------------------------------------------

COMPOSITE: dict[str, Any] = {
    "id": "promise-and-sell", "type": "composite", "within_s": 30,
    "all_of": [{"terms": ["保本"]}, {"terms": ["下单"]}],
    "none_of": [{"terms": ["风险提示"]}],
}


@pytest.mark.parametrize(("text", "fires"), [
    ("[0] 保本\n[10] 下单", True),
    ("[0] 下单\n[10] 保本", True),
    ("[0] 保本\n[30] 下单", True),
    ("[0] 保本\n[100] 下单", False),
    ("[0] 保本", False),
    ("[0] 下单", False),
    ("[0] 保本\n[10] 下单\n[20] 风险提示", False),
    ("[0] 风险提示\n[20] 保本\n[25] 下单", False),
    ("[0] 保本\n[10] 下单\n[100] 风险提示", True),
])
def test_composite_all_of_none_of(tmp_path: Path, text: str, fires: bool) -> None:
    assert bool(evaluate(tmp_path, COMPOSITE, said(text))) is fires


def test_composite_finding_spans_every_part(tmp_path: Path) -> None:
    (finding,) = evaluate(tmp_path, COMPOSITE, said("[0] 保本\n[10] 下单"))
    assert finding.matched == "保本"
    assert finding.start_at == at(0)
    assert finding.end_at == at(14)  # 下单 fills the 4 s its line lasts
    assert finding.details["with"] == ["下单"]


ANY_OF: dict[str, Any] = {
    "id": "sell-signal", "type": "composite", "within_s": 30,
    "all_of": [{"terms": ["保本"]}],
    "any_of": [{"terms": ["下单"]}, {"terms": ["链接"]}],
}
ONLY_ANY_OF: dict[str, Any] = {
    "id": "any-sell", "type": "composite", "within_s": 30,
    "any_of": [{"terms": ["下单"]}, {"pattern": "链接\\d+"}],
    "none_of": [{"terms": ["广告"]}],
}


@pytest.mark.parametrize(("rule", "text", "fires"), [
    (ANY_OF, "[0] 保本\n[5] 下单", True),
    (ANY_OF, "[0] 保本\n[5] 点链接", True),
    (ANY_OF, "[0] 保本", False),
    (ANY_OF, "[0] 保本\n[60] 下单", False),
    (ANY_OF, "[0] 下单\n[5] 点链接", False),
    (ONLY_ANY_OF, "[0] 下单", True),
    (ONLY_ANY_OF, "[0] 点链接3", True),
    (ONLY_ANY_OF, "[0] 点链接", False),
    (ONLY_ANY_OF, "[0] 下单\n[5] 这是广告", False),
    (ONLY_ANY_OF, "[0] 下单\n[50] 这是广告", True),
])
def test_composite_any_of(tmp_path: Path, rule: dict[str, Any], text: str, fires: bool) -> None:
    assert bool(evaluate(tmp_path, rule, said(text))) is fires


def test_composite_needs_an_anchor(tmp_path: Path) -> None:
    from livewatch.rules.packs import RulePackError

    with pytest.raises(RulePackError) as caught:
        pack_of(tmp_path, {"id": "empty", "type": "composite", "none_of": [{"terms": ["x"]}]})
    assert "all_of or any_of" in caught.value.issues[0].render()


# --- proximity ------------------------------------------------------------------------------------------

PROXIMITY: dict[str, Any] = {
    "id": "near", "type": "proximity", "within_s": 30,
    "a": {"terms": ["最好", "第一"], "allow": ["第一次"]}, "b": {"terms": ["下单", "链接"]},
}


@pytest.mark.parametrize(("text", "fires"), [
    ("[0] 最好\n[20] 下单", True),
    ("[0] 下单\n[20] 最好", True),  # either order
    ("[0] 最好\n[30] 下单", True),  # the edge of the window counts
    ("[0] 最好\n[31] 下单", False),
    ("[0] 下单\n[40] 最好", False),
    ("[0] 最好\n[300] 下单", False),
    ("[0] 第一次来\n[5] 点链接下单", False),
    ("[0] 最好下单", True),
    ("[0] 最好", False),
])
def test_proximity(tmp_path: Path, text: str, fires: bool) -> None:
    assert bool(evaluate(tmp_path, PROXIMITY, said(text))) is fires


# --- disclosure -----------------------------------------------------------------------------------------

DISCLOSURE: dict[str, Any] = {
    "id": "no-ad-label", "type": "disclosure", "within_s": 60, "before_s": 120,
    "cue": {"terms": ["下单", "use my code"]}, "disclosure": {"terms": ["广告", "sponsored"]},
}


@pytest.mark.parametrize(("text", "status", "fires"), [
    ("[0] 下单链接\n[90] 聊别的", "finished", True),  # disclosure missing
    ("[0] 下单链接", "finished", True),
    ("[0] 下单链接\n[30] 广告时间", "finished", False),  # disclosed after, within the window
    ("[0] 下单链接\n[60] 广告时间", "finished", False),
    ("[0] 下单链接\n[61] 广告时间", "finished", True),  # too late
    ("[0] 广告时间\n[100] 下单链接", "finished", False),  # disclosed before, within before_s
    ("[0] 广告时间\n[200] 下单链接", "finished", True),  # disclosed too long before
    ("[0] use my code for ten percent off", "finished", True),
    ("[0] This segment is sponsored\n[10] use my code", "finished", False),
    ("[0] 下单链接", "recording", False),  # live, the window not heard yet: the disclosure may still come
    ("[0] 下单链接\n[30] 聊别的", "recording", False),
    ("[0] 下单链接\n[70] 聊别的", "recording", True),  # live, but the whole window has been heard
    ("[0] 下单链接", None, True),
    ("[0] 下单链接", "no-show", True),
])
def test_disclosure(tmp_path: Path, text: str, status: str | None, fires: bool) -> None:
    findings = evaluate(tmp_path, DISCLOSURE, said(text, replace(FACTS, run_status=status)))
    assert bool(findings) is fires
    for finding in findings:
        assert finding.details["missing"] == "disclosure"


def test_live_disclosure_waits_for_the_window_to_be_transcribed_not_for_more_speech(tmp_path: Path) -> None:
    live = replace(FACTS, run_status="recording")
    cue = [Utterance(at(0), at(4), "下单链接")]
    for heard_until, fires in ((None, False), (at(50), False), (at(60), True), (at(70), True)):
        findings = evaluate(tmp_path, DISCLOSURE, RuleInput(live, {0: Transcript(cue, heard_until)}))
        assert bool(findings) is fires, heard_until


def test_disclosure_finding_is_at_the_cue(tmp_path: Path) -> None:
    (finding,) = evaluate(tmp_path, DISCLOSURE, said("[0] 欢迎\n[10] 下单链接\n[200] 广告时间"))
    assert finding.matched == "下单"
    assert finding.offset_s == 10


# --- count ----------------------------------------------------------------------------------------------

COUNT: dict[str, Any] = {
    "id": "tipping", "type": "count", "condition": {"terms": ["刷礼物", "打赏"]}, "threshold": 3, "window_s": 300,
}


def _lines(*offsets: float, text: str = "刷礼物") -> str:
    return "\n".join(f"[{offset}] {text}" for offset in offsets)


@pytest.mark.parametrize(("offsets", "cooldown_s", "expected"), [
    ((0, 60, 120), 0, [(0, 3)]),
    ((0, 60), 0, []),
    ((0, 600, 1200), 0, []),
    ((0, 200, 400), 0, []),  # never three inside one 300 s window
    ((0, 200, 290), 0, [(0, 3)]),
    ((0, 10, 20, 30, 40, 50), 0, [(0, 3)]),  # the same pressure is one finding, not one per extra match
    ((0, 60, 120, 400, 460, 520), 0, [(0, 3), (400, 3)]),  # a fresh set of matches fires again
    ((0, 60, 120, 400, 460, 520), 600, [(0, 3)]),  # ... unless within the cooldown
])
def test_count_threshold_in_a_sliding_window(tmp_path: Path, offsets: tuple[float, ...], cooldown_s: float,
                                             expected: list[tuple[float, int]]) -> None:
    findings = evaluate(tmp_path, {**COUNT, "cooldown_s": cooldown_s}, said(_lines(*offsets)))
    assert [(f.offset_s, f.details["count"]) for f in findings] == expected


def test_count_cooldown_merges_findings_with_a_count(tmp_path: Path) -> None:
    offsets = (0, 60, 120, 400, 460, 520)
    (finding,) = evaluate(tmp_path, {**COUNT, "cooldown_s": 600}, said(_lines(*offsets)))
    assert finding.count == 2
    assert finding.start_at == at(0)
    # The merged finding lasts until the end of the last line's 刷礼物, which fills its 4 s line (characters
    # without word times are spread evenly, to the microsecond).
    assert abs(finding.end_at - at(524)) < timedelta(milliseconds=1)
    (first, second) = evaluate(tmp_path, {**COUNT, "cooldown_s": 0}, said(_lines(*offsets)))
    assert first.count == second.count == 1


def test_count_mixes_terms(tmp_path: Path) -> None:
    text = "[0] 刷礼物\n[60] 大家打赏\n[120] 继续刷礼物"
    (finding,) = evaluate(tmp_path, COUNT, said(text))
    assert finding.details == {"count": 3, "window_s": 300}


# --- schedule -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("check", "on_air", "gaps", "status", "expected"), [
    ("early_start", (-20, 120), (), "finished", (-20, 0)),
    ("early_start", (-6, 120), (), "finished", (-6, 0)),
    ("early_start", (-5, 120), (), "finished", None),  # within the 5 min tolerance
    ("early_start", (0, 120), (), "finished", None),
    ("early_start", None, (), "finished", None),
    ("late_start", (25, 120), (), "finished", (0, 25)),
    ("late_start", (11, 120), (), "finished", (0, 11)),
    ("late_start", (10, 120), (), "finished", None),
    ("late_start", (-20, 120), (), "finished", None),
    ("overrun", (0, 150), (), "finished", (120, 150)),
    ("overrun", (0, 136), (), "finished", (120, 136)),
    ("overrun", (0, 135), (), "finished", None),
    ("overrun", (0, 100), (), "finished", None),
    ("no_show", None, (), "no-show", (0, 0)),
    ("no_show", None, (), "finished", (0, 0)),  # the run ended and never went on air
    ("no_show", None, (), "recording", None),  # still waiting for the stream
    ("no_show", None, (), None, None),  # no run yet
    ("no_show", (0, 120), (), "finished", None),
    ("gaps", (0, 120), ((30, 45),), "finished", (30, 45)),
    ("gaps", (0, 120), ((30, 34), (60, 64)), "finished", (30, 64)),  # 8 min of 120 lost: 6.7 %
    ("gaps", (0, 120), ((30, 36),), "finished", None),  # exactly 5 %
    ("gaps", (0, 120), ((30, 31),), "finished", None),
    ("gaps", (0, 120), ((-60, 1),), "finished", None),  # only 1 min of it inside the registered window
    ("gaps", (0, 120), (), "finished", None),
    ("gaps", None, ((30, 45),), "finished", None),
])
def test_schedule(tmp_path: Path, check: str, on_air: tuple[float, float] | None,
                  gaps: tuple[tuple[float, float], ...], status: str | None,
                  expected: tuple[float, float] | None) -> None:
    facts = replace(FACTS, on_air=((minutes(on_air[0]), minutes(on_air[1])),) if on_air else (),
                    gaps=tuple(Gap(minutes(a), minutes(b), "dropped") for a, b in gaps), run_status=status)
    findings = evaluate(tmp_path, {"id": f"schedule.{check}", "type": "schedule", "check": check},
                        RuleInput(facts))
    if expected is None:
        assert findings == []
    else:
        (finding,) = findings
        assert (finding.start_at, finding.end_at) == (minutes(expected[0]), minutes(expected[1]))


def test_schedule_tolerances_default_to_zero(tmp_path: Path) -> None:
    facts = replace(FACTS, on_air=((minutes(1), minutes(120)),), tolerances={})
    (finding,) = evaluate(tmp_path, {"id": "late", "type": "schedule", "check": "late_start"}, RuleInput(facts))
    assert finding.details["minutes"] == 1.0
    assert "tolerance 0 min" in finding.evidence


def test_schedule_gaps_threshold_and_details(tmp_path: Path) -> None:
    facts = replace(FACTS, gaps=(Gap(minutes(30), minutes(36), "dropped"), Gap(minutes(50), minutes(51), "stall")))
    rule = {"id": "gaps", "type": "schedule", "check": "gaps", "max_gap_percent": 5}
    (finding,) = evaluate(tmp_path, rule, RuleInput(facts))
    assert finding.details["lost_s"] == 420
    assert finding.details["causes"] == ["dropped", "stall"]
    assert evaluate(tmp_path, {**rule, "max_gap_percent": 10}, RuleInput(facts)) == []


# --- registration ---------------------------------------------------------------------------------------

def registration(**changes: Any) -> Any:
    from livewatch.registration.models import Event

    return Event.model_validate({
        "id": "ev-1", "title": "Forum", "kind": "forum", "category": "knowledge", "organizer": {"name": "Org"},
        "start": T0.isoformat(), "end": (T0 + timedelta(hours=2)).isoformat(),
        "streams": [{"url": "https://live.example.com/1"}],
        "participants": [{"name": "李华", "role": "host", "real_name_verified": True, "birth_year": 1990}],
        **changes,
    })


UNDER_AGE = [{"name": "王小明", "role": "host", "real_name_verified": True, "birth_year": 2015}]


@pytest.mark.parametrize(("changes", "checks", "expected"), [
    ({}, [], []),
    ({"participants": UNDER_AGE}, [], ["host-under-16"]),
    ({"topics": ["finance"]}, [], ["credential-missing"]),
    ({"topics": ["finance"], "participants": UNDER_AGE}, [], ["host-under-16", "credential-missing"]),
    ({"topics": ["finance"], "participants": UNDER_AGE}, ["credential-missing"], ["credential-missing"]),
    ({"participants": UNDER_AGE}, ["credential-missing"], []),
    ({"participants": [{"name": "李华", "role": "host", "birth_year": 1990}]}, [], ["real-name-unknown"]),
])
def test_registration(tmp_path: Path, changes: dict[str, Any], checks: list[str], expected: list[str]) -> None:
    facts = replace(FACTS, registration=registration(**changes))
    findings = evaluate(tmp_path, {"id": "reg", "type": "registration", "checks": checks}, RuleInput(facts))
    if not expected:
        assert findings == []
        return
    (finding,) = findings  # every issue is in the one finding, none is lost
    issues = finding.details["issues"]
    assert isinstance(issues, list)
    assert [issue["code"] if isinstance(issue, dict) else issue for issue in issues] == expected
    assert finding.matched == ", ".join(expected)
    assert finding.start_at == T0


def test_registration_finding_names_the_field(tmp_path: Path) -> None:
    facts = replace(FACTS, registration=registration(participants=UNDER_AGE))
    (finding,) = evaluate(tmp_path, {"id": "reg", "type": "registration"}, RuleInput(facts))
    assert finding.details["field"] == "participants.0.birth_year"
    assert finding.evidence.startswith("participants.0.birth_year: host '王小明'")


def test_registration_blacklist_and_no_registration(tmp_path: Path) -> None:
    from livewatch.registration.blacklist import BarredPerson, Blacklist

    barred = Blacklist((BarredPerson(name="李华", reason="test"),))
    facts = replace(FACTS, registration=registration(), blacklist=barred)
    findings = evaluate(tmp_path, {"id": "reg", "type": "registration"}, RuleInput(facts))
    assert [f.matched for f in findings] == ["blacklisted"]
    assert evaluate(tmp_path, {"id": "reg", "type": "registration"}, RuleInput(FACTS)) == []


# --- blacklisted person ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "pinyin", "expected"), [
    ("今天请到了张三丰老师", True, ["张三丰"]),
    ("今天请到了張三豐老师", True, ["张三丰"]),
    ("今天请到了张三峰老师", True, ["张三丰"]),  # a homophone
    ("今天请到了张三峰老师", False, []),
    ("please welcome Zhang Sanfeng", True, ["Zhang Sanfeng"]),
    ("今天请到了李四老师", True, []),
])
def test_blacklisted_person(tmp_path: Path, text: str, pinyin: bool, expected: list[str]) -> None:
    from livewatch.registration.blacklist import BarredPerson, Blacklist

    barred = Blacklist((BarredPerson(name="张三丰", aliases=["Zhang Sanfeng"], reason="banned"),))
    facts = replace(FACTS, blacklist=barred)
    findings = evaluate(tmp_path, {"id": "barred", "type": "blacklisted-person", "pinyin": pinyin},
                        said(text, facts))
    assert [f.matched for f in findings] == expected
    for finding in findings:
        assert finding.details["person"] == "张三丰"
        assert finding.details["reason"] == "banned"


def test_blacklisted_person_without_a_blacklist(tmp_path: Path) -> None:
    assert evaluate(tmp_path, {"id": "barred", "type": "blacklisted-person"}, said("张三丰")) == []


# --- time-window scope ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("scope", "said_at", "fires"), [
    ({"first_minutes": 10}, "05:00", True),
    ({"first_minutes": 10}, "10:00", True),
    ({"first_minutes": 10}, "20:00", False),
    ({"last_minutes": 10}, "115:00", True),
    ({"last_minutes": 10}, "100:00", False),
    ({"from_minutes": 30, "to_minutes": 60}, "45:00", True),
    ({"from_minutes": 30, "to_minutes": 60}, "20:00", False),
    ({"from_minutes": 30, "to_minutes": 60}, "70:00", False),
    ({"first_minutes": 10, "last_minutes": 10}, "05:00", False),  # both must hold
])
def test_scope(tmp_path: Path, scope: dict[str, float], said_at: str, fires: bool) -> None:
    rule = {"id": "scoped", "type": "lexicon", "terms": ["最好"], "scope": scope}
    assert bool(evaluate(tmp_path, rule, said(f"[{said_at}] 最好"))) is fires


def test_scope_counts_from_the_on_air_start(tmp_path: Path) -> None:
    facts = replace(FACTS, on_air=((minutes(30), minutes(150)),))
    rule = {"id": "scoped", "type": "lexicon", "terms": ["最好"], "scope": {"first_minutes": 10}}
    assert len(evaluate(tmp_path, rule, said("[05:00] 最好", facts))) == 1  # 35 min after the registered start
    rule = {"id": "scoped", "type": "lexicon", "terms": ["最好"], "scope": {"last_minutes": 10}}
    assert len(evaluate(tmp_path, rule, said("[115:00] 最好", facts))) == 1  # minute 145 of 30-150


# --- ASR confidence cap and verdicts --------------------------------------------------------------------

CRITICAL: dict[str, Any] = {"id": "guaranteed", "type": "lexicon", "severity": "critical", "terms": ["保本保息"]}


def test_low_confidence_caps_a_critical_hit_at_medium(tmp_path: Path) -> None:
    utterance = Utterance(at(0), at(4), "这个产品保本保息", low_confidence=True, confidence=0.3,
                          flags=("low-logprob",))
    (finding,) = evaluate(tmp_path, CRITICAL, RuleInput(FACTS, {0: Transcript([utterance])}))
    assert finding.severity == "medium"
    assert finding.rule_severity == "critical"
    assert finding.low_confidence is True
    assert finding.asr_confidence == 0.3
    assert verdict([finding]) == "review"


def test_confident_critical_hit_fails(tmp_path: Path) -> None:
    utterance = Utterance(at(0), at(4), "这个产品保本保息", confidence=0.9)
    (finding,) = evaluate(tmp_path, CRITICAL, RuleInput(FACTS, {0: Transcript([utterance])}))
    assert finding.severity == "critical"
    assert finding.low_confidence is False
    assert finding.asr_confidence == 0.9
    assert verdict([finding]) == "fail"


def test_low_confidence_leaves_lower_severities_alone(tmp_path: Path) -> None:
    utterance = Utterance(at(0), at(4), "这个产品保本保息", low_confidence=True)
    (finding,) = evaluate(tmp_path, {**CRITICAL, "severity": "low"}, RuleInput(FACTS, {0: Transcript([utterance])}))
    assert finding.severity == "low"
    assert verdict([finding]) == "review"  # a hit in a low-confidence span is always looked at


def _finding(severity: Any, status: Any = "open", low_confidence: bool = False) -> Finding:
    return Finding(
        id="x", event_id="ev-1", rule="r", pack="p@1", pack_sha256="0", category="test", severity=severity,
        start_at=T0, end_at=T0, offset_s=0, matched="m", evidence="m", highlight=(0, 1), normalized="m",
        legal_basis=None, asr_confidence=None, low_confidence=low_confidence, rule_severity=severity,
        status=status,
    )


@pytest.mark.parametrize(("findings", "expected"), [
    ([], "pass"),
    ([_finding("critical")], "fail"),
    ([_finding("high")], "fail"),
    ([_finding("medium")], "review"),
    ([_finding("low")], "pass"),
    ([_finding("info")], "pass"),
    ([_finding("low", low_confidence=True)], "review"),
    ([_finding("critical", "dismissed")], "pass"),
    ([_finding("critical", "dismissed"), _finding("medium")], "review"),
    ([_finding("medium", "dismissed"), _finding("low")], "pass"),
    ([_finding("medium"), _finding("critical")], "fail"),
    ([_finding("critical", "confirmed")], "fail"),
    ([_finding("high", "escalated")], "fail"),
])
def test_verdict(findings: list[Finding], expected: str) -> None:
    assert verdict(findings) == expected


# --- per-event overrides --------------------------------------------------------------------------------

@pytest.mark.parametrize(("override", "text", "expected"), [
    (None, "行业第一", [("第一", "medium")]),
    (Override("absolute", enabled=False), "行业第一", []),
    (Override("other-rule", enabled=False), "行业第一", [("第一", "medium")]),
    (Override("absolute", severity="critical"), "行业第一", [("第一", "critical")]),
    (Override("absolute", add_terms=["天花板"]), "颜值天花板", [("天花板", "medium")]),
    (Override("absolute", allowlist=["行业第一"]), "行业第一", []),
    (Override("absolute", allowlist=["行业第一"]), "世界第一", [("第一", "medium")]),
    (Override("absolute", severity="low", add_terms=["天花板"], allowlist=["行业第一"]), "行业第一 颜值天花板",
     [("天花板", "low")]),
])
def test_overrides(tmp_path: Path, override: Override | None, text: str, expected: list[tuple[str, str]]) -> None:
    overrides = () if override is None else (override,)
    findings = evaluate(tmp_path, SUPERLATIVES, said(text), overrides)
    assert [(f.matched, f.severity) for f in findings] == expected


@pytest.mark.parametrize(("rule", "override", "text", "fires"), [
    (PROXIMITY, Override("near", add_terms=["天花板"]), "[0] 天花板\n[5] 下单", True),
    (PROXIMITY, None, "[0] 天花板\n[5] 下单", False),
    (DISCLOSURE, Override("no-ad-label", add_terms=["扫码付款"]), "[0] 扫码付款", True),
    (DISCLOSURE, None, "[0] 扫码付款", False),
    (DISCLOSURE, Override("no-ad-label", allowlist=["下单链接"]), "[0] 下单链接", False),
    (COUNT, Override("tipping", add_terms=["送嘉年华"]), "[0] 送嘉年华\n[10] 送嘉年华\n[20] 送嘉年华", True),
    (COUNT, None, "[0] 送嘉年华\n[10] 送嘉年华\n[20] 送嘉年华", False),
    (PHONE, Override("phone", allowlist=["热线13800000000"]), "[0] 热线13800000000", False),
    (PHONE, Override("phone", add_terms=["热线"]), "[0] 热线13800000000", True),  # a regex has no terms
])
def test_overrides_reach_every_type_with_terms(tmp_path: Path, rule: dict[str, Any], override: Override | None,
                                               text: str, fires: bool) -> None:
    findings = evaluate(tmp_path, rule, said(text), () if override is None else (override,))
    assert bool(findings) is fires


def test_overrides_of_types_without_terms_change_nothing_else(tmp_path: Path) -> None:
    facts = replace(FACTS, on_air=((minutes(25), minutes(120)),))
    rule = {"id": "late", "type": "schedule", "check": "late_start"}
    override = Override("late", severity="low", add_terms=["x"], allowlist=["y"])
    (finding,) = evaluate(tmp_path, rule, RuleInput(facts), (override,))
    assert finding.severity == "low"


def test_override_severity_is_still_capped_by_low_confidence(tmp_path: Path) -> None:
    utterance = Utterance(at(0), at(4), "行业第一", low_confidence=True)
    findings = evaluate(tmp_path, SUPERLATIVES, RuleInput(FACTS, {0: Transcript([utterance])}),
                        (Override("absolute", severity="critical"),))
    assert [(f.severity, f.rule_severity) for f in findings] == [("medium", "critical")]


# --- stable finding ids ---------------------------------------------------------------------------------

def test_finding_ids_are_stable_across_evaluations(tmp_path: Path) -> None:
    rules: list[dict[str, Any]] = [SUPERLATIVES, CRITICAL, PHONE]
    data = RuleInput(FACTS, {
        0: Transcript.of_lines(example_lines("[0] 行业第一\n[60] 保本保息\n[120] 电话13812345678", T0)),
        1: Transcript.of_lines(example_lines("[0] 行业第一", T0)),
    })
    first = RuleEngine([pack_of(tmp_path, *rules)]).evaluate(data)
    second = RuleEngine([pack_of(tmp_path, *rules)]).evaluate(data)
    assert len(first) == 4
    assert [f.id for f in first] == [f.id for f in second]
    assert len({f.id for f in first}) == len(first)  # the same rule on two streams at one moment: two ids
    for finding in first:
        assert finding.id == finding_id("ev-1", finding.rule, finding.start_at, finding.stream, finding.matched)
    other_event = RuleEngine([pack_of(tmp_path, *rules)]).evaluate(
        RuleInput(replace(FACTS, event_id="ev-2"), data.transcripts))
    assert not {f.id for f in first} & {f.id for f in other_event}


def test_two_terms_in_one_word_are_two_findings_with_two_ids(tmp_path: Path) -> None:
    # Both terms share one Whisper word's times (a 0.1 s utterance): neither is lost, and their ids differ.
    transcript = Transcript([Utterance(T0, T0 + timedelta(seconds=0.1), "最好第一名")])
    findings = RuleEngine([pack_of(tmp_path, SUPERLATIVES)]).evaluate(RuleInput(FACTS, {0: transcript}))
    assert sorted(f.matched for f in findings) == sorted(["第一", "最好"])
    assert len({f.id for f in findings}) == 2


# --- phrases split across utterances --------------------------------------------------------------------

def _utterance(words: list[tuple[float, float, str]]) -> Utterance:
    text = "".join(w for _, _, w in words).strip()
    return Utterance(at(words[0][0]), at(words[-1][1]), text, tuple(Word(at(a), at(b), w) for a, b, w in words))


SPLIT = [
    _utterance([(0, 1, "这个"), (1, 2, "产品"), (2, 3, "保本")]),
    _utterance([(3.5, 4.2, "保息"), (4.2, 5, "大家"), (5, 6, "放心")]),
    _utterance([(10, 10.5, " It"), (10.5, 11, " is"), (11, 12, " guaranteed")]),
    _utterance([(12.5, 13, " returns"), (13, 13.5, " for"), (13.5, 14, " you")]),
]


@pytest.mark.parametrize("fuzzy", [False, True])
def test_a_phrase_split_across_utterances_fires_once(tmp_path: Path, fuzzy: bool) -> None:
    rule = {"id": "guaranteed", "type": "lexicon", "severity": "critical", "fuzzy": fuzzy,
            "terms": ["保本保息", "稳赚不赔", "guaranteed returns", "guaranteed return"]}
    findings = evaluate(tmp_path, rule, RuleInput(FACTS, {0: Transcript(SPLIT)}))
    assert [(f.matched, f.start_at, f.end_at) for f in findings] == [
        ("保本保息", at(2), at(4.2)),
        ("guaranteed returns", at(11), at(13)),
    ]
    assert [f.count for f in findings] == [1, 1]
    assert highlighted(findings[0]) == "保本 保息"  # the utterance boundary reads as a space in the evidence


def test_a_split_phrase_in_the_transcript_order_not_the_input_order(tmp_path: Path) -> None:
    rule = {"id": "guaranteed", "type": "lexicon", "terms": ["保本保息"]}
    findings = evaluate(tmp_path, rule, RuleInput(FACTS, {0: Transcript(list(reversed(SPLIT)))}))
    assert [(f.start_at, f.end_at) for f in findings] == [(at(2), at(4.2))]


# --- English: fuzzy and whole words ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "fuzzy", "expected"), [
    ("scan the QR code on screen", False, [("scan the qr code", "normalized")]),
    ("can the QR code on screen", True, [("scan the qr code", "fuzzy")]),
    ("can the QR code on screen", False, []),
    ("Scan the room for your seat", True, []),
    ("I like the colour of the cat", True, []),
    ("The concert was great, thank you all", True, []),
])
def test_english_fuzzy(tmp_path: Path, text: str, fuzzy: bool, expected: list[tuple[str, str]]) -> None:
    rule = {"id": "qr", "type": "lexicon", "terms": ["scan the qr code"], "fuzzy": fuzzy}
    findings = evaluate(tmp_path, rule, said(text))
    assert [(f.matched, f.details["how"]) for f in findings] == expected


def test_fuzzy_finding_highlights_what_was_said(tmp_path: Path) -> None:
    rule = {"id": "qr", "type": "lexicon", "terms": ["scan the qr code"], "fuzzy": True}
    (finding,) = evaluate(tmp_path, rule, said("please can the QR code on screen"))
    assert "the QR code" in highlighted(finding)


def test_a_fuzzy_match_starts_and_ends_on_whole_words(tmp_path: Path) -> None:
    # Over the compact text "getcantheqrcode" the alignment took the "t" of "get" for the "s" of "scan";
    # the finding then started at "get.", 1.2 s before the phrase was said.
    utterance = _utterance([(0, 0.5, " Now"), (0.5, 0.8, " you"), (0.8, 1, " will"), (1, 1.8, " get."),
                            (3, 3.3, " Can"), (3.3, 3.5, " the"), (3.5, 3.9, " QR"), (3.9, 4.3, " code"),
                            (4.3, 4.5, " on"), (4.5, 5, " screen.")])
    rule = {"id": "qr", "type": "lexicon", "terms": ["scan the qr code"], "fuzzy": True}
    findings = evaluate(tmp_path, rule, RuleInput(FACTS, {0: Transcript([utterance])}))
    assert [(highlighted(f), f.start_at, f.end_at) for f in findings] == [("Can the QR code", at(3), at(4.3))]


@pytest.mark.parametrize(("text", "fires"), [
    ("the best cream", True),
    ("Best!", True),
    ("这是best的", True),
    ("I bestow this on you", False),
    ("bestow", False),
    ("unbest", False),
    ("the bestseller", False),
])
def test_english_terms_are_whole_words(tmp_path: Path, text: str, fires: bool) -> None:
    rule = {"id": "best", "type": "lexicon", "terms": ["best"]}
    assert bool(evaluate(tmp_path, rule, said(text))) is fires


@pytest.mark.parametrize(("text", "fires"), [
    ("sports betting is back", True),
    ("I bet he's late again", False),
    ("she bets on it", False),
    ("the vaccines have tracking chips in them", True),  # in a phrase the -ing word still takes its lemma
    ("it cures diabetes", True),
])
def test_a_one_word_ing_term_matches_as_written(tmp_path: Path, text: str, fires: bool) -> None:
    rule = {"id": "words", "type": "lexicon", "terms": ["betting", "tracking chip", "cure diabetes"]}
    assert bool(evaluate(tmp_path, rule, said(text))) is fires


# --- pinyin homophones and initials ---------------------------------------------------------------------

@pytest.mark.parametrize(("terms", "text", "pinyin", "expected"), [
    (["玩博彩"], "来玩菠菜稳赚", True, [("玩博彩", "pinyin", "玩菠菜")]),
    (["玩博彩"], "来玩菠菜稳赚", False, []),
    (["玩博彩"], "来玩博彩", True, [("玩博彩", "normalized", "玩博彩")]),
    (["玩博彩"], "今天吃菠萝", True, []),
    (["加我微信"], "可以加我薇信", True, [("加我微信", "pinyin", "加我薇信")]),
    (["加我微信"], "可以加我薇信", False, []),
    # Two syllables never match as homophones: wei xin is in 为新 and 威信, bo cai in 菠菜 (spinach).
    (["博彩"], "今天吃菠菜", True, []),
    (["博彩"], "来玩博彩", True, [("博彩", "normalized", "博彩")]),
    (["微信"], "成为新的自己", True, []),
])
def test_pinyin_homophones(tmp_path: Path, terms: list[str], text: str, pinyin: bool,
                           expected: list[tuple[str, str, str]]) -> None:
    rule = {"id": "gambling", "type": "lexicon", "terms": terms, "pinyin": pinyin}
    findings = evaluate(tmp_path, rule, said(text))
    assert [(f.matched, f.details["how"], highlighted(f)) for f in findings] == expected


@pytest.mark.parametrize(("text", "initials", "expected"), [
    ("大家都骂zf的人", True, [("政府", "zf")]),
    ("大家都骂ZF的人", True, [("政府", "ZF")]),
    ("大家都骂zf的人", False, []),
    ("用zfb付款", True, []),  # a longer token is not the initials
    ("大家都骂政府的人", True, [("政府", "政府")]),
])
def test_pinyin_initials(tmp_path: Path, text: str, initials: bool, expected: list[tuple[str, str]]) -> None:
    rule = {"id": "gov", "type": "lexicon", "terms": ["政府"], "initials": initials}
    findings = evaluate(tmp_path, rule, said(text))
    assert [(f.matched, highlighted(f)) for f in findings] == expected


# --- audio facts (silence, loudness) --------------------------------------------------------------------

def _audio(silences: tuple[tuple[float, float], ...] = (), integrated: float | None = None,
           peak: float | None = None) -> Any:
    from livewatch.rules.audio_facts import AudioFacts, Loudness, Silence

    loudness = None if integrated is None and peak is None else Loudness(integrated, None, peak)
    return AudioFacts(tuple(Silence(at(a), at(b)) for a, b in silences), loudness, 7200.0)


@pytest.mark.parametrize(("silences", "min_duration_s", "expected"), [
    (((60, 120),), 30, [(60, 120)]),
    (((60, 90),), 30, [(60, 90)]),  # exactly the minimum
    (((60, 70),), 30, []),
    (((60, 70), (100, 200), (300, 340)), 30, [(100, 200), (300, 340)]),
    (((60, 70), (100, 200), (300, 340)), 60, [(100, 200)]),
    ((), 30, []),
])
def test_silence(tmp_path: Path, silences: tuple[tuple[float, float], ...], min_duration_s: float,
                 expected: list[tuple[float, float]]) -> None:
    facts = replace(FACTS, audio=_audio(silences))
    rule = {"id": "silence", "type": "silence", "min_duration_s": min_duration_s}
    findings = evaluate(tmp_path, rule, RuleInput(facts))
    assert [(f.start_at, f.end_at) for f in findings] == [(at(a), at(b)) for a, b in expected]


def test_silence_without_audio_facts(tmp_path: Path) -> None:
    assert evaluate(tmp_path, {"id": "silence", "type": "silence"}, RuleInput(FACTS)) == []


@pytest.mark.parametrize(("integrated", "peak", "expected"), [
    (-23.0, -2.0, None),
    (-23.4, -2.0, None),
    (-24.0, -2.0, None),  # exactly the tolerance
    (-31.0, -6.0, "-31.0 LUFS"),
    (-15.0, -6.0, "-15.0 LUFS"),
    (-23.0, 0.5, "0.5 dBTP"),
    (-23.0, -1.0, None),
    (-31.0, 0.5, "-31.0 LUFS, 0.5 dBTP"),  # both problems, one finding: neither is lost
    (None, 0.5, "0.5 dBTP"),
    (-31.0, None, "-31.0 LUFS"),
    (None, None, None),
])
def test_loudness(tmp_path: Path, integrated: float | None, peak: float | None, expected: str | None) -> None:
    facts = replace(FACTS, audio=_audio(integrated=integrated, peak=peak))
    findings = evaluate(tmp_path, {"id": "loud", "type": "loudness", "severity": "info"}, RuleInput(facts))
    assert [f.matched for f in findings] == ([] if expected is None else [expected])
    for finding in findings:
        assert (finding.start_at, finding.end_at) == (FACTS.on_air_start, FACTS.on_air_end)
        assert finding.severity == "info"


def test_loudness_targets(tmp_path: Path) -> None:
    facts = replace(FACTS, audio=_audio(integrated=-16.0, peak=-0.5))
    rule = {"id": "loud", "type": "loudness", "target_lufs": -16, "tolerance_lu": 2, "max_true_peak_dbtp": 0}
    assert evaluate(tmp_path, rule, RuleInput(facts)) == []
    (finding,) = evaluate(tmp_path, {**rule, "target_lufs": -23}, RuleInput(facts))
    assert finding.details == {"integrated_lufs": -16.0}
