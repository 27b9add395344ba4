"""The global configuration, ``livewatch.toml``: data directory, time zone, concurrency, transcriber,
alert targets and the blacklist of barred people.

Looked up in this order: ``--config``, ``$LIVEWATCH_CONFIG``, ``./livewatch.toml``; without any, the
defaults below apply. Relative paths in the file are read relative to the file's own folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from livewatch.errors import ConfigError
from livewatch.fields import (
    DEFAULT_URL_SCHEMES,
    CaptureSettings,
    Language,
    SeverityName,
    SingleLine,
    StrictModel,
    TimezoneName,
    Tolerances,
)
from livewatch.issues import Issue
from livewatch.registration.models import RegistrationContext
from livewatch.sourcemap import DocumentSyntaxError, read_document
from livewatch.validation import issues_from_validation_error

CONFIG_FILENAME = "livewatch.toml"
CONFIG_ENV = "LIVEWATCH_CONFIG"
DATA_ENV = "LIVEWATCH_DATA"


class ConcurrencySettings(StrictModel):
    """How much work runs at once."""

    captures: int = Field(10, ge=1, le=500, description="Streams recorded at the same time.")
    transcriptions: int = Field(1, ge=1, le=64, description="Whisper workers running at the same time.")


class TranscriberSettings(StrictModel):
    """Which Whisper backend and model transcribe the audio (each event may override)."""

    enabled: bool = Field(True, description="Transcribe captured audio as it closes (false: capture only).")
    backend: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    model: SingleLine = Field("tiny.en", description="Model name, local path, or installed model package.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: Literal["default", "auto", "int8", "int8_float16", "float16", "float32"] = "int8"
    beam_size: int = Field(5, ge=1, le=20)
    language: Language = "auto"
    model_store: Path | None = Field(None, description="Folder of imported models; default <data_dir>/models.")


class AlertTarget(StrictModel):
    """Where findings are announced as they happen."""

    name: SingleLine
    type: Literal["webhook", "email", "log"]
    url: str | None = Field(None, description="Webhook address (http or https).")
    to: list[SingleLine] = Field(default_factory=list, description="E-mail recipients.")
    min_severity: SeverityName = "high"

    @model_validator(mode="after")
    def _target_complete(self) -> Self:
        if self.type == "webhook" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError("a webhook target needs `url: https://...`")
        if self.type == "email" and not self.to:
            raise ValueError("an email target needs `to: [reviewer@example.org]`")
        return self


class Settings(StrictModel):
    """Everything in ``livewatch.toml``."""

    data_dir: Path = Field(Path("data"), description="Where the database, media and reports go.")
    schedules_dir: Path = Field(Path("schedules"), description="Folder of event-registration files.")
    timezone: TimezoneName = Field("UTC", description="Time zone for registrations that name none.")
    allowed_url_schemes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_URL_SCHEMES), description="URL schemes streams may use."
    )
    blacklist: Path | None = Field(None, description="YAML or TOML file of barred people.")
    rule_packs_dir: Path | None = Field(None, description="Folder of user rule packs (beside the built-in ones).")
    concurrency: ConcurrencySettings = Field(default_factory=ConcurrencySettings)
    transcriber: TranscriberSettings = Field(default_factory=TranscriberSettings)
    tolerances: Tolerances = Field(default_factory=Tolerances)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    alerts: list[AlertTarget] = Field(default_factory=list)

    @field_validator("allowed_url_schemes")
    @classmethod
    def _schemes_lowercase(cls, value: list[str]) -> list[str]:
        for scheme in value:
            if not scheme.isascii() or not scheme.replace("+", "").replace("-", "").isalnum():
                raise ValueError(f"'{scheme}' is not a URL scheme; write names such as https or rtmp")
        return [scheme.lower() for scheme in value]

    def registration_context(self) -> RegistrationContext:
        return RegistrationContext(
            default_timezone=self.timezone,
            allowed_url_schemes=tuple(self.allowed_url_schemes),
            tolerances=self.tolerances,
            capture=self.capture,
        )

    def relative_to(self, folder: Path) -> Settings:
        """Resolve relative paths against the configuration file's folder."""
        updates: dict[str, Path] = {}
        for name in ("data_dir", "schedules_dir", "blacklist", "rule_packs_dir"):
            value = getattr(self, name)
            if value is not None and not value.is_absolute():
                updates[name] = folder / value
        store = self.transcriber.model_store
        if store is not None and not store.is_absolute():
            transcriber = self.transcriber.model_copy(update={"model_store": folder / store})
            return self.model_copy(update={**updates, "transcriber": transcriber})
        return self.model_copy(update=updates)

    @property
    def model_store(self) -> Path:
        return self.transcriber.model_store or self.data_dir / "models"


def find_config(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    default = Path(CONFIG_FILENAME)
    return default if default.is_file() else None


def load_settings(explicit: Path | None = None) -> Settings:
    """Read the global configuration. Raises :class:`ConfigError` naming the file, line and field."""
    path = find_config(explicit)
    if path is None:
        settings = Settings()
    else:
        try:
            document = read_document(path)
        except OSError as err:
            raise ConfigError(f"cannot read configuration {path}: {err.strerror or err}") from err
        except DocumentSyntaxError as err:
            issue = Issue(path, err.line, (), err.message, code="syntax")
            raise ConfigError(f"configuration {path} cannot be parsed", [issue]) from err
        try:
            settings = Settings.model_validate(document.data or {}).relative_to(path.parent)
        except ValidationError as err:
            issues = issues_from_validation_error(err, root=Settings, file=path, lines=document.lines)
            raise ConfigError(f"configuration {path} is invalid", issues) from err
    data_override = os.environ.get(DATA_ENV)
    if data_override:
        settings = settings.model_copy(update={"data_dir": Path(data_override)})
    return settings
