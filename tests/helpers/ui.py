"""Driving the Temporal Web UI (2.54) in headless Chromium with Playwright, as a person would.

The selectors are roles and visible text where the UI has them. Notes on UI 2.54:

- The workflow list shows no summary and no search attributes until they are added as
  columns (the "Configure Columns" drawer); the summary has no column at all.
- A workflow's Summary and Current Details are Markdown rendered in iframes.
- The signal, update and query inputs are CodeMirror editors. On blur the UI reformats the
  JSON, which makes the dialog taller and moves its Submit button, so a click on Submit
  straight after typing lands where the button was and is lost: blur first.
- After one signal has been sent from a page, a second Send a Signal from the same page
  load is delivered (the server answers 200) but the dialog keeps spinning and never
  closes. Reloading the page before opening the dialog avoids it.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    Browser,
    BrowserContext,
    FrameLocator,
    Locator,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags, Chromium keeps trying Google's hosts on this closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
VIEWPORT: ViewportSize = {"width": 1600, "height": 1000}


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (never Playwright's own download)."""
    playwright: Playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


def eventually(
    check: Callable[[float], None],
    refresh: Callable[[], object],
    *,
    timeout: float = 30.0,
    step_ms: float = 2_000,
) -> None:
    """``check(timeout_ms)`` (Playwright ``expect`` calls), refreshing the page between tries.

    For what the UI shows only after a reload: a page that has loaded keeps the workflow's
    description and the list's results until it is refreshed.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            check(step_ms)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            refresh()


class TemporalUI:
    """One browser tab on the Web UI; every step can leave a numbered screenshot."""

    def __init__(self, context: BrowserContext, base_url: str, shots: Path) -> None:
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        self.page: Page = context.new_page()
        self.base_url = base_url.rstrip("/")
        self.shots = shots
        self.shots.mkdir(parents=True, exist_ok=True)
        self._count = 0

    # -- evidence -----------------------------------------------------------------------

    def shot(self, name: str) -> Path:
        self._count += 1
        path = self.shots / f"{self._count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def dump(self, name: str) -> None:
        """A screenshot and the page's HTML, for a failure."""
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        (self.shots / f"{name}.html").write_text(self.page.content())

    # -- the workflow list --------------------------------------------------------------

    def workflow_list(self, query: str, namespace: str = "default") -> None:
        q = urllib.parse.quote(query)
        self.page.goto(f"{self.base_url}/namespaces/{namespace}/workflows?query={q}")
        expect(self.page.get_by_role("button", name="Configure Columns")).to_be_visible()

    def configure_columns(self, add: Sequence[str], remove: Sequence[str] = ()) -> None:
        page = self.page
        page.get_by_role("button", name="Configure Columns").click()
        for name in remove:
            page.get_by_role("button", name=f"Remove {name} column", exact=True).click()
        for name in add:
            page.get_by_role("button", name=f"Add {name} column", exact=True).click()
        page.get_by_role("button", name="Close Workflows Table configuration").click()
        for name in add:
            expect(self.column_header(name)).to_be_visible()

    def column_header(self, name: str) -> Locator:
        return self.page.get_by_test_id(f"workflows-summary-table-header-cell-{name}")

    def rows(self) -> Locator:
        return self.page.get_by_test_id("workflows-summary-configurable-table-row")

    def cell(self, row: Locator, column: str) -> Locator:
        """The cell of ``row`` under the header named ``column``."""
        headers = [
            (h.get_attribute("data-testid") or "").removeprefix(
                "workflows-summary-table-header-cell-"
            )
            for h in self.page.locator("table thead th").all()
        ]
        assert column in headers, f"no column {column!r} in {headers}"
        return row.locator("td").nth(headers.index(column))

    # -- a workflow's page --------------------------------------------------------------

    def open_tab(self, name: str) -> None:
        tab = self.page.get_by_role("tab", name=name, exact=True)
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")

    def execution_status(self) -> Locator:
        """The Running / Completed / ... badge at the top of a workflow's page."""
        return self.page.get_by_role("status").and_(self.page.get_by_test_id("execution-status"))

    def markdown(self, frame_id: str) -> FrameLocator:
        """Summary (``user-metadata-summary``) or Current Details
        (``user-metadata-current-details``), rendered in an iframe."""
        return self.page.frame_locator(f"iframe#{frame_id}")

    def code_block(self, label: str) -> Locator:
        """A read-only JSON view (``Search Attributes``, ``Query Result``, ...)."""
        return self.page.get_by_role("textbox", name=label, exact=True)

    def run_query(self, name: str) -> Locator:
        page = self.page
        self.open_tab("Queries")
        page.get_by_test_id("query-select-button").click()
        page.get_by_role("option", name=name, exact=True).click()
        page.get_by_role("button", name="Run Query").click()
        return self.code_block("Query Result")

    def _action_dialog(self, action: str) -> Locator:
        page = self.page
        page.get_by_role("button", name="More Actions").click()
        page.get_by_role("menuitem", name=action, exact=True).click()
        dialog = page.get_by_role("dialog", name=action, exact=True)
        expect(dialog).to_be_visible()
        return dialog

    def _fill_json(self, dialog: Locator, value: Any) -> None:
        data = dialog.get_by_role("textbox", name="Data", exact=True)
        data.fill(value if isinstance(value, str) else json.dumps(value))
        data.blur()  # the UI reformats the JSON now; see the module docstring
        expect(dialog.get_by_role("button", name="Submit")).to_be_enabled()

    def signal_dialog(self, name: str, data: Any) -> Locator:
        """More Actions → Send a Signal, filled in, not yet submitted.

        The page is reloaded first: see the module docstring.
        """
        self.page.reload()
        dialog = self._action_dialog("Send a Signal")
        dialog.get_by_test_id("signal-select-button").click()
        dialog.get_by_role("option", name=name, exact=True).click()
        self._fill_json(dialog, data)
        return dialog

    def update_dialog(self, name: str, data: Any) -> Locator:
        """More Actions → Send an Update, filled in, not yet submitted."""
        dialog = self._action_dialog("Send an Update")
        dialog.get_by_test_id("update-select-button").click()
        dialog.get_by_role("option", name=name, exact=True).click()
        self._fill_json(dialog, data)
        return dialog

    @staticmethod
    def submit(dialog: Locator) -> None:
        dialog.get_by_role("button", name="Submit").click()

    @staticmethod
    def cancel(dialog: Locator) -> None:
        """The dialog's Cancel button (its close icon is also labelled "Cancel")."""
        dialog.get_by_test_id("cancel-modal-button").click()
        expect(dialog).to_be_hidden()
