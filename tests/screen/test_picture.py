"""Black and frozen picture: the filter chain as ffmpeg gets it, run by ffmpeg for real, and the parser of what
it writes, whole and as it grows."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livewatch.errors import ScreenError
from livewatch.pipeline.screen import PictureSpell
from livewatch.screen.picture import PictureMetadata, PictureMetadataFile, Spell, picture_filters

# testsrc2 for 8 s at 10 fps: black from 2 to 3.5 s (a black picture is a still one too), a black flash from
# 5 to 5.3 s (too short to count), and the last frame held for 2.5 s (frozen until the end).
DRAWN = ("drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,2,3.5)+between(t,5,5.3)',"
         "tpad=stop_mode=clone:stop_duration=2.5")
EXPECTED = [Spell("black", 2.0, None), Spell("frozen", 2.0, None), Spell("black", 2.0, 3.6),
            Spell("frozen", 2.0, 3.6), Spell("frozen", 7.9, None)]


@pytest.fixture(scope="module")
def metadata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A path with every character the filter graph treats specially: the escaping is what ffmpeg reads.
    path = tmp_path_factory.mktemp("picture") / "picture:1,[a];b's\\x.txt"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i",
                    "testsrc2=s=320x180:r=10:d=8", "-vf", f"{DRAWN},{picture_filters(path, 1.0, 1.0)}",
                    "-f", "null", "-"], check=True, timeout=60)
    return path


def test_the_filter_chain_is_exact() -> None:
    assert picture_filters(Path("/data/events/ev/frames/picture-3.txt"), 2.0, 5.5) == (
        "blackdetect=d=2:pix_th=0.1:pic_th=0.98,freezedetect=n=-60dB:d=5.5,"
        "metadata=mode=print:file=/data/events/ev/frames/picture-3.txt")
    assert picture_filters(Path("/a:b,c'd"), 1, 1).endswith(r"file=/a\\:b\,c\\\'d")
    with pytest.raises(ScreenError, match="more than 0 s"):
        picture_filters(Path("/x"), 0, 1)
    with pytest.raises(ScreenError, match="0 s or more"):
        PictureMetadata(black_min_s=float("nan"))


def test_ffmpegs_output_gives_the_spells(metadata: Path) -> None:
    parser = PictureMetadata(black_min_s=1.0)
    assert list(parser.feed(metadata.read_bytes())) == EXPECTED
    assert parser.open_spells() == [Spell("frozen", 7.9, None)]


def test_fed_a_byte_at_a_time_the_spells_are_the_same(metadata: Path) -> None:
    parser = PictureMetadata(black_min_s=1.0)
    data = metadata.read_bytes()
    spells = [spell for i in range(len(data)) for spell in parser.feed(data[i:i + 1])]
    assert spells == EXPECTED


def test_a_short_black_flash_counts_with_a_shorter_minimum(metadata: Path) -> None:
    spells = list(PictureMetadata(black_min_s=0.25).feed(metadata.read_bytes()))
    assert Spell("black", 5.0, 5.3) in spells


def test_a_lasting_black_spell_is_named_once_the_clock_says_it_has_lasted() -> None:
    # ffmpeg prints nothing while the picture stays black: the caller's clock tells how long it has lasted.
    parser = PictureMetadata(black_min_s=2.0)
    assert list(parser.feed(b"frame:20   pts:20      pts_time:2\nlavfi.black_start=2\n", now_s=3.0)) == []
    assert list(parser.lasting(now_s=4.5)) == [Spell("black", 2.0, None)]
    assert list(parser.lasting(now_s=9.0)) == []
    assert list(parser.feed(b"frame:100 pts:100 pts_time:10\nlavfi.black_end=10\n")) == [Spell("black", 2.0, 10.0)]


def test_what_is_not_ffmpegs_is_ignored() -> None:
    parser = PictureMetadata(black_min_s=1.0)
    noise = (b"lavfi.black_end=3\nlavfi.black_start=nan\nlavfi.freezedetect.freeze_start=abc\n"
             b"lavfi.other=1\n\xff\xfe\n" + b"x" * 5000 + b"\nframe:1 pts:1 pts_time:inf\n")
    assert list(parser.feed(noise)) == []
    assert parser.open_spells() == []
    assert parser.last_s is None


def test_the_file_is_followed_as_it_grows(tmp_path: Path, metadata: Path) -> None:
    path = tmp_path / "picture-1.txt"
    follower = PictureMetadataFile(path, black_min_s=1.0)
    assert follower.poll() == []  # not written yet
    data = metadata.read_bytes()
    cut = data.index(b"lavfi.black_end") + 5  # half a line
    path.write_bytes(data[:cut])
    assert follower.poll() == EXPECTED[:2]
    path.write_bytes(data)
    assert follower.poll() == EXPECTED[2:]
    assert follower.poll() == []


def test_a_spell_on_the_wall_clock() -> None:
    origin = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert Spell("black", 2.0, 3.5).on_clock(7, 1, origin) == PictureSpell(
        run_id=7, stream=1, problem="black", start_at=datetime(2026, 5, 1, 12, 0, 2, tzinfo=UTC),
        end_at=datetime(2026, 5, 1, 12, 0, 3, 500000, tzinfo=UTC))
    assert Spell("frozen", 1.0, None).on_clock(7, 1, origin).end_at is None
