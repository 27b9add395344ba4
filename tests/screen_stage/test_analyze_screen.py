"""`livewatch analyze` reads the screen too: a recording with a QR code shown from 5 to 12 s and a black
spell gives the code's appearance and the spell, on the event's clock, before the check."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from livewatch.analyze import analyze_recording, frames_argv, has_video_argv
from livewatch.screen.picture import picture_filters
from livewatch.session import Session
from livewatch.settings import ScreenSettings, Settings, TranscriberSettings
from tests.screen_stage.media import WECHAT, screen_video

REGISTRATION = """\
id: handed-in
title: Creator forum (recording)
kind: forum
category: knowledge
organizer: {name: Forum Org}
timezone: Asia/Shanghai
start: 2026-12-01T09:00
end: 2026-12-01T10:00
language: en
streams: [{url: "https://live.example.com/room/9"}]
participants: [{name: Li Hua, role: host, real_name_verified: true, birth_year: 1990}]
"""
START = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
FORMATS = ("mov,matroska,mpegts,flv,wav,w64,mp3,aac,ogg,flac,asf,avi,mpeg,caf,amr,ac3,eac3,aiff")


def test_frames_argv_is_one_ffmpeg_run_for_frames_and_picture_metadata() -> None:
    folder = Path("/data/events/e/frames/analyzed-1")
    assert frames_argv(Path("/in/rec.mp4"), folder, fps=0.5, max_width=640) == [
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file",
        "-format_whitelist", FORMATS, "-i", "/in/rec.mp4", "-map", "0:V:0", "-an", "-sn", "-dn",
        "-vf", "fps=0.5,scale='min(640,iw)':-2," + picture_filters(folder / "s0-c0.picture.txt", 2.0, 2.0),
        "-q:v", "4", "-frame_pts", "1", "-f", "image2", f"{folder}/s0-c0-%08d.jpg"]
    assert has_video_argv(Path("/in/rec.mp4")) == [
        "ffprobe", "-hide_banner", "-v", "error", "-protocol_whitelist", "file", "-format_whitelist", FORMATS,
        "-i", "/in/rec.mp4", "-select_streams", "V:0", "-show_entries", "stream=codec_type", "-of", "csv=p=0"]


def test_analyze_reports_what_the_screen_showed(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "handed-in.yaml").write_text(REGISTRATION, encoding="utf-8")
    media = screen_video(tmp_path, seconds=20, code=(5, 12), black=(14, 18))
    settings = Settings(data_dir=tmp_path / "data", transcriber=TranscriberSettings(enabled=False),
                        screen=ScreenSettings(readers=["qr"]))
    analysis = analyze_recording(settings, media, "handed-in", schedules)
    assert analysis.frames == 20
    with Session.open(settings) as session:
        run = session.runs.latest_run("handed-in")
        assert run is not None
        [code] = session.screen.items(run.id)
        spells = session.screen.spells(run.id)
    assert (code.text, code.payload_class, code.host) == (WECHAT, "wechat-personal", "u.wechat.com")
    assert (code.start_at, code.end_at) == (START + timedelta(seconds=5), START + timedelta(seconds=12))
    assert code.frame.is_file()
    assert [s.problem for s in spells] == ["black", "frozen"]  # a black picture is a frozen one too
    assert all(s.start_at == START + timedelta(seconds=14) and s.end_at is not None for s in spells)
    assert spells[0].end_at == START + timedelta(seconds=18)
    [finding] = [f for f in analysis.check.findings if f.channel == "screen"]  # the default pack's QR rule
    assert (finding.category, finding.start_at, finding.frame) == (
        "traffic-diversion", code.start_at, f"frames/{code.frame.parent.name}/{code.frame.name}")


def test_an_audio_file_with_cover_art_has_no_frames_to_read(tmp_path: Path) -> None:
    import subprocess

    from tests.screen_stage.media import qr_png

    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "handed-in.yaml").write_text(REGISTRATION, encoding="utf-8")
    media = tmp_path / "talk.mp3"  # the cover is a QR code: still no picture of the broadcast
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=3", "-i", str(qr_png(tmp_path)),
                    "-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v", "attached_pic",
                    str(media)], check=True)
    settings = Settings(data_dir=tmp_path / "data", transcriber=TranscriberSettings(enabled=False),
                        screen=ScreenSettings(readers=["qr"]))
    analysis = analyze_recording(settings, media, "handed-in", schedules)
    assert (analysis.segments, analysis.frames) == (1, 0)
    assert not [f for f in analysis.check.findings if f.channel == "screen"]
