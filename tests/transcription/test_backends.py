"""Both Whisper backends on real weights (tiny.en from the installed package) and real audio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from livewatch.transcription import backends
from tests.transcription.conftest import speak
from transcribers.base import ModelInfo, Segment, TranscribeOptions, Transcriber

ALSA = Path("/usr/share/sounds/alsa")
CLIP = "Welcome to the annual meeting. Our investment products offer guaranteed returns of thirty percent."
EN = TranscribeOptions(language="en")


@pytest.fixture(scope="module")
def faster(tiny_ct2: ModelInfo) -> Transcriber:
    return backends.create("faster-whisper", tiny_ct2, device="cpu", compute_type="float32")


@pytest.fixture(scope="module")
def openai(tiny_openai: ModelInfo) -> Transcriber:
    return backends.create("openai-whisper", tiny_openai, device="cpu")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak(CLIP, tmp_path_factory.mktemp("audio") / "clip.wav")


Heard = Callable[[Transcriber, Path], list[Segment]]


@pytest.fixture(scope="module")
def heard() -> Heard:
    """What a backend writes for a file, transcribed once: several tests read the same transcript (decoding is
    deterministic), and openai-whisper takes seconds of CPU even for a one-second file."""
    made: dict[tuple[int, Path], list[Segment]] = {}

    def transcribe(engine: Transcriber, audio: Path) -> list[Segment]:
        key = (id(engine), audio)  # the engines are module fixtures: one object each for the whole file
        if key not in made:
            made[key] = list(engine.transcribe(audio, EN))
        return made[key]

    return transcribe


EXPECTED = {
    "Front_Center.wav": " front, center.",
    "Front_Left.wav": " Front, left.",
    "Front_Right.wav": " Front, right.",
    "Rear_Center.wav": " rear center.",
    "Side_Left.wav": " Side left.",
}


@pytest.mark.parametrize("backend", ["faster", "openai"])
@pytest.mark.parametrize(("name", "text"), sorted(EXPECTED.items()))
def test_human_recordings(request: pytest.FixtureRequest, heard: Heard, backend: str, name: str, text: str) -> None:
    engine: Transcriber = request.getfixturevalue(backend)
    [segment] = heard(engine, ALSA / name)
    assert segment.text == text
    assert segment.start == 0.0
    assert 0.9 < segment.end < 1.4
    assert segment.words
    assert segment.language == "en"


@pytest.mark.parametrize("backend", ["faster", "openai"])
def test_clean_speech(request: pytest.FixtureRequest, heard: Heard, backend: str, clip: Path) -> None:
    engine: Transcriber = request.getfixturevalue(backend)
    [segment] = heard(engine, clip)
    assert segment.text == (" Welcome to the annual meeting. Our investment product is off a guaranteed return on 30%.")
    words = [w.word.strip() for w in segment.words]
    assert words[:5] == ["Welcome", "to", "the", "annual", "meeting."]
    assert all(a.start <= b.start for a, b in zip(segment.words, segment.words[1:], strict=False))


def test_backends_agree_on_the_same_weights(faster: Transcriber, openai: Transcriber, clip: Path,
                                            heard: Heard) -> None:
    for audio in (clip, *(ALSA / name for name in EXPECTED)):
        a, b = heard(faster, audio), heard(openai, audio)
        assert [s.text for s in a] == [s.text for s in b]
        for x, y in zip(a, b, strict=True):
            assert abs(x.start - y.start) < 0.02
            assert abs(x.end - y.end) < 0.02
            for wx, wy in zip(x.words, y.words, strict=True):
                assert wx.word == wy.word
                assert abs(wx.start - wy.start) < 0.05
                assert abs(wx.end - wy.end) < 0.05


@pytest.mark.parametrize("backend", ["faster", "openai"])
def test_silence_and_noise_yield_no_text(request: pytest.FixtureRequest, backend: str) -> None:
    engine: Transcriber = request.getfixturevalue(backend)
    assert list(engine.transcribe(np.zeros(16000 * 5, dtype=np.float32), EN)) == []
    assert list(engine.transcribe(ALSA / "Noise.wav", EN)) == []
    rng = np.random.default_rng(7)
    hiss = (rng.standard_normal(16000 * 4) * 0.02).astype(np.float32)
    assert list(engine.transcribe(hiss, EN)) == []


def test_unknown_backend_is_a_config_error() -> None:
    from livewatch.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no transcription backend named 'whisperx' is installed.*; installed: "
                       r"faster-whisper, openai-whisper"):
        backends.BACKENDS.get("whisperx")
