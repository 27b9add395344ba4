"""One running ffmpeg: progress for the stall watchdog, the tail of stderr for errors, a graceful stop."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

#: ffmpeg stderr phrases after which reconnecting is pointless.
DISK_FULL = ("No space left on device", "Disk quota exceeded")
UNWRITABLE = ("Permission denied", "Read-only file system")
#: ffmpeg silent this long after the first SIGINT is blocked on its input, not writing its trailers.
QUIET_BEFORE_INTERRUPT_S = 1.0
#: How much longer than planned a stopping ffmpeg that still reports progress may take.
EXTRA_WHILE_BUSY_S = 2.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def _libc_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up once, in the parent; None where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the process that started it dies, or None
    where the kernel has no such thing (not Linux).

    Why: a worker SIGKILLed (the OOM killer, a kill -9, a crash) would leave its ffmpeg writing files that
    nothing reads, for hours, while another worker, perhaps on another machine, resumes the run; only a
    restart on the same machine could stop it by pid (:func:`stop_orphan`). With this, ffmpeg dies with the
    process that watched it, and the capture that resumes the run records the time nobody recorded as a gap.

    The kernel sends the signal when the *thread* that forked the child exits, not only the process. That
    thread is the stream's capture thread (:class:`livewatch.capture.stream.StreamCapture` starts ffmpeg and
    watches it in the same call until it has exited, stopping it first on any error), so it never ends
    before its ffmpeg unless the whole process dies: the case meant. libc's ``prctl`` is looked up in the
    parent; the child, between fork and exec, only calls it (no dlopen or import, which could deadlock on a
    lock another thread of the parent held at the fork)."""
    prctl = _libc_prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    kill = int(signal.SIGKILL)

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between the fork and the prctl: nobody watches us
            os.kill(os.getpid(), kill)

    return die_with_parent


def earliest_origin(origin: datetime | None, read_at: datetime, out_time_us: int) -> datetime | None:
    """The wall-clock time of output second 0, bounded by one progress report read at ``read_at``.

    Media that ffmpeg has written up to output time ``out_time_us`` had arrived, so had been broadcast, by
    ``read_at``: output second 0 went out no later than ``read_at - out_time``. Every report is such a bound
    (a late read, a burst of older media at the connection's start only loosen it); the earliest over the
    reports is where media arriving live puts it, the origin's latency after the broadcast. A report before any
    media (negative: ffmpeg's "no time yet") bounds nothing."""
    if out_time_us < 0:
        return origin
    bound = read_at - timedelta(microseconds=out_time_us)
    return bound if origin is None or bound < origin else origin


