"""Cutting text where a reader expects a cut: between words in Latin script, between any two characters in
CJK (where a line may break anyway), with an ellipsis saying that something was left out. Used for the
evidence around a match (the rules) and for what a report shows of it."""

from __future__ import annotations

import unicodedata

ELLIPSIS = "…"
#: A Latin "word" longer than this is cut inside (a URL, a payload): backing off to a space would drop too much.
LONGEST_WORD = 24


def is_wide(char: str) -> bool:
    """A character that is a word on its own for cutting: CJK ideographs, kana, hangul and full-width forms."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def joins(left: str, right: str) -> bool:
    """Whether a cut between ``left`` and ``right`` would split a word."""
    return not (left.isspace() or right.isspace() or is_wide(left) or is_wide(right))


def _between(text: str, at: int) -> bool:
    return at <= 0 or at >= len(text) or not joins(text[at - 1], text[at])


def start_between_words(text: str, begin: int, limit: int) -> int:
    """``begin`` moved forward (never past ``limit``) to the first place between two words; ``begin`` itself
    when there is none near (a run of letters longer than :data:`LONGEST_WORD`)."""
    for ahead in range(begin, min(limit, begin + LONGEST_WORD) + 1):
        if _between(text, ahead):
            return ahead
    return begin


def end_between_words(text: str, finish: int, limit: int) -> int:
    """``finish`` moved back (never before ``limit``) to the last place between two words; ``finish`` itself
    when there is none near."""
    for back in range(finish, max(limit, finish - LONGEST_WORD) - 1, -1):
        if _between(text, back):
            return back
    return finish


def cut_after(text: str, limit: int) -> str:
    """The start of ``text``: at most ``limit`` characters with the ellipsis, cut between words."""
    if len(text) <= limit:
        return text
    end = end_between_words(text, limit - 1, 1)
    return text[:end].rstrip() + ELLIPSIS


def cut_before(text: str, limit: int) -> str:
    """The end of ``text``: at most ``limit`` characters with the ellipsis, cut between words."""
    if len(text) <= limit:
        return text
    start = start_between_words(text, len(text) - limit + 1, len(text) - 1)
    return ELLIPSIS + text[start:].lstrip()
