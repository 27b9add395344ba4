"""Turn pydantic's validation errors into plain-language issues pinned to a file, line and field."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from livewatch.errors import ConfigError
from livewatch.fields import closest, did_you_mean
from livewatch.issues import FieldPath, Issue, format_field_path
from livewatch.sourcemap import Document, LineMap

#: How to write a field that is missing, shown in the message.
_EXAMPLES: dict[str, str] = {
    "id": "id: acme-annual-2026",
    "title": "title: ACME annual meeting 2026",
    "kind": "kind: forum",
    "organizer": "organizer: {name: ACME Ltd, contact: press@acme.example}",
    "inspection": "inspection: {inspector: li.wei, requested_at: 2026-12-01T09:00+08:00}",
    "name": "name: Li Hua",
    "start": "start: 2026-12-01T09:00",
    "end": "end: 2026-12-01T11:00",
    "streams": "streams: [{url: https://live.example.com/room/1}]",
    "url": "url: https://live.example.com/room/1",
    "role": "role: host",
    "field": "field: finance",
    "rule": "rule: finance-promise.guaranteed-returns",
    "type": "type: webhook",
}

#: What a field that failed its pattern should look like.
_PATTERN_HINTS: dict[str, str] = {
    "category": "a lowercase tag such as knowledge, commerce or entertainment",
    "topics": "a lowercase tag such as finance, health or technology",
    "platform": "a lowercase platform tag such as douyin, bilibili or youtube",
    "handles": "a lowercase platform tag such as douyin or weibo",
    "rule_packs": "a pack id such as default, optionally with a version: default@1.0",
    "rule": "a rule id such as finance-promise.guaranteed-returns",
}


def describe_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"'{shown}'"
    return repr(value)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X``, ``list[X]``, ``X | None`` or ``Annotated[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (list, tuple, typing.Union, types.UnionType, dict):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that owns the field at ``loc`` (used to suggest field names)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model


def explain(error: ErrorDetails, root: type[BaseModel]) -> str:
    raw_loc = list(error["loc"])
    loc = [part for part in raw_loc if part != "[key]"]
    if "[key]" in raw_loc:
        # A bad key of a mapping (``handles: {Douyin: ...}``): the field is the mapping, not the key.
        mapping_loc = raw_loc[: raw_loc.index("[key]") - 1]
        name = next((str(part) for part in reversed(mapping_loc) if isinstance(part, str)), "")
    else:
        name = next((str(part) for part in reversed(loc) if isinstance(part, str)), "")
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    given = error.get("input")
    if kind == "missing":
        example = _EXAMPLES.get(name, f"{name}: ...")
        return f"required field '{name}' is missing; add it, e.g. `{example}`"
    if kind == "extra_forbidden":
        owner_model = model_at(root, loc[:-1])
        allowed = sorted(owner_model.model_fields) if owner_model else []
        hint = did_you_mean(name, allowed)
        if hint:
            return f"unknown field '{name}'{hint}"
        return f"unknown field '{name}'; allowed fields here: {', '.join(allowed)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        choices = [c.strip() for c in expected.replace(" or ", ", ").split(",") if c.strip()]
        return f"{describe_value(given)} is not allowed{did_you_mean(str(given), choices)}; use one of: {expected}"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(name, f"text matching {ctx.get('pattern')}")
        return f"{describe_value(given)} is not valid here; write {hint}"
    if kind in ("string_type", "str_type"):
        return f"must be text, got {describe_value(given)}"
    if kind == "list_type":
        return f"must be a list, got {describe_value(given)}; write each item on its own line starting with '- '"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields (key: value lines), got {describe_value(given)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {describe_value(given)}"
    if kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"):
        return f"must be a whole number, got {describe_value(given)}" if kind.startswith("int") else (
            f"must be a number, got {describe_value(given)}"
        )
    if kind == "greater_than_equal":
        return f"must be at least {_number(ctx.get('ge'))}, got {describe_value(given)}"
    if kind == "greater_than":
        return f"must be more than {_number(ctx.get('gt'))}, got {describe_value(given)}"
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx.get('le'))}, got {describe_value(given)}"
    if kind == "less_than":
        return f"must be less than {_number(ctx.get('lt'))}, got {describe_value(given)}"
    if kind == "too_short":
        if name == "streams":
            return "at least one stream is needed; add `- url: https://live.example.com/room/1`"
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"has too many items; at most {ctx.get('max_length')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long ({len(str(given))} characters); keep it to {ctx.get('max_length')}"
    return f"{error['msg']} (got {describe_value(given)})"


def issues_from_validation_error(
    err: ValidationError,
    *,
    root: type[BaseModel],
    file: Path,
    lines: LineMap,
    prefix: FieldPath = (),
    event_id: str | None = None,
) -> list[Issue]:
    errors = err.errors(include_url=False)
    typos = _typos_of_missing_fields(errors, root)
    issues = []
    for error in errors:
        loc: FieldPath = tuple(part for part in error["loc"] if part != "[key]")
        if error["type"] == "missing" and loc in typos.values():
            continue  # said by the typo's own error: one mistake, one error
        path = (*prefix, *loc)
        message = explain(error, root)
        meant = typos.get(loc)
        if meant is not None:
            message = (f"unknown field '{loc[-1]}' (did you mean '{meant[-1]}'? '{meant[-1]}' is required and "
                       "missing: rename this key)")
        issues.append(
            Issue(
                file=file,
                line=lines.line_of(path),
                field=path,
                message=message,
                code=error["type"],
                event_id=event_id,
            )
        )
    return issues


def _typos_of_missing_fields(errors: Sequence[ErrorDetails], root: type[BaseModel]) -> dict[FieldPath, FieldPath]:
    """Unknown keys that are a misspelling of a required field missing beside them (``titel`` with no
    ``title``), mapped to that field's location."""
    missing = {tuple(error["loc"]) for error in errors if error["type"] == "missing"}
    typos: dict[FieldPath, FieldPath] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] != "extra_forbidden" or not loc or not isinstance(loc[-1], str):
            continue
        owner = model_at(root, loc[:-1])
        meant = closest(loc[-1], owner.model_fields) if owner is not None else None
        if meant is not None and (*loc[:-1], meant) in missing and (*loc[:-1], meant) not in typos.values():
            typos[loc] = (*loc[:-1], meant)
    return typos


M = typing.TypeVar("M", bound=BaseModel)


def read_model_file(path: Path, model: type[M], error: type[ConfigError], what: str) -> tuple[M, Document]:
    """Read a YAML/TOML file and validate it as ``model``; any problem raises ``error`` naming the file
    (``what`` says what the file is, e.g. "rule pack") and, for each problem, its line and field."""
    # Imported here: the registration package imports this module. Through it a control character, a complex
    # key or a 5,000-digit number is an error naming the file and line, never a traceback.
    from livewatch.registration.reading import read_registration

    document = read_registration(path)
    if isinstance(document, Issue):
        if document.code == "unreadable":
            raise error(f"cannot read {what} {path}: {document.message.removeprefix('cannot read file: ')}")
        raise error(f"{what} {path} cannot be parsed", [document])
    try:
        return model.model_validate(document.data or {}), document
    except ValidationError as err:
        raise error(f"{what} {path} is invalid",
                    issues_from_validation_error(err, root=model, file=path, lines=document.lines)) from err


__all__ = ["describe_value", "explain", "format_field_path", "issues_from_validation_error", "model_at",
           "read_model_file"]
