"""The demo's screen plants against its findings: each must be found on the screen (a finding of channel
``screen`` in the plant's category) within ±3 s of when the picture showed it.

The check runs when the monitor reads the screen, that is when the capture settings have a frame stream and it
is on (``capture.frames``); otherwise the screen plants are listed as not checked and do not count against the
demo. Findings are the dicts of ``findings.json`` (a finding without ``channel`` is from the speech).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from rich.markup import escape

from livewatch.demo.picture import ShownAt
from livewatch.demo.script import Plant
from livewatch.settings import Settings

#: How far a finding may lie outside the time its plant was shown (the demo's tolerance for spoken plants too).
TOLERANCE_S: Final = 3.0
SCREEN: Final = "screen"


def channel(finding: dict[str, Any]) -> str:
    """A finding's channel; findings.json before the screen stage had none, and all were from the speech."""
    return str(finding.get("channel") or "speech")


def span_apart(finding: dict[str, Any], start: datetime, end: datetime) -> float:
    """Seconds between a finding's span and ``start``–``end`` (0 when they overlap)."""
    found_start, found_end = datetime.fromisoformat(finding["start"]), datetime.fromisoformat(finding["end"])
    return max((start - found_end).total_seconds(), (found_start - end).total_seconds(), 0.0)


def reads_the_screen(settings: Settings) -> bool:
    """Whether the monitor these settings run reads the screen: a capture with a frame stream, switched on."""
    return bool(getattr(settings.capture, "frames", False))


@dataclass(frozen=True)
class ScreenCheck:
    """One plant of something the picture showed, and the screen finding nearest to it (if checked)."""

    placed: ShownAt
    plant: Plant
    shown_at: datetime  # when it appeared, on the broadcast's clock
    checked: bool
    finding: dict[str, Any] | None
    delta_s: float | None  # finding start minus when it appeared

    @property
    def shown_until(self) -> datetime:
        return self.shown_at + timedelta(seconds=self.placed.end_s - self.placed.start_s)

    @property
    def found(self) -> bool:
        return (self.finding is not None
                and span_apart(self.finding, self.shown_at, self.shown_until) <= TOLERANCE_S)

    def explains(self, finding: dict[str, Any]) -> bool:
        """``finding`` is of this plant's category while it was shown (whatever its channel: a rule that combines
        channels may pair the banner with something said), so it is no surprise."""
        return (finding["category"] == self.plant.category
                and span_apart(finding, self.shown_at, self.shown_until) <= TOLERANCE_S)


def check_screen(shows: tuple[ShownAt, ...], zero: datetime, findings: list[dict[str, Any]], *,
                 checked: bool) -> list[ScreenCheck]:
    """Every plant of every show against the screen findings (``zero``: when media time 0 went out)."""
    checks = []
    for placed in shows:
        at = zero + timedelta(seconds=placed.start_s)
        until = zero + timedelta(seconds=placed.end_s)
        for plant in placed.shown.plants:
            candidates = [f for f in findings if checked and channel(f) == SCREEN
                          and f["category"] == plant.category]
            if not candidates:
                checks.append(ScreenCheck(placed, plant, at, checked, None, None))
                continue
            best = min(candidates, key=lambda f: (f["rule"] != plant.rule, span_apart(f, at, until)))
            if span_apart(best, at, until) > TOLERANCE_S:  # its own rule elsewhere: the category's nearest, then
                best = min(candidates, key=lambda f: span_apart(f, at, until))
            delta = (datetime.fromisoformat(best["start"]) - at).total_seconds()
            checks.append(ScreenCheck(placed, plant, at, checked, best, delta))
    return checks


def screen_lines(checks: list[ScreenCheck]) -> list[str]:
    """What the demo prints about its screen plants (rich markup)."""
    if not checks:
        return []
    if not any(check.checked for check in checks):
        return [f"on-screen violations: {len(checks)} shown, not checked (this monitor reads no frames)"]
    lines = [f"[bold]{sum(c.found for c in checks)} of {len(checks)} on-screen violations found[/bold] "
             f"(within ±{TOLERANCE_S:g} s of when they were shown):"]
    for check in checks:
        shown = check.placed.shown
        if check.found and check.finding is not None:
            mark = (f"[green]found[/green] {check.finding['rule']} ({check.finding['severity']}) "
                    f"{check.delta_s:+.1f} s")
        elif check.finding is not None:
            mark = f"[red]MISSED[/red] nearest {check.plant.category} screen finding is {check.delta_s:+.1f} s away"
        else:
            mark = "[red]MISSED[/red] no screen finding in this category"
        lines.append(f"  {check.plant.category:18} {shown.kind} at +{check.placed.start_s:.0f} s "
                     f"({escape(check.plant.what)}) → {mark}")
    return lines
