"""The monitor's transcription service: one thread that works through the queue in order, flushes each
stream's last words when its capture has ended, and keeps the per-event transcript files current."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

from livewatch.monitor.check_service import CheckService
from livewatch.pipeline.run_status import FINAL
from livewatch.queue import TRANSCRIBE
from livewatch.session import Session
from livewatch.transcription.choice import UTTERANCES_TO_SETTLE, event_language, plan_for, settled_language
from livewatch.transcription.transcript_files import write_transcript_files
from livewatch.transcription.worker import EngineChoice, StreamLanes, TranscriptionWorker
from transcribers.base import TranscribeOptions, Transcriber
from transcribers.decoding import decoding_defaults

log = logging.getLogger(__name__)


class TranscriptionService:
    """``[concurrency] transcriptions`` worker threads share the loaded models; the stream lanes keep each
    stream's segments with one worker at a time, strictly in order. Whisper's own numerical work runs outside
    Python's lock, so a second worker overlaps one's decoding with the other's audio handling and database
    work, and faster-whisper keeps one model replica per worker so that their decodes run in parallel."""

    def __init__(self, session: Session, *, checks: CheckService | None = None) -> None:
        self.session, self.settings, self.checks = session, session.settings, checks
        self.queue, self.transcripts = session.queue, session.transcripts
        count = self.settings.concurrency.transcriptions
        lanes = StreamLanes()
        self.workers = [TranscriptionWorker(session.runs, session.transcripts, session.queue, self.choose,
                                            lanes=lanes) for _ in range(count)]
        self.worker = self.workers[0]
        self._engines: dict[tuple[str, str], Transcriber] = {}
        self._engines_lock = threading.Lock()
        self._settled: dict[str, str] = {}  # auto events whose language is known, for the log
        self._stop = threading.Event()
        self._idle = [threading.Event() for _ in self.workers]
        self._threads = [threading.Thread(target=self._loop, args=(index,), name=f"transcription-{index}",
                                          daemon=True) for index in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, wait_s: float | None = None) -> None:
        """Stop the workers, waiting at most ``wait_s`` in all: a segment being transcribed then is
        abandoned and its queue item, still claimed, is returned to the queue at the next start."""
        self._stop.set()
        deadline = None if wait_s is None else time.monotonic() + wait_s
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def choose(self, event_id: str) -> EngineChoice:
        """The engine and options for one event (see :func:`plan_for`): the registration's language and
        ``transcriber`` override over the global ``[transcriber]``; an ``auto`` event switches to its
        language's model once its first utterances agree on the language. Engines are loaded once and shared."""
        config = self.settings.transcriber
        registration = self._registration(event_id)
        language = registration.get("language")
        detected = None
        if event_language(config, language) == "auto" and event_id:
            detected = settled_language(self.transcripts.first_utterances(event_id, UTTERANCES_TO_SETTLE * 2))
        plan = plan_for(config, language, registration.get("transcriber"), detected=detected)
        key = (plan.backend, plan.model)
        with self._engines_lock:  # several workers may ask at once; a model is loaded once
            if key not in self._engines:
                from livewatch.transcription import backends

                model = backends.resolve_model(self.settings.model_store, plan.model, plan.backend)
                log.info("loading %s model %s", plan.backend, model.name)
                self._engines[key] = backends.create(plan.backend, model, config.options_for(plan.backend),
                                                     workers=len(self.workers))
            if detected and self._settled.get(event_id) != detected:
                self._settled[event_id] = detected
                log.info("event %s: speech detected as %s; transcribing with %s from now on",
                         event_id, detected, plan.model)
        # The language's decoding defaults, chosen by bench/cer.py (docs/transcription.md); a beam the event
        # or the configuration names still wins.
        options = decoding_defaults(plan.whisper_language).apply(TranscribeOptions(language=plan.whisper_language))
        return EngineChoice(self._engines[key], replace(options, beam_size=plan.beam_size))

    def _registration(self, event_id: str) -> dict[str, Any]:
        return self.session.events.registration(event_id)

    def _loop(self, index: int) -> None:
        worker, idle = self.workers[index], self._idle[index]
        try:  # load the configured model now, not when the first segment of the first event is waiting
            self.choose("")
        except Exception:  # a broken model is reported again, per event, when audio needs it
            log.exception("cannot load the configured Whisper model")
        while not self._stop.is_set():
            try:
                item_done = worker.process_one()
                if item_done:
                    idle.clear()
                    if self.checks is not None and worker.last_event_id:
                        self.checks.mark(worker.last_event_id)
                    continue
                if index == 0:  # one flusher: a stream's last tail is committed once
                    self.flush_finished()
                idle.set()
            except Exception:  # the service must outlive any one failure
                log.exception("transcription service error")
            self._stop.wait(0.5)

    def flush_finished(self) -> None:
        """Flush streams whose capture has ended and whose queued audio is all transcribed."""
        for stream in self.transcripts.unflushed_in(FINAL):
            if self.queue.backlog(TRANSCRIBE, run_id=stream.run_id):
                continue
            self.finish_stream(stream.event_id, stream.run_id, stream.stream)
            if self.checks is not None:
                self.checks.mark(stream.event_id, final=True)

    def drain(self) -> None:
        """Transcribe everything queued, in the calling thread (``livewatch analyze``; the monitor's threads
        do the same one item at a time)."""
        while self.worker.process_one():
            pass

    def finish_stream(self, event_id: str, run_id: int, stream: int) -> None:
        """A stream whose capture has ended and whose queued audio is transcribed: commit its last tail and
        write the event's transcript files."""
        self.worker.flush(event_id, run_id, stream)
        data = self.session.data
        write_transcript_files(self.session.runs, self.transcripts, run_id, data.transcripts_dir(event_id), data)

    def busy(self, run_ids: set[int]) -> bool:
        """Work left for these runs: queued audio, or a last tail not yet flushed."""
        if not run_ids:
            return False
        if any(self.queue.backlog(TRANSCRIBE, run_id=run_id) for run_id in run_ids):
            return True
        return self.transcripts.any_unflushed(run_ids) or not all(idle.is_set() for idle in self._idle)
