"""Transcription backends for livewatch (openai-whisper, faster-whisper).

Each backend is one module here, registered through the ``livewatch.transcribers`` entry-point group;
the backends themselves arrive with the transcription issue.
"""
