"""Rule examples that show something: what a pack's ``examples`` say was on screen, and the picture's spells.

An example may be a mapping instead of text::

    {speech: "[0] 赶紧下单", screen: ["[0-600] 全网最低价", {text: 广告, from_s: 0, to_s: 30, confidence: 0.5}]}
    {screen: [{item: code, text: "https://u.wechat.com/abc", payload_class: wechat-personal, to_s: 40}]}
    {picture: [{problem: black, from_s: 60, to_s: 75}, {problem: frozen, from_s: 100}]}

Times are seconds from the on-air start of the example event; a line given as text is ``[from-to] text`` or
``[from] text`` (shown for 10 s) or just the text (from 0). A spell without ``to_s`` is still going on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from livewatch.fields import StrictModel
from livewatch.pipeline.screen import Box, PayloadClass, PictureProblem, PictureSpell, ScreenItem, ScreenKind
from livewatch.rules.screen_text import MAX_LINE_CHARS

#: Every example line is seen in this frame, at this box (examples have no pictures).
EXAMPLE_FRAME = Path("frames") / "example.jpg"
EXAMPLE_BOX = Box(10, 20, 300, 40)
MAX_EXAMPLE_S = 31 * 86400.0

_SPAN = re.compile(r"^\[(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?\]\s*")


class ExampleItem(StrictModel):
    """One thing on screen in an example."""

    text: str = Field(min_length=1, max_length=MAX_LINE_CHARS)
    item: ScreenKind = "text"
    from_s: float = Field(0, ge=0, le=MAX_EXAMPLE_S)
    to_s: float | None = Field(None, ge=0, le=MAX_EXAMPLE_S, description="Default: 10 s after from_s.")
    confidence: float | None = Field(None, ge=0, le=1, description="Default: 0.95 for text, 1 for a code.")
    payload_class: PayloadClass | None = None
    host: str | None = Field(None, max_length=253)
    symbology: str | None = Field(None, max_length=40)


class ExampleSpell(StrictModel):
    """A spell of black or frozen picture in an example."""

    problem: PictureProblem
    from_s: float = Field(0, ge=0, le=MAX_EXAMPLE_S)
    to_s: float | None = Field(None, ge=0, le=MAX_EXAMPLE_S, description="None: still going on.")
    stream: int = Field(0, ge=0)


def _item(entry: Any) -> ExampleItem:
    if isinstance(entry, str):
        found = _SPAN.match(entry)
        if found is None:
            return ExampleItem(text=entry)
        start = float(found.group(1))
        end = float(found.group(2)) if found.group(2) else start + 10
        return ExampleItem(text=entry[found.end():], from_s=start, to_s=end)
    return ExampleItem.model_validate(entry)


def example_screen(entries: Sequence[Any], start: datetime) -> list[ScreenItem]:
    """The screen items an example's ``screen`` list stands for, on stream 0."""
    items = []
    for entry in entries:
        spec = _item(entry)
        to_s = spec.to_s if spec.to_s is not None else spec.from_s + 10
        if to_s < spec.from_s:
            raise ValueError(f"{spec.text!r}: to_s ({to_s:g}) is before from_s ({spec.from_s:g})")
        code = spec.item == "code"
        confidence = spec.confidence if spec.confidence is not None else (1.0 if code else 0.95)
        items.append(ScreenItem(
            run_id=0, stream=0, item=spec.item, text=spec.text, start_at=start + timedelta(seconds=spec.from_s),
            end_at=start + timedelta(seconds=to_s), confidence=confidence, box=EXAMPLE_BOX, frame=EXAMPLE_FRAME,
            reader="qr" if code else "ocr", symbology=(spec.symbology or "QRCode") if code else None,
            payload_class=(spec.payload_class or "other") if code else None, host=spec.host))
    return items


def example_picture(entries: Sequence[Any], start: datetime) -> tuple[PictureSpell, ...]:
    """The spells an example's ``picture`` list stands for."""
    spells = []
    for entry in entries:
        spec = ExampleSpell.model_validate(entry)
        if spec.to_s is not None and spec.to_s < spec.from_s:
            raise ValueError(f"a {spec.problem} spell ends ({spec.to_s:g}) before it starts ({spec.from_s:g})")
        spells.append(PictureSpell(run_id=0, stream=spec.stream, problem=spec.problem,
                                   start_at=start + timedelta(seconds=spec.from_s),
                                   end_at=None if spec.to_s is None else start + timedelta(seconds=spec.to_s)))
    return tuple(spells)


def example_keys(example: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Refuse an example mapping with keys the rule cannot read (a typo must not make an example vacuous)."""
    unknown = sorted(set(example) - set(allowed))
    if unknown:
        raise ValueError(f"unknown example key(s) {', '.join(map(str, unknown))}; use {', '.join(allowed)}")
