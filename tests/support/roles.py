"""The distributed roles (``livewatch scheduler``, ``livewatch worker``) as processes of their own, for tests
that run a deployment in miniature on one machine: one configuration file, the broker's URL in the processes'
environment alone (as in production, docs/distributed.md), each role's output in ``<folder>/<name>.log``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from livewatch.distributed.names import QUEUES
from livewatch.settings import BROKER_URL_ENV

#: The developer's livewatch variables: a role started here reads its configuration file alone.
DEVELOPER_VARIABLES = ("LIVEWATCH_CONFIG", "LIVEWATCH_DATA", "LIVEWATCH_DATABASE_URL")


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def purge_queues(broker_url: str) -> None:
    """Empty the roles' queues on the session's broker (nothing another test left behind is taken), on a
    connection of its own."""
    import amqp

    connection = amqp.Connection(broker_url.split("@", 1)[1].split("/", 1)[0], userid="guest", password="guest",
                                 connect_timeout=5)
    connection.connect()
    try:
        for queue in QUEUES:
            with contextlib.suppress(amqp.exceptions.NotFound):  # not declared yet: nothing in it
                connection.channel().queue_purge(queue)
    finally:
        connection.close()


class Roles:
    """Scheduler and worker processes on one configuration file and broker, stopped together."""

    def __init__(self, config: Path, broker_url: str, logs: Path) -> None:
        self.config, self.broker_url, self.logs = config, broker_url, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, role: list[str]) -> subprocess.Popen[bytes]:
        """``livewatch --config <config> <role…>`` as the process ``name``."""
        env = {key: value for key, value in os.environ.items() if key not in DEVELOPER_VARIABLES}
        env[BROKER_URL_ENV] = self.broker_url
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "livewatch", "--config", str(self.config), *role],
                                       env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def scheduler(self, schedules: Path, name: str = "scheduler") -> subprocess.Popen[bytes]:
        return self.start(name, ["scheduler", "--schedules", str(schedules), "--reload-interval", "0.5"])

    def worker(self, name: str, queues: str, concurrency: int) -> subprocess.Popen[bytes]:
        return self.start(name, ["worker", "--queues", queues, "--concurrency", str(concurrency),
                                 "--hostname", f"{name}@test"])

    def log_of(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to every role, then their exit (killed after 20 s)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
