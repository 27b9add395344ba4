"""Whether a frame is worth reading: has the picture changed since the last frame that was read?

Reading a frame costs OCR's half second; at one frame a second and ten streams that is more than a small
machine has. Most of a broadcast is a talking head in front of a still set, where nothing a reader finds
changes. :class:`ChangeDetector` keeps a perceptual difference hash (dHash) of the last frame it said
"changed" for, and says "changed" again when a new frame's hash differs from it in more than ``threshold``
places.

The hash is taken on a small grey copy of the picture (box-averaged to 33x19 cells for a 32x18 grid, so a
960x540 frame gives 30 px cells): for each cell, whether it is brighter than its right-hand neighbour, darker,
or about the same (within ``margin`` grey levels), and the same against the cell below. The plain dHash has
only brighter/not brighter, and on flat parts of a picture (a plain wall, a studio backdrop) compression noise
flips those bits at random; "about the same" keeps them still. A slide change, a code or a banner put up over
a part of the picture changes many cells' edges; noise and a speaker's small movements change few. The
numbers behind the defaults are in docs/screen.md.

A frame is compared with the last frame *read*, not the one before it, so a slow change (a fade, a banner
sliding in over several seconds) adds up until it counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from livewatch.errors import ScreenError
from livewatch.screen.base import rgb_size

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: The default grid (cells across, cells down): 16:9 like the frames, so every cell is square.
GRID = (32, 18)
#: Grey levels (0..255) two neighbouring cells may differ by and still count as "about the same".
MARGIN = 6
#: Places (of 2 x 32 x 18 = 1152) that may differ while the picture counts as unchanged.
THRESHOLD = 16


def dhash(image: NDArray[np.uint8], grid: tuple[int, int] = GRID, margin: int = MARGIN) -> NDArray[np.int8]:
    """The difference hash of an RGB frame: shape (2, down, across); [0] against the right-hand neighbour,
    [1] against the one below; 1 where the cell is brighter by more than ``margin``, -1 darker, 0 else."""
    rgb_size(image)
    across, down = grid
    small = Image.fromarray(image, mode="RGB").convert("L").resize((across + 1, down + 1), Image.Resampling.BOX)
    cells = np.asarray(small, dtype=np.int16)
    steps = np.stack([cells[:-1, :-1] - cells[:-1, 1:], cells[:-1, :-1] - cells[1:, :-1]])
    hashed: NDArray[np.int8] = np.sign(steps * (np.abs(steps) > margin)).astype(np.int8)
    return hashed


def mean_luma(image: NDArray[np.uint8]) -> float:
    """The picture's mean brightness, 0..255 (ITU-R 601 weights)."""
    rgb_size(image)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float((image.reshape(-1, 3).astype(np.float32) @ weights).mean())


class ChangeDetector:
    """Per stream: :meth:`changed` says whether a frame differs from the last frame it said "changed" for (the
    first frame always does). Not thread-safe: one stream's frames come one at a time."""

    def __init__(self, *, threshold: int = THRESHOLD, grid: tuple[int, int] = GRID, margin: int = MARGIN) -> None:
        across, down = grid
        if across < 2 or down < 2 or across * down > 4096:
            raise ScreenError(f"a change detector's grid must be at least 2x2 and at most 4096 cells, not {grid}")
        if not 0 <= threshold < 2 * across * down:
            raise ScreenError(f"a change detector's threshold must be 0..{2 * across * down - 1}, not {threshold}")
        if not 0 <= margin < 255:
            raise ScreenError(f"a change detector's margin must be 0..254 grey levels, not {margin}")
        self.threshold, self.grid, self.margin = threshold, grid, margin
        self._reference: NDArray[np.int8] | None = None
        #: Places the last frame differed in from the reference (None after the first frame): for the logs.
        self.last_distance: int | None = None

    def distance(self, image: NDArray[np.uint8]) -> int | None:
        """Places ``image``'s hash differs in from the last frame read (None before the first); changes nothing."""
        if self._reference is None:
            return None
        return int(np.count_nonzero(dhash(image, self.grid, self.margin) != self._reference))

    def changed(self, image: NDArray[np.uint8]) -> bool:
        """True when ``image`` should be read: the first frame, or one whose hash differs from the last frame
        read in more than ``threshold`` places. A True makes ``image`` the new reference."""
        bits = dhash(image, self.grid, self.margin)
        if self._reference is None:
            self.last_distance = None
            self._reference = bits
            return True
        self.last_distance = int(np.count_nonzero(bits != self._reference))
        if self.last_distance > self.threshold:
            self._reference = bits
            return True
        return False

    @property
    def reference(self) -> NDArray[np.int8] | None:
        """The hash of the last frame read (None before the first): kept with the stream's screen memory."""
        return self._reference

    @reference.setter
    def reference(self, hashed: NDArray[np.int8] | None) -> None:
        if hashed is not None and hashed.shape != (2, self.grid[1], self.grid[0]):
            raise ScreenError(f"a reference hash of shape {hashed.shape} for a {self.grid[0]}x{self.grid[1]} grid")
        self._reference = hashed

    def reset(self) -> None:
        """Forget the reference: the next frame is read (after a reconnection, when the picture may differ)."""
        self._reference = None
        self.last_distance = None
