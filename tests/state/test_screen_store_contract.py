"""The screen store's contract, on every state back-end (``state_backend``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from livewatch.pipeline.screen import Box, PictureSpell, ScreenItem
from livewatch.state import Database
from livewatch.state.runs import RunStore
from livewatch.state.screen import ScreenStore
from livewatch.state.transcripts import TranscriptStore

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def _run(db: Database) -> int:
    from livewatch.state import tables

    with db.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id="forum", title="Forum", kind="livestream", timezone="Asia/Shanghai", registered_start=START,
            registered_end=at(3600), source_file="forum.toml", source_sha256="0" * 64,
            registration_json='{"language": "zh"}', updated_at=START))
    run = RunStore(db.engine).open_run("forum", START, at(3600))
    assert run is not None
    return run.id


def _code(run_id: int, start: float, end: float, *, stream: int = 0, confidence: float = 1.0) -> ScreenItem:
    return ScreenItem(run_id, stream, "code", "https://u.wechat.com/EHx-abc", at(start), at(end), confidence,
                      Box(10, 20, 200, 200), Path(f"frames/s{stream}-c0-{int(start):08d}.jpg"), "qr", "QRCode",
                      "wechat-personal", "u.wechat.com")


def test_an_appearance_is_stored_once_and_its_end_moves_while_it_stays(state_backend: Database) -> None:
    run_id = _run(state_backend)
    store = ScreenStore(state_backend.engine)
    first = _code(run_id, 5, 6)
    assert store.record_items([first]) == 1
    # Seen again: the same appearance (same start), now longer and read better in a later frame.
    better = replace(first, end_at=at(9), confidence=1.0, box=Box(12, 22, 190, 190), frame=Path("frames/x.jpg"))
    assert store.record_items([better]) == 0
    # A late, stale write never shortens it.
    assert store.record_items([replace(first, end_at=at(7))]) == 0
    banner = ScreenItem(run_id, 1, "text", "全网最低价 电话13812345678", at(2), at(30), 0.75, Box(0, 400, 960, 60),
                        Path("frames/s1-c0-00000002.jpg"), "ocr")
    assert store.record_items([banner, _code(run_id, 20, 22)]) == 2
    items = store.items(run_id)
    assert items == [banner, replace(better, end_at=at(9)), _code(run_id, 20, 22)]
    assert items[1].box == Box(12, 22, 190, 190)
    assert (items[0].symbology, items[0].payload_class) == (None, None)


def test_picture_spells_are_opened_then_closed(state_backend: Database) -> None:
    run_id = _run(state_backend)
    store = ScreenStore(state_backend.engine)
    black = PictureSpell(run_id, 0, "black", at(3), None)
    frozen = PictureSpell(run_id, 0, "frozen", at(1), at(40))
    store.record_spells([black, frozen])
    store.record_spells([black])  # still open: nothing changes
    assert store.spells(run_id) == [frozen, black]
    store.record_spells([replace(black, end_at=at(15))])
    store.record_spells([replace(black, end_at=at(15))])  # a repeat after a restart: no second row
    assert store.spells(run_id) == [frozen, replace(black, end_at=at(15))]
    assert store.spells(run_id + 1) == []


def test_a_discarded_run_leaves_no_screen_rows(state_backend: Database) -> None:
    run_id = _run(state_backend)
    store = ScreenStore(state_backend.engine)
    store.record_items([_code(run_id, 5, 6)])
    store.record_spells([PictureSpell(run_id, 0, "black", at(3), None)])
    RunStore(state_backend.engine).discard(run_id, queue=("transcribe", "screen"))
    assert store.items(run_id) == []
    assert store.spells(run_id) == []
    assert TranscriptStore(state_backend.engine).spans(run_id) == []


def test_a_check_reads_the_screen_by_stream_and_the_spells(state_backend: Database, tmp_path: Path) -> None:
    from livewatch.checking import load_input
    from livewatch.settings import Settings
    from livewatch.state.event_records import EventRecordStore

    run_id = _run(state_backend)
    store = ScreenStore(state_backend.engine)
    codes = [_code(run_id, 5, 12), _code(run_id, 3, 4, stream=1), _code(run_id, 30, 31)]
    store.record_items(codes)
    black = PictureSpell(run_id, 0, "black", at(40), None)
    store.record_spells([black])
    data, _event, checked_run = load_input(EventRecordStore(state_backend.engine),
                                           Settings(data_dir=tmp_path / "data"), "forum")
    assert checked_run == run_id
    assert {stream: list(items) for stream, items in data.screen.items()} == {0: [codes[0], codes[2]],
                                                                             1: [codes[1]]}
    assert data.facts.picture == (black,)


def test_a_line_read_better_later_keeps_its_row(state_backend: Database) -> None:
    run_id = _run(state_backend)
    store = ScreenStore(state_backend.engine)
    first = ScreenItem(run_id, 0, "text", "全网最低介", at(2), at(3), 0.6, Box(0, 400, 960, 60), Path("a.jpg"), "ocr")
    store.record_items([first])
    better = replace(first, text="全网最低价", end_at=at(6), confidence=0.9, frame=Path("b.jpg"))
    assert store.record_items([better], keys=["全网最低介"]) == 0
    assert store.items(run_id) == [better]
    # Still on screen, read less well again: the same row, found by the text it was first stored under.
    later = replace(first, text="全网最底价", end_at=at(8), confidence=0.7, frame=Path("c.jpg"))
    assert store.record_items([later], keys=["全网最低介"]) == 0
    assert store.items(run_id) == [replace(better, end_at=at(8))]
