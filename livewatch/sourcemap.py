"""Read YAML and TOML documents together with the line on which every key and item stands.

Registration officers fix what we point at, so every problem we report carries a line number. PyYAML's
node tree has marks; ``tomllib`` has none, so TOML lines come from a small scanner of table headers and
``key =`` lines, which is enough to place every field an officer can write.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from livewatch.issues import FieldPath

#: Registration and configuration files are small; anything larger is a mistake (or an attack).
MAX_DOCUMENT_BYTES = 1_000_000

YAML_SUFFIXES = (".yaml", ".yml")
TOML_SUFFIXES = (".toml",)


class DocumentSyntaxError(Exception):
    """A document could not be parsed at all; carries the 1-based line of the problem."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class LineMap:
    """Maps a field path to the 1-based line where it is written."""

    lines: dict[FieldPath, int] = field(default_factory=dict)
    duplicates: list[tuple[FieldPath, int, int]] = field(default_factory=list)

    def line_of(self, path: FieldPath) -> int:
        """The line of ``path``, or of its nearest written ancestor (a missing field points at its parent)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1


@dataclass(frozen=True)
class Document:
    path: Path
    data: Any
    lines: LineMap
    raw: bytes


class _StringTimesLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that keeps timestamps as text.

    YAML 1.1 turns ``2026-12-01 09:00`` into a naive datetime and silently converts offsets to UTC; we want
    the officer's text, so the registration model can read it in the event's own time zone.
    """


def _construct_mapping_with_text_keys(loader: _StringTimesLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # YAML 1.1 reads the keys `on`, `yes`, `no` and `1` as true, true, false and 1; every key we accept is
    # text, so a key is taken as written (what YAML 1.2 does for `on`/`yes`/`no` too).
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else loader.construct_object(key_node)
        mapping[key] = loader.construct_object(value_node)
    return mapping


_StringTimesLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping_with_text_keys)
_StringTimesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_document(path: Path) -> Document:
    """Parse a YAML or TOML file by its suffix. Raises :class:`DocumentSyntaxError` or ``OSError``."""
    with path.open("rb") as handle:  # read at most the limit: a FIFO or /dev/zero must not hang us
        raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise DocumentSyntaxError(1, f"file is larger than {MAX_DOCUMENT_BYTES} bytes; split it")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        # utf-8-sig counts from after a byte-order mark.
        offset = err.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw[:offset].count(b"\n") + 1
        raise DocumentSyntaxError(line, "file is not UTF-8 text; save it as UTF-8") from err
    try:
        if path.suffix.lower() in TOML_SUFFIXES:
            data, lines = parse_toml(text)
        else:
            data, lines = parse_yaml(text)
    except RecursionError as err:
        raise DocumentSyntaxError(1, "nested too deeply to read; flatten the structure") from err
    return Document(path, data, lines, raw)


