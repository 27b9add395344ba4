"""The change detector on real ffmpeg frames: compression noise and a speaker's small movements are "unchanged";
a code, a banner or a new picture is "changed"."""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path

import numpy as np
import pytest

from livewatch.errors import ScreenError
from livewatch.screen.change import THRESHOLD, ChangeDetector, dhash, mean_luma
from tests.screen.conftest import CHINESE_BANNER, FrameMaker, drawtext, ffmpeg, pixels


def _noisy(make_frame: FrameMaker, seed: int, vf: str = "") -> np.ndarray:
    """testsrc2's first picture, still, with fresh grain (and ``vf`` drawn on it), as a JPEG frame."""
    chain = ",".join(x for x in (vf, f"noise=alls=12:allf=t:all_seed={seed}") if x)
    return pixels(make_frame(f"still-{seed}-{zlib.crc32(vf.encode()):08x}", vf=chain))


def _speaker(tmp_path: Path, t: float) -> np.ndarray:
    """A studio set (colour bars) with a speaker-sized patch swaying ±4 px, grain on top, at second t."""
    out = tmp_path / f"speaker-{t:g}.jpg"
    ffmpeg("-f", "lavfi", "-i", "smptehdbars=s=960x540:d=5", "-f", "lavfi", "-i", "color=c=0xd0a080:s=220x300:d=5",
           "-filter_complex", "[0][1]overlay=x='370+4*sin(2*t)':y='150+3*cos(3*t)',noise=alls=8:allf=t",
           "-ss", f"{t:g}", "-frames:v", "1", "-q:v", "5", str(out))
    return pixels(out)


def test_noise_is_unchanged_and_a_banner_a_code_or_a_new_picture_is_changed(make_frame: FrameMaker,
                                                                              wechat_qr: Path) -> None:
    detector = ChangeDetector()
    assert detector.changed(_noisy(make_frame, 1))
    assert detector.last_distance is None
    assert not detector.changed(_noisy(make_frame, 2))
    assert not detector.changed(_noisy(make_frame, 3))
    banner = drawtext(CHINESE_BANNER, size=40, x=40, y=440)
    assert detector.changed(_noisy(make_frame, 4, banner))
    assert not detector.changed(_noisy(make_frame, 5, banner))
    assert detector.changed(_noisy(make_frame, 6))  # the banner went
    with_code = pixels(make_frame("still-code", overlay=wechat_qr, at=(800, 30)))
    assert detector.changed(with_code)
    assert detector.changed(pixels(make_frame("plain-2.5", t=2.5)))


def test_a_swaying_speaker_is_unchanged(tmp_path: Path) -> None:
    detector = ChangeDetector()
    frames = [_speaker(tmp_path, t) for t in (0.0, 1.0, 2.0, 3.0)]
    assert [detector.changed(frame) for frame in frames] == [True, False, False, False]
    assert detector.last_distance is not None
    assert detector.last_distance <= THRESHOLD


def test_a_frame_is_compared_with_the_last_frame_read(make_frame: FrameMaker) -> None:
    # A banner sliding in: no step between two frames is a change by itself, but the steps add up, since
    # each frame is compared with the last frame read, not with the one before it.
    detector = ChangeDetector()
    background = pixels(make_frame("plain-0"))
    frames = []
    for width in range(0, 481, 20):
        frame = background.copy()
        frame[440:520, :width] = 16
        frames.append(frame)
    steps = [int(np.count_nonzero(dhash(a) != dhash(b))) for a, b in itertools.pairwise(frames)]
    flags = [detector.changed(frame) for frame in frames]
    assert max(steps) <= THRESHOLD, steps
    assert flags[0]
    assert any(flags[1:]), (steps, flags)


def test_the_hash_ignores_grain_on_flat_parts() -> None:
    rng = np.random.default_rng(7)
    flat = np.full((540, 960, 3), 90, dtype=np.uint8)
    grain = np.clip(flat + rng.normal(0, 10, flat.shape), 0, 255).astype(np.uint8)
    assert not dhash(flat).any()
    assert not dhash(grain).any()
    assert dhash(flat).shape == (2, 18, 32)


def test_mean_luma() -> None:
    assert mean_luma(np.zeros((4, 4, 3), dtype=np.uint8)) == 0.0
    assert mean_luma(np.full((4, 4, 3), 255, dtype=np.uint8)) == pytest.approx(255.0, abs=0.01)


def test_settings_are_checked() -> None:
    with pytest.raises(ScreenError, match="grid"):
        ChangeDetector(grid=(1, 9))
    with pytest.raises(ScreenError, match="threshold"):
        ChangeDetector(threshold=2 * 32 * 18)
    with pytest.raises(ScreenError, match="margin"):
        ChangeDetector(margin=-1)
    detector = ChangeDetector()
    image = np.zeros((54, 96, 3), dtype=np.uint8)
    assert detector.changed(image)
    assert not detector.changed(image)
    detector.reset()
    assert detector.changed(image)
