"""Media blobs: the recorded audio segments and the clips cut from them, behind one port.

The local implementation keeps them in the data directory and goes through :mod:`livewatch.state.files`:
nothing is read or written through a symbolic link, and a file is written whole (a temporary file beside it,
then renamed), so a reader never sees half a clip and a link planted in a report folder sends nothing
elsewhere. Another back-end (object storage) would implement the same three methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from livewatch.state.files import is_plain_file
from livewatch.state.layout import DataDir


class MediaBlobs(Protocol):
    def has(self, path: Path) -> bool:
        """Whether ``path`` holds a blob (a plain file: a link or a folder does not count)."""
        ...

    def make_folder(self, folder: Path) -> Path:
        """A folder for blobs, made if missing (never through a link)."""
        ...

    def save(self, path: Path, content: bytes) -> Path:
        """Store ``content`` at ``path``, replacing what was there at once."""
        ...


class LocalMediaStore:
    """Media blobs as files in the data directory."""

    def __init__(self, data: DataDir) -> None:
        self.data = data

    def has(self, path: Path) -> bool:
        return is_plain_file(path)

    def make_folder(self, folder: Path) -> Path:
        return self.data.make_folder(folder)

    def save(self, path: Path, content: bytes) -> Path:
        return self.data.write_whole(path, content)
