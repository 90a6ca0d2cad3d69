"""Read commands answer from the store alone: no Temporal SDK import, pages, cursors."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mutator.models import RequestStatus
from mutator.store import Store
from tests.helpers.cli_stack import CliResult, clean_env, run_mutator
from tests.helpers.records import T0, request

# Nothing a read needs: the Temporal SDK (and its Rust core), and Alembic's migration scripts.
NEVER_IMPORTED = ("temporalio", "alembic")


@pytest.fixture
def seeded(db_url: str) -> str:
    """Five pending requests r0..r4 (r4 newest) and one state with two versions."""
    store = Store.from_url(db_url)
    try:
        for i in range(5):
            store.save_request(request(f"r{i}", T0 + timedelta(seconds=i), state_id="acct-1"))
        for version in (1, 2):
            done = request(
                f"x{version}",
                T0 + timedelta(minutes=version),
                state_id="acct-2",
                status=RequestStatus.EXECUTED,
                pending_reason=None,
            ).model_copy(update={"revision": 1})
            store.apply(
                request=done,
                change=lambda data: {**data, "n": data.get("n", 0) + 1},
                expected_version=None,
            )
    finally:
        store.dispose()
    return db_url


def mutator(db_url: str, tmp_path: Path, *args: str) -> CliResult:
    return run_mutator(*args, "--db", db_url, env=clean_env(), cwd=tmp_path)


def imported_modules(db_url: str, tmp_path: Path, *args: str) -> tuple[CliResult, set[str]]:
    """Run a command as a user does, with Python reporting every module it imports."""
    argv = [*args] if "--help" in args else [*args, "--db", db_url]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mutator.cli.main", *argv],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    modules = set(re.findall(r"^import time:.*\|\s*(\S+)\s*$", done.stderr, re.MULTILINE))
    assert modules, done.stderr
    output = "\n".join(
        line for line in done.stderr.splitlines() if not line.startswith("import time:")
    )
    return CliResult(argv, done.returncode, done.stdout, output), modules


@pytest.mark.parametrize(
    ("command", "shows"),
    [
        (["show", "r3"], "r3"),
        (["show", "r3", "--json"], '"request_id": "r3"'),
        (["list"], "r4"),
        (["list", "--status", "pending", "--json"], '"r4"'),
        (["state", "acct-2"], "version 2"),
        (["state", "acct-2", "--version", "1", "--json"], '"version": 1'),
        (["history", "acct-2"], "x2"),
        (["audit", "--request", "r1"], "submitted"),
        (["audit", "--verify"], "record verified"),
        (["--help"], "list"),
        (["list", "--help"], "--after"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_read_commands_never_import_the_temporal_sdk(
    seeded: str, tmp_path: Path, command: list[str], shows: str
) -> None:
    result, modules = imported_modules(seeded, tmp_path, *command)
    assert result.code == 0, result
    assert shows in result.stdout, result
    heavy = sorted(m for m in modules if m.split(".")[0] in NEVER_IMPORTED)
    assert heavy == [], f"`mutator {' '.join(command)}` imported {heavy[:10]}"


def test_list_pages_through_everything_with_cursors(seeded: str, tmp_path: Path) -> None:
    first = mutator(seeded, tmp_path, "list", "--state", "acct-1", "--limit", "2", "--json")
    assert first.code == 0, first
    page: dict[str, Any] = first.json()
    assert set(page) == {"requests", "remaining", "next_cursor"}
    assert set(page["requests"][0]) == {
        "request_id",
        "state_id",
        "mutation",
        "requester",
        "status",
        "pending_reason",
        "break_glass",
        "created_at",
        "updated_at",
    }
    seen = [r["request_id"] for r in page["requests"]]
    remaining = [page["remaining"]]
    while page["next_cursor"] is not None:
        more = mutator(
            seeded, tmp_path, "list", "--state", "acct-1", "--limit", "2", "--json",
            "--after", page["next_cursor"],
        )  # fmt: skip
        assert more.code == 0, more
        page = more.json()
        seen += [r["request_id"] for r in page["requests"]]
        remaining.append(page["remaining"])
    assert seen == ["r4", "r3", "r2", "r1", "r0"]
    assert remaining == [3, 1, 0]


def test_the_table_says_how_many_more_and_how_to_get_them(seeded: str, tmp_path: Path) -> None:
    table = mutator(seeded, tmp_path, "list", "--status", "pending", "--limit", "3")
    assert table.code == 0, table
    assert "pending (approval)" in table.stdout
    found = re.search(r"… 2 more: --after (\S+)$", table.stdout, re.MULTILINE)
    assert found, table
    rest = mutator(seeded, tmp_path, "list", "--status", "pending", "--after", found.group(1))
    assert rest.code == 0, rest
    assert "r1" in rest.stdout
    assert "r0" in rest.stdout
    assert "r2" not in rest.stdout
    assert "more:" not in rest.stdout


@pytest.mark.parametrize("cursor", ["bogus", "", "cjQ"])
def test_a_bad_cursor_is_bad_input_naming_after(seeded: str, tmp_path: Path, cursor: str) -> None:
    plain = mutator(seeded, tmp_path, "list", "--after", cursor)
    assert plain.code == 2, plain
    assert "--after" in plain.stderr, plain
    assert "not a cursor" in plain.stderr, plain
    assert "Traceback" not in plain.stderr + plain.stdout
    as_json = mutator(seeded, tmp_path, "list", "--after", cursor, "--json")
    assert as_json.code == 2, as_json
    assert as_json.error.startswith("--after: ")


def test_the_package_imports_the_temporal_sdk_only_for_the_client(tmp_path: Path) -> None:
    code = (
        "import sys, mutator\n"
        "from mutator import MutationApp, RequestStatus, StoreReader, MutatorError\n"
        "assert 'temporalio' not in sys.modules, 'import mutator imported temporalio'\n"
        "names = {name: getattr(mutator, name) for name in mutator.__all__}\n"
        "assert names['MutatorClient'].__name__ == 'MutatorClient'\n"
        "from mutator.client import MutatorTimeout, StoreReader as OldHome\n"
        "assert OldHome is StoreReader and MutatorTimeout is mutator.MutatorTimeout\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
