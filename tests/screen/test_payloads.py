"""Payload classes: what a decoded code leads to, from real payload shapes."""

from __future__ import annotations

import unicodedata
from typing import get_args

import pytest

from livewatch.pipeline.screen import PayloadClass
from livewatch.screen.base import clean_text
from livewatch.screen.payloads import classify
from tests.test_hostile_strings import ACCEPTED, REFUSED


@pytest.mark.parametrize(("payload", "expected"), [
    # Personal WeChat: the contact card links and the wxp:// card.
    ("https://u.wechat.com/EKr7x_Jb0bM4aXnKR4yAbCs", ("wechat-personal", "u.wechat.com")),
    ("http://weixin.qq.com/r/8UQeEvDE3XQ8rWIB9xlh", ("wechat-personal", "weixin.qq.com")),
    ("HTTP://WEIXIN.QQ.COM/R/8UQEEVDE3XQ8RWIB9XLH", ("wechat-personal", "weixin.qq.com")),
    ("wxp://AbCdEf123", ("wechat-personal", None)),
    ("u.wechat.com/MGx9", ("wechat-personal", "u.wechat.com")),
    # WeChat groups.
    ("https://weixin.qq.com/g/AwYAAE3rLzQ", ("wechat-group", "weixin.qq.com")),
    # QQ, personal and groups.
    ("https://qm.qq.com/cgi-bin/qm/qr?k=AbCdEf&noverify=0", ("qq", "qm.qq.com")),
    ("https://jq.qq.com/?_wv=1027&k=5xyz", ("qq", "jq.qq.com")),
    ("http://wpa.qq.com/msgrd?v=3&uin=123456&site=qq&menu=yes", ("qq", "wpa.qq.com")),
    ("mqqapi://card/show_pslcard?src_type=internal&uin=123456", ("qq", None)),
    # Payments: WeChat Pay, Alipay, UnionPay.
    ("wxp://f2f0Xv9Kxyz", ("payment", None)),
    ("weixin://wxpay/bizpayurl?pr=AbC", ("payment", None)),
    ("HTTPS://QR.ALIPAY.COM/FKX12345ABCDE", ("payment", "qr.alipay.com")),
    ("https://qr.alipay.com/tsx10013abc", ("payment", "qr.alipay.com")),
    ("alipays://platformapi/startapp?saId=10000007", ("payment", None)),
    ("https://qr.95516.com/00010000/01234567890", ("payment", "qr.95516.com")),
    # Phone numbers: tel:, a bare mobile, landline and service number, with the usual separators.
    ("tel:13812345678", ("phone", None)),
    ("TEL:+86-138-1234-5678", ("phone", None)),
    ("13812345678", ("phone", None)),
    ("+86 138 1234 5678", ("phone", None)),
    ("010-12345678", ("phone", None)),
    ("(0755) 8765 4321", ("phone", None)),
    ("400-123-4567", ("phone", None)),
    # Any other link: its host, lower case, punycode for a non-ASCII name.
    ("https://Shop.Example.COM:8443/item?id=1", ("url", "shop.example.com")),
    ("https://例子.测试/路径", ("url", "xn--fsqu00a.xn--0zwm56d")),
    ("https://weixin.qq.com/cgi-bin/readtemplate", ("url", "weixin.qq.com")),
    ("https://v.qq.com/x/page/abc.html", ("url", "v.qq.com")),
    ("www.example.cn", ("url", "www.example.cn")),
    # A link is read as a browser reads it: userinfo and backslashes do not make it WeChat's.
    ("https://u.wechat.com@evil.example/x", ("url", "evil.example")),
    ("https://evil.example\\@u.wechat.com/x", ("url", "evil.example")),
    ("https://u.wechat.com.evil.example/x", ("url", "u.wechat.com.evil.example")),
    ("http://[::1/", ("url", None)),
    # Everything else.
    ("6901234567892", ("other", None)),
    ("12345", ("other", None)),
    ("WIFI:S:shop;T:WPA;P:secret;;", ("other", None)),
    ("BEGIN:VCARD\nTEL:13812345678\nEND:VCARD", ("other", None)),
    ("mailto:a@example.com", ("other", None)),
    ("javascript:alert(1)", ("other", None)),
    ("", ("other", None)),
])
def test_payload_classes(payload: str, expected: tuple[str, str | None]) -> None:
    assert classify(payload) == expected


def test_hostile_payloads_are_classified_and_cleaned_without_error() -> None:
    for payload in [*ACCEPTED, *REFUSED, "http://" + "a." * 200 + "com", "https://[" + "f" * 5000, "\x00" * 10]:
        payload_class, host = classify(payload)
        assert host is None or (host.isascii() and len(host) <= 253)
        cleaned = clean_text(payload)
        assert all(ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf") for ch in cleaned)
        assert payload_class in get_args(PayloadClass)
