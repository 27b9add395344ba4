"""Rules over what the screen showed: text rules on the lines read on screen (channels), codes (``qr-code``)
and black or frozen picture (``picture``), through the engine with the default pack and with tiny packs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from livewatch.pipeline.screen import Box, PictureSpell, ScreenItem
from livewatch.rules.base import RuleInput
from livewatch.rules.engine import Finding, RuleEngine, verdict
from livewatch.rules.packs import PackLibrary, RulePack, RulePackError
from livewatch.rules.screen_text import OCR_LOW_CONFIDENCE, ScreenTranscript, frame_ref
from livewatch.rules.transcript import Transcript
from tests.rules.test_rule_types import FACTS, at, evaluate, pack_of, said

BANNER = Box(40, 620, 880, 64)


def shown(text: str, start: float, end: float, *, confidence: float = 0.97, box: Box = BANNER,
          frame: str = "frames/0/000300.jpg", stream: int = 0) -> ScreenItem:
    return ScreenItem(run_id=1, stream=stream, item="text", text=text, start_at=at(start), end_at=at(end),
                      confidence=confidence, box=box, frame=Path(frame), reader="ocr")


def code(payload: str, payload_class: Any, start: float = 0, end: float = 60, host: str | None = None,
         symbology: str = "QRCode") -> ScreenItem:
    return ScreenItem(run_id=1, stream=0, item="code", text=payload, start_at=at(start), end_at=at(end),
                      confidence=1.0, box=Box(700, 300, 200, 200), frame=Path("frames/0/000010.jpg"), reader="qr",
                      symbology=symbology, payload_class=payload_class, host=host)


def screen_only(*items: ScreenItem, speech: str | None = None) -> RuleInput:
    data = said(speech) if speech is not None else RuleInput(FACTS)
    by_stream: dict[int, list[ScreenItem]] = {}
    for item in items:
        by_stream.setdefault(item.stream, []).append(item)
    return replace(data, screen=by_stream)


@pytest.fixture(scope="module")
def default_pack() -> RulePack:
    return PackLibrary().get("default")


def check(pack: RulePack, data: RuleInput, *rules: str) -> list[Finding]:
    chosen = pack.with_rules(r for r in pack.rules if not rules or r.id in rules)
    return RuleEngine([chosen]).evaluate(data)


# --- text rules read the screen ---------------------------------------------------------------------------

def test_a_banner_shown_for_ten_minutes_is_one_absolute_terms_finding_with_its_frame_and_box(
        default_pack: RulePack) -> None:
    findings = check(default_pack, screen_only(shown("全网最低价 今晚8点开抢", 0, 600)), "absolute-terms.superlatives")
    assert len(findings) == 1
    banner = findings[0]
    assert (banner.channel, banner.frame, banner.box) == ("screen", "frames/0/000300.jpg", BANNER)
    assert (banner.start_at, banner.end_at) == (at(0), at(600))  # the whole time it was visible
    assert banner.evidence == "全网最低价 今晚8点开抢"  # the line, not its neighbours on screen
    assert banner.evidence[banner.highlight[0]:banner.highlight[1]] == "全网最低价"
    assert banner.details["ocr_confidence"] == 0.97
    assert banner.details["seconds_visible"] == 600.0
    assert banner.asr_confidence is None
    assert not banner.low_confidence


def test_a_banner_while_the_host_sells_is_an_absolute_term_while_selling(default_pack: RulePack) -> None:
    # 全网最低价 on screen from 0 to 600 s; the host says 赶紧下单 at 300 s: within 20 s of the banner being up.
    findings = check(default_pack, screen_only(shown("全网最低价", 0, 600), speech="[300] 家人们赶紧下单"),
                     "absolute-terms.near-promotion")
    assert [(f.channel, f.box, f.details["also_on"]) for f in findings] == [("screen", BANNER, ["speech"])]
    # Said at 700 s, after the banner went at 600 s: more than 20 s apart, nothing.
    assert check(default_pack, screen_only(shown("全网最低价", 0, 600), speech="[700] 家人们赶紧下单"),
                 "absolute-terms.near-promotion") == []


def test_a_phone_number_in_a_caption_is_found_and_not_across_two_lines(default_pack: RulePack) -> None:
    caption = shown("客服电话 138 1234 5678", 30, 90, box=Box(0, 680, 400, 30))
    findings = check(default_pack, screen_only(caption), "traffic-diversion.phone-number")
    assert [(f.channel, f.matched, f.box) for f in findings] == [("screen", "138 1234 5678", Box(0, 680, 400, 30))]
    # Two lines shown together are two things: a count beside a number does not make a phone number.
    assert check(default_pack, screen_only(shown("已售 138", 0, 60), shown("1234 5678 件", 0, 60)),
                 "traffic-diversion.phone-number") == []


def test_screen_lines_never_join_but_speech_still_does(tmp_path: Path) -> None:
    rule = {"id": "wechat", "type": "lexicon", "terms": ["加我微信"]}
    assert evaluate(tmp_path, rule, screen_only(shown("加我", 0, 30), shown("微信", 0, 30))) == []
    assert len(evaluate(tmp_path, rule, said("[0] 加我\n[2] 微信"))) == 1  # Whisper split a sentence: one text
    # A line-crossing match must not hide the match inside one line.
    findings = evaluate(tmp_path, {"id": "price", "type": "lexicon", "terms": ["全网最低价", "最低价"]},
                        screen_only(shown("全网", 0, 30), shown("最低价", 0, 30)))
    assert [f.matched for f in findings] == ["最低价"]


def test_a_guaranteed_return_on_a_slide_is_found_by_the_rule_that_finds_it_in_speech(default_pack: RulePack) -> None:
    findings = check(default_pack, screen_only(shown("本产品保本保息 年化收益8%", 120, 400)),
                     "finance-promise.guaranteed-returns")
    assert [(f.channel, f.severity, f.start_at) for f in findings] == [("screen", "critical", at(120))]


def test_a_wechat_id_on_screen(default_pack: RulePack) -> None:
    findings = check(default_pack, screen_only(shown("加微信 vx: lily_beauty 领优惠", 0, 300)),
                     "traffic-diversion.wechat-id", "traffic-diversion.contact-apps")
    assert {f.rule for f in findings} >= {"traffic-diversion.wechat-id"}
    assert {f.channel for f in findings} == {"screen"}


def test_a_rule_reading_speech_only_ignores_the_screen(tmp_path: Path) -> None:
    rule = {"id": "price", "type": "lexicon", "terms": ["全网最低价"], "channels": ["speech"]}
    data = screen_only(shown("全网最低价", 0, 600), speech="[10] 这是全网最低价")
    assert [f.channel for f in evaluate(tmp_path, rule, data)] == ["speech"]
    both = {"id": "price", "type": "lexicon", "terms": ["全网最低价"]}
    assert sorted(f.channel for f in evaluate(tmp_path, both, data)) == ["screen", "speech"]
    screen = {**both, "channels": ["screen"]}
    assert [f.channel for f in evaluate(tmp_path, screen, data)] == ["screen"]


@pytest.mark.parametrize(("rule", "message"), [
    ({"id": "n", "type": "count", "condition": {"terms": ["刷"]}, "threshold": 2, "window_s": 9,
      "channels": ["screen"]}, "a count rule cannot read screen; it reads speech"),
    ({"id": "s", "type": "silence", "channels": ["speech"]}, "a silence rule reads no text channel"),
    ({"id": "l", "type": "lexicon", "terms": ["x"], "channels": []}, "channels must name at least one"),
    ({"id": "l", "type": "lexicon", "terms": ["x"], "channels": ["chat"]}, "channels"),
])
def test_a_channel_a_type_cannot_read_is_refused_at_load(tmp_path: Path, rule: dict[str, Any], message: str) -> None:
    with pytest.raises(RulePackError) as raised:
        pack_of(tmp_path, rule)
    assert message in "\n".join(issue.render() for issue in raised.value.issues)


def test_low_ocr_confidence_caps_severity_as_low_asr_confidence_does(default_pack: RulePack) -> None:
    blurry = shown("本产品保本保息", 0, 60, confidence=OCR_LOW_CONFIDENCE - 0.2)
    findings = check(default_pack, screen_only(blurry), "finance-promise.guaranteed-returns")
    assert [(f.severity, f.rule_severity, f.low_confidence) for f in findings] == [("medium", "critical", True)]
    assert verdict(findings) == "review"
    crisp = check(default_pack, screen_only(replace(blurry, confidence=0.95)), "finance-promise.guaranteed-returns")
    assert [(f.severity, f.low_confidence) for f in crisp] == [("critical", False)]


def test_the_same_words_said_and_shown_are_two_findings_with_their_own_ids(tmp_path: Path) -> None:
    rule = {"id": "price", "type": "lexicon", "terms": ["全网最低价"], "cooldown_s": 600}
    findings = evaluate(tmp_path, rule, screen_only(shown("全网最低价", 0, 600), speech="[0] 全网最低价"))
    assert sorted(f.channel for f in findings) == ["screen", "speech"]  # the cooldown keeps each channel's evidence
    assert len({f.id for f in findings}) == 2


# --- proximity and disclosure across channels ---------------------------------------------------------------

DISCLOSURE = {"id": "ad", "type": "disclosure", "cue": {"terms": ["点击下方链接"]}, "disclosure": {"terms": ["广告"]},
              "within_s": 60}


@pytest.mark.parametrize(("label", "fires"), [
    ((0, 3600), False),    # 广告 on screen all along: the pitch is disclosed
    ((250, 320), False),   # shown within the minute after the pitch
    ((400, 500), True),    # shown too late
    ((0, 100), True),      # gone long before the pitch
])
def test_a_spoken_pitch_with_an_on_screen_disclosure_counts_as_disclosed(
        tmp_path: Path, label: tuple[float, float], fires: bool) -> None:
    data = screen_only(shown("广告", *label, box=Box(900, 10, 50, 24)), speech="[300] 大家点击下方链接下单")
    findings = evaluate(tmp_path, DISCLOSURE, data)
    assert bool(findings) is fires
    assert all(f.channel == "speech" for f in findings)


def test_a_pitch_on_screen_needs_a_disclosure_too(tmp_path: Path) -> None:
    findings = evaluate(tmp_path, DISCLOSURE, screen_only(shown("点击下方链接 立即购买", 0, 900)))
    assert [(f.channel, f.count) for f in findings] == [("screen", 1)]
    assert evaluate(tmp_path, DISCLOSURE, screen_only(shown("点击下方链接 立即购买", 0, 900),
                                                      speech="[600] 本场是广告合作")) == []
    speech_only = {**DISCLOSURE, "channels": ["speech"]}
    assert len(evaluate(tmp_path, speech_only, screen_only(shown("广告", 0, 3600),
                                                           speech="[300] 大家点击下方链接下单"))) == 1


def test_proximity_across_channels(tmp_path: Path) -> None:
    rule = {"id": "near", "type": "proximity", "a": {"terms": ["最低价"]}, "b": {"terms": ["下单"]}, "within_s": 20}
    assert len(evaluate(tmp_path, rule, screen_only(shown("下单立减", 100, 110), speech="[125] 今天最低价"))) == 1
    assert evaluate(tmp_path, rule, screen_only(shown("下单立减", 100, 110), speech="[140] 今天最低价")) == []
    spoken = {**rule, "channels": ["speech"]}
    assert evaluate(tmp_path, spoken, screen_only(shown("下单立减", 100, 110), speech="[125] 今天最低价")) == []


def test_a_disclosure_on_another_stream_does_not_count(tmp_path: Path) -> None:
    data = screen_only(shown("广告", 0, 3600, stream=1), speech="[300] 大家点击下方链接下单")
    assert len(evaluate(tmp_path, DISCLOSURE, data)) == 1


# --- qr-code ---------------------------------------------------------------------------------------------------

CODES = [
    code("https://u.wechat.com/EAbCdEf", "wechat-personal", host="u.wechat.com"),
    code("https://weixin.qq.com/g/AbCd", "wechat-group", 100, 130, host="weixin.qq.com"),
    code("https://qm.qq.com/cgi-bin/qm/qr?k=x", "qq", 200, 260, host="qm.qq.com"),
    code("wxp://f2f0abcdef", "payment", 300, 330),
    code("https://shop.example.com/p/1", "url", 400, 460, host="shop.example.com"),
    code("6901234567892", "other", 500, 520, symbology="EAN13"),
]


def test_the_default_pack_finds_contact_and_payment_codes_high_and_link_codes_medium(default_pack: RulePack) -> None:
    findings = check(default_pack, screen_only(*CODES), "traffic-diversion.contact-code", "traffic-diversion.link-code")
    assert [(f.rule, f.details["class"], f.severity) for f in findings] == [
        ("traffic-diversion.contact-code", "wechat-personal", "high"),
        ("traffic-diversion.contact-code", "wechat-group", "high"),
        ("traffic-diversion.contact-code", "qq", "high"),
        ("traffic-diversion.contact-code", "payment", "high"),
        ("traffic-diversion.link-code", "url", "medium")]
    first = findings[0]
    assert (first.channel, first.frame, first.box, first.evidence) == (
        "screen", "frames/0/000010.jpg", Box(700, 300, 200, 200), "https://u.wechat.com/EAbCdEf")
    assert first.details == {"class": "wechat-personal", "host": "u.wechat.com", "symbology": "QRCode",
                             "seconds_visible": 60.0}
    assert first.category == "traffic-diversion"
    assert first.legal_basis


def test_a_code_held_up_for_minutes_is_one_finding_and_text_items_are_not_codes(tmp_path: Path) -> None:
    rule = {"id": "qr", "type": "qr-code", "classes": ["wechat-personal"]}
    held = code("https://u.wechat.com/EAbCdEf", "wechat-personal", 0, 600, host="u.wechat.com")
    again = replace(held, start_at=at(900), end_at=at(960))
    findings = evaluate(tmp_path, rule, screen_only(held, again, shown("https://u.wechat.com/EAbCdEf", 0, 600)))
    assert [(f.start_at, f.end_at, f.details["seconds_visible"]) for f in findings] == [
        (at(0), at(600), 600.0), (at(900), at(960), 60.0)]


def test_qr_hosts_allow_and_deny(tmp_path: Path) -> None:
    links = [code("https://shop.example.com/a", "url", 0, 10, host="shop.example.com"),
             code("https://t.cn/x", "url", 20, 30, host="t.cn"),
             code("https://evil.t.cn/y", "url", 40, 50, host="evil.t.cn")]
    allow = {"id": "qr", "type": "qr-code", "classes": ["url"], "hosts": {"allow": ["example.com"]}}
    assert [f.details["host"] for f in evaluate(tmp_path, allow, screen_only(*links))] == ["t.cn", "evil.t.cn"]
    deny = {"id": "qr", "type": "qr-code", "classes": ["url"], "hosts": {"deny": ["t.cn"]}}
    assert [f.details["host"] for f in evaluate(tmp_path, deny, screen_only(*links))] == ["t.cn", "evil.t.cn"]
    with pytest.raises(RulePackError):
        pack_of(tmp_path, {"id": "qr", "type": "qr-code", "classes": ["url"], "hosts": {"allow": ["https://x.cn/"]}})
    with pytest.raises(RulePackError):
        pack_of(tmp_path, {"id": "qr", "type": "qr-code", "classes": ["telegram"]})


def test_a_hostile_payload_is_bounded_and_one_line(tmp_path: Path) -> None:
    payload = "https://x.cn/" + "\x1b[2J\n" + "a" * 5000
    findings = evaluate(tmp_path, {"id": "qr", "type": "qr-code", "classes": ["url"]},
                        screen_only(code(payload, "url", host="x.cn")))
    assert len(findings[0].evidence) <= 301
    assert len(findings[0].matched) <= 101
    assert "\x1b" not in findings[0].evidence
    assert "\n" not in findings[0].evidence


# --- picture ---------------------------------------------------------------------------------------------------

def spell(problem: Any, start: float, end: float | None, stream: int = 0) -> PictureSpell:
    return PictureSpell(run_id=1, stream=stream, problem=problem, start_at=at(start),
                        end_at=None if end is None else at(end))


def test_black_and_frozen_spells_in_the_default_pack(default_pack: RulePack) -> None:
    spells = (spell("black", 60, 75), spell("black", 100, 105), spell("frozen", 200, 240),
              spell("frozen", 300, 320), spell("black", 400, 420, stream=1))
    findings = check(default_pack, RuleInput(replace(FACTS, picture=spells)),
                     "technical.black-picture", "technical.frozen-picture")
    assert [(f.rule, f.start_at, f.end_at, f.stream, f.details["seconds"]) for f in findings] == [
        ("technical.black-picture", at(60), at(75), 0, 15.0),
        ("technical.frozen-picture", at(200), at(240), 0, 40.0),
        ("technical.black-picture", at(400), at(420), 1, 20.0)]
    assert {(f.category, f.channel, f.severity) for f in findings} == {("technical", "screen", "low")}
    assert all("无意义直播" in (f.legal_basis or "") for f in findings)


def test_an_open_spell_counts_up_to_the_last_moment_captured_and_keeps_its_id(tmp_path: Path) -> None:
    rule = {"id": "black", "type": "picture", "problem": "black", "min_seconds": 10}
    live = replace(FACTS, run_status="live", on_air=((at(0), at(65)),))
    assert evaluate(tmp_path, rule, RuleInput(replace(live, picture=(spell("black", 60, None),)))) == []
    later = replace(live, on_air=((at(0), at(90)),), picture=(spell("black", 60, None),))
    first = evaluate(tmp_path, rule, RuleInput(later))
    assert [(f.end_at, f.details["seconds"], f.details["open"]) for f in first] == [(at(90), 30.0, True)]
    closed = replace(later, on_air=((at(0), at(200)),), picture=(spell("black", 60, 150),))
    assert [f.id for f in evaluate(tmp_path, rule, RuleInput(closed))] == [first[0].id]


def test_picture_needs_a_problem_and_a_length(tmp_path: Path) -> None:
    with pytest.raises(RulePackError):
        pack_of(tmp_path, {"id": "p", "type": "picture", "problem": "dim", "min_seconds": 10})
    with pytest.raises(RulePackError):
        pack_of(tmp_path, {"id": "p", "type": "picture", "problem": "black", "min_seconds": 0})


def test_text_read_by_real_ocr_from_a_rendered_frame_is_checked(default_pack: RulePack, tmp_path: Path) -> None:
    """Pixels to findings: a frame with a banner and a caption, read by RapidOCR (spaces and all as it gives
    them), each line an appearance with its box, through the default pack."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    from rapidocr_onnxruntime import RapidOCR

    font = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 32)
    frame = Image.new("RGB", (960, 540), (40, 60, 90))
    draw = ImageDraw.Draw(frame)
    draw.text((40, 40), "全网最低价 今晚8点开抢", font=font, fill=(255, 255, 0))
    draw.text((40, 460), "客服电话 138 1234 5678", font=font, fill=(255, 255, 255))
    read, _ = RapidOCR()(np.asarray(frame))
    items = []
    for points, text, score in read or []:
        xs, ys = [int(p[0]) for p in points], [int(p[1]) for p in points]
        box = Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        items.append(shown(text, 0, 120, confidence=float(score), box=box))
    findings = check(default_pack, screen_only(*items), "absolute-terms.superlatives", "traffic-diversion.phone-number")
    by_rule = {f.rule: f for f in findings}
    assert set(by_rule) == {"absolute-terms.superlatives", "traffic-diversion.phone-number"}
    assert by_rule["absolute-terms.superlatives"].box is not None
    assert by_rule["absolute-terms.superlatives"].box.top < 100  # the banner, not the caption
    assert by_rule["traffic-diversion.phone-number"].box is not None
    assert by_rule["traffic-diversion.phone-number"].box.top > 400
    assert all(f.channel == "screen" and not f.low_confidence for f in findings)


