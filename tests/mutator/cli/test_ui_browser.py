"""The Temporal Web UI as an approver uses it, in headless Chromium, against `mutator dev`.

A request that needs two approvals is submitted with the CLI; the UI finds it by its state,
shows its summary, approval progress, search attributes and `status` query; one approval is
sent from the UI's Send a Signal dialog with the JSON docs/approvers.md tells approvers to
paste, an ineligible approver's update is refused in the Send an Update dialog, the second
approval comes from the CLI, and the UI shows the request completed and executed.
Screenshots of every step are kept under the test's tmp_path (the path is printed), with a
Playwright trace when MUTATOR_UI_TRACE=1 (`playwright show-trace trace.zip`).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers.cli_stack import CliResult, CliStack, poll, run_mutator
from tests.helpers.ui import CHROMIUM, VIEWPORT, TemporalUI, chromium, eventually

# Set by .ci/run: a missing Chromium fails there instead of skipping the test.
REQUIRE_CHROMIUM = os.environ.get("MUTATOR_TEST_REQUIRE_CHROMIUM") == "1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not REQUIRE_CHROMIUM,
        reason=f"{CHROMIUM} is absent: the Web UI test needs Debian's chromium package "
        "(apt-get install chromium)",
    ),
]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "approvers.md"
# What docs/approvers.md tells an approver to paste into the dialogs, verbatim.
SIGNAL_APPROVAL = '{"actor": "alice", "comment": "from the UI"}'
INELIGIBLE_APPROVAL = '{"actor": "mallory"}'
PAYLOAD = '{"name": "daily", "value": 500}'
SEARCH_ATTRIBUTES = ["MutationStateId", "MutationName", "MutationRequester", "MutationStatus"]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(result: CliResult) -> Any:
    assert result.code == 0, result
    return result.json()


@pytest.fixture(scope="module")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliStack]:
    stack = CliStack(tmp_path_factory.mktemp("ui-stack"))
    stack.start()
    try:
        yield stack
    finally:
        if stack.proc is not None:
            assert stack.stop() == 0, stack.logs()


@pytest.fixture
def ui(
    ui_stack: CliStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[TemporalUI]:
    shots = tmp_path / "screenshots"
    with capsys.disabled():
        print(f"\nWeb UI screenshots: {shots}")
    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT)
        trace = bool(os.environ.get("MUTATOR_UI_TRACE"))
        if trace:
            context.tracing.start(screenshots=True, snapshots=True)
        ui = TemporalUI(context, f"http://127.0.0.1:{ui_stack.ui_port}", shots)
        try:
            yield ui
        finally:
            with contextlib.suppress(Exception):  # evidence only; never hide the real error
                ui.dump("zz-last-page")
            if trace:
                context.tracing.stop(path=str(shots / "trace.zip"))
            context.close()


def test_approver_in_the_web_ui(ui_stack: CliStack, ui: TemporalUI) -> None:
    docs = DOCS.read_text()
    assert SIGNAL_APPROVAL in docs, "docs/approvers.md changed"
    assert INELIGIBLE_APPROVAL in docs, "docs/approvers.md changed"
    page = ui.page
    state, request_id = uid("acct"), uid("lim")
    workflow_id = f"mutation-request:{request_id}"

    def submit(state_id: str, *extra: str) -> Any:
        return ok(
            ui_stack.run(
                "submit", state_id, "limits.set", "--payload", PAYLOAD, "--actor", "dave",
                *extra, "--json",
            )
        )  # fmt: skip

    def show() -> Any:
        return ok(ui_stack.run("show", request_id, "--json"))

    assert submit(state, "--request-id", request_id)["status"] == "pending"
    submit(uid("acct"))  # on another state: the filter must leave it out

    # -- 1. the list, filtered by state: exactly this request, pending -----------------
    ui.workflow_list(f'MutationStateId = "{state}"')
    ui.configure_columns(add=SEARCH_ATTRIBUTES, remove=["Run ID", "Start", "End"])
    rows = ui.rows()

    def listed(status: str, mutation_status: str) -> None:
        def check(timeout: float) -> None:
            expect(rows).to_have_count(1, timeout=timeout)
            row = rows.first
            expect(row.get_by_role("link", name=workflow_id, exact=True)).to_be_visible()
            expect(ui.cell(row, "Status")).to_have_text(status, timeout=timeout)
            expect(ui.cell(row, "MutationStateId")).to_have_text(state)
            expect(ui.cell(row, "MutationName")).to_have_text("limits.set")
            expect(ui.cell(row, "MutationRequester")).to_have_text("dave")
            expect(ui.cell(row, "MutationStatus")).to_have_text(mutation_status, timeout=timeout)

        eventually(check, page.get_by_role("button", name="Refresh", exact=True).click)

    listed("Running", "pending")
    ui.shot("list-filtered-by-state-pending")

    # -- 2. the request's page: summary, 0 of 2, search attributes, `status` query ------
    # UI 2.54 has no summary column in the list: the summary is on the workflow's page.
    rows.first.get_by_role("link", name=workflow_id, exact=True).click()
    expect(page.get_by_role("heading", name=workflow_id)).to_be_visible()
    expect(ui.execution_status()).to_have_text("Running")
    ui.open_tab("User Metadata")
    summary = ui.markdown("user-metadata-summary").locator("body")
    expect(summary).to_have_text(f"limits.set on {state} by dave")
    details = ui.markdown("user-metadata-current-details").locator("body")
    expect(details).to_contain_text("pending (approval)")
    expect(details).to_contain_text("two_of_three: 0 of 2 approvals (eligible: alice, bob, carol)")
    # The change approvers approve, shortened (markdown: one code span per op).
    expect(details).to_contain_text("planned change:")
    expect(details).to_contain_text("add /daily 500")
    ui.shot("summary-and-current-details-0-of-2")

    ui.open_tab("Search Attributes")
    attributes = ui.code_block("Search Attributes")
    expect(attributes).to_contain_text(f'"MutationStateId": "{state}"')
    expect(attributes).to_contain_text('"MutationStatus": "pending"')
    ui.shot("search-attributes-pending")

    result = ui.run_query("status")
    expect(result).to_contain_text(f'"request_id": "{request_id}"')
    expect(result).to_contain_text('"status": "pending"')
    expect(result).to_contain_text('"approvals": []')
    ui.shot("status-query")

    # -- 3a. an ineligible approver's update: the validator's error, nothing recorded ---
    dialog = ui.update_dialog("approve", INELIGIBLE_APPROVAL)
    ui.submit(dialog)
    refusal = dialog.get_by_role("alert").filter(has_text="not an eligible approver")
    expect(refusal).to_contain_text(
        "'mallory' is not an eligible approver (eligible: alice, bob, carol)"
    )
    ui.shot("update-refused-for-ineligible-approver")
    ui.cancel(dialog)
    assert not [d for d in show()["decisions"] if d["actor"] == "mallory"]

    # -- 3b. an ineligible approver's signal: recorded as a refused attempt, counts for nothing
    dialog = ui.signal_dialog("approve_signal", INELIGIBLE_APPROVAL)
    ui.submit(dialog)
    expect(dialog).to_be_hidden()
    refused = poll(
        lambda: [d for d in show()["decisions"] if d["actor"] == "mallory"] or None,
        timeout=30,
        what="the refused approve_signal in the store",
    )
    assert [(d["category"], d["code"]) for d in refused] == [("approval", "refused_attempt")]
    assert "'mallory' is not an eligible approver" in refused[0]["reason"]

    # -- 3c. an approval from the Send a Signal dialog counts ----------------------------
    dialog = ui.signal_dialog("approve_signal", SIGNAL_APPROVAL)
    ui.shot("signal-dialog-approve")
    ui.submit(dialog)
    expect(dialog).to_be_hidden()
    approved = poll(
        lambda: req if (req := show())["approvals"] else None,
        timeout=30,
        what="the UI's approve_signal in the store",
    )
    assert [(a["actor"], a["comment"]) for a in approved["approvals"]] == [("alice", "from the UI")]
    assert approved["status"] == "pending"

    def progress(timeout: float) -> None:
        ui.open_tab("User Metadata")
        body = ui.markdown("user-metadata-current-details").locator("body")
        expect(body).to_contain_text("1 of 2 approvals", timeout=timeout)
        expect(body).to_contain_text("approved by alice")

    eventually(progress, page.reload)
    ui.shot("current-details-1-of-2-after-signal")

    # -- 3d. the second approval from the CLI executes the request -----------------------
    ok(ui_stack.run("approve", request_id, "--actor", "bob", "--json"))
    done = ok(ui_stack.run("wait", request_id, "--timeout", "60", "--json"))
    assert done["status"] == "executed", done
    version = done["resulting_version"]

    # The link `mutator show` prints leads to the same page.
    ui_url = ui.base_url
    shown = run_mutator(
        "show", request_id, env={**ui_stack.env, "MUTATOR_UI_URL": ui_url}, cwd=ui_stack.workdir
    )
    assert shown.code == 0, shown
    link = re.search(rf"{re.escape(ui_url)}/\S+", shown.stdout)
    assert link, shown
    page.goto(link.group(0))

    def completed(timeout: float) -> None:
        expect(page.get_by_role("heading", name=workflow_id)).to_be_visible()
        expect(ui.execution_status()).to_have_text("Completed", timeout=timeout)

    eventually(completed, page.reload)
    # Votes are closed: the UI no longer offers signals or updates.
    page.get_by_role("button", name="More Actions").click()
    expect(page.get_by_role("menuitem", name="Start Workflow Like This One")).to_be_visible()
    expect(page.get_by_role("menuitem", name="Send a Signal")).to_have_count(0)
    expect(page.get_by_role("menuitem", name="Send an Update")).to_have_count(0)
    page.keyboard.press("Escape")
    ui.open_tab("User Metadata")
    details = ui.markdown("user-metadata-current-details").locator("body")
    expect(details).to_contain_text("executed")
    expect(details).to_contain_text(f"executed: state {state} is now at version {version}")
    expect(details).to_contain_text("applied change:")
    expect(details).to_contain_text("add /daily 500")
    ui.shot("completed-current-details-executed")
    ui.open_tab("Search Attributes")
    expect(ui.code_block("Search Attributes")).to_contain_text('"MutationStatus": "executed"')
    ui.shot("search-attributes-executed")

    ui.workflow_list(f'MutationStateId = "{state}"')
    listed("Completed", "executed")
    ui.shot("list-filtered-by-state-executed")
