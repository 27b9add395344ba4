"""Read one registration file so that nothing in it can raise: every failure becomes an issue for that file.

The party being watched may hand in or edit registration files, and a running monitor re-reads every file on
each change, so a control character, a complex YAML key, a 5,000-digit number or anything else the parsers
choke on must cost only that file. Where the parser gave up we still point at the line, the field and, when
it can be read, the event id, so the officer can find the problem.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import yaml

from livewatch.fields import EVENT_ID_PATTERN
from livewatch.issues import FieldPath, Issue
from livewatch.sourcemap import (
    MAX_DOCUMENT_BYTES,
    TOML_SUFFIXES,
    Document,
    DocumentSyntaxError,
    _toml_lines,
    read_document,
)

#: What PyYAML's reader refuses (its NON_PRINTABLE set): C0 controls except tab and line breaks, DEL,
#: C1 controls except NEL, surrogates and U+FFFE/U+FFFF.
_YAML_UNPRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: A number as YAML 1.1 or TOML may write it (signs, underscores, 0x/0o/0b prefixes).
_LONG_NUMBER = re.compile(r"[+-]?(?:0[xob])?[0-9a-fA-F_]{4000,}")


def read_registration(path: Path) -> Document | Issue:
    """The parsed file, or the one issue that says why it cannot be read. Never raises."""
    try:
        return read_document(path)
    except DocumentSyntaxError as err:
        # TOML's line scanner works on text tomllib refused, so it can still name the field on that line.
        field = _toml_place(_text(path), err.line) if path.suffix.lower() in TOML_SUFFIXES else ()
        return Issue(path, err.line, field, err.message, code="syntax")
    except OSError as err:
        return Issue(path, 1, (), f"cannot read file: {err.strerror or err}", code="unreadable")
    except RecursionError:
        return Issue(path, 1, (), "nested too deeply to read; flatten the structure", code="syntax")
    except MemoryError:
        return Issue(path, 1, (), "too large to read; split the file", code="syntax")
    except yaml.reader.ReaderError as err:
        return _unprintable(path, err)
    except ValueError as err:
        if "integer string conversion" in str(err):
            return _long_number(path)
        return _unparsable(path, err)
    except TypeError as err:
        if "unhashable" in str(err):
            return _complex_key(path)
        return _unparsable(path, err)
    except Exception as err:  # any other parser failure still costs only this file
        return _unparsable(path, err)


def _text(path: Path) -> str:
    """The file again, for locating a problem the parser could not place (never raises)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES)
    except OSError:
        return ""
    return raw.decode("utf-8-sig", errors="replace")


def _unparsable(path: Path, err: Exception) -> Issue:
    detail = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
    return Issue(path, 1, (), f"cannot read this file: {detail}", code="syntax")


def _character_name(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else " (a control character)")


def _unprintable(path: Path, err: yaml.reader.ReaderError) -> Issue:
    text = _text(path)
    position = min(max(err.position, 0), len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    char = chr(err.character) if isinstance(err.character, int) else "?"
    # With the forbidden characters blanked out the rest of the file parses, which tells us the field.
    field, event_id = _yaml_place(_YAML_UNPRINTABLE.sub(" ", text), line)
    message = (f"character {_character_name(char)} at column {column} is not allowed in this file "
               "(control characters could hide or disguise text); remove it")
    return Issue(path, line, field, message, code="control-character", event_id=event_id)


def _long_number(path: Path) -> Issue:
    text = _text(path)
    match = _LONG_NUMBER.search(text)
    line = text.count("\n", 0, match.start()) + 1 if match else 1
    digits = len(match.group().replace("_", "")) if match else 0
    if path.suffix.lower() in TOML_SUFFIXES:
        field, event_id = _toml_place(text, line), None
    else:
        field, event_id = _yaml_place(text, line)
    size = f"a number of {digits:,} digits" if digits else "a number"
    message = f"{size} is too long to read (at most 4,300 digits); no field takes such a number, remove it"
    return Issue(path, line, field, message, code="number-too-long", event_id=event_id)


def _complex_key(path: Path) -> Issue:
    text = _text(path)
    nodes = _yaml_nodes(text)
    for field, (node, _parent_key) in nodes.items():
        if isinstance(node, yaml.MappingNode):
            for key_node, _value in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    what = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                    message = (f"a field name must be plain text, not {what} (a `? ...` complex key); "
                               "remove it")
                    return Issue(path, key_node.start_mark.line + 1, field, message, code="complex-key",
                                 event_id=_event_id(nodes, field))
    return Issue(path, 1, (), "a field name must be plain text, not a list or mapping; remove it",
                 code="complex-key")


def _yaml_nodes(text: str) -> dict[FieldPath, tuple[yaml.Node, int]]:
    """Field path → (node, line of its key), composed without constructing values (construction is what
    failed); empty when even composing fails."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except Exception:  # composing is only for locating a problem; the caller has its own message
        return {}
    nodes: dict[FieldPath, tuple[yaml.Node, int]] = {}
    if root is None:
        return nodes
    stack: list[tuple[FieldPath, yaml.Node, int]] = [((), root, root.start_mark.line + 1)]
    seen: set[int] = set()
    while stack:  # iterative: a deeply nested file must not exhaust the stack here either
        path, node, line = stack.pop()
        if id(node) in seen or path in nodes:
            continue
        seen.add(id(node))
        nodes[path] = (node, line)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    stack.append(((*path, key_node.value), value_node, key_node.start_mark.line + 1))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append(((*path, index), item, item.start_mark.line + 1))
    return nodes


def _event_id(nodes: dict[FieldPath, tuple[yaml.Node, int]], field: FieldPath) -> str | None:
    """The ``id`` of the event that ``field`` lies in, when it is written as plain text."""
    for prefix in (field[:2], field[:1], ()):
        if prefix and prefix[0] == "events" and len(prefix) < 2:
            continue
        found = nodes.get((*prefix, "id"))
        if found is not None and isinstance(found[0], yaml.ScalarNode):
            value = str(found[0].value)
            return value if re.fullmatch(EVENT_ID_PATTERN, value) else None  # shown only when it is safe
    return None


def _yaml_place(text: str, line: int) -> tuple[FieldPath, str | None]:
    """The deepest field written on ``line``, and its event's id."""
    nodes = _yaml_nodes(text)
    on_line = [path for path, (_node, at) in nodes.items() if at == line]
    if not on_line:
        return (), None
    field = max(on_line, key=len)
    return field, _event_id(nodes, field)


def _toml_place(text: str, line: int) -> FieldPath:
    try:
        lines = _toml_lines(text).lines
    except Exception:  # only for locating; the line number alone still says where
        return ()
    on_line = [path for path, at in lines.items() if at == line]
    return max(on_line, key=len) if on_line else ()
