"""What a decoded code leads to: a personal WeChat contact, a WeChat group, QQ, a payment, a phone number, some
other web page, or something else (:func:`classify`).

The tables below are the whole of the knowledge; a row is (class, scheme or host, path prefix). A payload is
matched in this order: its scheme (``wxp://``, ``alipays://``, ``tel:``, ...), then for a web link its host and
path, then a bare phone number. Matching is case-insensitive: a QR code in alphanumeric mode carries upper
case only (``HTTPS://QR.ALIPAY.COM/FKX...``). The payload is hostile: it is only parsed, never opened, and a
link is read the way a browser reads it (a backslash counts as a slash, so ``https://evil.example\\@u.wechat.com``
is a link to ``evil.example``, not to WeChat). See docs/screen.md.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from livewatch.pipeline.screen import PayloadClass

#: Schemes that say what the code is by themselves: (class, scheme and the start of what follows it).
SCHEMES: tuple[tuple[PayloadClass, str], ...] = (
    ("payment", "wxp://f2f"),  # WeChat Pay personal receiving code
    ("wechat-personal", "wxp://"),  # WeChat contact card
    ("payment", "weixin://wxpay/"),  # WeChat Pay native order (bizpayurl)
    ("wechat-personal", "weixin://"),  # WeChat deep links (add contact, open chat)
    ("payment", "alipays://"),
    ("payment", "alipay://"),
    ("payment", "unionpay://"),
    ("qq", "mqqapi://"),
    ("qq", "mqqwpa://"),
    ("qq", "mqq://"),
    ("qq", "tencent://"),  # tencent://message/?uin=... opens a QQ chat on a desktop
    ("phone", "tel:"),
    ("phone", "sms:"),
    ("phone", "smsto:"),
)

#: Web links by host (exact, after lower-casing) and path prefix ("" for any path).
HOSTS: tuple[tuple[PayloadClass, str, str], ...] = (
    ("wechat-personal", "u.wechat.com", ""),
    ("wechat-personal", "weixin.qq.com", "/r/"),
    ("wechat-group", "weixin.qq.com", "/g/"),
    ("payment", "payapp.weixin.qq.com", ""),
    ("payment", "wx.tenpay.com", ""),
    ("payment", "qr.alipay.com", ""),
    ("payment", "render.alipay.com", ""),
    ("payment", "ds.alipay.com", ""),
    ("payment", "qr.95516.com", ""),  # UnionPay
    ("payment", "qr.chinaums.com", ""),  # China UMS aggregated codes
    ("qq", "qm.qq.com", ""),
    ("qq", "qr.qq.com", ""),
    ("qq", "im.qq.com", ""),
    ("qq", "jq.qq.com", ""),  # join a QQ group
    ("qq", "wpa.qq.com", ""),  # chat with a QQ number
    ("qq", "qun.qq.com", ""),
    ("qq", "connect.qq.com", ""),
)

#: A Chinese phone number on its own: mobile (1[3-9] + 9 digits), landline (0 + area code + 7-8 digits) or a
#: 400/800 service number, with an optional +86/0086 and the usual separators.
_PHONE = re.compile(r"(?:(?:\+|00)?86)?(?:1[3-9]\d{9}|0\d{9,11}|[48]00\d{7})")
_SEPARATORS = re.compile(r"[\s\-().]")
#: A link without a scheme (``u.wechat.com/abc``, ``www.example.com``): a dotted host, then a path or nothing.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_BARE_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}(?:[/?#:]|$)")
#: WHATWG URL parsing drops tabs and line breaks anywhere in a link.
_URL_WHITESPACE = str.maketrans("", "", "\t\n\r")


def classify(payload: str) -> tuple[PayloadClass, str | None]:
    """The class of a decoded code's payload and, for a web link, its host (lower case, IDNA/punycode for a
    non-ASCII name; None for anything else or a host that cannot be written so)."""
    text = payload.strip()
    lowered = text.lower()
    for cls, prefix in SCHEMES:
        if lowered.startswith(prefix):
            return cls, None
    link = _web_link(lowered)
    if link is not None:
        host, path = link
        if host is None:
            return "url", None
        for cls, known, path_prefix in HOSTS:
            if host == known and path.startswith(path_prefix):
                return cls, host
        return "url", host
    if _PHONE.fullmatch(_SEPARATORS.sub("", text)):
        return "phone", None
    return "other", None


def _web_link(lowered: str) -> tuple[str | None, str] | None:
    """(host, path) of an http(s) link or of a bare ``host/path``; None when the payload is not one. The host
    is None when the link has none that can be written in ASCII."""
    url = lowered.translate(_URL_WHITESPACE).replace("\\", "/")
    if not url.startswith(("http://", "https://")):
        if not _BARE_HOST.match(url):
            return None
        url = f"http://{url}"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed [IPv6] host or port
        return None, ""
    return _ascii_host(host), parts.path


def _ascii_host(host: str | None) -> str | None:
    """``host`` lower case, without a trailing dot, non-ASCII labels in punycode; None if it cannot be."""
    if not host:
        return None
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if not host or len(host) > 253 or not re.fullmatch(r"[a-z0-9.\-_:\[\]]+", host):
        return None
    return host
