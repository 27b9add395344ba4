"""The live worker's one-window decodes: what faster-whisper would encode a second time is left to the carry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from livewatch.transcription import backends
from livewatch.transcription.worker import EngineChoice, read_wav
from tests.transcription.conftest import speak
from tests.transcription.test_worker import SPEECH, captured_run, transcribe_live, transcript, words_of
from transcribers.base import ModelInfo, TranscribeOptions
from transcribers.faster_whisper_backend import FasterWhisperTranscriber

#: With context in the prompt tiny.en writes the window as one segment with no closing time stamp when it is
#: cut mid-sentence, and faster-whisper encodes the audio again from that segment's last word.
PROMPTED = TranscribeOptions(language="en", initial_prompt="Welcome to the annual meeting of creators.")


@pytest.fixture(scope="module")
def engine(tiny_ct2: ModelInfo) -> FasterWhisperTranscriber:
    made = backends.create("faster-whisper", tiny_ct2, device="cpu", compute_type="int8")
    assert isinstance(made, FasterWhisperTranscriber)
    return made


@pytest.fixture(scope="module")
def cut_speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The speech cut off in its last sentence ("Thank you all for-"), as a live window ends."""
    return read_wav(speak(SPEECH, tmp_path_factory.mktemp("speech") / "speech.wav"))[: int(7.3 * 16000)]


def test_first_window_only_stops_before_the_second_encode(
    engine: FasterWhisperTranscriber, cut_speech: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[int] = []
    encode = engine._encode

    def counted(features: object) -> object:
        encoded.append(1)
        return encode(features)

    monkeypatch.setattr(engine, "_encode", counted)  # counts the calls, still encoding for real
    whole = list(engine.transcribe(cut_speech, PROMPTED))
    whole_encodes, encoded[:] = len(encoded), []
    first = list(engine.transcribe(cut_speech, replace(PROMPTED, first_window_only=True)))
    assert whole_encodes == 2
    assert len(encoded) == 1
    assert first == whole[: len(first)]
    assert first
    # The next call is a plain one again (the limit is per call, per thread).
    encoded[:] = []
    assert list(engine.transcribe(cut_speech, PROMPTED)) == whole
    assert len(encoded) == 2


def test_speech_the_decoder_never_reached_is_carried(tmp_path: Path, engine: FasterWhisperTranscriber) -> None:
    audio = read_wav(speak(SPEECH, tmp_path / "speech.wav"))
    data, run_id, payloads = captured_run(tmp_path, audio, [2.9, 5.2, 7.3])
    transcribe_live(data, run_id, EngineChoice(engine, TranscribeOptions(language="en")), payloads)
    heard = words_of(" ".join(row.text for row in transcript(data, run_id)))
    for word in ("evening", "forum", "remember", "disclosed", "thank", "tonight"):
        assert heard.count(word) == 1, heard
