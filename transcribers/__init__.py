"""Transcription backends (faster-whisper, openai-whisper) and the local model store.

A standalone package: it imports nothing from livewatch (its errors are :mod:`transcribers.errors`), so the
dependency runs one way. Each backend is one class in one module, registered through the
``livewatch.transcribers`` entry-point group, with its own options model (:class:`transcribers.base.WhisperOptions`
for the built-ins).
"""
