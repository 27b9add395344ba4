"""A handed-in recording decoded in one call (``livewatch analyze``): faster-whisper's batched pipeline, cut
into utterances, with the same words and times as the window-by-window path, and committed as the worker
commits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from livewatch.transcription import backends
from livewatch.transcription.worker import read_wav
from tests.transcription.conftest import speak
from transcribers.base import ModelInfo, Segment, TranscribeOptions, Transcriber, Word, resolve_device
from transcribers.utterances import utterances

SENTENCES = ["Good evening everyone and welcome to the creator forum.",
             "This fund gives you guaranteed returns every single year.",
             "Thank you all for joining us tonight."]
EN = TranscribeOptions(language="en")


def _segment(*words: tuple[float, float, str]) -> Segment:
    return Segment(words[0][0], words[-1][1], "".join(w for _, _, w in words),
                   tuple(Word(start, end, word, 0.9) for start, end, word in words), avg_logprob=-0.2,
                   no_speech_prob=0.01, compression_ratio=1.3, language="en")


def test_a_chunk_is_cut_after_sentences_and_at_pauses() -> None:
    chunk = _segment((0.0, 0.4, " Hello"), (0.5, 0.9, " there."), (1.0, 1.3, " Buy"), (1.4, 1.8, " now"),
                     (3.2, 3.5, " 你好"), (3.5, 3.8, "。"), (3.9, 4.2, " bye"))
    pieces = list(utterances(chunk))
    assert [(p.start, p.end, p.text) for p in pieces] == [
        (0.0, 0.9, "Hello there."), (1.0, 1.8, "Buy now"), (3.2, 3.8, "你好。"), (3.9, 4.2, "bye")]
    assert all((p.avg_logprob, p.language, p.compression_ratio) == (-0.2, "en", 1.3) for p in pieces)
    assert "".join(w.word for p in pieces for w in p.words) == chunk.text


def test_a_segment_without_word_times_stays_whole() -> None:
    whole = Segment(0.0, 2.0, " Hello there. Bye.")
    assert list(utterances(whole)) == [whole]


def test_auto_device_asks_the_engine_not_torch() -> None:
    assert resolve_device("auto", lambda: False) == "cpu"
    assert resolve_device("auto", lambda: True) == "cuda"
    assert resolve_device("cpu", lambda: True) == "cpu"


@pytest.fixture(scope="module")
def faster(tiny_ct2: ModelInfo) -> Transcriber:
    return backends.create("faster-whisper", tiny_ct2, device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentences with 3 s of silence after each, as 16 kHz mono WAV."""
    folder = tmp_path_factory.mktemp("recording")
    pieces = [speak(sentence, folder / f"{index}.wav") for index, sentence in enumerate(SENTENCES)]
    silence = np.zeros(3 * 16000, dtype=np.float32)
    audio = np.concatenate([part for piece in pieces for part in (read_wav(piece), silence)])
    out = folder / "recording.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", "-",
                    str(out)], input=(audio * 32767).astype("<i2").tobytes(), check=True)
    return out


def test_batched_recording_hears_what_the_window_path_hears(faster: Transcriber, recording: Path) -> None:
    audio = read_wav(recording)
    batched = list(faster.transcribe_recording(audio, EN))
    windowed = list(faster.transcribe(audio, EN))
    # One utterance a sentence, each where the window path puts it (the sentences are 3 s apart).
    assert len(batched) == len(SENTENCES)
    for mine, theirs in zip(batched, windowed, strict=True):
        assert abs(mine.start - theirs.start) < 0.5
        assert abs(mine.end - theirs.end) < 0.5
        assert mine.words
        assert (mine.language, mine.avg_logprob < 0) == ("en", True)
    assert "guaranteed return" in batched[1].text
    text = " ".join(s.text for s in batched).lower()
    assert (text.count("forum"), text.count("tonight")) == (1, 1)  # nothing heard twice
