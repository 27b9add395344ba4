"""JSON Schema of the registration format, for editors (``# yaml-language-server: $schema=...``)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from livewatch import __version__
from livewatch.registration.models import Event

SCHEMA_ID = "https://livewatch.invalid/schemas/registration.json"


def registration_schema() -> dict[str, Any]:
    """A file holds one event, a list of events, or ``{events: [...]}``; all three are described."""
    event_schema = TypeAdapter(Event).json_schema(mode="validation")
    for prop in event_schema["properties"].values():
        # `tolerances` and `capture` default to null only so the model can tell "not written" and fill in the
        # global configuration; in a file they are mappings, and an editor should not offer null.
        if "$ref" in prop and prop.get("default", 0) is None:
            del prop["default"]
    defs: dict[str, Any] = event_schema.pop("$defs", {})
    defs["Event"] = event_schema
    event_ref = {"$ref": "#/$defs/Event"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "livewatch event registration",
        "description": f"Event-registration file for livewatch {__version__}: one event, a list of events, "
        "or a mapping with an `events` list.",
        "anyOf": [
            event_ref,
            {"type": "array", "items": event_ref},
            {
                "type": "object",
                "properties": {"events": {"type": "array", "items": event_ref}},
                "required": ["events"],
                "additionalProperties": False,
            },
        ],
        "$defs": defs,
    }
