"""One session per process: the settings, the data directory, the state database and the stores over it.

Every command and the monitor build one from the settings and hand it on, instead of each part opening the
data directory and passing (engine, settings, data) along by itself: the stores are then made once, over
the one engine, and a different back-end replaces them in one place.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine

from livewatch.queue import WorkQueue, work_queue_for
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from livewatch.state.event_records import EventRecords, EventRecordStore
from livewatch.state.findings import FindingLog, FindingStore
from livewatch.state.media import LocalMediaStore, MediaBlobs
from livewatch.state.outbox import AlertOutbox, OutboxStore
from livewatch.state.runs import RunLog, RunStore
from livewatch.state.screen import ScreenLog, ScreenStore
from livewatch.state.transcripts import TranscriptLog, TranscriptStore


def data_dir(settings: Settings) -> DataDir:
    """The data directory the settings name (nothing is created): for code that needs only its folders."""
    return DataDir(settings.data_dir)


class Session:
    """The settings, the data directory and its open database, with one store of each kind over it."""

    def __init__(self, settings: Settings, data: DataDir, database: Database) -> None:
        self.settings, self.data, self.database = settings, data, database

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Session:
        """The data directory (created if missing) and the state database (migrated unless ``migrate`` is
        False): ``database_url``, or the data directory's SQLite file when it is unset."""
        data = data_dir(settings).ensure()
        return cls(settings, data, Database.open(data, migrate=migrate, url=settings.database_url))

    @classmethod
    def existing(cls, settings: Settings) -> Session:
        """An existing database, only to read (``status``): see :meth:`Database.existing`."""
        data = data_dir(settings)
        return cls(settings, data, Database.existing(settings.database_url or data.database))

    @property
    def engine(self) -> Engine:
        return self.database.engine

    # -- stores: one each, made on first use ------------------------------------------------------------

    @cached_property
    def runs(self) -> RunLog:
        """Runs, connections, segments and gaps."""
        return RunStore(self.engine)

    @cached_property
    def transcripts(self) -> TranscriptLog:
        """Transcript spans and each stream's transcription progress."""
        return TranscriptStore(self.engine)

    @cached_property
    def screen(self) -> ScreenLog:
        """What the screen showed: appearances of codes and text, and black or frozen spells."""
        return ScreenStore(self.engine)

    @cached_property
    def queue(self) -> WorkQueue:
        """The work queue between capture and transcription, for the database's back-end."""
        return work_queue_for(self.engine)

    @cached_property
    def findings(self) -> FindingLog:
        """Findings and their reviewer statuses."""
        return FindingStore(self.engine)

    @cached_property
    def alerts(self) -> AlertOutbox:
        """The alert outbox: one delivery per alert and target until it is sent."""
        return OutboxStore(self.engine)

    @cached_property
    def records(self) -> EventRecords:
        """The registered events, and what the checks and reports read of each one's registration, runs,
        gaps, transcript and audio."""
        return EventRecordStore(self.engine)

    @cached_property
    def media(self) -> MediaBlobs:
        """Recorded audio and the clips cut from it, in the data directory."""
        return LocalMediaStore(self.data)

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
