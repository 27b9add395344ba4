"""Messages to queue payloads and back: the one place that knows the wire format.

A payload is a JSON-ready dict: the message's fields under their own names, plus ``"kind"`` and ``"v"``
(:data:`MESSAGE_VERSION`). Times travel as ISO 8601 text with their offset, paths as text, tuples as lists,
nested messages as dicts. A payload without ``"v"`` is read as version 1: it was queued by a livewatch from
before the version was written, whose format version 1 is. Any other version is refused with a clear error
rather than guessed at: the item then fails and stays in the queue for a livewatch that can read it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from livewatch.pipeline.base import Message, MessageError

#: The payload format. Raise it (and teach :func:`decode` the old one) when a field changes meaning or type.
MESSAGE_VERSION = 1
#: The versions :func:`decode` reads.
READABLE_VERSIONS = frozenset({1})

M = TypeVar("M", bound=Message)


def encode(message: Message) -> dict[str, Any]:
    """The payload of ``message``, ready for ``json.dumps``."""
    return {"v": MESSAGE_VERSION, "kind": message.kind, **_fields_of(message)}


def decode(cls: type[M], payload: object) -> M:
    """The ``cls`` message a payload holds; :class:`MessageError` naming the kind, version or field when it
    does not hold one."""
    if not isinstance(payload, dict):
        raise MessageError(f"a {cls.kind} message must be a JSON object, not {type(payload).__name__}")
    version = payload.get("v", 1)
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in sorted(READABLE_VERSIONS))
        raise MessageError(f"{cls.kind} message has format version {version!r}; this livewatch reads version "
                           f"{readable} (was it queued by a newer livewatch?)")
    kind = payload.get("kind", cls.kind)
    if kind != cls.kind:
        raise MessageError(f"expected a {cls.kind} message, got {kind!r}")
    return _build(cls, {k: v for k, v in payload.items() if k not in ("v", "kind")}, cls.kind)


def _fields_of(message: Message) -> dict[str, Any]:
    return {f.name: _to_wire(getattr(message, f.name)) for f in dataclasses.fields(message)}  # type: ignore[arg-type]


def _to_wire(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_to_wire(v) for v in value]
    if isinstance(value, Message):
        return {"kind": value.kind, **_fields_of(value)}
    return value


_HINTS: dict[type[Message], tuple[tuple[str, Any, bool], ...]] = {}


def _hints(cls: type[Message]) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) of each field of ``cls``, resolved once per class."""
    known = _HINTS.get(cls)
    if known is None:
        hints = typing.get_type_hints(cls)
        known = _HINTS[cls] = tuple(
            (f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return known


def _build(cls: type[M], values: dict[str, Any], where: str) -> M:
    known = _hints(cls)
    unknown = sorted(set(values) - {name for name, _, _ in known})
    if unknown:
        raise MessageError(f"{where}: unknown field(s) {', '.join(unknown)} for a version {MESSAGE_VERSION} "
                           f"{cls.kind} message")
    arguments: dict[str, Any] = {}
    for name, hint, required in known:
        if name not in values:
            if required:
                raise MessageError(f"{where}: field {name!r} is missing")
            continue
        arguments[name] = _from_wire(hint, values[name], f"{where}.{name}")
    return cls(**arguments)


def _from_wire(hint: Any, value: object, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        problems = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _from_wire(option, value, where)
            except MessageError as err:
                problems.append(str(err))
        raise MessageError(problems[0] if len(problems) == 1 else f"{where}: {value!r} fits none of its types")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise MessageError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = (a for a in typing.get_args(hint) if a is not Ellipsis)
        return tuple(_from_wire(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, Message):
        if not isinstance(value, dict):
            raise MessageError(f"{where}: expected a {hint.kind} object, got {type(value).__name__}")
        if value.get("kind", hint.kind) != hint.kind:
            raise MessageError(f"{where}: expected a {hint.kind} object, got {value.get('kind')!r}")
        return _build(hint, {k: v for k, v in value.items() if k != "kind"}, where)
    if hint is datetime:
        if not isinstance(value, str):
            raise MessageError(f"{where}: expected an ISO 8601 time, got {type(value).__name__}")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as err:
            raise MessageError(f"{where}: {value!r} is not an ISO 8601 time") from err
        if moment.tzinfo is None:
            raise MessageError(f"{where}: {value!r} has no UTC offset")
        return moment
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise MessageError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, float, bool) and isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
        return value
    raise MessageError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