def test_a_hostile_line_is_bounded_and_checked_in_time(default_pack: RulePack) -> None:
    """OCR text comes from the stream: a line of 20,000 digits and control characters is cut to
    MAX_LINE_CHARS, kept on one line, and every regex rule finishes within its limit (no rule-error)."""
    from livewatch.rules.screen_text import MAX_LINE_CHARS

    hostile = shown("1" * 10000 + "\x1b[2J\n\u202e加我微信" + "1 " * 5000, 0, 60)
    transcript = ScreenTranscript.of_items([hostile])
    assert len(transcript.utterances) == 1
    assert len(transcript.text) <= MAX_LINE_CHARS
    regex_rules = [r.id for r in default_pack.rules if r.type_name in ("regex", "lexicon", "composite")]
    findings = check(default_pack, screen_only(hostile), *regex_rules)
    assert not [f for f in findings if f.category == "rule-error"]


# --- the screen transcript -------------------------------------------------------------------------------------

def test_the_screen_transcript_keeps_text_lines_in_order_and_leaves_codes_out() -> None:
    items = [shown("第二行", 5, 9), code("https://x.cn", "url"), shown("第一行", 0, 9, confidence=0.5),
             shown("   ", 0, 9)]
    transcript = ScreenTranscript.of_items(items)
    assert [u.text for u in transcript.utterances] == ["第一行", "第二行"]
    assert [u.low_confidence for u in transcript.utterances] == [True, False]
    assert transcript.item_at(transcript.text.index("第二行")).start_at == at(5)
    assert isinstance(transcript, Transcript)
    assert not transcript.joins_lines


