"""Black and frozen picture: the ffmpeg filters that detect them (:func:`picture_filters`), and the parser of
what those filters write (:class:`PictureMetadata`, :class:`PictureMetadataFile`) into spells.

ffmpeg's ``blackdetect`` and ``freezedetect`` put their findings in a frame's metadata, and
``metadata=mode=print:file=...`` writes the metadata of each frame that has any, as it goes::

    frame:20   pts:20      pts_time:2
    lavfi.black_start=2
    frame:30   pts:30      pts_time:3
    lavfi.freezedetect.freeze_start=2
    frame:41   pts:41      pts_time:4.1
    lavfi.black_end=4.1
    lavfi.freezedetect.freeze_duration=2.1
    lavfi.freezedetect.freeze_end=4.1

Times are seconds on the ffmpeg output's clock (``pts_time``: from the start of the connection's recording);
the caller places them on the wall clock (:meth:`Spell.on_clock`). ``freezedetect`` names a freeze only once it
has lasted its ``d``; ``blackdetect`` names every black start and end whatever its ``d`` (its ``d`` only
governs its log line), so the parser drops a black spell shorter than ``black_min_s`` itself, and names a
black spell as begun only once it has lasted that long. A black picture is also a frozen one: a long black
spell comes with a frozen spell over the same time, and the rules decide whether to count both.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from livewatch.errors import ScreenError
from livewatch.pipeline.screen import PictureProblem, PictureSpell

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

#: ffmpeg's defaults, written out so that the filter string says what it does: a pixel darker than 10% of
#: the range counts as black, a picture 98% black is black; frames within -60 dB of each other are the same.
BLACK_PIXEL = 0.10
BLACK_PICTURE = 0.98
FROZEN_NOISE_DB = -60
#: A line longer than this is not one ffmpeg's metadata printer wrote; it is dropped.
MAX_LINE = 4096
#: What a metadata file may grow by between two polls before the rest waits for the next poll.
MAX_READ = 1024 * 1024

_KEYS: dict[str, tuple[PictureProblem, str]] = {
    "lavfi.black_start": ("black", "start"),
    "lavfi.black_end": ("black", "end"),
    "lavfi.freezedetect.freeze_start": ("frozen", "start"),
    "lavfi.freezedetect.freeze_end": ("frozen", "end"),
}


@dataclass(frozen=True, slots=True)
class Spell:
    """A spell of black or frozen picture, in seconds on the ffmpeg output's clock."""

    problem: PictureProblem
    start_s: float
    #: None while it lasts.
    end_s: float | None

    def on_clock(self, run_id: int, stream: int, origin: datetime) -> PictureSpell:
        """The spell on the wall clock, ``origin`` being the wall time of the output's second 0."""
        return PictureSpell(run_id=run_id, stream=stream, problem=self.problem,
                            start_at=origin + timedelta(seconds=self.start_s),
                            end_at=None if self.end_s is None else origin + timedelta(seconds=self.end_s))


def picture_filters(metadata_path: Path, black_min_s: float, frozen_min_s: float) -> str:
    """The filter chain (for ``-vf`` or a branch of ``-filter_complex``) that detects black spells of at
    least ``black_min_s`` and frozen spells of at least ``frozen_min_s`` and writes them to ``metadata_path``.
    The chain passes the frames through unchanged."""
    if not (black_min_s > 0 and frozen_min_s > 0 and math.isfinite(black_min_s) and math.isfinite(frozen_min_s)):
        raise ScreenError(f"black and frozen spells must last more than 0 s, not {black_min_s} and {frozen_min_s}")
    return (f"blackdetect=d={black_min_s:g}:pix_th={BLACK_PIXEL:g}:pic_th={BLACK_PICTURE:g},"
            f"freezedetect=n={FROZEN_NOISE_DB}dB:d={frozen_min_s:g},"
            f"metadata=mode=print:file={_filter_escape(str(metadata_path))}")


def _filter_escape(value: str) -> str:
    """``value`` as an option value inside a filter graph: escaped once for the option parser (``\\ ' :``) and
    once more for the graph parser (``\\ ' [ ] , ;``), as ffmpeg-filters(1) "Notes on filtergraph escaping"
    describes."""
    option = "".join(f"\\{ch}" if ch in "\\':" else ch for ch in value)
    return "".join(f"\\{ch}" if ch in "\\'[],;" else ch for ch in option)


