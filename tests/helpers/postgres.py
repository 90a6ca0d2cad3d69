"""A private PostgreSQL server for the test session, started from the installed binaries."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ENV_URL = "MUTATOR_TEST_POSTGRES_URL"
# Set by .ci/run: a missing PostgreSQL fails the session instead of skipping its tests.
ENV_REQUIRE = "MUTATOR_TEST_REQUIRE_POSTGRES"


def _version_key(bindir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,): 15 sorts above 9.6.
    return tuple(int(p) for p in bindir.parent.name.split(".") if p.isdigit())


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: pg_config's bindir, else Debian's newest
    /usr/lib/postgresql/<version>/bin (Debian does not put them, or pg_config, on PATH)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    return max(found, key=_version_key, default=None)


def _run(command: list[str], what: str, *, cwd: Path, log: Path | None = None) -> None:
    """Run a PostgreSQL tool; on failure, raise with its output and the server log."""
    done = subprocess.run(
        command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if done.returncode != 0:
        details = done.stdout + done.stderr
        if log is not None and log.exists():
            details += log.read_text(errors="replace")
        raise RuntimeError(f"{what} failed ({' '.join(command)}):\n{details}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(
        self,
        admin_url: str,
        datadir: Path | None = None,
        run_as: list[str] | None = None,
        bindir: Path | None = None,
    ) -> None:
        self.admin_url = admin_url
        self.datadir = datadir
        self.run_as = run_as or []
        self.bindir = bindir
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    @classmethod
    def from_options(cls, url: str | None) -> PostgresServer:
        url = url or os.environ.get(ENV_URL)
        if url:
            return cls(url)
        bindir = _bindir()
        if bindir is None:
            message = (
                f"PostgreSQL is not installed (no initdb found) and {ENV_URL} is not set; "
                ".ci/run installs it from Debian's packages"
            )
            if os.environ.get(ENV_REQUIRE):
                pytest.fail(message)
            pytest.skip(message)
        return cls.start(bindir)

    @classmethod
    def start(cls, bindir: Path) -> PostgresServer:
        root = Path(tempfile.mkdtemp(prefix="mutator-pg-"))
        datadir, log = root / "data", root / "log"
        run_as: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; Debian's package creates the postgres user.
            run_as = ["runuser", "-u", "postgres", "--"]
            try:
                shutil.chown(root, "postgres")
            except LookupError:
                shutil.rmtree(root)
                pytest.fail("running as root needs a `postgres` user to start PostgreSQL")
            os.chmod(root, 0o700)
        port = _free_port()
        # cwd: a directory the postgres user can enter; --no-locale: no generated locales needed.
        _run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "initdb",
            cwd=root,
        )
        server = cls(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", datadir, run_as, bindir
        )
        try:
            # -w: returns once the server accepts connections.
            _run(
                [
                    *run_as,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(datadir),
                    "-l",
                    str(log),
                    "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "-w",
                    "start",
                ],
                "starting PostgreSQL",
                cwd=root,
                log=log,
            )
            with server.engine.connect() as conn:
                conn.execute(text("select 1"))
        except BaseException:
            server.stop()
            raise
        return server

    def create_database(self) -> str:
        name = f"mutator_test_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.engine.url.set(database=name).render_as_string(hide_password=False)

    def restart(self) -> None:
        """Restart the server (fast shutdown: open connections are cut)."""
        assert self.datadir is not None, "not a private server"
        assert self.bindir is not None, "not a private server"
        subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                "fast",
                "-w",
                "-l",
                str(self.datadir.parent / "log"),
                "restart",
            ],
            check=True,
            capture_output=True,
            cwd=self.datadir.parent,
        )

    def stop(self) -> None:
        self.engine.dispose()
        if self.datadir is not None and self.bindir is not None:
            subprocess.run(
                [
                    *self.run_as,
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                cwd=self.datadir.parent,
            )
            shutil.rmtree(self.datadir.parent, ignore_errors=True)
