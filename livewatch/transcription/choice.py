"""Which Whisper model, backend and language transcribe one event: the registration's ``language`` and
``transcriber`` override over the configuration's ``[transcriber]``. One function decides it for the monitor,
``livewatch analyze`` and ``livewatch validate``, so what validation approves is what runs.

An event whose language is ``auto`` is first heard with the ``auto`` model (multilingual: Whisper detects the
language); once its first utterances agree on a language, that language's model takes over
(:func:`settled_language`), so an English event still gets the fast English model and a Mandarin one a
model that hears Mandarin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from livewatch.settings import TranscriberSettings

#: Utterances whose detected language must agree before an ``auto`` event's language is taken as known.
UTTERANCES_TO_SETTLE = 3
#: Shorter utterances say too little for Whisper's language detection to be trusted.
MIN_SETTLING_CHARS = 4


@dataclass(frozen=True)
class ModelPlan:
    """What transcribes an event, and which setting chose the model (for messages that name the fix)."""

    backend: str
    model: str
    #: zh, en, auto (Whisper detects it), or a language Whisper detected for an ``auto`` event.
    language: str
    beam_size: int
    model_source: str

    @property
    def whisper_language(self) -> str | None:
        """The language to force on Whisper; None lets it detect."""
        return None if self.language == "auto" else self.language


def event_language(config: TranscriberSettings, registered: str | None) -> str:
    """The event's own language, else the configuration's default (both may be ``auto``)."""
    return registered if registered and registered != "auto" else config.language


def plan_for(config: TranscriberSettings, registered_language: str | None,
             override: Mapping[str, Any] | None = None, *, detected: str | None = None) -> ModelPlan:
    """The model plan for an event registered with ``registered_language`` and a ``transcriber`` override;
    ``detected`` is the language settled from an ``auto`` event's first speech, when there is one."""
    override = override or {}
    language = event_language(config, registered_language)
    if language == "auto" and detected:
        language = detected
    backend = str(override.get("backend") or config.backend)
    beam_size = int(override.get("beam_size") or config.beam_size)
    if override.get("model"):
        model, source = str(override["model"]), "the registration's transcriber.model"
    elif config.model:
        model, source = config.model, "the configuration's [transcriber] model"
    else:
        key = language if language in config.models else "auto"
        model, source = config.model_for(key), f"the configuration's [transcriber.models] {key}"
    return ModelPlan(backend, model, language, beam_size, source)


def settled_language(detected: Sequence[tuple[str | None, str]]) -> str | None:
    """The language of an ``auto`` event once its first utterances agree on it: ``detected`` holds the
    (language, text) of its earliest utterances, oldest first. None while too little has been heard, or
    when they disagree (the multilingual model keeps detecting)."""
    heard = [language for language, text in detected if language and len(text.strip()) >= MIN_SETTLING_CHARS]
    first = heard[:UTTERANCES_TO_SETTLE]
    if len(first) < UTTERANCES_TO_SETTLE or len(set(first)) != 1:
        return None
    return first[0]
