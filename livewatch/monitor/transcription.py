"""The monitor's transcription service: one thread that works through the queue in order, flushes each
stream's last words when its capture has ended, and keeps the per-event transcript files current."""

from __future__ import annotations

import logging
import threading
import time

from livewatch.monitor.check_service import CheckService
from livewatch.pipeline.run_status import FINAL
from livewatch.queue import TRANSCRIBE
from livewatch.session import Session
from livewatch.transcription.engines import EngineChooser
from livewatch.transcription.transcript_files import write_transcript_files
from livewatch.transcription.worker import EngineChoice, StreamLanes, TranscriptionWorker

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
        self.chooser = EngineChooser(session, workers=count)
        self.workers = [TranscriptionWorker(session.runs, session.transcripts, session.queue, self.choose,
                                            lanes=lanes) for _ in range(count)]
        self.worker = self.workers[0]
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
        """The engine and options for one event (see :class:`EngineChooser`)."""
        return self.chooser.choose(event_id)

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