def parse_yaml(text: str) -> tuple[Any, LineMap]:
    loader = _StringTimesLoader(text)
    lines = LineMap()
    try:
        node = loader.get_single_node()
        if node is not None:
            # Map lines before constructing: construction folds `<<: *anchor` merges into the mapping, after
            # which an explicit key that overrides a merged one would look like a duplicate.
            _walk_yaml(node, (), lines, set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        opened = err.context_mark
        if err.context == "while scanning a quoted scalar" and opened is not None:
            # The scanner reports where the file ended, often many lines on; the mistake is the quote.
            written = text.splitlines()
            quote = written[opened.line][opened.column:opened.column + 1] if opened.line < len(written) else ""
            quote = quote if quote in ("'", '"') else "quote"
            raise DocumentSyntaxError(opened.line + 1, f"YAML syntax: the {quote} opened at column "
                                      f"{opened.column + 1} of this line is never closed; end the text with "
                                      f"the same {quote}") from err
        mark = err.problem_mark or err.context_mark
        swallowed = _quote_closed_late(text, mark.line) if mark is not None else None
        if swallowed is not None and mark is not None:
            # A quote left open swallowed the lines after it, up to the next quote; the error only shows
            # where the parser then got lost.
            quote, start = swallowed
            raise DocumentSyntaxError(start.line + 1, f"YAML syntax: the {quote} opened at column "
                                      f"{start.column + 1} of this line is closed only on line {mark.line + 1}; "
                                      f"end the text with {quote} on this line") from err
        line = mark.line + 1 if mark is not None else 1
        problem = err.problem or "cannot parse"
        if err.context:
            problem = f"{err.context}, {problem}"
        raise DocumentSyntaxError(line, f"YAML syntax: {problem}") from err
    except yaml.YAMLError as err:
        raise DocumentSyntaxError(1, f"YAML syntax: {err}") from err
    finally:
        loader.dispose()
    return data, lines


def _quote_closed_late(text: str, error_line: int) -> tuple[str, yaml.Mark] | None:
    """A quoted text that starts on an earlier line and ends on ``error_line`` (0-based): its quote and
    where it opens, or None."""
    found: tuple[str, yaml.Mark] | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if (isinstance(token, yaml.ScalarToken) and token.style in ('"', "'")
                    and token.start_mark.line < token.end_mark.line == error_line):
                found = (token.style, token.start_mark)
    except yaml.YAMLError:
        pass  # the scanner stops where the parser did or later; what it read before is enough
    return found


def _walk_yaml(node: yaml.Node, path: FieldPath, lines: LineMap, seen: set[int]) -> None:
    # An alias points at a node already walked; walking it again would let a "billion laughs" document
    # make this loop exponential.
    if id(node) in seen:
        return
    seen.add(id(node))
    lines.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # merged keys are written at their anchor, not here
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if child in lines.lines:
                lines.duplicates.append((child, lines.lines[child], line))
                continue
            lines.lines[child] = line
            _walk_yaml(value_node, child, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk_yaml(item, (*path, index), lines, seen)


_TOML_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_TOML_DOTTED = rf"{_TOML_BARE_OR_QUOTED}(?:\s*\.\s*{_TOML_BARE_OR_QUOTED})*"
_TOML_HEADER = re.compile(rf"^\s*(\[\[|\[)\s*({_TOML_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_TOML_KEY = re.compile(rf"^\s*({_TOML_DOTTED})\s*=")
_TOML_PART = re.compile(_TOML_BARE_OR_QUOTED)


def _toml_parts(dotted: str) -> list[str]:
    return [p[1:-1] if p[0] in "\"'" else p for p in _TOML_PART.findall(dotted)]


def parse_toml(text: str) -> tuple[Any, LineMap]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"line (\d+)", str(err))
        line = int(match.group(1)) if match else 1
        raise DocumentSyntaxError(line, f"TOML syntax: {err}{_toml_hint(text, line)}") from err
    return data, _toml_lines(text)


#: A date and time without seconds as a bare TOML value: YAML and ISO 8601 allow it, TOML 1.0 does not.
_TOML_MINUTES_ONLY = re.compile(r"=\s*(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2})(?![:\d])(\S*)")


def _toml_hint(text: str, line: int) -> str:
    """The fix for a TOML mistake whose parser message does not say it (only a time without seconds)."""
    lines = text.splitlines()
    found = _TOML_MINUTES_ONLY.search(lines[line - 1]) if 0 < line <= len(lines) else None
    if found is None:
        return ""
    written, offset = found.groups()
    # Not accepted as written: rewriting the text before tomllib would have to know where strings and
    # comments are, and Python's tomllib takes this form only from TOML 1.1 (Python 3.14) on.
    with_seconds = written.replace(" ", "T") + ":00" + offset
    return (f"; TOML needs the seconds in a time: write {with_seconds} (or quote it, "
            f'"{written}{offset}", as in YAML)')


def _toml_lines(text: str) -> LineMap:
    lines = LineMap()
    array_counts: dict[FieldPath, int] = {}
    table: FieldPath = ()
    state: str | None = None  # inside a multi-line string: its delimiter
    depth = 0  # open [ and { of a value that spans lines
    for number, line in enumerate(text.splitlines(), start=1):
        scan_from = 0
        if state is None and depth == 0:  # a line that starts a new statement
            header = _TOML_HEADER.match(line)
            key = None if header else _TOML_KEY.match(line)
            if header:
                table = _resolve_toml_path(_toml_parts(header.group(2)), array_counts, header.group(1) == "[[")
                lines.lines.setdefault(table, number)
                if table and isinstance(table[-1], int):
                    lines.lines.setdefault(table[:-1], number)  # the array of tables as a whole
                continue
            if key:
                resolved: FieldPath = table
                for part in _toml_parts(key.group(1)):
                    resolved = (*resolved, part)
                    lines.lines.setdefault(resolved, number)
                scan_from = key.end()
        state, depth = _scan_toml_value(line, scan_from, state, depth)
    return lines


def _scan_toml_value(line: str, position: int, state: str | None, depth: int) -> tuple[str | None, int]:
    """Follow strings, comments and brackets through one line of a value; returns the state at its end
    (an open multi-line string, and how many brackets are still open)."""
    i = position
    while i < len(line):
        if state in ('"""', "'''"):
            if state == '"""' and line[i] == "\\":
                i += 2
                continue
            if line.startswith(state, i):
                state, i = None, i + 3
                continue
            i += 1
            continue
        if state in ('"', "'"):
            if state == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == state:
                state = None
            i += 1
            continue
        char = line[i]
        if char == "#":
            break
        for quote in ('"""', "'''", '"', "'"):
            if line.startswith(quote, i):
                state, i = quote, i + len(quote)
                break
        else:
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth = max(0, depth - 1)
            i += 1
    if state in ('"', "'"):
        state = None  # a one-line string cannot continue (tomllib has already accepted the file)
    return state, depth


def _resolve_toml_path(parts: list[str], array_counts: dict[FieldPath, int], is_array: bool) -> FieldPath:
    resolved: FieldPath = ()
    for position, part in enumerate(parts):
        resolved = (*resolved, part)
        last = position == len(parts) - 1
        if last and is_array:
            index = array_counts.get(resolved, 0)
            array_counts[resolved] = index + 1
            resolved = (*resolved, index)
        elif resolved in array_counts:
            # [[events.participants]] belongs to the most recent [[events]].
            resolved = (*resolved, array_counts[resolved] - 1)
    return resolved
