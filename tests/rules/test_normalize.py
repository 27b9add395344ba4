"""Normalization for matching: evasion spellings fold to one text, and every normalized character knows
which original characters it came from (table-driven cases plus properties over arbitrary text)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livewatch.rules.normalize import (
    NormalizedText,
    initials,
    normalize,
    normalize_term,
    pinyin_of_term,
    pinyin_view,
)


@pytest.mark.parametrize(("original", "expected"), [
    # Traditional → Simplified (Whisper often writes Traditional for Mandarin)
    ("廣告", "广告"),
    ("穩賺不賠", "稳赚不赔"),
    ("微信號", "微信号"),
    # full-width letters and digits, circled digits
    ("ｖｘ", "vx"),
    ("ＶＸ", "vx"),
    ("加我ｖｘ", "加我vx"),
    ("１３８", "138"),
    ("①②③", "123"),
    ("⑧⑧", "88"),
    # noise characters inside a term: punctuation, symbols, emoji, spaces, zero-width characters
    ("加*我*微*信", "加我微信"),
    ("加 我 微 信", "加我微信"),
    ("加-我-微-信", "加我微信"),
    ("加。我，微！信", "加我微信"),
    ("加😀我👍微🔥信", "加我微信"),
    ("加\u200b我\u200d微\ufeff信", "加我微信"),
    ("a\u200bb", "ab"),
    # Latin letters and digits stay doubled (stretched Chinese characters: see test_stretched_characters)
    ("add", "add"),
    ("1188", "1188"),
    ("往往读", "往往读"),
    ("扣扣", "扣扣"),
    # Chinese numerals → digits
    ("一三八一二三四五六七八", "13812345678"),
    ("三十", "30"),
    ("十五", "15"),
    ("十", "10"),
    ("一百二十", "120"),
    ("两万", "20000"),
    ("三万五千", "35000"),
    ("二十万", "200000"),
    ("一千零五", "1005"),
    ("零", "0"),
    ("〇", "0"),
    ("年化收益三十", "年化收益30"),
    ("第一次", "第1次"),
    # malformed runs: the digits become digits, the units stay as they are
    ("二三十", "23十"),
    ("二三百", "23百"),
    ("万", "万"),
    ("百五", "百5"),
    # case folding (and full case folding: ß → ss)
    ("VX", "vx"),
    ("WeChat", "wechat"),
    ("Scan The QR Code", "scantheqrcode"),
    ("Straße", "strasse"),
    ("ＡＢＣ", "abc"),
    ("ﬁne", "fine"),
    # a combining accent is the same text as the precomposed letter
    ("cafe\u0301", "café"),
    ("", ""),
    ("，。！ \n", ""),
])
def test_compact_view(original: str, expected: str) -> None:
    assert normalize(original).text == expected
    assert normalize_term(original) == expected


@pytest.mark.parametrize(("original", "expected"), [
    ("加*我*微*信", "加*我*微*信"),
    ("好好好", "好好好"),
    ("电话 138-1234-5678", "电话 138-1234-5678"),
    ("电话一三八一二三四五六七八", "电话13812345678"),
    ("ＶＸ：ABC", "vx:abc"),
    ("a\u200bb\u200dc\ufeff", "abc"),
    ("廣告", "广告"),
    ("line one\nline two", "line one\nline two"),
])
def test_light_view_keeps_punctuation_and_repeats(original: str, expected: str) -> None:
    assert normalize(original, "light").text == expected


def test_both_spellings_of_an_accent_normalize_alike() -> None:
    assert normalize("cafe\u0301").text == normalize("caf\u00e9").text
    assert normalize("cafe\u0301", "light").text == normalize("caf\u00e9", "light").text
    composed = normalize("cafe\u0301 noir")
    assert composed.spans[3] == (3, 5)  # é comes from e + the combining accent


@pytest.mark.parametrize(("original", "spans"), [
    ("好好好", ((0, 3),)),
    ("加*我", ((0, 1), (2, 3))),
    ("三十", ((0, 2), (0, 2))),
    ("一三八", ((0, 3), (0, 3), (0, 3))),
    ("ß", ((0, 1), (0, 1))),
    ("ｖ ｘ", ((0, 1), (2, 3))),
    ("a好好好b", ((0, 1), (1, 4), (4, 5))),
    ("a好好b", ((0, 1), (1, 2), (2, 3), (3, 4))),
])
def test_spans_point_at_the_original(original: str, spans: tuple[tuple[int, int], ...]) -> None:
    assert normalize(original).spans == spans


@pytest.mark.parametrize(("original", "term", "evidence"), [
    ("大家加*我*微*信吧", "加我微信", "加*我*微*信"),
    ("我跟你们说穩賺不賠啊", "稳赚不赔", "穩賺不賠"),
    ("电话一三八一二三四五六七八谢谢", "13812345678", "一三八一二三四五六七八"),
    ("真的好好好好吃", "好吃", "好好好好吃"),
    ("加我ｖ ｘ哦", "vx", "ｖ ｘ"),
    ("年化收益三十个点", "30", "三十"),
])
def test_original_span_is_the_evidence(original: str, term: str, evidence: str) -> None:
    view = normalize(original)
    index = view.text.index(term)
    start, end = view.original_span(index, index + len(term))
    assert original[start:end] == evidence
    assert view.text_within(start, end) == term


def test_original_span_of_nothing_is_empty() -> None:
    view = normalize("abc")
    assert view.original_span(1, 1) == (0, 0)
    assert normalize("").original_span(0, 1) == (0, 0)


@pytest.mark.parametrize(("a", "b"), [
    ("菠菜", "博彩"),
    ("薇信", "微信"),
    ("威信", "微信"),
    ("扣扣", "扣扣"),
    ("網賭", "网赌"),
])
def test_homophones_share_pinyin(a: str, b: str) -> None:
    assert pinyin_of_term(a) == pinyin_of_term(b)


@pytest.mark.parametrize(("term", "expected"), [
    ("菠菜", "bo'cai'"),
    ("博彩", "bo'cai'"),
    ("微信", "wei'xin'"),
    ("薇信", "wei'xin'"),
    ("加我vx", "jia'wo'vx"),
    ("ＶＸ", "vx"),
    ("三十", "30"),
])
def test_pinyin_of_term(term: str, expected: str) -> None:
    assert pinyin_of_term(term) == expected


def test_pinyin_is_not_shared_by_different_words() -> None:
    assert pinyin_of_term("菠萝") != pinyin_of_term("博彩")
    assert pinyin_of_term("微博") != pinyin_of_term("微信")


@pytest.mark.parametrize(("term", "expected"), [
    ("政府", "zf"),
    ("微信", "wx"),
    ("廣告", "gg"),
    ("加*我*微*信", "jwwx"),
    ("政府a", ""),
    ("abc", ""),
    ("", ""),
    ("三十", ""),  # numerals are digits after normalization, not Chinese
])
def test_initials(term: str, expected: str) -> None:
    assert initials(term) == expected


# --- properties ---------------------------------------------------------------------------------------

_CJK = "廣告广告加我微信薇好稳穩赚賺一二三四五六七八九十百千万两零〇菠菜博彩政府乾隆发發"
_WIDE = "ｖｘＡＢＣａ１２①②③⑧㈠㍻"
_NOISE = ["😀", "👍🏽", "🇨🇳", "👨\u200d👩\u200d👧", "e\u0301", "\u200b", "\u200d", "\ufeff", "\u0301", "\u0336",
          "\u20dd", "*", "，", "。", "！", " ", "\u3000", "\n", "\t", "-", ".", "@", "~"]
_LATIN = "abcVXqrQR0123456789ßﬁİΣς"

_pieces = st.one_of(
    st.sampled_from(_CJK),
    st.sampled_from(_WIDE),
    st.sampled_from(_NOISE),
    st.sampled_from(_LATIN),
    st.characters(exclude_categories=["Cs"]),
)
_texts = st.lists(_pieces, max_size=30).map("".join)
_PROPERTY = settings(max_examples=200, deadline=None)


def _views(original: str) -> dict[str, NormalizedText]:
    compact = normalize(original)
    return {"compact": compact, "light": normalize(original, "light"), "pinyin": pinyin_view(compact)}


def _renormalized(original: str, view: str) -> str:
    if view == "pinyin":
        return pinyin_view(normalize(original)).text
    return normalize(original, "light" if view == "light" else "compact").text


def _term_key(source: str, view: str) -> str:
    if view == "pinyin":
        return pinyin_of_term(source)
    return normalize_term(source, "light" if view == "light" else "compact")


@_PROPERTY
@given(_texts)
def test_every_normalized_character_has_a_span_in_the_original(original: str) -> None:
    for name, view in _views(original).items():
        assert view.original == original, name
        assert len(view.spans) == len(view.text), name
        for start, end in view.spans:
            assert 0 <= start < end <= len(original), (name, start, end)
        starts = [start for start, _ in view.spans]
        assert starts == sorted(starts), name


@_PROPERTY
@given(_texts, st.data())
def test_original_span_covers_exactly_the_characters_that_produced_the_range(original: str,
                                                                              data: st.DataObject) -> None:
    for name, view in _views(original).items():
        if not view.text:
            continue
        i = data.draw(st.integers(0, len(view.text) - 1), label=f"{name} start")
        j = data.draw(st.integers(i + 1, len(view.text)), label=f"{name} end")
        produced = view.spans[i:j]
        expected = (min(s for s, _ in produced), max(e for _, e in produced))
        assert view.original_span(i, j) == expected, name


def _assert_found_terms_map_back(original: str, view_name: str, source: str) -> None:
    """Every occurrence of ``source``'s normalized key in the view of ``original`` maps back to original
    text whose own normalization contains the key."""
    view = _views(original)[view_name]
    term = _term_key(source, view_name)
    if not term:
        return
    index = view.text.find(term)
    while index != -1:
        start, end = view.original_span(index, index + len(term))
        assert term in _renormalized(original[start:end], view_name), (view_name, term, original[start:end])
        index = view.text.find(term, index + 1)


@pytest.mark.parametrize(("original", "source"), [
    ("大家加*我*微*信吧", "加我微信"),
    ("二三十", "三十十"),  # "3十": part of a malformed numeral run, which reads 30 on its own
    ("二三十x十十", "十十"),
    ("一百二十三", "二十"),
    ("cafe\u0301 au lait", "café"),
    ("真的好好好好吃", "好吃"),
    ("我跟你们说穩賺不賠啊", "稳赚"),
])
@pytest.mark.parametrize("view_name", ["compact", "light", "pinyin"])
def test_found_terms_map_back_to_their_evidence(original: str, source: str, view_name: str) -> None:
    _assert_found_terms_map_back(original, view_name, source)


@_PROPERTY
@given(_texts, st.data())
def test_a_found_term_maps_back_to_original_text_that_contains_it(original: str, data: st.DataObject) -> None:
    for name in ("compact", "light", "pinyin"):
        # A term is anything normalized: a piece of the text itself (so it is found) or unrelated text.
        a = data.draw(st.integers(0, len(original)), label=f"{name} a")
        b = data.draw(st.integers(a, len(original)), label=f"{name} b")
        source = data.draw(st.one_of(st.just(original[a:b]), _texts), label=f"{name} term source")
        _assert_found_terms_map_back(original, name, source)
