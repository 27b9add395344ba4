"""The isolation tests/conftest.py gives each test, for fixtures wider than one test (module-scoped ones run
before the per-test fixtures, so they isolate themselves the same way)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def isolated_like_a_test() -> Iterator[None]:
    """No developer configuration in the environment, and file privacy (the umask, ``private_files``) as it
    was once the block ends: a ``livewatch`` command run in-process sets both for the whole process."""
    from livewatch.state import files

    with pytest.MonkeyPatch.context() as patch:
        for name in ("LIVEWATCH_CONFIG", "LIVEWATCH_DATA", "LIVEWATCH_DATABASE_URL"):
            patch.delenv(name, raising=False)
        patch.setattr(files, "_private", files._private)
        mask = os.umask(0o022)
        os.umask(mask)
        try:
            yield
        finally:
            os.umask(mask)
