"""Incremental transcription of captured audio: the queue worker, quality guard and transcript files."""
