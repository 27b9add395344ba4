"""Numbers as said and written, and the contact rules over them: the normaliser turns spoken digits (Chinese
numerals with 幺 and 两, English digit words) into digits with an exact map back to the words; the default
pack's mobile, landline, QQ and WeChat-id rules find contact details however Whisper wrote them and leave
dates, prices, counts, times and prose alone."""

from __future__ import annotations

import functools

import pytest

from livewatch.rules.engine import Finding, RuleEngine
from livewatch.rules.normalize import normalize
from livewatch.rules.packs import PackLibrary
from tests.rules.test_rule_types import FACTS, highlighted, said

# --- the normaliser ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("original", "light", "compact"), [
    ("one three nine one two three four five six seven eight", "13912345678", "13912345678"),
    ("Call one three nine, double eight, triple six, oh one two", "call 13988666012", "call13988666012"),
    ("one oh one", "101", "101"),
    ("one-three-nine", "139", "139"),
    ("电话one three nine", "电话139", "电话139"),
    # prose keeps its words: fewer than three digits in a row, or no digit word after double
    ("one of the best", "one of the best", "oneofthebest"),
    ("At one point I had two kids", "at one point i had two kids", "atonepointihadtwokids"),
    ("double the price, one or two", "double the price, one or two", "doublethepriceoneortwo"),
    ("someone two three", "someone two three", "someonetwothree"),  # "one" inside a word is no digit
    ("Oh, one two three", "oh, 123", "oh123"),  # "oh" opens no number: an interjection
    # Chinese: 幺 and 两 in strings of digits; a lone 幺 beside other digit groups
    ("幺三九兩兩八八六六七七", "13922886677", "13922886677"),
    ("幺，三九一，二三四五", "1,391,2345", "13912345"),
    ("一三八、幺", "138、1", "1381"),
    ("老幺，三个孩子", "老幺,3个孩子", "老幺3个孩子"),
    ("幺蛾子", "幺蛾子", "幺蛾子"),
    # written digits keep their separators: a date, a decimal, a time mean something to other rules
    ("1-3-9-1-2-3-4-5-6-7-8", "1-3-9-1-2-3-4-5-6-7-8", "13912345678"),
    ("2026-12-01 10:30 售价3.5元", "2026-12-01 10:30 售价3.5元", "202612011030售价3.5元"),
])
def test_spoken_digits_become_digits(original: str, light: str, compact: str) -> None:
    assert normalize(original, "light").text == light
    assert normalize(original).text == compact


def test_every_spoken_digit_maps_to_the_words_that_said_it() -> None:
    text = "call one three, double eight now"
    light = normalize(text, "light")
    assert light.text == "call 1388 now"
    spans = [text[start:end] for start, end in light.spans]
    assert spans[5:9] == ["one", "three", "double eight", "double eight"]
    first = light.text.index("1")
    start, end = light.original_span(first, first + 4)
    assert text[start:end] == "one three, double eight"  # the separators between the words go with them


def test_a_chinese_number_maps_to_the_whole_number_said() -> None:
    text = "打幺三八，一二三四"
    light = normalize(text, "light")
    assert light.text == "打138,1234"
    assert text[slice(*light.original_span(1, 4))] == "幺三八"
    assert text[slice(*light.original_span(1, 9))] == "幺三八，一二三四"


# --- the contact rules of the default pack ----------------------------------------------------------------

CONTACT_RULES = ("traffic-diversion.phone-number", "traffic-diversion.landline", "traffic-diversion.qq-number",
                 "traffic-diversion.wechat-id")


@functools.cache
def _contact_engine() -> RuleEngine:
    """Built once for the file: loading the default pack takes seconds, and an engine holds no state."""
    pack = PackLibrary().get("default")
    return RuleEngine([pack.with_rules(r for r in pack.rules if r.spec.id in CONTACT_RULES)])


def _contacts(text: str) -> list[Finding]:
    return _contact_engine().evaluate(said(text, FACTS))


def _found(text: str) -> list[tuple[str, str]]:
    return [(f.rule.removeprefix("traffic-diversion."), highlighted(f)) for f in _contacts(text)]


