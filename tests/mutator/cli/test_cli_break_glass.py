"""Break-glass from the command line: `submit --break-glass` refusals (exit 1 and 2, nothing
stored) against a real `mutator dev` running the example app (which declares none), and
`show` and `list` marking a break-glass request."""

from __future__ import annotations

from pathlib import Path

import pytest

from mutator import lifecycle
from mutator.contracts import EvaluateResult
from mutator.decisions import EvaluationOutcome
from mutator.models import SubmitRequestInput, submitted_request
from mutator.store import Store
from tests.helpers import cli_world
from tests.helpers.cli_stack import CliStack, clean_env, run_mutator
from tests.helpers.lifecycle import at

pytestmark = pytest.mark.slow

stack = cli_world.stack
cli_store = cli_world.cli_store
uid = cli_world.uid
submit = cli_world.submit


def test_break_glass_without_a_reason_exits_2_and_stores_nothing(
    stack: CliStack, cli_store: Store
) -> None:
    acct = uid("bg")
    done = submit(stack, acct, "counter.add", '{"amount": 1}', "bob", "--break-glass")
    assert done.code == 2, done
    assert done.error.startswith(
        "reason: a break-glass submit needs a reason (--reason: why the emergency)"
    ), done
    assert cli_store.list_requests(state_id=acct) == []


def test_break_glass_in_an_app_that_declares_none_exits_1_and_stores_nothing(
    stack: CliStack, cli_store: Store
) -> None:
    acct = uid("bg")
    done = submit(
        stack, acct, "counter.add", '{"amount": 1}', "bob", "--break-glass", "--reason", "INC-1"
    )
    assert done.code == 1, done
    assert "break-glass: this app declares no break-glass" in done.error, done
    assert cli_store.list_requests(state_id=acct) == []
    assert cli_store.get_state(acct) is None


def test_show_and_list_mark_a_break_glass_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    submitted = SubmitRequestInput(
        request_id="bg-req-1",
        state_id="acct-1",
        mutation="limits.set",
        payload={"limit": 5},
        requester="alice",
        reason="INC-7: limits broke prod",
        break_glass=True,
    )
    request = submitted_request(submitted, at(0))
    lifecycle.submit(request, at(0))
    lifecycle.admit(
        request,
        EvaluateResult(outcome=EvaluationOutcome.ALLOW, state_version=0, on_stale="reject"),
        at(1),
    )
    store = Store.from_url(url)
    try:
        store.migrate()
        store.save_request(request.model_copy(update={"revision": 1}))
    finally:
        store.dispose()
    shown = run_mutator("show", "bg-req-1", "--db", url, env=clean_env(), cwd=tmp_path)
    assert shown.code == 0, shown
    [line] = [" ".join(ln.split()) for ln in shown.stdout.splitlines() if "BREAK-GLASS" in ln]
    assert line == "BREAK-GLASS declared by alice: INC-7: limits broke prod"
    assert "break_glass" in shown.stdout  # the decision
    listed = run_mutator("list", "--db", url, env=clean_env(), cwd=tmp_path)
    assert listed.code == 0, listed
    [row] = [ln for ln in listed.stdout.splitlines() if "bg-req-1" in ln]
    assert "approved BREAK-GLASS" in row
    as_json = run_mutator("list", "--db", url, "--json", env=clean_env(), cwd=tmp_path)
    assert as_json.json()["requests"][0]["break_glass"] is True
