"""A throw-away PostgreSQL cluster for the tests, from Debian's ``postgresql`` binaries.

``initdb`` makes a cluster in a temporary folder and ``postgres`` serves it on a Unix socket in that folder
only (no TCP port, so parallel runs never clash), tuned for speed over durability: no fsync, small buffers.
PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` system user. The
cluster lives for the test session; each test takes a fresh database cloned from a migrated template. The
superuser the tests connect as is trusted; every other role must give its password (SCRAM), so a test can show
that a password reaches the server from ``$PGPASSWORD`` alone.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

PORT = 5432  # only names the socket file: the cluster listens on no TCP port
SUPERUSER = "livewatch"
START_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb`` and ``postgres``."""
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin")
             if (d / "initdb").is_file() and (d / "postgres").is_file()]
    found.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    return found[-1] if found else None


@dataclass
class PostgresCluster:
    root: Path
    process: subprocess.Popen[bytes]
    #: The server's command line and the user it runs as: :meth:`restart` starts it again the same way.
    command: list[str] = field(default_factory=list)
    owner: str | None = None
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url_for(self, dbname: str) -> str:
        """The SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={PORT}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host=str(self.socket_dir), port=PORT, user=SUPERUSER, dbname=dbname, autocommit=True)

    def create_login(self, password: str, prefix: str = "owner") -> str:
        """A new empty database owned by a new role that logs in with ``password`` (the server checks it);
        returns the database's URL for that role, without the password."""
        number = next(self._names)
        role, name = f"{prefix}_role_{number}", f"{prefix}_{number}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role),
                                                                           sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
        return self.url_for(name).replace(f"{SUPERUSER}@", f"{role}@", 1)

    def create_database(self, prefix: str = "test", template: str = "template1") -> str:
        """A new empty (or ``template``-cloned) database, named ``<prefix>_<n>``; returns its URL."""
        name = f"{prefix}_{next(self._names)}"
        with self.connect() as conn:
            # FILE_COPY clones in a few milliseconds here (no fsync); WAL_LOG, the default since 15, writes
            # every page. Before 15 copying files was the only way, and the keyword did not exist.
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}" + strategy)
            conn.execute(statement.format(sql.Identifier(name), sql.Identifier(template)))
        return self.url_for(name)

    @staticmethod
    def name_of(url: str) -> str:
        """The database name in a URL :meth:`url_for` or :meth:`create_login` made."""
        return url.split("@/", 1)[1].split("?", 1)[0]

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server (a fast shutdown: every client's connection ends), leave it down ``down_s`` seconds
        and start it again on the same data and socket (fault tests: a database restart under load)."""
        self._shut_down()
        time.sleep(down_s)
        self.process = _spawn(self.root, self.command, self.owner)
        _wait_ready(self)

    def _shut_down(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, no checkpoint wait
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        self._shut_down()
        shutil.rmtree(self.root, ignore_errors=True)


def _owner() -> str | None:
    """The user the cluster runs as: ``postgres`` under root (PostgreSQL refuses root), else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def _stop_with_parent() -> None:
    """In the server's process, before exec: a fast shutdown (SIGINT) when the test run dies without
    stopping it (killed by a timeout), instead of a server left running."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def start_cluster() -> PostgresCluster:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL binaries not found in /usr/lib/postgresql/*/bin "
                                "(apt-get install postgresql; `make test` does)")
    owner = _owner()
    root = Path(tempfile.mkdtemp(prefix="livewatch-pg-"))
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
              "--locale=C.UTF-8", "--no-sync", "--no-instructions"]
    done = subprocess.run(initdb, user=owner, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    # The superuser is trusted (the tests' own connections); any other role needs its password. Written in
    # place, so the file keeps the owner and mode initdb gave it.
    with (data / "pg_hba.conf").open("w", encoding="utf-8") as hba:
        hba.write(f"local all {SUPERUSER} trust\nlocal all all scram-sha-256\n")
    server = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(PORT), "-k", str(root),
              "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
              "-c", "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=100",
              "-c", "logging_collector=off", "-c", "log_min_messages=warning"]
    cluster = PostgresCluster(root, _spawn(root, server, owner), server, owner)
    try:
        _wait_ready(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _spawn(root: Path, command: list[str], owner: str | None) -> subprocess.Popen[bytes]:
    log = (root / "server.log").open("ab")
    if owner is not None:
        os.chown(root / "server.log", pwd.getpwnam(owner).pw_uid, -1)
    try:
        return subprocess.Popen(command, user=owner, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_stop_with_parent)
    finally:
        log.close()


def _wait_ready(cluster: PostgresCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if cluster.process.poll() is not None:
            text = (cluster.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"postgres exited with {cluster.process.returncode}: {text}")
        try:
            cluster.connect().close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster. Missing binaries fail the run under CI (``make test`` installs
    them) and skip PostgreSQL tests elsewhere."""
    if find_bin_dir() is None:
        message = "PostgreSQL is not installed (apt-get install postgresql; `make test` installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster) -> str:
    """The name of a database migrated to the latest schema, cloned by :func:`postgres_url` (a clone costs
    a few milliseconds; migrating costs a few hundred)."""
    from livewatch.state import Database

    url = postgres_cluster.create_database("livewatch_template")
    Database(url).close()  # migrates; closed, since a template must have no connections when cloned
    return PostgresCluster.name_of(url)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster, postgres_template: str) -> str:
    """The URL of a fresh PostgreSQL database at the latest schema, for this test alone."""
    return postgres_cluster.create_database("test", template=postgres_template)