@pytest.mark.parametrize(("text", "expected"), [
    # mobile numbers as Whisper writes them
    ("WhatsApp me on 1-3-9-1-2-3-4-5-6-7-8.", ("phone-number", "1-3-9-1-2-3-4-5-6-7-8")),
    ("Save this number, 186.2345.9012, that's me", ("phone-number", "186.2345.9012")),
    ("My phone is 1 8 9 2 2 3 3 4 4 5 5, call me", ("phone-number", "1 8 9 2 2 3 3 4 4 5 5")),
    ("電話一五八，幺二三四，五六七八，有需要的打過來", ("phone-number", "一五八，幺二三四，五六七八")),
    ("加我薇信，号码是一三八、零零一三、八零零零。", ("phone-number", "一三八、零零一三、八零零零")),
    ("我的V信是幺三九兩兩八八六六七七，大家加一下", ("phone-number", "幺三九兩兩八八六六七七")),
    ("Call one three eight zero zero one three eight zero zero zero for the group buy",
     ("phone-number", "one three eight zero zero one three eight zero zero zero")),
    ("my number is one three nine, one two three four, double five six seven",
     ("phone-number", "one three nine, one two three four, double five six seven")),
    ("手机号+86 177 0123 4567，直接打给我", ("phone-number", "+86 177 0123 4567")),
    ("Add +86-150-1234-5678 on WeChat", ("phone-number", "+86-150-1234-5678")),
    ("电话8613912345678", ("phone-number", "8613912345678")),
    ("我的电话13812345678，3点以后打", ("phone-number", "13812345678")),
    # landlines and service numbers
    ("想要的打座机010-6543-2100，私下有优惠", ("landline", "010-6543-2100")),
    ("拨打（0755）86911999", ("landline", "（0755）86911999")),
    ("电话零七五五，八六九一，一九九九", ("landline", "零七五五，八六九一，一九九九")),
    ("有需要打我們的400-820-1234", ("landline", "400-820-1234")),
    # QQ numbers and WeChat ids after a cue, highlighted with the cue
    ("QQ号码2837465190，加的时候说是直播间来的", ("qq-number", "QQ号码2837465190")),
    ("加我扣扣，八七六五四三二幺，私聊", ("qq-number", "扣扣，八七六五四三二幺")),
    ("加Q群，群號七七八八九九幺幺二，進群領資料", ("qq-number", "Q群，群號七七八八九九幺幺二")),
    ("my QQ is one two three four five six", ("qq-number", "QQ is one two three four five six")),
    ("微信号lw_2024888，不要在平台上拍", ("wechat-id", "微信号lw_2024888")),
    ("我的微信号是zhangjie8866，加我拿内部价", ("wechat-id", "微信号是zhangjie8866")),
    ("加我微信 zhangsan", ("wechat-id", "加我微信 zhangsan")),
    ("Add me on WeChat for the wholesale price, my ID is linda888.",
     ("wechat-id", "WeChat for the wholesale price, my ID is linda888")),
    ("搜wxid_abc123def456加我", ("wechat-id", "wxid_abc123def456")),
])
def test_contact_details_are_found_and_highlighted_as_said(text: str, expected: tuple[str, str]) -> None:
    assert expected in _found(text)


@pytest.mark.parametrize("text", [
    "2026年12月1日发货，12/01到", "这款卖¥199，原价3999元", "10:30开播", "年化收益百分之三点五",
    "今天卖出了12345件", "已经有13,800,000,000人次观看", "13、14、15、16、17、18、19号都有货", "订单号是2024112300158",
    "快递单号SF1234567890123", "版本1.3.9.12345", "型号SM-G9730，2019年款",
    "The population grew to 13,912,345 last year", "The lecture was viewed 12,345,678 times",
    "Chapter 13, page 91, has the chart", "call 120 right away",
    "so lets say 800 2200 300 and 15", "1399, 1299, 1199, 999 all sold out", "one of the best, at one point",
    "我在QQ空间写了心得", "企鹅馆门票12000元", "QQ音乐会员2023年", "微信iphone版很好用", "我用微信支付了199",
    "add me on wechat because it is easier", "my id is linda888", "老幺，三个孩子",
])
def test_dates_prices_counts_and_prose_are_no_contact_details(text: str) -> None:
    assert _found(text) == []


def test_a_number_does_not_run_on_into_the_next_utterance() -> None:
    assert _found("[0] QQ103473007\n[4] 6芯变3芯") == [("qq-number", "QQ103473007")]
    assert _found("[0] 总共138\n[4] 12345678件") == []
