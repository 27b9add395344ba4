"""The Prometheus collector reads the same numbers from either back-end (one snapshot; JSON members read by
the database: ``json_extract`` on SQLite, ``->>`` on PostgreSQL)."""

from __future__ import annotations

from livewatch.metrics import StateCollector
from livewatch.queue import TRANSCRIBE, work_queue_for
from livewatch.state import Database
from livewatch.state.migrations import all_migrations


def test_a_scrape_reads_the_state_on_either_back_end(state_backend: Database) -> None:
    queue = work_queue_for(state_backend.engine)
    for seq in range(3):
        queue.put(TRANSCRIBE, f"1:0:{seq}", {"run_id": 1, "stream": 0, "seq": seq})
    queue.put(TRANSCRIBE, "1:1:0", {"run_id": 1, "stream": 1, "seq": 0})
    claimed = queue.claim(TRANSCRIBE)
    assert claimed is not None
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in StateCollector(state_backend.engine).collect() for s in family.samples}
    assert samples[("livewatch_up", ())] == 1
    assert samples[("livewatch_database_schema_version", ())] == len(all_migrations())
    assert samples[("livewatch_queue_items", (("queue", TRANSCRIBE), ("status", "pending")))] == 3
    assert samples[("livewatch_queue_items", (("queue", TRANSCRIBE), ("status", "claimed")))] == 1
