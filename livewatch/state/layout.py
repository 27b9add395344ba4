"""Where everything lives inside the data directory (documented in ``docs/data-directory.md``).

::

    data/
      livewatch.db                  events, runs, segments, gaps, transcripts, findings
      jobs.db                       the scheduler's persistent job store
      events/<event-id>/media/      recorded MPEG-TS segments, as captured
      events/<event-id>/audio/      16 kHz mono WAV segments for Whisper
      events/<event-id>/frames/     still frames (JPEG) and picture metadata for the screen readers
      events/<event-id>/transcripts/
      reports/index.html            all events
      reports/<event-id>/           report.html, findings.json/.csv, transcript.srt/.vtt, clips/
      reviews/<event-id>.yaml       reviewers' dispositions
      reviews/<event-id>.audit.jsonl  every change of a finding's status, hash-chained

Everything livewatch writes here goes through the methods below (``livewatch.state.files``): no symbolic
link inside the data directory is ever followed for a write, and files are private (0600, folders 0700)
unless ``private_files = false``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from livewatch.errors import StateError, UnsafePathError
from livewatch.fields import check_event_id
from livewatch.state import files

DATABASE_NAME = "livewatch.db"
JOBSTORE_NAME = "jobs.db"


@dataclass(frozen=True)
class DataDir:
    """The data directory. Every path for an event goes through :meth:`event_dir` and friends, which refuse
    ids that could lead outside it."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / DATABASE_NAME

    @property
    def jobstore(self) -> Path:
        return self.root / JOBSTORE_NAME

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def reviews(self) -> Path:
        return self.root / "reviews"

    def _inside(self, base: Path, event_id: str, suffix: str = "") -> Path:
        try:
            check_event_id(event_id)
        except ValueError as err:
            raise UnsafePathError("event id", event_id) from err
        path = base / f"{event_id}{suffix}"
        # Belt and braces: even a valid-looking id must resolve inside the base (symlinked folders).
        resolved_base = base.resolve()
        if path.resolve().parent != resolved_base:
            raise UnsafePathError("event id", event_id, f"its path leads outside {base}: a symbolic link?")
        return path

    def event_dir(self, event_id: str) -> Path:
        return self._inside(self.root / "events", event_id)

    def media_dir(self, event_id: str) -> Path:
        return self.event_dir(event_id) / "media"

    def audio_dir(self, event_id: str) -> Path:
        return self.event_dir(event_id) / "audio"

    def frames_dir(self, event_id: str) -> Path:
        return self.event_dir(event_id) / "frames"

    def transcripts_dir(self, event_id: str) -> Path:
        return self.event_dir(event_id) / "transcripts"

    def report_dir(self, event_id: str) -> Path:
        return self._inside(self.reports, event_id)

    def review_file(self, event_id: str) -> Path:
        return self._inside(self.reviews, event_id, ".yaml")

    def ensure(self) -> DataDir:
        """Create the directory skeleton; fail clearly when the location is unusable."""
        try:
            for folder in (self.root / "events", self.reports, self.reviews):
                os.close(files.open_folder(self.root, folder))  # a planted link is refused by name
        except OSError as err:
            raise StateError(f"cannot create data directory {self.root}: {err.strerror or err}") from err
        return self

    def ensure_event(self, event_id: str) -> Path:
        folder = self.event_dir(event_id)
        for sub in ("media", "audio", "transcripts"):
            self.make_folder(folder / sub)
        # Frames are for the screen readers: a problem with their folder is the capture's to note (it records
        # the sound without them), never a reason to record nothing.
        with contextlib.suppress(StateError):
            self.make_folder(self.frames_dir(event_id))
        return folder

    # -- writing: never through a link, private unless configured otherwise (livewatch.state.files) -------

    def make_folder(self, folder: Path) -> Path:
        return files.make_folder(self.root, folder)

    def write_whole(self, path: Path, content: str | bytes) -> Path:
        """Replace ``path`` at once (temporary file created exclusively beside it, then renamed)."""
        return files.write_whole(self.root, path, content)

    def append(self, path: Path, content: bytes) -> Path:
        return files.append(self.root, path, content)

    def read_bytes(self, path: Path) -> bytes | None:
        """A file's content, None when it is missing; a link is refused."""
        return files.read_bytes(self.root, path)

    def copy_file(self, source: Path, target: Path) -> bool:
        return files.copy_file(self.root, source, target)
