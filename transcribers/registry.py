"""Backends by name, from the ``livewatch.transcribers`` entry points (the built-ins are registered there
too), loaded lazily so that a machine without one backend's libraries can still use the other."""

from __future__ import annotations

from importlib.metadata import entry_points

from livewatch.errors import ConfigError
from transcribers.base import Device, ModelInfo, Transcriber

ENTRY_POINT_GROUP = "livewatch.transcribers"


def available() -> list[str]:
    return sorted(entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))


def backend_class(name: str) -> type[Transcriber]:
    found = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == name]
    if not found:
        raise ConfigError(f"no transcriber {name!r}; available: {', '.join(available())}")
    loaded = found[0].load()
    if not (isinstance(loaded, type) and issubclass(loaded, Transcriber)):
        raise ConfigError(f"the {name!r} entry point does not name a Transcriber class")
    return loaded


def resolve_device(device: str) -> Device:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device  # type: ignore[return-value]


def create(name: str, model: ModelInfo, *, device: str = "auto", compute_type: str = "default",
           workers: int = 1) -> Transcriber:
    resolved = resolve_device(device)
    if compute_type == "auto":
        compute_type = "int8" if resolved == "cpu" else "float16"
    return backend_class(name)(model, device=resolved, compute_type=compute_type, workers=workers)
