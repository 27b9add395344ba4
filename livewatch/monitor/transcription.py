"""The monitor's transcription service: one thread that works through the queue in order, flushes each
stream's last words when its capture has ended, and keeps the per-event transcript files current."""

from __future__ import annotations

import json
import logging
import threading

from sqlalchemy import Engine, select

from livewatch.queue import TRANSCRIBE, WorkQueue
from livewatch.settings import Settings
from livewatch.state import DataDir, tables
from livewatch.state.runs import FINAL
from livewatch.transcription.exports import write_transcript_files
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker
from transcribers.base import TranscribeOptions, Transcriber

log = logging.getLogger(__name__)


class TranscriptionService:
    """Whisper runs in one thread: on a small machine it uses every core by itself, and one worker keeps
    each stream's segments strictly in order."""

    def __init__(self, settings: Settings, engine: Engine, queue: WorkQueue, data: DataDir) -> None:
        self.settings, self.engine, self.queue, self.data = settings, engine, queue, data
        self.worker = TranscriptionWorker(engine, queue, self.choose)
        self._engines: dict[tuple[str, str], Transcriber] = {}
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="transcription", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def choose(self, event_id: str) -> EngineChoice:
        config = self.settings.transcriber
        key = (config.backend, config.model)
        if key not in self._engines:
            from transcribers import registry
            from transcribers.store import ModelStore

            model = ModelStore(self.settings.model_store).resolve(config.model, config.backend)
            log.info("loading %s model %s", config.backend, model.name)
            self._engines[key] = registry.create(config.backend, model, device=config.device,
                                                 compute_type=config.compute_type)
        language = self._event_language(event_id) or config.language
        options = TranscribeOptions(language=None if language == "auto" else language, beam_size=config.beam_size)
        return EngineChoice(self._engines[key], options)

    def _event_language(self, event_id: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tables.events.c.registration_json).where(tables.events.c.id == event_id)).first()
        if row is None:
            return None
        language = json.loads(row[0]).get("language")
        return None if language in (None, "auto") else str(language)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item_done = self.worker.process_one()
                if item_done:
                    self._idle.clear()
                    continue
                self.flush_finished()
                self._idle.set()
            except Exception:  # the service must outlive any one failure
                log.exception("transcription service error")
            self._stop.wait(0.5)

    def flush_finished(self) -> None:
        """Flush streams whose capture has ended and whose queued audio is all transcribed."""
        p, runs = tables.transcription_progress, tables.runs
        with self.engine.connect() as conn:
            rows = list(conn.execute(
                select(p.c.run_id, p.c.stream, runs.c.event_id).join(runs, runs.c.id == p.c.run_id)
                .where(p.c.flushed == 0, runs.c.status.in_(FINAL))))
        for run_id, stream, event_id in rows:
            if self.queue.backlog(TRANSCRIBE, run_id=run_id):
                continue
            self.worker.flush(event_id, run_id, stream)
            write_transcript_files(self.engine, run_id, self.data.transcripts_dir(event_id))

    def busy(self, run_ids: set[int]) -> bool:
        """Work left for these runs: queued audio, or a last tail not yet flushed."""
        if not run_ids:
            return False
        if any(self.queue.backlog(TRANSCRIBE, run_id=run_id) for run_id in run_ids):
            return True
        p = tables.transcription_progress
        with self.engine.connect() as conn:
            unflushed = conn.execute(select(p.c.run_id).where(p.c.run_id.in_(run_ids), p.c.flushed == 0)).first()
        return unflushed is not None or not self._idle.is_set()
