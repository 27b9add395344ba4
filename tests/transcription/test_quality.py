from __future__ import annotations

import pytest

from livewatch.transcription.quality import (
    flags_for,
    hallucination,
    repetition_loop,
    text_for_checking,
    trustworthy,
)
from transcribers.base import Segment


@pytest.mark.parametrize("text", [
    "Thanks for watching!", " Thank you for watching.", "Please subscribe to my channel.", "Subtitles by Amara.org",
    "谢谢观看", "字幕由 Amara.org 社区提供", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "Thank you.",
])
def test_known_hallucinations(text: str) -> None:
    assert hallucination(text)


@pytest.mark.parametrize("text", [
    "Thanks for watching the demo, now let us talk about returns.", "Please subscribe to our newsletter for updates",
    "今天我们讨论理财产品的风险", "",
])
def test_real_speech_is_not_a_hallucination(text: str) -> None:
    assert not hallucination(text)


@pytest.mark.parametrize(("text", "loop"), [
    ("so so so so", True), ("I mean I mean I mean I mean it", True), ("好的好的好的好的", True),
    ("the the cat", False), ("2026 2027 2028", False), ("We discuss guaranteed returns today.", False),
    ("12121212", False), ("对对对对，就是这样", False), ("我们的星河宝宝宝宝室", False), ("我我我我我我我我我我", True),
])
def test_repetition_loops(text: str, loop: bool) -> None:
    assert repetition_loop(text) is loop


def test_flags_and_trust() -> None:
    clean = Segment(0, 2, " Welcome to the forum.", avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.2)
    assert flags_for(clean) == []
    assert trustworthy(clean)
    noise = Segment(0, 2, " Thanks for watching!", avg_logprob=-1.4, no_speech_prob=0.8, compression_ratio=1.0)
    assert flags_for(noise) == ["no-speech", "hallucination"]
    assert not trustworthy(noise)
    looping = Segment(0, 2, " go go go go go", avg_logprob=-0.7, no_speech_prob=0.1, compression_ratio=3.1)
    assert flags_for(looping) == ["high-compression", "repetition"]
    mumbled = Segment(0, 2, " and then", avg_logprob=-1.2, no_speech_prob=0.2, compression_ratio=1.0)
    assert flags_for(mumbled) == ["low-logprob"]
    assert not trustworthy(Segment(0, 2, " fine", avg_logprob=-0.8))


def test_chinese_is_checked_in_simplified_script() -> None:
    assert text_for_checking("穩賺不賠，保本保息", "zh") == "稳赚不赔，保本保息"
    assert text_for_checking("Guaranteed returns", "en") == "Guaranteed returns"