class PictureMetadata:
    """Parses a metadata file's text as it grows. :meth:`feed` takes the bytes added since the last call and
    yields each spell as it becomes known (``end_s`` None: it has begun and lasts) and again when it ends.
    A half-written last line waits for the next call. ``feed`` is a generator: nothing is parsed until its
    spells are taken."""

    def __init__(self, *, black_min_s: float) -> None:
        if not (black_min_s >= 0 and math.isfinite(black_min_s)):
            raise ScreenError(f"a black spell's minimum must be 0 s or more, not {black_min_s}")
        self.black_min_s = black_min_s
        self._pending = b""
        #: The last frame time read (the latest the file says anything about).
        self.last_s: float | None = None
        #: Spells begun and not ended: (start, announced yet?).
        self._open: dict[PictureProblem, tuple[float, bool]] = {}

    def feed(self, data: bytes, now_s: float | None = None) -> Iterator[Spell]:
        """Spells begun or ended in ``data``, in order. ``now_s`` (the output's clock now, if the caller knows
        it) lets a black spell be named once it has lasted ``black_min_s`` although ffmpeg prints nothing
        while the picture stays black."""
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE:
            log.warning("dropped a picture metadata line of over %d bytes", MAX_LINE)
            self._pending = b""
        for raw in lines:
            yield from self._line(raw.decode("utf-8", errors="replace").strip())
        yield from self.lasting(now_s)

    def lasting(self, now_s: float | None = None) -> Iterator[Spell]:
        """A black spell that has now lasted ``black_min_s`` (at ``now_s``, or the last frame time read),
        named once."""
        now = max(x for x in (now_s, self.last_s, -math.inf) if x is not None)
        start_announced = self._open.get("black")
        if start_announced is not None and not start_announced[1] and now - start_announced[0] >= self.black_min_s:
            self._open["black"] = (start_announced[0], True)
            yield Spell("black", start_announced[0], None)

    def open_spells(self) -> list[Spell]:
        """The spells named as begun and not yet ended."""
        return [Spell(problem, start, None) for problem, (start, announced) in self._open.items() if announced]

    def _line(self, line: str) -> Iterator[Spell]:
        if not line or len(line) > MAX_LINE:
            return
        if line.startswith("frame:"):
            for part in line.split():
                name, _, value = part.partition(":")
                seconds = _seconds(value) if name == "pts_time" else None
                if seconds is not None:
                    self.last_s = seconds
            yield from self.lasting()
            return
        key, _, value = line.partition("=")
        known = _KEYS.get(key)
        seconds = _seconds(value)
        if known is None or seconds is None:
            return
        problem, edge = known
        if edge == "start":
            if problem not in self._open:
                # A freeze is named by ffmpeg only once it has lasted d: it is announced at once.
                self._open[problem] = (seconds, problem == "frozen")
                if problem == "frozen":
                    yield Spell(problem, seconds, None)
            return
        begun = self._open.pop(problem, None)
        if begun is None:
            return
        start, announced = begun
        if announced or seconds - start >= self.black_min_s:
            yield Spell(problem, start, max(seconds, start))


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) else None


class PictureMetadataFile:
    """Follows one metadata file (one per capture connection) as ffmpeg writes it: :meth:`poll` parses what
    was added since the last poll. A file not written yet is no news."""

    def __init__(self, path: Path, *, black_min_s: float) -> None:
        self.path = path
        self.parser = PictureMetadata(black_min_s=black_min_s)
        self._offset = 0

    def poll(self, now_s: float | None = None) -> list[Spell]:
        """The spells begun or ended since the last poll (see :meth:`PictureMetadata.feed`)."""
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                data = file.read(MAX_READ)
        except FileNotFoundError:
            return list(self.parser.lasting(now_s))
        except OSError as err:
            raise ScreenError(f"the picture metadata file {self.path} cannot be read: {err}") from err
        self._offset += len(data)
        return list(self.parser.feed(data, now_s))
