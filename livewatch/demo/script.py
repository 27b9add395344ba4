"""The simulated forum the demo broadcasts: who speaks, what they say, and which lines are planted violations.

The wording is chosen for the machine, not for prose: every line was synthesized with espeak-ng, sent through
the live path (AAC, 16 kHz) and transcribed with faster-whisper ``tiny.en``, and kept only when the text came
out close enough for the default pack (``cn-live-events``) to do the right thing. Notes on what tiny.en hears:

* "guaranteed returns" comes out as "guaranteed return(s)" with both voices: both are terms of
  ``finance-promise.guaranteed-returns``.
* "WeChat" is heard as "we chat", "weekend" or "we can't", so the diversion plant leans on "scan the QR
  code on screen" (the English of 扫屏幕上的二维码), which tiny.en hears as "can the QR code on screen" and
  ``traffic-diversion.qr-groups``' fuzzy matching catches. The line opens
  with "Please": the fuzzy match takes one letter before "can" as the "s", and that letter should be of
  this line, not the last word of the line before (which would put the finding seconds too early).
* "use my code" is heard reliably; nothing in the script says "ad", "sponsored" or "partnership", so the
  promotion has no disclosure and ``ad-disclosure.missing`` fires. No line says "add" either (Whisper may
  write it "ad", which would count as a disclosure).
* The clean lines avoid the pack's absolute terms ("the best", "number one") and shop words near them.

The Mandarin forum (``FORUM_ZH``, or :func:`forum_zh` with other voices) is the opposite: Kokoro voices (see
``kokoro.py``) and plants worded as a host would say them, not tuned to any model or to today's pack. What Whisper
mishears in them (保本保息 → 寶本寶西, 根治 → 根據) is for the Chinese matching to survive. Its layout keeps each
plant's finding its own: the promotion with no disclosure comes more than 30 s before the absolute terms (so
``absolute-terms.near-promotion`` pairs 全网最低价 with its own 秒杀/购买, and the disclosure rule is cued once), two
plants of one category never follow each other directly, and the clean lines are near misses (第一次, revenue up
百分之三十, a negated 不能保证稳赚不赔, 按时吃药, 评论区留言).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Role = Literal["host", "guest", "moderator"]


@dataclass(frozen=True)
class Speaker:
    """A participant: registered as such in the demo schedule, and given a voice: an espeak-ng voice name, or
    ``kokoro:<voice>`` for Kokoro (Mandarin)."""

    name: str
    role: Role
    voice: str
    birth_year: int


@dataclass(frozen=True)
class Plant:
    """A violation planted on purpose: the category and the rule of the default pack that must find it."""

    category: str
    rule: str
    what: str


@dataclass(frozen=True)
class Line:
    speaker: Speaker
    text: str
    plant: Plant | None = None

    @property
    def is_plant(self) -> bool:
        return self.plant is not None


@dataclass(frozen=True)
class Shown:
    """Something the demo's picture shows (see ``picture.py``) for ``duration_s`` from ``offset_s`` after the start
    of script line ``line`` (an index), and the plants it carries: what the screen stage must find, on the screen,
    while it is shown."""

    kind: Literal["qr", "banner"]
    content: str  # the QR code's payload, or the banner's text
    line: int
    duration_s: float
    plants: tuple[Plant, ...]
    offset_s: float = 0.0


@dataclass(frozen=True)
class Script:
    name: str
    title: str
    speakers: tuple[Speaker, ...]
    lines: tuple[Line, ...]
    #: The language the event is registered in (all it says about transcription).
    language: Literal["zh", "en"] = "en"
    #: What the picture shows beside the speech: the screen plants.
    screen: tuple[Shown, ...] = ()

    @property
    def plants(self) -> list[Line]:
        return [line for line in self.lines if line.plant is not None]


# en-us and en (British) are the two espeak-ng voices tiny.en transcribes best; a female variant (+f3)
# garbled "guaranteed returns" into "can't even turn".
HOST: Final = Speaker("Alex Morgan", "host", "en-us", 1986)
GUEST: Final = Speaker("Linda Chen", "guest", "en", 1992)

FINANCE: Final = Plant("finance-promise", "finance-promise.guaranteed-returns",
                       "a promise of guaranteed returns")
DIVERSION: Final = Plant("traffic-diversion", "traffic-diversion.qr-groups",
                         "viewers sent to a private WeChat through a QR code")
NO_DISCLOSURE: Final = Plant("ad-disclosure", "ad-disclosure.missing",
                             "a discount code promoted with no ad disclosure")

_WELCOME = Line(HOST, "Good evening everyone, and welcome to the creator forum.")
_TOPIC = Line(HOST, "Tonight we talk about how small creators can build trust with their audience.")
_THANKS = Line(GUEST, "Thank you for having me. I started making videos five years ago.")
_FUND = Line(GUEST, "Last year I started a small investment fund.")
_PROMISE = Line(GUEST, "This fund gives you guaranteed returns every single year.", FINANCE)
_QUESTION = Line(HOST, "Let us take a question from the audience.")
_ASKED = Line(HOST, "How do small creators grow without paying for views?")
_ANSWER = Line(GUEST, "Be patient, and answer every comment you get.")
_QR = Line(GUEST, "Please scan the QR code on screen to follow me on WeChat.", DIVERSION)
_FRIDAY = Line(GUEST, "I post a new video every Friday morning.")
_CODE = Line(GUEST, "Use my code forum for ten percent off this camera.", NO_DISCLOSURE)
_RISK = Line(HOST, "Please remember that every investment carries risk.")
_GOODNIGHT = Line(HOST, "Thank you all for joining us tonight. Good night.")

#: The demo: about 70 s of speech, three plants among ten clean lines.
FORUM: Final = Script(
    "forum", "Creator forum (simulated)", (HOST, GUEST),
    (_WELCOME, _TOPIC, _THANKS, _FUND, _PROMISE, _QUESTION, _ASKED, _ANSWER, _QR, _FRIDAY, _CODE, _RISK,
     _GOODNIGHT),
)

#: The same forum, shorter (about 40 s of speech): the same three plants among five clean lines.
SHORT_FORUM: Final = Script(
    "short-forum", "Creator forum, short (simulated)", (HOST, GUEST),
    (_WELCOME, _THANKS, _PROMISE, _QUESTION, _QR, _CODE, _RISK, _GOODNIGHT),
)

# --- The Mandarin forum ----------------------------------------------------------------------------------------

#: Kokoro voices (host, guest) of the default Mandarin forum, and a second set with no voice in common: "done"
#: needs every plant found on at least two different voices. Whisper base hears jf_gongitsune best.
ZH_VOICES: Final = ("jf_gongitsune", "jm_kumo")
ZH_VOICES_ALT: Final = ("jf_alpha", "jf_tebukuro")

GUARANTEED_ZH: Final = Plant("finance-promise", "finance-promise.guaranteed-returns",
                             "保本保息，稳赚不赔: a promise of guaranteed returns")
ANNUAL_RETURN_ZH: Final = Plant("finance-promise", "finance-promise.stock-tips",
                                "年化收益百分之三十: a promised annual return")
CURE_ZH: Final = Plant("medical-claim", "medical-claim.cure-claims",
                       "根治糖尿病，不用吃药: a herbal tea claimed to cure diabetes")
ABSOLUTE_ZH: Final = Plant("absolute-terms", "absolute-terms.near-promotion",
                           "全网最低价 while selling (秒杀，购买)")
NO_DISCLOSURE_ZH: Final = Plant("ad-disclosure", "ad-disclosure.missing",
                                "点击下方链接，领取优惠券 with no ad disclosure in the whole forum")
DIVERSION_ZH: Final = Plant("traffic-diversion", "traffic-diversion.qr-groups",
                            "扫屏幕上的二维码，进群: viewers sent to a private group through a QR code")
TIPPING_ZH: Final = Plant("tipping-inducement", "tipping-inducement.gift-draws",
                          "刷礼物抽奖: a prize draw for gifts")


#: The demo's screen plants (``Script.screen``): a personal-WeChat-style QR code while the guest asks viewers to scan
#: it, and a banner with an absolute term and a mobile number over a clean line (the revenue), away from the spoken
#: absolute term. The QR code's rule is the default pack's ``qr-code`` rule for contact codes.
WECHAT_QR_PAYLOAD: Final = "https://u.wechat.com/EKl7y3fXb2QdN0pTq5vHs1A"
BANNER_TEXT: Final = "全网最低价 咨询电话 138 1234 5678"
QR_SHOWN_ZH: Final = Plant("traffic-diversion", "traffic-diversion.contact-code",
                           "a personal WeChat QR code on screen")
ABSOLUTE_SHOWN_ZH: Final = Plant("absolute-terms", "absolute-terms.superlatives", "全网最低价 on a banner")
PHONE_SHOWN_ZH: Final = Plant("traffic-diversion", "traffic-diversion.phone-number",
                              "a mobile number (138 1234 5678) on a banner")


def forum_zh(host_voice: str = ZH_VOICES[0], guest_voice: str = ZH_VOICES[1]) -> Script:
    """The Mandarin forum (about 90 s: 16 lines, 7 spoken plants; a QR code and a banner on screen), with the
    given Kokoro voices for host and guest."""
    host = Speaker("林晓雨", "host", f"kokoro:{host_voice}", 1993)
    guest = Speaker("陈志强", "guest", f"kokoro:{guest_voice}", 1981)
    lines = (
        Line(host, "各位朋友晚上好，欢迎来到星河科技年度粉丝大会的直播间。"),
        Line(host, "我是主持人林晓雨，今天请到了星河科技的创始人陈志强陈总。"),
        Line(guest, "大家好，这是我第一次在直播间参加年会，还有点紧张。"),
        Line(guest, "我们的新年礼盒已经上架了，大家点击下方链接，领取优惠券。", NO_DISCLOSURE_ZH),
        Line(guest, "过去一年，公司的营业收入增长了百分之三十，感谢每一位用户。"),
        Line(host, "听说陈总今年还推出了一款理财产品？"),
        Line(guest, "对，我们的星河宝保本保息，稳赚不赔，大家放心买。", GUARANTEED_ZH),
        Line(host, "那收益大概有多少呢？"),
        Line(guest, "跟着我们投，年化收益百分之三十，一年就能回本。", ANNUAL_RETURN_ZH),
        Line(host, "提醒一下大家，投资有风险，我们不能保证稳赚不赔，请量力而行。"),
        Line(guest, "还有我们的草本茶，喝三个月就能根治糖尿病，以后都不用吃药了。", CURE_ZH),
        Line(host, "身体不舒服的朋友，还是要按时吃药，听医生的建议。"),
        Line(guest, "这款智能手表是全网最低价，今晚秒杀，抓紧购买。", ABSOLUTE_ZH),
        Line(host, "喜欢陈总的朋友，刷礼物抽奖，我们送出十块手表。", TIPPING_ZH),
        Line(guest, "想了解更多的朋友，扫屏幕上的二维码，进群领福利。", DIVERSION_ZH),
        Line(host, "有问题可以在评论区留言，今天的年会就到这里，我们明年再见。"),
    )
    screen = (Shown("banner", BANNER_TEXT, line=4, duration_s=6.0, plants=(ABSOLUTE_SHOWN_ZH, PHONE_SHOWN_ZH)),
              Shown("qr", WECHAT_QR_PAYLOAD, line=14, duration_s=6.0, plants=(QR_SHOWN_ZH,)))
    voices = f"{host_voice}+{guest_voice}"
    # The name becomes part of the demo event's id: letters, digits, '-' and '_' only.
    name = "forum-zh" if (host_voice, guest_voice) == ZH_VOICES else f"forum-zh-{host_voice}-{guest_voice}"
    return Script(name, f"星河科技年度粉丝大会 (simulated, voices {voices})", (host, guest), lines, language="zh",
                  screen=screen)


#: The Mandarin demo forum with the default voices.
FORUM_ZH: Final = forum_zh()

SCRIPTS: Final = {script.name: script for script in (FORUM, SHORT_FORUM, FORUM_ZH)}