class FfmpegProcess:
    """Starts ffmpeg with ``-progress pipe:1`` and watches it from two reader threads."""

    def __init__(self, args: Sequence[str], pass_fds: Sequence[int] = (), *, dies_with_us: bool = False) -> None:
        self.args = list(args)
        #: SIGKILL ffmpeg when this process dies (:func:`die_with_parent_hook`); else it outlives a crash.
        self.dies_with_us = dies_with_us
        #: Descriptors ffmpeg inherits (a pipe livewatch feeds its input through).
        self.pass_fds = tuple(pass_fds)
        self._stderr: collections.deque[str] = collections.deque(maxlen=60)
        self._last_out_time = -1
        self.last_advance = time.monotonic()
        #: When ffmpeg last wrote anything to its progress pipe or stderr (it is alive and not blocked).
        self.last_output = time.monotonic()
        self.started_at = time.monotonic()
        #: When output second 0 was broadcast, by the progress reports so far (:func:`earliest_origin`); None
        #: until ffmpeg has written media (it may wait on a server with no one publishing yet).
        self.media_origin: datetime | None = None
        #: Progress reports read since ffmpeg began writing media.
        self.media_reports = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> int:
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # A Ctrl-C in the monitor's terminal must not kill recordings mid-write; the death of a worker
            # must (see die_with_parent_hook), that of `livewatch run` not (its restart keeps what ffmpeg wrote).
            start_new_session=True, pass_fds=self.pass_fds,
            preexec_fn=die_with_parent_hook() if self.dies_with_us else None,
        )
        self.started_at = self.last_advance = time.monotonic()
        for target in (self._read_progress, self._read_stderr):
            thread = threading.Thread(target=target, daemon=True, name=f"ffmpeg-{self.proc.pid}-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self.proc.pid

    def _read_progress(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.last_output = time.monotonic()
            key, _, value = raw.decode("ascii", errors="replace").strip().partition("=")
            if key == "out_time_us":
                try:
                    out_time = int(value)
                except ValueError:
                    continue
                if out_time > self._last_out_time:
                    self._last_out_time = out_time
                    self.last_advance = time.monotonic()
                if out_time > 0:
                    self.media_origin = earliest_origin(self.media_origin, datetime.now(UTC), out_time)
                    self.media_reports += 1

    def _read_stderr(self) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.last_output = time.monotonic()
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                self._stderr.append(line)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def stalled_for(self) -> float:
        """Seconds since the output timeline last advanced."""
        return time.monotonic() - self.last_advance

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def disk_problem(self) -> str | None:
        tail = self.stderr_tail
        for phrase in (*DISK_FULL, *UNWRITABLE):
            if phrase in tail:
                return phrase
        return None

    def stop(self, timeout: float, grace: float | None = None) -> int | None:
        """Ask ffmpeg to finish, so it closes its current segments, and interrupt or kill it only if it will not.

        ``q`` and a first SIGINT make ffmpeg stop after the packet it is waiting for, write its trailers (the
        WAV sizes) and list the open segments: a clean end. At the live edge that packet may be a whole
        origin segment away, so ffmpeg gets most of ``timeout`` for it. A *second* SIGINT also interrupts
        blocking reads, but it interrupts every write as well: the trailers and the segment lists fail, and
        up to 256 KiB that ffmpeg still buffers per output (8 s of WAV) are lost. So it is sent only after
        ffmpeg has been silent for :data:`QUIET_BEFORE_INTERRUPT_S` (blocked on its input, not writing), and
        the caller recovers what the files hold (:func:`livewatch.capture.recovery.recover_unlisted`).
        ``grace`` shortens the wait before that second SIGINT when the input is known to have stalled (the
        watchdog's stop): more waiting cannot help then, and the reconnect would only come later.
        """
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            started = time.monotonic()
            with contextlib.suppress(BrokenPipeError, OSError):
                assert proc.stdin is not None
                proc.stdin.write(b"q")
                proc.stdin.flush()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            # Leave a last slice of the timeout for the interrupt to take effect, and a kill after that.
            interrupt_at = started + max(timeout - max(1.0, timeout / 4), min(timeout, 0.5))
            if grace is not None:
                interrupt_at = min(interrupt_at, started + grace)
            if not self._wait_quiet(proc, interrupt_at):
                log.info("ffmpeg %s did not finish after q and SIGINT; interrupting its reads", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
                if not _wait(proc, max(0.1, started + timeout - time.monotonic())):
                    log.warning("ffmpeg %s did not finish within %.0f s; killing it", proc.pid, timeout)
                    proc.kill()
                    proc.wait()
        self._close()
        return proc.returncode

    def _wait_quiet(self, proc: subprocess.Popen[bytes], until: float) -> bool:
        """Wait for ffmpeg to end until ``until``, and longer while it still reports progress; ``True`` if
        it ended. ffmpeg writing its trailers reports nothing, but takes milliseconds, not a quiet second."""
        while True:
            if _wait(proc, max(0.0, min(until - time.monotonic(), 0.2))):
                return True
            if time.monotonic() >= until and time.monotonic() - self.last_output >= QUIET_BEFORE_INTERRUPT_S:
                return False
            if time.monotonic() >= until + EXTRA_WHILE_BUSY_S:
                return False

    def wait_exit(self) -> int:
        assert self.proc is not None
        code = self.proc.wait()
        self._close()
        return code

    def _close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=2)
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def stop_orphan(pid: int, marker: str, timeout: float = 5.0) -> bool:
    """Stop an ffmpeg left running by a monitor that died, if ``pid`` is still that ffmpeg (its command line
    mentions ``marker``, our output folder), so a resumed capture never has two writers."""
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")  # noqa: PTH123, SIM115
    except OSError:
        return False
    if "ffmpeg" not in cmdline or marker not in cmdline:
        return False
    try:
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not os.path.exists(f"/proc/{pid}"):  # noqa: PTH110
                return True
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
