"""When the distributed side of the Mandarin demo counts as done: the timeline of a run where it was taken as done
too early (its capture-check worker's log, cut down). The run ended at 19:03:42 while the transcribe lane was
35 s behind; the screen lane's check at 19:04:05 ran with the audio, as every check after the run does, and
logged "(final)" at 19:04:16 with the transcript as far as 19:03:14. The lane flushed the stream and wrote the
transcript files at 19:04:17.158 and sent its check, received at 19:04:17.162, which wrote the whole report at
19:04:19. Read in between, the report lacked the last four plants' findings."""

from __future__ import annotations

import time

from tests.demo.side_by_side import checked_after, tasks_running

LOG = """\
2026-12-02 19:01:49,178 INFO celery.worker.strategy: Task livewatch.capture[24ef93a9-4ad2] received
2026-12-02 19:03:42,750 INFO livewatch.distributed.tasks: demo-forum-zh: capture ended: finished
2026-12-02 19:03:42,778 INFO celery.worker.strategy: Task livewatch.check[da581830-e3d9] received
2026-12-02 19:03:42,779 INFO celery.app.trace: Task livewatch.capture[24ef93a9-4ad2] succeeded in 113.6s: 'finished'
2026-12-02 19:04:05,883 INFO celery.worker.strategy: Task livewatch.check[c792f77a-dbc7] received
2026-12-02 19:04:13,772 INFO livewatch.monitor.check_service: demo-forum-zh: 11 finding(s), verdict fail
2026-12-02 19:04:13,781 INFO celery.app.trace: Task livewatch.check[da581830-e3d9] succeeded in 31.0s: None
2026-12-02 19:04:16,053 INFO livewatch.monitor.check_service: demo-forum-zh: 13 finding(s), verdict fail (final)
2026-12-02 19:04:16,054 INFO celery.app.trace: Task livewatch.check[c792f77a-dbc7] succeeded in 10.2s: None
2026-12-02 19:04:17,162 INFO celery.worker.strategy: Task livewatch.check[64c1da1a-e538] received
2026-12-02 19:04:19,059 INFO livewatch.monitor.check_service: demo-forum-zh: 18 finding(s), verdict fail (final)
2026-12-02 19:04:19,060 INFO celery.app.trace: Task livewatch.check[64c1da1a-e538] succeeded in 1.9s: None
"""
#: When the flushing lane wrote the transcript files (their mtime), in the log's clock (local time).
FLUSHED = time.mktime(time.strptime("2026-12-02 19:04:17", "%Y-%m-%d %H:%M:%S")) + 0.157769899


def log_until(moment: str) -> str:
    return LOG[:LOG.index(moment)]


def test_a_final_check_begun_before_the_flush_does_not_make_the_side_done() -> None:
    read_too_early = log_until("2026-12-02 19:04:17,162")  # the moment the test read 13 findings
    assert "(final)" in read_too_early  # what was taken as done
    assert not checked_after(read_too_early, FLUSHED)


def test_the_check_received_after_the_flush_makes_it_done_once_it_succeeded() -> None:
    assert not checked_after(log_until("2026-12-02 19:04:19,059"), FLUSHED)  # received, still running
    assert not checked_after(log_until("2026-12-02 19:04:19,060"), FLUSHED)  # logged, not yet ended
    assert checked_after(LOG, FLUSHED)
    assert not checked_after(LOG, FLUSHED + 2.0)  # no check began after a later flush


def test_a_task_counts_as_running_from_received_until_it_ends() -> None:
    assert tasks_running(log_until("2026-12-02 19:04:16,054"), "livewatch.check")
    assert not tasks_running(LOG, "livewatch.check")
    assert not tasks_running(LOG, "livewatch.capture")
