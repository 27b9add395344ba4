"""Fixtures for the hostile-origin tests: the origin itself, a local "victim" service, and real media files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.origin import HostileOrigin, make_sample


@pytest.fixture(scope="session")
def hostile_media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sample, secret): an honest segment the origin serves, and a playable local file it must never get read.

    The secret has a media extension and plays, like another event's recording in the data directory: the
    worst case, where nothing in the file itself would make ffmpeg stop.
    """
    folder = tmp_path_factory.mktemp("hostile-media")
    sample = make_sample(folder / "sample.ts", tone_hz=440)
    secret = make_sample(folder / "secret.ts", tone_hz=1000)
    return sample, secret


@pytest.fixture
def victim(hostile_media: tuple[Path, Path]) -> Iterator[HostileOrigin]:
    """A second local service, on 127.0.0.2, serving playable HLS: what the origin points livewatch at."""
    sample, _ = hostile_media
    with HostileOrigin(sample=sample, host="127.0.0.2") as server:
        server.add("/live.m3u8", server.routes["/media/ok.m3u8"])
        yield server


@pytest.fixture
def hostile_origin(hostile_media: tuple[Path, Path], victim: HostileOrigin) -> Iterator[HostileOrigin]:
    sample, secret = hostile_media
    with HostileOrigin(sample=sample, secret=secret, victim=victim.base_url) as origin:
        yield origin
