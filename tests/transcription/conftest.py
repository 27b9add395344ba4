from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from transcribers.base import ModelInfo
from transcribers.store import ModelStore


def speak(text: str, out: Path) -> Path:
    """espeak-ng speech as 16 kHz mono 16-bit WAV (what the capture writes for Whisper)."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le",
                    str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """A store holding tiny.en from the installed model package (imported once: CTranslate2 + openai .pt)."""
    return ModelStore(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def tiny_ct2(model_store: ModelStore) -> ModelInfo:
    return model_store.resolve("tiny.en", "faster-whisper")


@pytest.fixture(scope="session")
def tiny_openai(model_store: ModelStore, tiny_ct2: ModelInfo) -> ModelInfo:
    return model_store.resolve("tiny.en", "openai-whisper")
