"""`mutator watch` as a user runs it: a subprocess that prints each version of a state as one
JSON line as it commits (another process writes them to the real store), until Ctrl-C, which
exits 0 quietly; bad `--from-version` values exit 2 naming the option."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import uuid
from pathlib import Path
from typing import IO, Any

import pytest

from mutator.store import Store
from tests.helpers.cli_stack import clean_env, mutator_command, run_mutator
from tests.helpers.records import add, executed

pytestmark = pytest.mark.slow

ENTRY_FIELDS = {"version", "request_id", "actor", "at", "data"}


def _execute(store: Store, state_id: str, amount: int = 1) -> str:
    request = executed(f"r-{uuid.uuid4()}", state_id=state_id)
    store.apply(request=request, change=add(amount), expected_version=None)
    return request.request_id


class Watch:
    """`mutator watch ...` running; its stdout and stderr lines arrive on queues."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [*mutator_command(), "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            cwd=cwd,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.put(line)

    def entry(self) -> dict[str, Any]:
        line = self.stdout.get(timeout=60)
        entry: dict[str, Any] = json.loads(line)
        return entry

    def interrupt(self) -> tuple[int, str, str]:
        """Ctrl-C; (exit code, the rest of stdout, the rest of stderr)."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        return code, _drain(self.stdout), _drain(self.stderr)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _drain(lines: queue.Queue[str]) -> str:
    out = []
    while not lines.empty():
        out.append(lines.get())
    return "".join(out)


def test_watch_prints_each_version_as_a_json_line_until_ctrl_c(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    state_id = f"s-{uuid.uuid4()}"
    before = [_execute(store, state_id, n) for n in (1, 2)]
    watch = Watch(state_id, "--from-version", "0", "--db", db_url, cwd=tmp_path)
    try:
        first, second = watch.entry(), watch.entry()
        assert set(first) == ENTRY_FIELDS
        assert [(e["version"], e["request_id"]) for e in (first, second)] == [
            (1, before[0]),
            (2, before[1]),
        ]
        # Written by another process while it watches.
        later = _execute(store, state_id, 10)
        third = watch.entry()
        assert (third["version"], third["request_id"], third["data"]) == (
            3,
            later,
            {"balance": 13},
        )
        code, rest, err = watch.interrupt()
    finally:
        watch.kill()
    assert (code, rest, err) == (0, "", "")
    history = [e.model_dump(mode="json") for e in store.history(state_id)]
    assert [first, second, third] == history


def test_watch_waits_for_a_state_with_no_version_yet(sqlite_store: Store, tmp_path: Path) -> None:
    state_id = f"new-{uuid.uuid4()}"
    url = str(sqlite_store.engine.url)
    watch = Watch(state_id, "--db", url, "--json", cwd=tmp_path)
    try:
        note = watch.stderr.get(timeout=60)
        assert f"state '{state_id}' has no version yet: waiting for its first" in note
        request_id = _execute(sqlite_store, state_id)
        entry = watch.entry()
        assert (entry["version"], entry["request_id"]) == (1, request_id)
        code, rest, err = watch.interrupt()
    finally:
        watch.kill()
    assert (code, rest, err) == (0, "", "")


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_bad_from_version_exits_2_naming_the_option(
    sqlite_store: Store, tmp_path: Path, value: str
) -> None:
    state_id = f"s-{uuid.uuid4()}"
    _execute(sqlite_store, state_id)
    url = str(sqlite_store.engine.url)
    args = ["watch", state_id, "--from-version", value, "--db", url]
    done = run_mutator(*args, env=clean_env(), cwd=tmp_path)
    assert done.code == 2, done
    assert "--from-version" in done.stderr, done
    assert done.stdout == ""
    as_json = run_mutator(*args, "--json", env=clean_env(), cwd=tmp_path)
    assert as_json.code == 2, as_json
    assert "--from-version" in as_json.error
    assert len(sqlite_store.history(state_id)) == 1


def test_a_from_version_past_the_state_exits_2_naming_the_versions(
    sqlite_store: Store, tmp_path: Path
) -> None:
    state_id = f"s-{uuid.uuid4()}"
    _execute(sqlite_store, state_id)
    url = str(sqlite_store.engine.url)
    args = ["watch", state_id, "--from-version", "5", "--db", url, "--json"]
    done = run_mutator(*args, env=clean_env(), cwd=tmp_path)
    assert done.code == 2, done
    assert done.error == (
        f"from_version: state '{state_id}' is at version 1, there is no version 5 to continue from"
    )
    assert len(sqlite_store.history(state_id)) == 1
