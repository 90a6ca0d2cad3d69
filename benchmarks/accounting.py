"""What a benchmark phase used: CPU of this process and of the dev server, SQL statements."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

try:  # python -m benchmarks.x
    from benchmarks.figures import ms
except ImportError:  # python benchmarks/x.py
    from figures import ms  # type: ignore[import-not-found,no-redef]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def child_pids() -> list[int]:
    """This process's children (the dev server), from /proc; empty where there is none."""
    found: list[int] = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            found.extend(int(pid) for pid in children.read_text().split())
        except OSError:
            continue
    return found


def _children_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime and stime are fields 14 and 15 of stat; [0] here is field 3 (state).
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


@dataclass(frozen=True)
class Usage:
    """Resources used: CPU seconds of this process and of the dev server, SQL statements."""

    python_cpu: float = 0.0
    server_cpu: float = 0.0
    sql_statements: int = 0
    sql_write_locks: int = 0

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.python_cpu - other.python_cpu,
            self.server_cpu - other.server_cpu,
            self.sql_statements - other.sql_statements,
            self.sql_write_locks - other.sql_write_locks,
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.python_cpu + other.python_cpu,
            self.server_cpu + other.server_cpu,
            self.sql_statements + other.sql_statements,
            self.sql_write_locks + other.sql_write_locks,
        )

    def per_item(self, count: int) -> dict[str, Any]:
        return {
            "cpu_ms_per_item": {
                "python": ms(self.python_cpu / count),
                "dev_server": ms(self.server_cpu / count),
            },
            "sql_per_item": {
                "statements": round(self.sql_statements / count, 2),
                "write_lock_transactions": round(self.sql_write_locks / count, 2),
            },
        }


class Meter:
    """Reads ``Usage`` so far: this process (client + both workers), the server, the store."""

    def __init__(self, server_pids: list[int], engine: Engine) -> None:
        self.server_pids = server_pids
        self._lock = threading.Lock()
        self._statements = 0
        self._write_locks = 0
        event.listen(engine, "before_cursor_execute", self._on_statement)

    def _on_statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        with self._lock:
            self._statements += 1
            if statement.lstrip().upper().startswith("BEGIN IMMEDIATE"):
                self._write_locks += 1

    def read(self) -> Usage:
        with self._lock:
            statements, write_locks = self._statements, self._write_locks
        return Usage(
            time.process_time(),
            _children_cpu_seconds(self.server_pids),
            statements,
            write_locks,
        )
