"""`mutator dev` started as a user starts it, and `mutator` commands run as subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

READY_BANNER = "Mutator dev is running"
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 45.0
COMMAND_TIMEOUT_SECONDS = 60.0


def mutator_command() -> list[str]:
    """The installed `mutator` script next to this interpreter, else `python -m`."""
    script = Path(sys.executable).parent / "mutator"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mutator.cli.main"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any Mutator or Temporal settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MUTATOR_", "TEMPORAL_")) and k not in ("COLUMNS", "LINES")
    }
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def poll(
    check: Callable[[], T | None], *, timeout: float, interval: float = 0.1, what: str = ""
) -> T:
    """Call ``check`` until it returns something other than None, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or check}")
        time.sleep(interval)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of the live children of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), name))
    return found


@dataclass
class CliResult:
    args: Sequence[str]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"not JSON on stdout: {self}") from exc

    @property
    def error(self) -> str:
        """The message of a ``--json`` error (``{"error": "..."}`` on stdout)."""
        body = self.json()
        assert isinstance(body, dict), self
        assert set(body) == {"error"}, self
        message = body["error"]
        assert isinstance(message, str)
        return message

    def __str__(self) -> str:
        return (
            f"`mutator {' '.join(self.args)}` exited {self.code}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def run_mutator(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = COMMAND_TIMEOUT_SECONDS,
) -> CliResult:
    done = subprocess.run(
        [*mutator_command(), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(args, done.returncode, done.stdout, done.stderr)


@dataclass
class CliStack:
    """One `mutator dev` (Temporal dev server + worker + SQLite store) in its own directory."""

    workdir: Path
    port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    server_pid: int | None = None
    app: str | None = None  # `--app`; None runs the example app
    extra_args: tuple[str, ...] = ()  # more `mutator dev` options, e.g. ("--directory", path)
    extra_env: dict[str, str] = field(default_factory=dict)  # for `mutator dev` (e.g. secrets)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.workdir / 'm.db'}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / ".mutator"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return clean_env({"TEMPORAL_ADDRESS": self.address, "MUTATOR_DATABASE_URL": self.db_url})

    @property
    def stdout_path(self) -> Path:
        return self.workdir / "dev.stdout"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "dev.stderr"

    def logs(self) -> str:
        out = self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"--- mutator dev stdout\n{out}\n--- mutator dev stderr\n{err}"

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> CliResult:
        return run_mutator(*args, env=self.env, cwd=self.workdir, timeout=timeout)

    def start(self) -> None:
        """Start `mutator dev` and return once its banner says it is ready."""
        assert self.proc is None, "already started"
        if self.port == self.ui_port:
            self.ui_port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            *mutator_command(),
            "dev",
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--db",
            self.db_url,
            "--data-dir",
            str(self.data_dir),
            *(("--app", self.app) if self.app else ()),
            *self.extra_args,
        ]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                command, cwd=self.workdir, env=clean_env(self.extra_env), stdout=out, stderr=err
            )
        proc = self.proc

        def ready() -> bool | None:
            if proc.poll() is not None:
                raise AssertionError(f"`mutator dev` exited {proc.returncode}\n{self.logs()}")
            return True if READY_BANNER in self.stdout_path.read_text(errors="replace") else None

        try:
            poll(ready, timeout=START_TIMEOUT_SECONDS, interval=0.2, what="`mutator dev`")
            servers = [pid for pid, name in children_of(proc.pid) if name == "temporal"]
            assert len(servers) == 1, f"expected one temporal child, got {children_of(proc.pid)}"
            self.server_pid = servers[0]
        except BaseException:
            self.kill()
            raise

    def stop(self) -> int:
        """Ctrl-C, as a user would; return the exit code once nothing it started is left."""
        proc = self.proc
        assert proc is not None, "not started"
        server = self.server_pid
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"`mutator dev` did not stop within {STOP_TIMEOUT_SECONDS:g}s of SIGINT\n"
                + self.logs()
            ) from None
        self.proc = None
        self.server_pid = None
        if server is not None and process_alive(server):
            os.kill(server, signal.SIGKILL)
            raise AssertionError(f"`mutator dev` exited but left its temporal server {server}")
        return code

    def kill(self) -> None:
        """Last resort after a failure: nothing may outlive the test session."""
        for pid in (self.server_pid, self.proc.pid if self.proc else None):
            if pid is not None and process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.proc = None
        self.server_pid = None
