"""Which transcribed spans to distrust. Flagged spans are kept, so rules can treat them as "review".

Whisper invents text over silence and noise ("Thanks for watching!", subtitle credits), and can loop on a
phrase. The usual confidence thresholds catch much of it; a list of known hallucinations and a repetition
detector catch the rest.
"""

from __future__ import annotations

import re

from livewatch.chinese import to_simplified
from transcribers.base import Segment

NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
HIGH_COMPRESSION = 2.4
#: A run of one character this long is a loop (shorter runs are speech; see repetition_loop).
SINGLE_CHARACTER_REPEATS = 6

#: Phrases Whisper produces from silence, music or noise (from its training subtitles), English and Chinese.
KNOWN_HALLUCINATIONS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"^\W*(thanks?|thank you)( (so|very) much)? for watching\W*$",
    r"^\W*(please )?(like (and|&) )?subscribe( to (my|the|our) channel)?\W*$",
    r"^\W*thank you\.?\W*$",
    r"^\W*bye\.?\W*$",
    r"subtitles? (by|made by|created by)",
    r"amara\.org",
    r"transcribed by",
    r"captions? by",
    r"字幕(由|制作|提供|志愿者)",
    r"^\W*(谢谢|感谢)(大家|您)?(的)?(收看|观看)\W*$",
    r"请不吝点赞",
    r"订阅.{0,6}(转发|打赏)",
    r"明镜与点点",
    r"^\W*(优优)?独播剧场",
))


def hallucination(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and any(p.search(stripped) for p in KNOWN_HALLUCINATIONS)


def repetition_loop(text: str, min_repeats: int = 4) -> bool:
    """A word or phrase (or, for Chinese, a run of characters) repeated back to back ``min_repeats`` times."""
    words = re.findall(r"\w+", text.lower())
    for size in range(1, 6):
        for start in range(0, max(0, len(words) - size * min_repeats + 1)):
            unit = words[start:start + size]
            if all(words[start + k * size:start + (k + 1) * size] == unit for k in range(min_repeats)):
                return True
    compact = re.sub(r"\W+", "", text)
    # One character said four times is ordinary Chinese (对对对对, 哈哈哈哈, a misheard 宝本宝息 as 宝宝宝宝); a
    # decoder stuck on one character repeats it far more often.
    pattern = r"(.{2,8}?)\1{" + str(min_repeats - 1) + r",}|(.)\2{" + str(SINGLE_CHARACTER_REPEATS - 1) + ",}"
    return bool(re.search(pattern, compact)) and not compact.isdigit()


def flags_for(segment: Segment) -> list[str]:
    flags = []
    if segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < LOW_LOGPROB:
        flags.append("no-speech")
    elif segment.avg_logprob < LOW_LOGPROB:
        flags.append("low-logprob")
    if segment.compression_ratio > HIGH_COMPRESSION:
        flags.append("high-compression")
    if hallucination(segment.text):
        flags.append("hallucination")
    if repetition_loop(segment.text):
        flags.append("repetition")
    return flags


def trustworthy(segment: Segment) -> bool:
    """Good enough to offer as the next window's prompt (a bad prompt makes Whisper repeat its mistake)."""
    return not flags_for(segment) and segment.avg_logprob > -0.5


def text_for_checking(text: str, language: str | None) -> str:
    """Chinese is checked in Simplified script; the raw text is stored beside it."""
    if language in ("zh", "yue") or re.search(r"[\u4e00-\u9fff]", text):
        return to_simplified(text)
    return text
