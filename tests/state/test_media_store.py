"""The local media store: blobs are plain files in the data directory, never reached through a link."""

from __future__ import annotations

from pathlib import Path

import pytest

from livewatch.errors import StateError
from livewatch.state import DataDir
from livewatch.state.media import LocalMediaStore


def test_blobs_are_saved_whole_and_links_are_neither_read_nor_written_through(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    media = LocalMediaStore(data)
    folder = media.make_folder(data.report_dir("forum") / "clips")
    clip = media.save(folder / "a1.ogg", b"OggS")
    assert clip.read_bytes() == b"OggS"
    assert media.has(clip)
    assert not media.has(folder / "missing.ogg")
    assert not media.has(folder)
    outside = tmp_path / "outside.ogg"
    outside.write_bytes(b"theirs")
    (folder / "planted.ogg").symlink_to(outside)
    assert not media.has(folder / "planted.ogg")
    media.save(folder / "planted.ogg", b"ours")  # the link is replaced, not written through
    assert outside.read_bytes() == b"theirs"
    assert media.has(folder / "planted.ogg")
    (folder / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(StateError):
        media.make_folder(folder / "elsewhere" / "deeper")
    with pytest.raises(StateError):
        media.save(folder / "elsewhere" / "a1.ogg", b"ours")
    assert not (tmp_path / "a1.ogg").exists()
