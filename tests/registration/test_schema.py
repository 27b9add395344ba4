"""The JSON Schema agrees with the models, the shipped copy is current, and the docs cover every field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from livewatch.fields import CaptureSettings, Tolerances
from livewatch.registration.models import Credential, Event, Organizer, Participant, RuleOverride, Stream
from livewatch.registration.schema import registration_schema
from livewatch.sourcemap import read_document
from tests.conftest import REPO, SCHEDULES

MODELS: list[type[BaseModel]] = [
    Event, Organizer, Stream, Participant, Credential, RuleOverride, Tolerances, CaptureSettings
]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = registration_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_schema_properties_are_the_model_fields(model: type[BaseModel]) -> None:
    definition = registration_schema()["$defs"][model.__name__]
    assert set(definition["properties"]) == set(model.model_fields)
    assert definition["additionalProperties"] is False
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    assert set(definition.get("required", [])) == required


@pytest.mark.parametrize("path", sorted(SCHEDULES.glob("*")), ids=lambda p: p.name)
def test_samples_satisfy_the_schema(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    data = read_document(path).data
    if path.suffix == ".toml":  # TOML has native datetimes; editors see text
        data = json.loads(json.dumps(data, default=lambda v: v.isoformat()))
    assert list(validator.iter_errors(data)) == []


BASE = {
    "id": "ok",
    "title": "T",
    "kind": "forum",
    "organizer": {"name": "O"},
    "start": "2026-12-01T09:00",
    "end": "2026-12-01T10:00",
    "streams": [{"url": "https://example.com/live"}],
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"strat": "2026-12-01T09:00"}, "unknown key"),
        ({"kind": "lectur"}, "kind not in the list"),
        ({"start": "tomorrow"}, "not ISO 8601"),
        ({"streams": []}, "no stream"),
        ({"language": "fr"}, "language not zh/en/auto"),
        ({"participants": [{"name": "A", "role": "speaker"}]}, "bad role"),
        ({"topics": ["Finance"]}, "topics are lowercase tags"),
    ],
)
def test_schema_rejects_what_the_models_reject(
    validator: jsonschema.Draft202012Validator, change: dict[str, Any], why: str
) -> None:
    event = {**BASE, **change}
    assert list(validator.iter_errors(event)), why
    with pytest.raises(ValidationError):
        Event.model_validate(event)


def test_schema_accepts_all_three_file_shapes(validator: jsonschema.Draft202012Validator) -> None:
    assert validator.is_valid(BASE)
    assert validator.is_valid([BASE, {**BASE, "id": "two"}])
    assert validator.is_valid({"events": [BASE]})
    assert not validator.is_valid({"events": [BASE], "extra": 1})


def test_shipped_schema_is_current() -> None:
    shipped = json.loads((REPO / "docs" / "registration.schema.json").read_text(encoding="utf-8"))
    assert shipped == registration_schema(), "run: livewatch schema -o docs/registration.schema.json"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_registration_doc_covers_every_field(model: type[BaseModel]) -> None:
    doc = (REPO / "docs" / "registration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)`", doc, flags=re.MULTILINE))
    missing = set(model.model_fields) - documented
    assert not missing, f"docs/registration.md does not document {sorted(missing)}"
