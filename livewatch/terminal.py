"""Text from transcripts, packs and the stream's origin, made safe to print on a reviewer's terminal.

A transcript (or a subtitle file handed in, or a page title) is written by the party under watch. Printed
raw, an ESC or CSI sequence in it can recolour, hide or rewrite what the reviewer sees (erase the line
that shows a finding, set the window title, with OSC 8 plant a link), and bidirectional controls can
reorder a line. :func:`printable` shows every such character as a visible escape instead; Chinese and
every other ordinary character are kept as they are.
"""

from __future__ import annotations

import unicodedata

#: Invisible characters that reorder the text around them (the "Trojan Source" controls) and marks.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(ch: str) -> bool:
    # Cc covers C0 (ESC, BEL, BS, CR, NUL), DEL and C1 (0x80-0x9f: CSI, OSC, ST as single bytes).
    return ch in _BIDI or unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029"


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control characters, escape sequences' introducers and bidi controls shown as ``\\x1b``,
    ``\\u202e`` and so on (a line break too: each printed finding is one line)."""
    if not any(_unsafe(ch) for ch in text):
        return text
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)


def json_printable(dumped: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the characters :func:`printable` escapes
    written as ``\\uXXXX``; JSON already escapes C0 controls, but not DEL, C1 or bidi controls. The result
    reads back as the same data, since such characters can only stand inside strings."""
    # Raw line breaks in JSON text are its indentation (inside strings json.dumps has written them as \n).
    if not any(_unsafe(ch) and ch != "\n" for ch in dumped):
        return dumped
    return "".join(f"\\u{ord(ch):04x}" if _unsafe(ch) and ch != "\n" else ch for ch in dumped)


def rich_safe(text: str) -> str:
    """``text`` for a rich table cell or ``Console.print``: :func:`printable`, and with rich markup escaped,
    since rich reads ``[bold]`` as style, and an unmatched ``[/x]`` from a stream's origin raises MarkupError."""
    from rich.markup import escape

    return escape(printable(text))
