"""`mutator worker` settings refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mutator.errors import MutatorInputError
from mutator.limits import validate_heartbeat_timeout
from tests.helpers.cli_stack import clean_env, run_mutator


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "nan", "inf", ""])
def test_bad_heartbeat_timeout_exits_2_naming_it(bad: str, tmp_path: Path) -> None:
    result = run_mutator(
        "worker", "--heartbeat-timeout", bad, "--json", env=clean_env(), cwd=tmp_path
    )
    assert result.code == 2, result
    assert "--heartbeat-timeout" in result.error
    assert "> 0" in result.error
    assert "Traceback" not in result.stdout + result.stderr


def test_heartbeat_timeout_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    env = clean_env({"MUTATOR_HEARTBEAT_TIMEOUT_SECONDS": "-3"})
    result = run_mutator("worker", "--json", env=env, cwd=tmp_path)
    assert result.code == 2, result
    assert "--heartbeat-timeout" in result.error


def test_validate_heartbeat_timeout() -> None:
    assert validate_heartbeat_timeout("2.5") == 2.5
    assert validate_heartbeat_timeout(5) == 5.0
    for bad in (True, None, 0, "x"):
        with pytest.raises(MutatorInputError, match="heartbeat_timeout must be a number"):
            validate_heartbeat_timeout(bad)
