"""Rule types over what the screen showed that is not text: codes (``qr-code``) and black or frozen picture
(``picture``).

A code is one appearance (:class:`~livewatch.pipeline.screen.ScreenItem` with ``item == "code"``): the same
WeChat QR held up for five minutes is one item and one finding, with the frame it was read best in and its
box. Its payload was decoded from the stream, so it is hostile text: it is bounded here and never followed.
A spell (:class:`~livewatch.pipeline.screen.PictureSpell`) still going on counts up to the last moment the
capture has (the end of the on-air span: the run's end, or the latest media while it is live).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pydantic import Field, field_validator

from livewatch.fields import StrictModel
from livewatch.pipeline.screen import PayloadClass, PictureProblem
from livewatch.rules.base import EventFacts, FactSpec, Hit, Rule, RuleInput
from livewatch.rules.screen_examples import example_keys, example_picture, example_screen
from livewatch.rules.screen_text import frame_ref

#: The most of a payload a finding carries as evidence and as what matched (a QR code holds up to ~4,000).
MAX_EVIDENCE = 300
MAX_MATCHED = 100
_HOST = r"^[a-z0-9*]([a-z0-9.-]{0,251}[a-z0-9])?$"


def _printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, control characters shown as ``?`` (a payload is one line)."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return "".join(ch if ch.isprintable() else "?" for ch in cut)


class Hosts(StrictModel):
    """Which URL hosts count. A host matches an entry when it is the entry or under it (``wechat.com`` takes
    ``u.wechat.com``)."""

    allow: list[str] = Field(default_factory=list, description="Hosts that never fire (the organizer's shop).")
    deny: list[str] = Field(default_factory=list, description="When given, only codes to these hosts fire.")

    @field_validator("allow", "deny")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        hosts = [h.strip().lower().rstrip(".") for h in value]
        bad = [h for h in hosts if not re.match(_HOST, h)]
        if bad:
            raise ValueError(f"not a host name: {', '.join(map(repr, bad))} (write u.wechat.com, not a URL)")
        return hosts

    def counts(self, host: str | None) -> bool:
        if host is not None and _under(host, self.allow):
            return False
        return not self.deny or (host is not None and _under(host, self.deny))


def _under(host: str, entries: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == entry or host.endswith("." + entry) for entry in entries)


class QrCodeSpec(FactSpec):
    """``type: qr-code`` — a code on screen whose payload is of one of ``classes`` (and, with ``hosts``, to a
    host that counts); one finding per appearance."""

    classes: list[PayloadClass] = Field(min_length=1)
    hosts: Hosts | None = None


class QrCodeRule(Rule):
    type_name = "qr-code"
    spec_model = QrCodeSpec
    spec: QrCodeSpec
    text_examples = False
    channel = "screen"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        wanted = set(self.spec.classes)
        for stream, items in sorted(data.screen.items()):
            for item in items:
                kind = item.payload_class or "other"
                if item.item != "code" or kind not in wanted:
                    continue
                if self.spec.hosts is not None and not self.spec.hosts.counts(item.host):
                    continue
                seconds = (item.end_at - item.start_at).total_seconds()
                evidence = _printable(item.text, MAX_EVIDENCE)
                yield Hit(item.start_at, item.end_at, _printable(item.text, MAX_MATCHED), evidence, 0, len(evidence),
                          stream=stream, channel="screen", frame=frame_ref(item.frame), box=item.box,
                          details={"class": kind, "host": item.host, "symbology": item.symbology,
                                   "seconds_visible": round(seconds, 1)})

    def example_input(self, example: Any, base: EventFacts) -> RuleInput:
        """``{screen: [{item: code, text: payload, payload_class: wechat-personal, host, from_s, to_s}]}``."""
        if not isinstance(example, dict):
            raise TypeError(f"rule {self.id}: examples of a qr-code rule are mappings with a screen list")
        example_keys(example, ("screen",))
        return RuleInput(base, screen={0: example_screen(example.get("screen", []), base.on_air_start)})


class PictureSpec(FactSpec):
    """``type: picture`` — the picture black (or frozen) for ``min_seconds`` or longer; one finding a spell."""

    problem: PictureProblem
    min_seconds: float = Field(gt=0)


class PictureRule(Rule):
    type_name = "picture"
    spec_model = PictureSpec
    spec: PictureSpec
    text_examples = False
    channel = "screen"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        facts = data.facts
        problem = self.spec.problem
        for spell in facts.picture:
            if spell.problem != problem:
                continue
            # A spell still going on lasts until the last moment the capture has.
            end = spell.end_at if spell.end_at is not None else max(spell.start_at, facts.on_air_end)
            seconds = (end - spell.start_at).total_seconds()
            if seconds < self.spec.min_seconds:
                continue
            lasting = " and counting" if spell.end_at is None else ""
            # What matched names only the problem: an open spell grows with each check, and the finding's id
            # (which hashes what matched) must stay the same so that a reviewer's decision stays with it.
            yield Hit(spell.start_at, end, f"{problem} picture",
                      f"{problem} picture for {seconds:.0f} s{lasting} (at least {self.spec.min_seconds:g} s)",
                      stream=spell.stream, channel="screen",
                      details={"problem": problem, "seconds": round(seconds, 1), "open": spell.end_at is None})

    def example_input(self, example: Any, base: EventFacts) -> RuleInput:
        """``{picture: [{problem: black, from_s: 60, to_s: 75}]}`` (seconds from the on-air start; no ``to_s``:
        still going on at the end of the two-hour example broadcast)."""
        if not isinstance(example, dict):
            raise TypeError(f"rule {self.id}: examples of a picture rule are mappings with a picture list")
        example_keys(example, ("picture",))
        spells = example_picture(example.get("picture", []), base.on_air_start)
        return RuleInput(replace(base, picture=spells))
