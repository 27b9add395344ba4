"""Report rendering at scale: a synthetic 10-hour event (about 8,000 transcript segments, 100 findings)
rendered to ``report.html``; prints the render time and the page size (targets: ≤ 2 s, ≤ 5 MB).

    .venv/bin/python bench/report.py [--segments N] [--findings N] [--repeat N]

The event is checked once with the default pack (the planted phrases make the findings); the timed part is
what the monitor repeats after every check: the findings document, the report context, and the Jinja2
render and write. Audio clips are cut only once per finding, so they are left out (``clips=False``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.checking import check_event  # noqa: E402
from livewatch.pipeline.run_status import FINISHED  # noqa: E402
from livewatch.registration.models import Event  # noqa: E402
from livewatch.reports.render import write_report  # noqa: E402
from livewatch.session import Session  # noqa: E402
from livewatch.settings import Settings  # noqa: E402
from livewatch.state import Database, DataDir, tables  # noqa: E402
from livewatch.state.runs import RunStore  # noqa: E402

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
CLEAN = ["大家好，欢迎来到今天的创作者论坛，我们聊聊内容创作和品牌合作的规则。",
         "Thank you for joining us, our next guest has run a cooking channel for six years.",
         "请大家在提问环节之前保持安静，我们稍后会开放麦克风。",
         "Every sponsored post must carry a clear disclosure in the video and the description."]
PLANTS = ["这个理财产品保本保息，大家放心", "加我V信领取资料", "This fund gives guaranteed returns", "这是全网最低价"]


def build(data: DataDir, segments: int, findings: int) -> None:
    hours = segments * 4.5 / 3600
    event = Event.model_validate({
        "id": "ten-hours", "title": "Ten-hour forum", "kind": "forum", "category": "knowledge",
        "organizer": {"name": "Bench Org"}, "start": T0.isoformat(), "end": (T0 + timedelta(hours=hours)).isoformat(),
        "streams": [{"url": "https://live.example.com/1"}]})
    with Database.open(data) as db:
        with db.engine.begin() as conn:
            conn.execute(tables.events.insert().values(
                id=event.id, title=event.title, kind="forum", timezone="UTC", registered_start=event.start,
                registered_end=event.end, source_file="bench.yaml", source_sha256="0",
                registration_json=event.model_dump_json(), updated_at=T0))
        store = RunStore(db.engine)
        run = store.open_run(event.id, event.start, event.end)
        assert run is not None
        store.note_on_air(run.id, T0, event.end)
        every = max(segments // findings, 1)
        rows = []
        for index in range(segments):
            start = T0 + timedelta(seconds=4.5 * index)
            text = PLANTS[index // every % len(PLANTS)] if index % every == every // 2 else CLEAN[index % len(CLEAN)]
            rows.append({"run_id": run.id, "stream": 0, "start_at": start, "end_at": start + timedelta(seconds=4),
                         "text": text, "text_check": text, "language": "zh", "avg_logprob": -0.25,
                         "no_speech_prob": 0.01, "compression_ratio": 1.3, "flags": "", "words_json": "[]",
                         "backend": "faster-whisper", "model": "base"})
        with db.engine.begin() as conn:
            conn.execute(tables.transcripts.insert(), rows)
        store.finish_run(run.id, FINISHED, "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=8000)
    parser.add_argument("--findings", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = DataDir(Path(tmp) / "data").ensure()
        build(data, args.segments, args.findings)
        settings = Settings.model_validate({"data_dir": str(data.root)})
        with Database(data.database) as db:
            began = time.perf_counter()
            session = Session(settings, data, db)
            check = check_event(session, "ten-hours")
            checked = time.perf_counter() - began
            samples = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                page = write_report(session, check, clips=False)
                samples.append(time.perf_counter() - began)
        size = page.stat().st_size
    seconds = statistics.median(samples)
    print(f"event: {args.segments} transcript segments ({args.segments * 4.5 / 3600:.1f} h), "
          f"{len(check.findings)} findings (check: {checked:.2f} s)")
    print(f"render (median of {args.repeat}): {seconds:.2f} s   target <= 2 s: {'met' if seconds <= 2 else 'NOT met'}")
    print(f"report.html: {size / 1e6:.2f} MB   target <= 5 MB: {'met' if size <= 5e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
