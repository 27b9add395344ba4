"""The global configuration, ``livewatch.toml``: data directory, time zone, concurrency, transcriber,
alert targets and the blacklist of barred people.

Looked up in this order: ``--config``, ``$LIVEWATCH_CONFIG``, ``./livewatch.toml``; without any, the
defaults below apply. Relative paths in the file are read relative to the file's own folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self, cast

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from livewatch.errors import ConfigError, StateError
from livewatch.fields import (
    DEFAULT_URL_SCHEMES,
    CaptureSettings,
    Category,
    Language,
    Seconds,
    SeverityName,
    SingleLine,
    StrictModel,
    TimezoneName,
    Tolerances,
)
from livewatch.registration.models import RegistrationContext
from livewatch.state.engines import mask_url, parse_url
from livewatch.validation import read_model_file
from transcribers.base import BackendOptions, WhisperOptions

CONFIG_FILENAME = "livewatch.toml"
CONFIG_ENV = "LIVEWATCH_CONFIG"
DATA_ENV = "LIVEWATCH_DATA"
#: The database URL, password included if need be: the environment is where secrets go.
DATABASE_URL_ENV = "LIVEWATCH_DATABASE_URL"
#: The Celery broker (RabbitMQ) of the distributed mode: amqp://user:password@host:5672/vhost.
BROKER_URL_ENV = "LIVEWATCH_BROKER_URL"


class ConcurrencySettings(StrictModel):
    """How much work runs at once."""

    captures: int = Field(10, ge=1, le=500, description="Streams recorded at the same time.")
    transcriptions: int = Field(
        2, ge=1, le=64,
        description="Whisper workers running at the same time (each with its own model replica); about one a core.",
    )


#: The model for each spoken language when the configuration names none: Whisper's multilingual ``base`` for
#: Chinese and for events whose language is detected, the faster English-only ``tiny.en`` for English.
#: docs/transcription.md has the measurements behind the choice, and the models to choose on a GPU.
DEFAULT_MODELS: dict[Language, str] = {"zh": "base", "en": "tiny.en", "auto": "base"}


class TranscriberSettings(StrictModel):
    """Which Whisper backend and models transcribe the audio (each event may override)."""

    enabled: bool = Field(True, description="Transcribe captured audio as it closes (false: capture only).")
    backend: SingleLine = Field(
        "faster-whisper", description="Transcription backend: faster-whisper, openai-whisper, or an installed "
        "plugin's name. The backend's own keys go in this table too (device and compute_type for the Whisper "
        "backends) and are validated by its own model.",
    )
    models: dict[Language, SingleLine] = Field(
        default_factory=lambda: dict(DEFAULT_MODELS),
        description="Model for each spoken language (zh, en, auto: detected on the first speech); languages "
        "left out keep their defaults (zh and auto: base, en: tiny.en). An English-only model (*.en) may serve "
        "only en.",
    )
    model: SingleLine | None = Field(
        None, description="One model (name, local path, or installed model package) for every language, instead "
        "of `models`; an English-only one makes every event that is not in English invalid.",
    )
    beam_size: int = Field(5, ge=1, le=20)
    language: Language = "auto"
    model_store: Path | None = Field(None, description="Folder of imported models; default <data_dir>/models.")
    # The backend's own keys: as written (a registration may pick another backend, which validates them anew)
    # and as validated by the configured backend's options model.
    _option_values: dict[str, Any] = PrivateAttr(default_factory=dict)
    _options: BackendOptions = PrivateAttr(default_factory=WhisperOptions)

    @model_validator(mode="wrap")
    @classmethod
    def _backend_options(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """The keys that are not livewatch's own belong to the backend: its options model validates them (an
        error names the key under [transcriber]); an unknown or broken backend is an error on ``backend``."""
        if not isinstance(data, dict):
            return handler(data)
        values = {key: value for key, value in data.items() if key not in cls.model_fields}
        settings = handler({key: value for key, value in data.items() if key in cls.model_fields})
        from livewatch.plugins import PluginError
        from livewatch.transcription.backends import BACKENDS

        try:
            backend = BACKENDS.get(settings.backend)
        except PluginError as err:
            raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                type=PydanticCustomError("plugin", "{problem}", {"problem": str(err)}), loc=("backend",),
                input=settings.backend)]) from None
        settings._options = backend.options_model.model_validate(values)
        settings._option_values = values
        return settings

    @property
    def options(self) -> BackendOptions:
        """The configured backend's own options (device and compute_type for the Whisper backends)."""
        return self._options

    def options_for(self, backend: str) -> BackendOptions:
        """The options for ``backend``: the configured ones, or, for another backend (a registration's
        choice), this table's backend keys validated by that backend's model."""
        if backend == self.backend:
            return self._options
        from livewatch.transcription.backends import options_for

        return options_for(backend, self._option_values)

    @field_validator("models", mode="before")
    @classmethod
    def _models_over_defaults(cls, value: object) -> object:
        return {**DEFAULT_MODELS, **value} if isinstance(value, dict) else value

    @field_validator("models")
    @classmethod
    def _english_only_serves_english(cls, value: dict[Language, str]) -> dict[Language, str]:
        from transcribers.languages import english_only_name

        for language, model in value.items():
            if language != "en" and english_only_name(model):
                fix = f"a multilingual model such as {DEFAULT_MODELS[language]}"
                raise ValueError(f"{language} = {model!r} is an English-only model and cannot hear {language} "
                                 f"speech; use {fix}")
        return value

    def model_for(self, language: str) -> str:
        """The configured model for events spoken in ``language`` (zh, en or auto)."""
        for known, model in self.models.items():
            if known == language:
                return self.model or model
        return self.model or self.models["auto"]


EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=100)]
TargetName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)]


class AlertTarget(StrictModel):
    """Where alerts are delivered as they happen, and which ones (global routing). These keys are common to
    every channel; each channel adds its own (its ``target_model``, a subclass of this), and an ``[[alerts]]``
    entry is validated by the model of the channel its ``type`` names."""

    name: TargetName = Field(description="Unique name; registrations pick targets by it.")
    type: SingleLine = Field(description="Alert channel: webhook, email, log, or an installed plugin's name.")
    min_severity: SeverityName = Field("high", description="Least severe alert sent here.")
    categories: list[Category] = Field(
        default_factory=list,
        description="Only these categories (rule categories, plus schedule and capture); empty: all.",
    )
    timeout_s: Annotated[float, Field(gt=0, le=300)] = Field(10, description="Seconds one delivery may take.")
    retry_base_s: Annotated[float, Field(gt=0, le=3600)] = Field(2, description="First retry delay; doubles each try.")
    retry_max_s: Annotated[float, Field(gt=0, le=24 * 3600)] = Field(300, description="Longest retry delay.")
    give_up_after_s: Annotated[float, Field(gt=0, le=30 * 24 * 3600)] = Field(
        24 * 3600, description="An alert still undelivered this long after it was raised is marked failed."
    )

    @model_validator(mode="wrap")
    @classmethod
    def _by_channel_model(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Validate an entry with the model of the channel its ``type`` names (which comes back here as
        ``cls``); an unknown or broken channel is an error on ``type`` naming the installed ones."""
        if cls is not AlertTarget or not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return handler(data)
        from livewatch.alerts.registry import CHANNELS
        from livewatch.plugins import PluginError

        try:
            model = CHANNELS.get(data["type"]).target_model
        except PluginError as err:
            raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                type=PydanticCustomError("plugin", "{problem}", {"problem": str(err)}), loc=("type",),
                input=data["type"])]) from None
        return handler(data) if model is AlertTarget else cast("Self", model.model_validate(data))


#: The screen readers :class:`ScreenSettings` may name when none is configured (entry-point group
#: ``livewatch.screen_readers``: ``qr`` decodes QR codes and barcodes, ``ocr`` reads text lines).
DEFAULT_SCREEN_READERS = ("qr", "ocr")


class ScreenSettings(StrictModel):
    """The screen stage: what is read off the captured frames, by how many workers, and which frames stay."""

    enabled: bool = Field(True, description="Read captured frames (QR codes, on-screen text) as they arrive.")
    readers: list[SingleLine] = Field(
        default_factory=lambda: list(DEFAULT_SCREEN_READERS),
        description="Screen readers run on each changed frame: qr, ocr, or an installed plugin's name.",
    )
    workers: int = Field(1, ge=1, le=32, description="Threads reading frames; each takes whole streams in turn.")
    ocr_min_confidence: float = Field(0.5, ge=0, le=1, description="OCR lines scored below this are dropped.")
    costly_interval_s: float = Field(
        2.0, ge=0, le=600,
        description="A costly reader (OCR) runs at most once per this many seconds of a stream: a picture that "
        "changes all the time costs one OCR read per interval, not one per frame; a change is still read within it.",
    )
    keep_frames: Literal["evidence", "all"] = Field(
        "evidence", description="evidence: a frame is deleted once read unless it is some item's evidence; "
        "all: every frame is kept.",
    )

    @field_validator("readers")
    @classmethod
    def _readers_once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("name each screen reader once")
        return value


class AlertingSettings(StrictModel):
    """How alerts are grouped, and when the monitor raises schedule and capture alerts."""

    cooldown_s: Annotated[float, Field(ge=0, le=24 * 3600)] = Field(
        300, description="The same rule firing again within this many seconds becomes one alert with a count."
    )
    gap_alert_s: Seconds = Field(60, description="A capture gap longer than this many seconds raises an alert.")
    schedule_alerts: bool = Field(True, description="Alert on early live, no stream at start, overrun, failures.")


ReviewerName = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f:]{1,80}$")]


class ReviewerAccount(StrictModel):
    """One person who may sign in to ``livewatch serve``; the password only as a hash."""

    name: ReviewerName = Field(description="Sign-in name; the audit log's reviewer for every action taken.")
    password_hash: SingleLine = Field(
        description="Output of `livewatch review hash-password` (scrypt with a random salt); never the password.",
        pattern=r"^(scrypt|pbkdf2_sha256)\$",
    )
    role: Literal["reviewer", "viewer"] = Field("reviewer", description="reviewer: may decide; viewer: read only.")


class ReviewSettings(StrictModel):
    """The review server (`livewatch serve`): who may sign in, or which proxy header names them."""

    accounts: list[ReviewerAccount] = Field(
        default_factory=list, description="Reviewer accounts (`[[review.accounts]]`).")
    trusted_header: SingleLine | None = Field(
        None, description="Header a reverse proxy sets to the signed-in user's name (e.g. X-Remote-User); unset: "
        "off. Only safe when the server is reachable through that proxy alone (docs/operations.md).",
    )
    trusted_header_role: Literal["reviewer", "viewer"] = Field(
        "reviewer", description="Role of a user named by the trusted header who has no account here.")
    session_hours: float = Field(12, gt=0, le=24 * 30, description="How long a sign-in lasts.")

    @field_validator("accounts")
    @classmethod
    def _names_unique(cls, value: list[ReviewerAccount]) -> list[ReviewerAccount]:
        names = [account.name for account in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"reviewer names must be unique; repeated: {', '.join(twice)}")
        return value


class DistributedSettings(StrictModel):
    """Distributed mode (`livewatch scheduler`, `livewatch worker`; docs/distributed.md). The broker's URL, which
    holds its password, comes from $LIVEWATCH_BROKER_URL only."""

    standby_poll_s: float = Field(
        2.0, gt=0, le=60, description="How often a standby scheduler tries to become the active one.")


class Settings(StrictModel):
    """Everything in ``livewatch.toml``."""

    data_dir: Path = Field(Path("data"), description="Where the database, media and reports go.")
    database_url: SingleLine | None = Field(
        None, description="The state database. Unset: SQLite, <data_dir>/livewatch.db. Or postgresql+psycopg://"
        "user@host:5432/dbname, with no password here: libpq reads $PGPASSWORD or ~/.pgpass, or put the whole "
        "URL in $LIVEWATCH_DATABASE_URL.",
    )
    private_files: bool = Field(
        True, description="Create data files 0600 and folders 0700 (they hold personal data); false: the umask decides."
    )
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
    screen: ScreenSettings = Field(default_factory=ScreenSettings)
    alerts: list[SerializeAsAny[AlertTarget]] = Field(default_factory=list, description="Alert targets (`[[alerts]]`).")
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    distributed: DistributedSettings = Field(default_factory=DistributedSettings)
    ui_language: Literal["zh-CN", "en", "event"] = Field(
        "event", description="Language of the pages: zh-CN, en, or event (a report in its event's registered "
        "language, zh → zh-CN, en → en; the index, schedule and sign-in pages, and auto events, in English).")

    @field_validator("database_url")
    @classmethod
    def _database_url_without_password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = parse_url(value)
        except StateError as err:
            raise ValueError(str(err)) from None
        if url.password is not None:
            # The configuration file is not a secret; the error never repeats the password.
            raise ValueError("database_url must not hold a password: put it in $PGPASSWORD or ~/.pgpass, or the "
                             f"whole URL in ${DATABASE_URL_ENV} ({mask_url(url)})")
        return value

    @field_validator("allowed_url_schemes")
    @classmethod
    def _schemes_lowercase(cls, value: list[str]) -> list[str]:
        for scheme in value:
            if not scheme.isascii() or not scheme.replace("+", "").replace("-", "").isalnum():
                raise ValueError(f"'{scheme}' is not a URL scheme; write names such as https or rtmp")
        return [scheme.lower() for scheme in value]

    @field_validator("alerts")
    @classmethod
    def _target_names_unique(cls, value: list[AlertTarget]) -> list[AlertTarget]:
        names = [target.name for target in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"alert target names must be unique; repeated: {', '.join(twice)}")
        return value

    def registration_context(self) -> RegistrationContext:
        return RegistrationContext(
            default_timezone=self.timezone,
            allowed_url_schemes=tuple(self.allowed_url_schemes),
            tolerances=self.tolerances,
            capture=self.capture,
            alert_targets=tuple(target.name for target in self.alerts),
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
        # Read as strictly as a registration: control characters, complex keys, 5,000-digit numbers are errors
        # naming the file, line and field, never a traceback.
        settings = read_model_file(path, Settings, ConfigError, "configuration")[0].relative_to(path.parent)
    data_override = os.environ.get(DATA_ENV)
    if data_override:
        settings = settings.model_copy(update={"data_dir": Path(data_override)})
    url_override = os.environ.get(DATABASE_URL_ENV)
    if url_override:  # checked when the database opens (StateError, password masked), not here
        settings = settings.model_copy(update={"database_url": url_override})
    return settings
