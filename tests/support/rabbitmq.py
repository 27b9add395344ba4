"""A throw-away RabbitMQ broker for the tests, from Debian's ``rabbitmq-server``.

The broker runs from a temporary folder as its own Erlang node (``lw<pid>@localhost``) with its own ``epmd``,
on free ports of 127.0.0.1 only: AMQP, Erlang distribution and epmd, so parallel runs and a system RabbitMQ never
clash. Its data (mnesia), logs, configuration, enabled-plugins file and Erlang cookie (``$HOME``) all live in
that folder, and nothing from ``/etc/rabbitmq`` is read. ``consumer_timeout`` is raised: a capture task is
acknowledged only when its event's window ends (docs/distributed.md). The broker lives for the test session;
:meth:`RabbitBroker.restart` stops and starts it on the same ports and data for fault tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the script itself, not /usr/sbin's su wrapper
EPMD = "epmd"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
#: Longer than any test's event: the broker would otherwise close a worker's channel holding an unacked capture.
CONSUMER_TIMEOUT_MS = 3 * 3600 * 1000
USER = "guest"  # RabbitMQ's default user, allowed from loopback only
PASSWORD = "guest"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def find_server() -> Path | None:
    """The ``rabbitmq-server`` script, when it and ``epmd`` are installed."""
    return SERVER if SERVER.is_file() and shutil.which(EPMD) is not None else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop_with_parent() -> None:
    """In the broker's (and epmd's) process, before exec: SIGTERM when the test run dies without stopping it
    (killed by a timeout), instead of a broker left running. The server script traps SIGTERM and stops the
    Erlang VM cleanly."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setsid()  # a Ctrl-C meant for pytest must not kill the broker before the session's teardown


def amqp_answers(port: int, timeout_s: float = 2.0) -> bool:
    """Whether an AMQP client can log in on 127.0.0.1:``port`` (the broker is up, not just listening)."""
    import amqp

    connection = amqp.Connection(f"127.0.0.1:{port}", userid=USER, password=PASSWORD,
                                 connect_timeout=timeout_s, read_timeout=timeout_s, write_timeout=timeout_s)
    try:
        connection.connect()
    except (OSError, amqp.exceptions.AMQPError):
        return False
    finally:
        with contextlib.suppress(Exception):  # a half-open connection may fail to clean up; nothing to keep
            connection.collect()
    return True


@dataclass
class RabbitBroker:
    root: Path
    amqp_port: int
    dist_port: int
    epmd_port: int
    nodename: str
    process: subprocess.Popen[bytes] | None = None
    epmd: subprocess.Popen[bytes] | None = None
    start_seconds: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The broker URL workers and schedulers take from ``$LIVEWATCH_BROKER_URL``."""
        return f"amqp://{USER}:{PASSWORD}@127.0.0.1:{self.amqp_port}//"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(self.root),  # the Erlang cookie
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),  # absent: /etc's is not read
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
            "RABBITMQ_LOGS": str(self.root / "log" / "broker.log"),
        })
        return env

    def write_config(self) -> None:
        (self.root / "log").mkdir(exist_ok=True)
        (self.root / "mnesia").mkdir(exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n"
            "loopback_users.guest = true\n"
            f"consumer_timeout = {CONSUMER_TIMEOUT_MS}\n"
            "disk_free_limit.absolute = 1MB\n"  # a nearly full CI disk must not block publishers
            "log.console = false\n"
            "log.file.level = warning\n",
            encoding="utf-8")

    def _start_epmd(self) -> None:
        if self.epmd is not None and self.epmd.poll() is None:
            return
        env = self.environment()
        self.epmd = subprocess.Popen([EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=_stop_with_parent)
        deadline = time.monotonic() + 10.0
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.epmd_port), timeout=1.0).close()
                return
            except OSError:
                if self.epmd.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"epmd did not start on 127.0.0.1:{self.epmd_port}") from None
                time.sleep(0.05)

    def start(self) -> None:
        """Start the broker (and its epmd) and wait until AMQP logins succeed."""
        began = time.monotonic()
        self._start_epmd()
        log = (self.root / "log" / "server-stdout.log").open("ab")
        self.process = subprocess.Popen([str(SERVER)], env=self.environment(), cwd=self.root,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=_stop_with_parent)
        log.close()
        deadline = began + START_TIMEOUT_S
        while not amqp_answers(self.amqp_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = self.log_tail()
                self.stop()
                raise RuntimeError(f"rabbitmq-server did not answer AMQP on 127.0.0.1:{self.amqp_port} within "
                                   f"{START_TIMEOUT_S:.0f} s (exit {self.process.returncode}): {text}")
            time.sleep(0.1)
        self.start_seconds.append(time.monotonic() - began)

    def log_tail(self, chars: int = 3000) -> str:
        texts = [path.read_text(errors="replace") for path in sorted((self.root / "log").glob("*.log"))]
        return "\n".join(texts)[-chars:]

    def stop_server(self) -> None:
        """Stop the broker (the Erlang node), keeping its epmd, ports and data."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # the script's trap stops the VM cleanly
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the script and its VM (their own session, see above)
            process.wait()

    def restart(self) -> None:
        """Stop the broker and start it again on the same ports and data (connections drop meanwhile)."""
        self.stop_server()
        self.start()

    def stop(self) -> None:
        self.stop_server()
        epmd, self.epmd = self.epmd, None
        if epmd is not None and epmd.poll() is None:
            epmd.terminate()
            try:
                epmd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                epmd.kill()
                epmd.wait()


def start_broker() -> RabbitBroker:
    if find_server() is None:
        raise FileNotFoundError(f"{SERVER} or epmd not found (apt-get install rabbitmq-server; `make test` does)")
    root = Path(tempfile.mkdtemp(prefix="livewatch-rabbit-"))
    broker = RabbitBroker(root=root, amqp_port=free_port(), dist_port=free_port(), epmd_port=free_port(),
                          nodename=f"lw{os.getpid()}@localhost")
    broker.write_config()
    try:
        broker.start()
    except BaseException:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return broker


@pytest.fixture(scope="session")
def rabbitmq_broker() -> Iterator[RabbitBroker]:
    """The session's RabbitMQ broker. A missing server fails the run under CI (``make test`` installs it)
    and skips the broker's tests elsewhere."""
    if find_server() is None:
        message = "RabbitMQ is not installed (apt-get install rabbitmq-server; `make test` installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.root, ignore_errors=True)


@pytest.fixture(scope="session")
def rabbitmq_url(rabbitmq_broker: RabbitBroker) -> str:
    """The AMQP URL of the session's broker (``amqp://guest:guest@127.0.0.1:<port>//``)."""
    return rabbitmq_broker.url
