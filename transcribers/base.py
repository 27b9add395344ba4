"""The transcriber interface: one abstract method taking audio and options, yielding typed segments.

Backends are registered through the ``livewatch.transcribers`` entry-point group (the built-ins too), so a
backend is one class in one module. Each backend owns its configuration: ``options_model`` validates the keys
of livewatch's ``[transcriber]`` table that are not livewatch's own (device and compute_type for the Whisper
backends), and :meth:`Transcriber.load` builds the backend from them. A backend module should import its heavy
libraries where it loads a model, not at the top: validating a configuration loads the class.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from transcribers.errors import BackendError

Device = Literal["cpu", "cuda"]
Audio = Path | npt.NDArray[np.float32]  # a file, or 16 kHz mono float32 samples
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """One Whisper segment; times are seconds from the start of the audio given."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    language: str | None = None


@dataclass(frozen=True)
class TranscribeOptions:
    """What a backend is asked to do; every backend honours every field."""

    language: str | None = None  # None: detect
    beam_size: int = 5
    initial_prompt: str | None = None
    #: Words to bias spelling towards (rule terms, participants' names), space-separated. faster-whisper passes them
    #: as its ``hotwords`` (before the prompt, in every 30 s window it decodes); openai-whisper has no such
    #: argument, so they go before ``initial_prompt`` in the prompt, which it applies to the first 30 s window of
    #: each call (the monitor's windows are shorter) and cuts from the front when too long (223 tokens).
    hotwords: str | None = None
    word_timestamps: bool = True
    #: Voice-activity detection before decoding (non-speech never reaches the decoder).
    vad: bool = True
    temperatures: tuple[float, ...] = field(default=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    #: Decode audio of at most 30 s in one Whisper window and stop there: a sentence Whisper leaves unfinished
    #: at the window's end is not returned, where Whisper would encode the audio again from its last finished
    #: word to decode it. The live worker asks this, since it carries that speech into its next window anyway
    #: (the second encode was a third of its work). A hint: a backend that cannot stop early decodes it all.
    first_window_only: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """Which weights a backend runs, for every transcript's provenance."""

    name: str
    path: Path | None
    sha256: str | None = None


class BackendOptions(BaseModel):
    """A backend's own configuration keys (none here); a backend that takes some subclasses this."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class WhisperOptions(BackendOptions):
    """The keys the Whisper backends (faster-whisper, openai-whisper) take."""

    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto (cuda when there is one), cpu or cuda.")
    compute_type: Literal["default", "auto", "int8", "int8_float16", "float16", "float32"] = Field(
        "int8", description="Weight precision; auto: int8 on cpu, float16 on cuda.")


class Transcriber(abc.ABC):
    """A loaded model. Construction loads the weights; :meth:`transcribe` may be called many times."""

    #: Registry name, e.g. ``"faster-whisper"``.
    name: ClassVar[str]
    #: The backend's own configuration keys.
    options_model: ClassVar[type[BackendOptions]] = BackendOptions

    def __init__(self, model: ModelInfo, *, device: Device = "cpu", compute_type: str = "default",
                 workers: int = 1) -> None:
        self.model = model
        self.device = device
        self.compute_type = compute_type
        #: How many threads may call :meth:`transcribe` at once; a backend that cannot run calls in parallel
        #: must still be safe to call from several threads (it takes them one at a time).
        self.workers = workers

    @classmethod
    def load(cls, model: ModelInfo, options: BackendOptions, *, workers: int = 1) -> Self:
        """The backend for ``model``, configured by ``options`` (an instance of :attr:`options_model`)."""
        return cls(model, workers=workers)

    @abc.abstractmethod
    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        """Decode ``audio``, yielding segments as they are produced."""

    def transcribe_recording(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        """Decode a whole recording at once (``livewatch analyze``), yielding segments with times from its start.
        A backend that decodes a long recording faster than window by window overrides this (faster-whisper: its
        batched pipeline); by default it is :meth:`transcribe`. The monitor's live path never calls it."""
        return self.transcribe(audio, options)


class WhisperTranscriber(Transcriber):
    """A Whisper backend: configured by :class:`WhisperOptions`."""

    options_model: ClassVar[type[BackendOptions]] = WhisperOptions

    @classmethod
    def load(cls, model: ModelInfo, options: BackendOptions, *, workers: int = 1) -> Self:
        if not isinstance(options, WhisperOptions):
            raise BackendError(f"{cls.name} takes WhisperOptions, not {type(options).__name__}")
        device = resolve_device(options.device, cls.cuda_available)
        compute_type = options.compute_type
        if compute_type == "auto":
            compute_type = "int8" if device == "cpu" else "float16"
        return cls(model, device=device, compute_type=compute_type, workers=workers)

    @classmethod
    def cuda_available(cls) -> bool:
        """Whether this backend's engine sees a CUDA device (what ``device = "auto"`` picks); torch's view here."""
        return torch_sees_cuda()


def torch_sees_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str, cuda_available: Callable[[], bool] = torch_sees_cuda) -> Device:
    """``auto``: cuda when the engine sees one (``cuda_available``; torch by default), else cpu."""
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise BackendError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device  # type: ignore[return-value]
