"""`mutator worker|dev --webhook-url` and `mutator deliveries`, as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mutator.notifications import Delivery
from mutator.store import Store
from tests.helpers.cli_stack import CliStack, clean_env, poll, run_mutator
from tests.helpers.webhook_receiver import new_secret, running_receiver

SECRET = {"MUTATOR_WEBHOOK_SECRET": new_secret()}


def _nothing_stored(cwd: Path) -> None:
    assert list(cwd.iterdir()) == [], "a refused start must create nothing"


@pytest.mark.parametrize("command", ["worker", "dev"])
@pytest.mark.parametrize(
    "bad", ["ftp://hooks.example.com/x", "file:///etc/passwd", "hooks.example.com", "https://"]
)
def test_a_webhook_url_that_is_not_http_exits_2_naming_the_option(
    command: str, bad: str, tmp_path: Path
) -> None:
    result = run_mutator(
        command, "--webhook-url", bad, "--json", env=clean_env(SECRET), cwd=tmp_path
    )
    assert result.code == 2, result
    assert "--webhook-url" in result.error
    assert "is not an http(s) URL" in result.error
    assert "Traceback" not in result.stdout + result.stderr
    _nothing_stored(tmp_path)


def test_the_url_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    env = clean_env({**SECRET, "MUTATOR_WEBHOOK_URL": "gopher://old.example.com"})
    result = run_mutator("worker", "--json", env=env, cwd=tmp_path)
    assert result.code == 2, result
    assert "--webhook-url: 'gopher://old.example.com' is not an http(s) URL" in result.error
    _nothing_stored(tmp_path)


@pytest.mark.parametrize("command", ["worker", "dev"])
def test_a_url_without_a_secret_exits_2(command: str, tmp_path: Path) -> None:
    result = run_mutator(
        command,
        "--webhook-url",
        "https://hooks.example.com/m",
        "--json",
        env=clean_env(),
        cwd=tmp_path,
    )
    assert result.code == 2, result
    assert "--webhook-url needs a signing secret: set MUTATOR_WEBHOOK_SECRET" in result.error
    _nothing_stored(tmp_path)


def test_a_secret_not_in_the_standard_format_exits_2(tmp_path: Path) -> None:
    env = clean_env({"MUTATOR_WEBHOOK_SECRET": "hunter2"})
    result = run_mutator(
        "worker", "--webhook-url", "https://hooks.example.com/m", "--json", env=env, cwd=tmp_path
    )
    assert result.code == 2, result
    assert "MUTATOR_WEBHOOK_SECRET: not a Standard Webhooks secret" in result.error
    assert "hunter2" not in result.stdout + result.stderr
    _nothing_stored(tmp_path)


def _attempt(request_id: str, n: int, delivered: bool) -> Delivery:
    return Delivery(
        event_id=f"evt_{request_id}",
        event_type="request.executed",
        request_id=request_id,
        url="https://hooks.example.com/m",
        attempt=n,
        status_code=200 if delivered else 503,
        error="" if delivered else "HTTP 503 Service Unavailable",
        delivered=delivered,
        at=datetime(2026, 11, 30, 12, n, tzinfo=UTC),
    )


def test_deliveries_lists_every_attempt_and_filters_by_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store.from_url(url)
    store.migrate()
    for attempt in (_attempt("r1", 1, False), _attempt("r2", 1, True), _attempt("r1", 2, True)):
        store.deliveries.record(attempt)
    store.dispose()
    env = clean_env({"MUTATOR_DATABASE_URL": url})
    listed = run_mutator("deliveries", "--request", "r1", "--json", env=env, cwd=tmp_path)
    assert listed.code == 0, listed
    rows = json.loads(listed.stdout)["deliveries"]
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [
        (1, 503, False),
        (2, 200, True),
    ]
    table = run_mutator("deliveries", env=env, cwd=tmp_path)
    assert table.code == 0, table
    assert "HTTP 503 Service Unavailable" in table.stdout
    assert "evt_r2" in table.stdout


def test_dev_sends_signed_events_and_deliveries_shows_them(tmp_path: Path) -> None:
    secret = new_secret()
    with running_receiver(secret) as receiver:
        stack = CliStack(
            tmp_path,
            extra_args=("--webhook-url", receiver.url),
            extra_env={"MUTATOR_WEBHOOK_SECRET": secret},
        )
        stack.start()
        try:
            submitted = stack.run(
                "submit",
                "acct-1",
                "counter.add",
                "--payload",
                '{"amount": 2}',
                "--actor",
                "dave",
                "--json",
            )
            assert submitted.code == 0, submitted
            request_id = json.loads(submitted.stdout)["request_id"]

            def delivered() -> list[dict[str, object]] | None:
                shown = stack.run("deliveries", "--request", request_id, "--json")
                assert shown.code == 0, shown
                rows: list[dict[str, object]] = json.loads(shown.stdout)["deliveries"]
                return rows or None

            [row] = poll(delivered, timeout=30, what="the executed event's delivery")
        finally:
            assert stack.stop() == 0
    assert (row["event_type"], row["status_code"], row["delivered"]) == (
        "request.executed",
        200,
        True,
    )
    [event] = receiver.verified("request.executed")
    assert event["data"]["request_id"] == request_id
    assert receiver.received[0].headers["webhook-id"] == row["event_id"]
