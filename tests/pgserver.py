"""A real PostgreSQL server for the tests: Debian's binaries, a throwaway cluster in a temp folder.

The cluster is initialised and run as a non-root user (postgres refuses to run as root): the `postgres` account
when it exists, else `nobody`; the folder is chowned to it. The server listens on 127.0.0.1 on a free port and on a
Unix socket in the same temp folder, with trust authentication (nothing else can reach a loopback port of the test
machine's sandbox). Each test gets a database of its own (`PgServer.new_database`).

Outside CI a machine without the binaries skips the PostgreSQL tests with the reason; under CI=true it fails.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

# Run a test on the SQLite catalogue and on a real PostgreSQL one (see the catalog_backend fixture in conftest.py).
both_backends = pytest.mark.parametrize("catalog_backend", ["sqlite", "postgres"], indirect=True)


def find_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres are: $QA_PG_BINDIR, Debian's /usr/lib/postgresql/<n>/bin, or PATH."""
    candidates = [os.environ.get("QA_PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if c and all((Path(c) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(c)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="qa-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.port = free_port()
        self.user = None  # the OS account the server runs as (None: this one)
        if os.geteuid() == 0:
            self.user = "postgres" if _user_exists("postgres") else "nobody"
        self.log = self.root / "server.log"

    def _run(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        argv = [str(a) for a in cmd]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr[-2000:]} {self._log_tail()}")
        return out

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self) -> "PgServer":
        self.socket_dir.mkdir()
        if self.user:
            info = pwd.getpwnam(self.user)
            for path in (self.root, self.socket_dir):
                os.chown(path, info.pw_uid, info.pw_gid)
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        self.resume()
        return self

    def stop(self) -> None:
        if self.data.exists():
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "60", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server (the cluster stays): clients see the database as down."""
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")

    def resume(self) -> None:
        """Start the server on the cluster (again)."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def start_or_skip():
    """A started server, or a pytest skip (outside CI) / failure (CI=true) saying what is missing."""
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    bindir = find_bindir()
    problem = None
    if bindir is None:
        problem = "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: apt-get install postgresql, or set QA_PG_BINDIR"
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            problem = "psycopg is not installed: pip install -e '.[pg]'"
    if problem:
        if in_ci:
            pytest.fail(problem)
        pytest.skip(problem)
    server = PgServer(bindir)
    try:
        return server.start()
    except Exception:
        server.stop()
        raise