def test_frames_are_named_relative_to_the_event_folder(tmp_path: Path) -> None:
    assert frame_ref(Path("frames/0/000001.jpg")) == "frames/0/000001.jpg"
    assert frame_ref(tmp_path / "events" / "ev-1" / "frames" / "0" / "000001.jpg") == "frames/0/000001.jpg"


def test_examples_may_show_screen_lines_and_spells(default_pack: RulePack) -> None:
    """The default pack's examples that show something behave as written (``livewatch rules test`` runs them
    all; here only these, which is quicker)."""
    from livewatch.rules.examples import EXAMPLE_FACTS

    ran = 0
    for rule in default_pack.rules:
        for expected in ("fires", "passes"):
            for example in getattr(rule.spec.examples, expected):
                if not isinstance(example, dict) or not {"screen", "picture"} & set(example):
                    continue
                findings = RuleEngine([default_pack.with_rules([rule])]).evaluate(
                    rule.example_input(example, EXAMPLE_FACTS))
                assert bool(findings) is (expected == "fires"), (rule.id, example)
                ran += 1
    assert ran >= 20
    superlatives = next(r for r in default_pack.rules if r.id == "absolute-terms.superlatives")
    with pytest.raises(ValueError, match="unknown example key"):
        superlatives.example_input({"scren": ["x"]}, FACTS)
