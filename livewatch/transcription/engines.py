"""The engines that transcribe each event, loaded once per process and shared by its workers: the monitor's
transcription service and a distributed worker's transcribe task choose the same way."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from livewatch.session import Session
from livewatch.transcription.choice import UTTERANCES_TO_SETTLE, event_language, plan_for, settled_language
from livewatch.transcription.worker import EngineChoice
from transcribers.base import TranscribeOptions, Transcriber
from transcribers.decoding import decoding_defaults

log = logging.getLogger(__name__)


class EngineChooser:
    """``choose(event_id)`` for :class:`~livewatch.transcription.worker.TranscriptionWorker`. ``workers``
    is how many workers of this process decode at once (faster-whisper keeps one model replica each)."""

    def __init__(self, session: Session, *, workers: int = 1) -> None:
        self.session, self.workers = session, workers
        self._engines: dict[tuple[str, str], Transcriber] = {}
        self._lock = threading.Lock()
        self._settled: dict[str, str] = {}  # auto events whose language is known, for the log

    def choose(self, event_id: str) -> EngineChoice:
        """The engine and options for one event (see :func:`plan_for`): the registration's language and
        ``transcriber`` override over the global ``[transcriber]``; an ``auto`` event switches to its
        language's model once its first utterances agree on the language. Engines are loaded once and shared."""
        config = self.session.settings.transcriber
        registration = self.session.records.registration(event_id)
        language = registration.get("language")
        detected = None
        if event_language(config, language) == "auto" and event_id:
            detected = settled_language(self.session.transcripts.first_utterances(event_id,
                                                                                  UTTERANCES_TO_SETTLE * 2))
        plan = plan_for(config, language, registration.get("transcriber"), detected=detected)
        key = (plan.backend, plan.model)
        with self._lock:  # several workers may ask at once; a model is loaded once
            if key not in self._engines:
                from livewatch.transcription import backends

                model = backends.resolve_model(self.session.settings.model_store, plan.model, plan.backend)
                log.info("loading %s model %s", plan.backend, model.name)
                self._engines[key] = backends.create(plan.backend, model, config.options_for(plan.backend),
                                                     workers=self.workers)
            if detected and self._settled.get(event_id) != detected:
                self._settled[event_id] = detected
                log.info("event %s: speech detected as %s; transcribing with %s from now on",
                         event_id, detected, plan.model)
        # The language's decoding defaults, chosen by bench/cer.py (docs/transcription.md); a beam the event
        # or the configuration names still wins.
        options = decoding_defaults(plan.whisper_language).apply(TranscribeOptions(language=plan.whisper_language))
        return EngineChoice(self._engines[key], replace(options, beam_size=plan.beam_size))
