"""PostgreSQL restarted mid-event under a `livewatch scheduler` and a `livewatch worker` recording and
transcribing a live stream: every role reconnects. The run goes on (one run, one ffmpeg), every segment ffmpeg
wrote while the database was away is listed once it is back, the capture lease and the transcription lanes are
taken again, and the scheduler is the active one afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from livewatch.state import Database, tables
from livewatch.state.capture_lease import lease_key
from livewatch.state.scheduler_lock import active_scheduler
from tests.capture.conftest import now, run_facts, write_event
from tests.distributed.test_workers import Deployment, wait_until
from tests.support.origin import LiveOrigin, wait_for_playlist
from tests.support.postgres import PostgresCluster, find_bin_dir, start_cluster

pytestmark = pytest.mark.slow

#: Seconds the database is down.
DOWN_S = 3.0


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: restarting the session's would cut every other fixture's connections."""
    if find_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed")
    own = start_cluster()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LiveOrigin]:
    with LiveOrigin(tmp_path / "origin", speech="The database restarts during this event.") as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        yield live


def lease_held(database: str, key: int) -> bool:
    """Whether some session holds the advisory lock ``key`` (one-bigint form: high and low 32 bits)."""
    with Database(database, migrate=False) as db, db.engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND classid::bigint = :high AND objid::bigint = :low"), {"high": key >> 32, "low": key & 0xFFFFFFFF})
            .scalar())


def test_a_database_restart_mid_event_loses_nothing(tmp_path: Path, cluster: PostgresCluster, rabbitmq_url: str,
                                                    origin: LiveOrigin) -> None:
    database = cluster.create_database("restart")
    Database(database).close()  # migrated before the roles start
    site = Deployment(tmp_path, database, rabbitmq_url, transcribe=True)
    try:
        t0 = now()
        start, end = t0 + timedelta(seconds=2), t0 + timedelta(seconds=17)
        write_event(site.schedules, "pg", origin.url, start, end)
        scheduler = site.start_scheduler()
        site.start_worker("w1")
        wait_until(lambda: site.status("pg") == "recording", 30, "recording to start")
        key = lease_key("pg", start)
        assert lease_held(database, key)
        time.sleep(3)
        restarted_at = now()
        cluster.restart(DOWN_S)
        back_at = now()
        # The capture notices its lease's connection is gone and takes the lease again while recording.
        wait_until(lambda: lease_held(database, key), 15, "the capture lease taken again")
        assert site.status("pg") == "recording"
        wait_until(lambda: site.status("pg") == "finished", 40, "the run to finish")
        wait_until(lambda: site.pending_transcriptions() == 0 and site.flushed(), 60, "every segment transcribed")
        with Database(database, migrate=False) as db:
            active = active_scheduler(db.engine)
            with db.engine.connect() as conn:
                transcribed_after = conn.execute(select(func.count()).where(tables.transcripts.c.start_at > back_at)
                                                 .select_from(tables.transcripts)).scalar()
    finally:
        site.stop()
    print(f"database down {(back_at - restarted_at).total_seconds():.1f} s")
    facts = run_facts(site.data, "pg", database)  # one run
    # One ffmpeg throughout: the database's absence never reached the recording.
    assert len(facts.connections) == 1, [c.end_reason for c in facts.connections]
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))
    # Every file ffmpeg wrote, during the outage too, is on the ledger, and nothing is missing from the timeline.
    written = sorted(p.name for p in site.data.root.rglob("s0-*.wav"))
    assert len(written) == len(facts.audio), written
    assert facts.gaps == []
    assert facts.audio[-1].end_at >= end - timedelta(seconds=4)
    assert any(s.start_at >= restarted_at and s.end_at <= back_at + timedelta(seconds=2) for s in facts.audio)
    # The lanes were taken again: what came after the restart was transcribed, every segment once.
    assert facts.queued == len(facts.audio)
    assert transcribed_after
    # The scheduler (re)took the lock, and is the active one.
    assert active is not None
    assert (active.holds_lock, active.pid) == (True, scheduler.pid), active
    assert "recording on, the segments are listed when it is back" in site.log_of("w1")
    assert "taken again on a new connection" in site.log_of("w1")
