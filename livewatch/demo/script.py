"""The simulated forum the demo broadcasts: who speaks, what they say, and which lines are planted violations.

The wording is chosen for the machine, not for prose: every line was synthesized with espeak-ng, sent through
the live path (AAC, 16 kHz) and transcribed with faster-whisper ``tiny.en``, and kept only when the text came
out close enough for the default pack (``cn-live-events``) to do the right thing. Notes on what tiny.en hears:

* "guaranteed returns" comes out as "guaranteed return(s)" with both voices: both are terms of
  ``finance-promise.guaranteed-returns``.
* "WeChat" is heard as "we chat", "weekend" or "we can't", so the diversion plant leans on "scan the QR
  code", which tiny.en hears as "can the QR code" and the rule's fuzzy matching catches. The line opens
  with "Please": the fuzzy match takes one letter before "can" as the "s", and that letter should be of
  this line, not the last word of the line before (which would put the finding seconds too early).
* "use my code" is heard reliably; nothing in the script says "ad", "sponsored" or "partnership", so the
  promotion has no disclosure and ``ad-disclosure.missing`` fires. No line says "add" either (Whisper may
  write it "ad", which would count as a disclosure).
* The clean lines avoid the pack's absolute terms ("the best", "number one") and shop words near them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Role = Literal["host", "guest", "moderator"]


@dataclass(frozen=True)
class Speaker:
    """A participant: registered as such in the demo schedule, and given an espeak-ng voice."""

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
class Script:
    name: str
    title: str
    speakers: tuple[Speaker, ...]
    lines: tuple[Line, ...]

    @property
    def plants(self) -> list[Line]:
        return [line for line in self.lines if line.plant is not None]


# en-us and en (British) are the two espeak-ng voices tiny.en transcribes best; a female variant (+f3)
# garbled "guaranteed returns" into "can't even turn".
HOST: Final = Speaker("Alex Morgan", "host", "en-us", 1986)
GUEST: Final = Speaker("Linda Chen", "guest", "en", 1992)

FINANCE: Final = Plant("finance-promise", "finance-promise.guaranteed-returns",
                       "a promise of guaranteed returns")
DIVERSION: Final = Plant("traffic-diversion", "traffic-diversion.contact-apps",
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

SCRIPTS: Final = {script.name: script for script in (FORUM, SHORT_FORUM)}
