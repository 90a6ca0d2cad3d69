"""`mutator effects`, as a user runs it: against a store, and against `mutator dev`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mutator.store import Store
from tests.helpers.cli_stack import CliStack, clean_env, poll, run_mutator

SHOP_APP = """
from mutator import MutationApp

app = MutationApp()
failures = {}

@app.mutation("shop.sell")
def sell(state, payload, effects):
    effects.emit("stock.sold", {"sku": payload["sku"]})
    return {**state, "sold": state.get("sold", 0) + 1}

@app.mutation("shop.plain")
def plain(state, payload):
    return {**state, "plain": True}

@app.effect("stock.sold")
def flaky(event):
    failures[event.event_id] = failures.get(event.event_id, 0) + 1
    if failures[event.event_id] == 1:
        raise RuntimeError("the warehouse did not answer")
"""


def test_effects_of_an_unknown_request_or_an_empty_store_is_an_empty_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    Store.from_url(url).migrate()
    env = clean_env({"MUTATOR_DATABASE_URL": url})
    listed = run_mutator("effects", "--request", "nobody", "--json", env=env, cwd=tmp_path)
    assert listed.code == 0, listed
    assert json.loads(listed.stdout) == {"effects": []}


@pytest.mark.parametrize("bad", ["0", "10001", "many"])
def test_a_bad_limit_exits_2_naming_the_option(tmp_path: Path, bad: str) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    env = clean_env({"MUTATOR_DATABASE_URL": url})
    result = run_mutator("effects", "--limit", bad, "--json", env=env, cwd=tmp_path)
    assert result.code == 2, result
    assert "--limit" in result.stdout
    assert not (tmp_path / "m.db").exists()


@pytest.mark.slow
def test_dev_delivers_an_event_again_after_a_failure_and_effects_shows_both_attempts(
    tmp_path: Path,
) -> None:
    (tmp_path / "shopapp.py").write_text(SHOP_APP)
    stack = CliStack(tmp_path, app="shopapp:app")
    stack.start()
    try:
        submitted = stack.run(
            "submit",
            "shelf-1",
            "shop.sell",
            "--payload",
            '{"sku": "A-1"}',
            "--actor",
            "dave",
            "--json",
        )
        assert submitted.code == 0, submitted
        request_id = json.loads(submitted.stdout)["request_id"]
        assert json.loads(submitted.stdout)["status"] == "executed"

        def delivered() -> dict[str, object] | None:
            shown = stack.run("effects", "--request", request_id, "--json")
            assert shown.code == 0, shown
            [record] = json.loads(shown.stdout)["effects"]
            attempts = record["attempts"]
            return record if attempts and attempts[-1]["delivered"] else None

        record = poll(delivered, timeout=30, what="the event's second attempt")
        table = stack.run("effects", "--request", request_id)
        plain = stack.run(
            "submit", "shelf-2", "shop.plain", "--payload", "{}", "--actor", "dave", "--json"
        )
        assert plain.code == 0, plain
        nothing = stack.run(
            "effects", "--request", json.loads(plain.stdout)["request_id"], "--json"
        )
    finally:
        assert stack.stop() == 0
    event = record["event"]
    assert isinstance(event, dict)
    assert (event["event_id"], event["type"], event["payload"], event["version"]) == (
        f"{request_id}:0",
        "stock.sold",
        {"sku": "A-1"},
        1,
    )
    attempts = record["attempts"]
    assert isinstance(attempts, list)
    assert [(a["attempt"], a["delivered"], a["error"]) for a in attempts] == [
        (1, False, "RuntimeError: the warehouse did not answer"),
        (2, True, ""),
    ]
    assert table.code == 0, table
    assert "shopapp.flaky: delivered (2 attempts)" in table.stdout
    assert f"{request_id}:0" in table.stdout
    assert json.loads(nothing.stdout) == {"effects": []}


def test_a_worker_whose_app_registers_a_bad_effect_type_exits_2_storing_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "badfx.py").write_text(
        "from mutator import MutationApp\n"
        "app = MutationApp()\n"
        "@app.effect('has space')\n"
        "def on_it(event):\n"
        "    pass\n"
    )
    url = f"sqlite:///{tmp_path / 'm.db'}"
    result = run_mutator(
        "worker",
        "--app",
        "badfx:app",
        "--json",
        env=clean_env({"MUTATOR_DATABASE_URL": url}),
        cwd=tmp_path,
    )
    assert result.code == 2, result
    assert "effect type 'has space' is not valid" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "m.db").exists()
