"""The work queue's contract, on SQLite and PostgreSQL: at-least-once delivery, no duplicates, one claim per
item, and per-stream order kept by the database (a lane's items go out one at a time, oldest first)."""

from __future__ import annotations

import threading
import time

from livewatch.queue import WorkQueue, work_queue_for
from livewatch.state import Database
from livewatch.state.work_queue import SqliteWorkQueue
from livewatch.state.work_queue_postgresql import PostgresWorkQueue


def _queue(db: Database) -> WorkQueue:
    queue = work_queue_for(db.engine)
    assert isinstance(queue, PostgresWorkQueue if db.backend == "postgresql" else SqliteWorkQueue)
    return queue


def test_put_is_idempotent_and_claims_oldest_first(state_backend: Database) -> None:
    queue = _queue(state_backend)
    assert queue.put("transcribe", "1:0:0", {"run_id": 1, "path": "a.wav", "text": "直播"})
    assert not queue.put("transcribe", "1:0:0", {"run_id": 1, "path": "other.wav"})
    assert queue.put("transcribe", "2:0:0", {"run_id": 2, "path": "c.wav"})
    assert queue.put("other", "1:0:0", {"run_id": 1})  # keys are per queue
    first = queue.claim("transcribe")
    assert first is not None
    assert (first.key, first.payload, first.attempts) == ("1:0:0", {"run_id": 1, "path": "a.wav", "text": "直播"}, 1)
    assert queue.backlog("transcribe") == 2
    assert queue.backlog("transcribe", run_id=2) == 1
    second = queue.claim("transcribe")
    assert second is not None
    assert second.key == "2:0:0"
    assert queue.claim("transcribe") is None


def test_complete_fail_release_and_requeue(state_backend: Database) -> None:
    queue = _queue(state_backend)
    for seq in range(3):
        queue.put("transcribe", f"1:0:{seq}", {"run_id": 1, "seq": seq})
    item = queue.claim("transcribe")
    assert item is not None
    queue.release(item)  # untouched: not an attempt
    again = queue.claim("transcribe")
    assert again is not None
    assert (again.key, again.attempts) == ("1:0:0", 1)
    queue.complete(again)
    second = queue.claim("transcribe")
    assert second is not None
    assert second.key == "1:0:1"
    queue.fail(second, "model crashed", retry=True)
    retried = queue.claim("transcribe")
    assert retried is not None
    assert (retried.key, retried.attempts) == ("1:0:1", 2)
    queue.fail(retried, "unreadable", retry=False)
    third = queue.claim("transcribe")
    assert third is not None
    assert third.key == "1:0:2"
    # A process died holding the item: the next start gives it back, attempts kept.
    assert _queue(state_backend).requeue_claimed("transcribe") == 1
    assert queue.backlog("transcribe") == 1
    back = queue.claim("transcribe")
    assert back is not None
    assert (back.key, back.attempts) == ("1:0:2", 2)


def test_a_lane_goes_out_one_item_at_a_time(state_backend: Database) -> None:
    queue = _queue(state_backend)
    for key in ("1:0:0", "1:0:1", "1:1:0", "1:0:2"):
        queue.put("transcribe", key, {})
    first = queue.claim("transcribe")
    assert first is not None
    assert first.key == "1:0:0"
    # Stream 0 is held: the next claim takes stream 1, never the second segment of stream 0.
    other = queue.claim("transcribe")
    assert other is not None
    assert other.key == "1:1:0"
    assert queue.claim("transcribe") is None
    # The holder of a lane takes the items queued behind its own, in order.
    behind = queue.claim("transcribe", key_prefix="1:0:")
    assert behind is not None
    assert behind.key == "1:0:1"
    queue.release(behind)
    queue.complete(first)
    assert queue.claim("transcribe", exclude_prefixes=("1:0:",)) is None
    nxt = queue.claim("transcribe")
    assert nxt is not None
    assert nxt.key == "1:0:1"


def test_concurrent_claims_never_share_an_item_or_a_lane(state_backend: Database) -> None:
    queue = _queue(state_backend)
    for seq in range(10):
        for stream in range(3):
            queue.put("q", f"7:{stream}:{seq}", {"stream": stream, "seq": seq})
    for n in range(10):
        queue.put("q", f"solo-{n}", {})
    taken: list[str] = []
    held: set[str] = set()
    overlap: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        # Each worker its own queue object (on PostgreSQL, its own connections): nothing shared in-process.
        own = work_queue_for(state_backend.engine)
        while (item := own.claim("q")) is not None:
            lane = item.key.rsplit(":", 1)[0] if ":" in item.key else item.key
            with lock:
                if lane in held:
                    overlap.append(item.key)
                held.add(lane)
                taken.append(item.key)
            time.sleep(0.002)  # "working": the lane stays held while the item is claimed
            with lock:
                held.discard(lane)
            own.complete(item)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = [f"7:{s}:{q}" for q in range(10) for s in range(3)] + [f"solo-{n}" for n in range(10)]
    assert sorted(taken) == sorted(expected)
    assert overlap == []
    for stream in range(3):  # each stream's segments went out in order
        order = [int(key.rsplit(":", 1)[1]) for key in taken if key.startswith(f"7:{stream}:")]
        assert order == sorted(order)
