"""A private PostgreSQL server for the test session, started from the installed binaries."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ENV_URL = "MUTATOR_TEST_POSTGRES_URL"


def _bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(found).parent
    return None


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
            pytest.skip(
                f"PostgreSQL is not installed (no initdb found) and {ENV_URL} is not set; "
                ".ci/run installs it from Debian's packages"
            )
        return cls.start(bindir)

    @classmethod
    def start(cls, bindir: Path) -> PostgresServer:
        root = Path(tempfile.mkdtemp(prefix="mutator-pg-"))
        datadir = root / "data"
        run_as: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses to run as root; Debian's package creates the postgres user.
            run_as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
            os.chmod(root, 0o700)
        port = _free_port()
        subprocess.run(
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
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *run_as,
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(root / "log"),
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        server = cls(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", datadir, run_as, bindir
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with server.engine.connect() as conn:
                    conn.execute(text("select 1"))
                return server
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def create_database(self) -> str:
        name = f"mutator_test_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.engine.url.set(database=name).render_as_string(hide_password=False)

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
            )
            shutil.rmtree(self.datadir.parent, ignore_errors=True)
