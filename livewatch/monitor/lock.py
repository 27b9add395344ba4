"""One monitor per data directory: an ``fcntl.flock`` held on the data directory itself.

The lock is taken on the directory, not on ``monitor.lock``: a lock on a file can be defeated by deleting
the file (the next monitor creates a new file and locks that), while the data directory cannot be removed
while it holds the database. ``monitor.lock`` is only a note of the holder's pid for people and for the
refusal message; livewatch never deletes it, and nothing depends on it being there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from livewatch.errors import StateError

PID_NOTE = "monitor.lock"
#: A probe (``livewatch analyze`` asking whether a monitor runs) holds a shared lock for an instant; a
#: monitor starting at that moment waits this long before it concludes another monitor holds the directory.
ACQUIRE_PATIENCE_S = 1.0


@dataclass(frozen=True)
class RunningMonitor:
    """A monitor that holds the data directory; ``pid`` is None when it cannot be found out."""

    pid: int | None

    def describe(self) -> str:
        return f"pid {self.pid}" if self.pid is not None else "pid unknown"


def _open_dir(root: Path) -> int:
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise StateError(f"cannot open data directory {root}: {err.strerror or err}") from err


def _pid_from_proc_locks(fd: int) -> int | None:
    """The pid /proc/locks gives for the flock on this directory (Linux only; None elsewhere)."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lines = Path("/proc/locks").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2220289 0 EOF"; blocked waiters are marked "->" and shift.
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5] == inode:
            with contextlib.suppress(ValueError):
                return int(fields[4])
    return None


def _pid_from_note(root: Path) -> int | None:
    try:
        fd = os.open(root / PID_NOTE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        text = os.read(fd, 32).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(text) if text.isdecimal() and len(text) <= 10 else None


def _holder(root: Path, fd: int) -> RunningMonitor:
    return RunningMonitor(_pid_from_proc_locks(fd) or _pid_from_note(root))


def running_monitor(root: Path) -> RunningMonitor | None:
    """The monitor holding ``root`` now, or None. Never blocks; a missing directory has no monitor."""
    if not root.is_dir():
        return None
    fd = _open_dir(root)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(root, fd)
        return None
    finally:
        os.close(fd)  # closing the descriptor drops the probe's shared lock


class MonitorLock:
    """The exclusive lock of one running monitor on its data directory; :meth:`release` gives it back."""

    def __init__(self, root: Path, fd: int) -> None:
        self.root = root
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, root: Path) -> MonitorLock:
        fd = _open_dir(root)
        deadline = time.monotonic() + ACQUIRE_PATIENCE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                holder = _holder(root, fd)
                os.close(fd)
                raise StateError(f"another livewatch monitor ({holder.describe()}) is already running on "
                                 f"{root}; stop it first (deleting {PID_NOTE} does not release it)") from None
            except OSError as err:
                os.close(fd)
                raise StateError(f"cannot lock data directory {root}: {err.strerror or err}") from err
        lock = cls(root, fd)
        lock._note_pid()
        return lock

    def _note_pid(self) -> None:
        """Write our pid to ``monitor.lock`` for people to read. Never through a symbolic link; a note that
        cannot be written is no reason to refuse to run (the directory lock is what counts)."""
        try:
            fd = os.open(self.root / PID_NOTE, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
        except OSError as err:
            if err.errno not in (errno.ELOOP, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENXIO,
                                 errno.EISDIR, errno.ENOSPC):
                raise StateError(f"cannot write {self.root / PID_NOTE}: {err.strerror or err}") from err
            return
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        except OSError:
            pass  # a full disk, a FIFO: the note is lost, the lock still holds
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
