"""The errors transcribers raises on purpose. The package imports nothing from livewatch (the dependency runs
one way), so these are its own; livewatch's transcription layer translates them into livewatch.errors where it
calls the backends and the model store."""

from __future__ import annotations


class TranscriberError(Exception):
    """Base of every error raised on purpose here; the message says what to fix."""


class BackendError(TranscriberError):
    """A backend cannot run as configured (a device that is not there, options it does not take)."""


class ModelStoreError(TranscriberError):
    """A model cannot be imported into, or found in, the model store, or is the wrong kind for a backend."""


class ModelConversionError(TranscriberError):
    """A CTranslate2 Whisper model cannot be converted to an openai-whisper checkpoint."""
