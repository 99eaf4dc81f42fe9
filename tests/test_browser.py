"""The review panel in a real browser: JupyterLab, headless Chromium, real clicks.

The nbval run of the tutorials (test_notebooks.py) proves the panel's Python side, and it clicks
the buttons from code. Only a browser proves what a user meets: that the widget renders in
JupyterLab, that a click on "Validate on shadow" and then "Apply" reaches the kernel, and that
the status the kernel sends back is drawn. This test opens a copy of the getting-started
notebook in JupyterLab, runs every cell, clicks both buttons in the page, waits for the status
to read "applied", checks the database really changed, and saves the screenshots the README
shows (docs/screenshots/, light and dark themes).

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run), never a Playwright download. A
missing browser fails the test: a skipped browser test looks green and proves nothing.

Everything is private to the test: a free loopback port, a random token, and tmp directories
for the notebook, JupyterLab's settings, workspaces and runtime files, and the embedded
PostgreSQL the notebook starts (`<notebook dir>/.lockplane/pg`), so it runs beside the rest of
the suite under xdist.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import psycopg
import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from lockplane import embedded

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01-getting-started.ipynb"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-dev-shm-usage",  # containers have a tiny /dev/shm
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CLICK_CELL_MARKER = "panel.validate_button.click()"
PANEL_CELL_MARKER = "%lockplane apply plan"
# Image name -> the panel tab it shows; "panel" (the Diff tab) is the one the README uses.
SCREENSHOT_TABS = {"panel": "Diff", "plan": "Plan", "shadow": "Shadow run"}
CURRENT_TAB = re.compile(r"\blm-mod-current\b")
TIMEOUT_MS = 45_000  # a generous ceiling for any one wait; the whole test takes ~15 s

# JupyterLab's notebook, its kernel and whether it is idle, through `window.jupyterapp`
# (exposed by --LabApp.expose_app_in_browser). Waiting for cells in the DOM is not enough:
# run-all sent before the kernel is idle is silently dropped.
KERNEL_IDLE_JS = """() => {
  const nb = window.jupyterapp?.shell.currentWidget;
  const kernel = nb?.sessionContext?.session?.kernel;
  return !!(nb && nb.context?.isReady && kernel && kernel.status === 'idle');
}"""
# A cell still queued or running shows `[*]`; this is true once every cell has finished.
ALL_CELLS_DONE_JS = """() => {
  const nb = window.jupyterapp?.shell.currentWidget;
  const kernel = nb?.sessionContext?.session?.kernel;
  if (!nb || !kernel || kernel.status !== 'idle') return false;
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')];
  return prompts.length > 0 && !prompts.some((p) => p.textContent.includes('*'));
}"""
# The theme is in force once the page background is dark (or light): the theme manager sets
# body's data attributes before the theme's CSS has necessarily been applied.
THEME_IS_JS = """(dark) => {
  if ((document.body.dataset.jpThemeLight === 'false') !== dark) return false;
  const bg = getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor;
  const [r, g, b] = (bg.match(/\\d+/g) || []).map(Number);
  if (r === undefined) return false;
  return (0.299 * r + 0.587 * g + 0.114 * b < 128) === dark;
}"""


def free_port() -> int:
    """A port nothing listens on now; JupyterLab's own port search would hide a clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def browser_notebook(directory: Path) -> Path:
    """Copy the getting-started notebook, cut after the cell that displays the panel.

    The tutorial clicks the panel's buttons from code (so nbval can run it); here the browser
    must click them, so that cell goes, and so do the cells after it, which need the plan to be
    applied already (the ledger, the empty re-plan). Outputs are cleared so the page shows only
    what this run produced.
    """
    nb = nbformat.read(NOTEBOOK, as_version=4)
    sources = [cell.source for cell in nb.cells]
    panel_at = next(i for i, s in enumerate(sources) if PANEL_CELL_MARKER in s)
    click_at = next(i for i, s in enumerate(sources) if CLICK_CELL_MARKER in s)
    assert panel_at < click_at, "the panel must be displayed before the tutorial clicks it"
    nb.cells = nb.cells[: panel_at + 1]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    path = directory / "getting-started.ipynb"
    nbformat.write(nb, path)
    return path


def jupyter_settings(directory: Path) -> Path:
    """User settings that turn off the "official Jupyter news?" toast, which covers widgets.

    `--LabApp.news_url=None` does not stop it; the notification plugin's settings do.
    """
    settings = directory / "settings"
    path = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return settings


def wait_for_server(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll /api/status until JupyterLab answers; fail with its log if it exits or hangs."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)  # polling a server that is starting; there is nothing to wait on
    pytest.fail(f"JupyterLab did not answer {url} in 30 s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets JupyterLab shut its kernel down; whatever it started and left is killed.

    The kernel's processes are listed before the SIGTERM, by pid and start time (psutil), so
    the leftovers killed afterwards are exactly this server's, never a reused pid. The embedded
    PostgreSQL is not among them: pg_ctl detaches it, and the fixture stops it cleanly.
    """
    try:
        started = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
    for process in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()  # psutil checks the start time: a reused pid is left alone


def set_theme(page: Page, theme: str, *, dark: bool) -> None:
    """Switch JupyterLab's theme and wait until its colours are really on the page."""
    page.evaluate(
        "(theme) => { window.jupyterapp.commands.execute('apputils:change-theme', {theme}); }",
        theme,
    )
    page.wait_for_function(THEME_IS_JS, arg=dark)


def screenshots(page: Page, panel: Locator, theme: str) -> None:
    """The panel's output after Apply, one image per tab in SCREENSHOT_TABS, in `theme`."""
    output = page.locator(".jp-Cell", has=page.locator(".lp-panel")).locator(".jp-OutputArea")
    for name, title in SCREENSHOT_TABS.items():
        tab = panel.locator(".lm-TabBar-tab", has_text=title)
        tab.click()
        expect(tab).to_have_class(CURRENT_TAB)
        output.screenshot(path=SCREENSHOTS / f"{name}-{theme}.png", animations="disabled")
    panel.locator(".lm-TabBar-tab", has_text="Diff").click()


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab on 127.0.0.1 with the browser notebook; yields (notebook URL, notebook dir).

    Afterwards the server (and with it the kernel) is stopped, then the embedded PostgreSQL
    the notebook started in its tmp directory.
    """
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    notebook = browser_notebook(nbdir)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        k: v
        for k, v in os.environ.items()
        # The notebook must use its own embedded server in nbdir, not a configured database.
        if k not in {"DATABASE_URL", "SHADOW_DATABASE_URL", embedded.DIR_ENV}
    }
    env |= {
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={nbdir}", "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={jupyter_settings(tmp_path)}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_for_server(server, f"http://127.0.0.1:{port}/api/status?token={token}", log)
        yield f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}", nbdir
    finally:
        stop_server(server)
        embedded.stop(nbdir / ".lockplane" / "pg")


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, checked before JupyterLab starts; missing, the test fails, never skips."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does); "
            "this test never downloads a browser",
            pytrace=False,
        )
    return CHROMIUM


def test_review_panel_validate_and_apply_in_chromium(
    chromium: Path, jupyterlab: tuple[str, Path]
) -> None:
    """Run the tutorial in JupyterLab, then validate and apply with real clicks.

    Apply must be off until the shadow run is green, and the page must end on "applied" with a
    ledger entry; the tables in the notebook's database confirm the click did the work.
    """
    url, nbdir = jupyterlab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page.goto(url)
            page.wait_for_function(KERNEL_IDLE_JS)
            # Not awaited: run-all's promise settles late; the page's state is what we wait on.
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            panel = page.locator(".lp-panel")
            status = panel.locator(".lp-status")
            expect(status).to_have_attribute("data-lp-state", "reviewing")
            page.wait_for_function(ALL_CELLS_DONE_JS)

            validate = panel.locator(".widget-button", has_text="Validate on shadow")
            apply = panel.locator(".widget-button", has_text="Apply")
            expect(apply).to_be_disabled()  # no Apply before a green shadow run
            validate.click()
            expect(status).to_have_attribute("data-lp-state", "validated")
            expect(apply).to_be_enabled()
            apply.click()
            expect(status).to_have_attribute("data-lp-state", "applied")
            expect(status).to_contain_text(re.compile(r"(\d+) of \1 steps applied"))
            expect(panel.locator(".lp-outcome-applied")).to_contain_text("ledger entry #1")
            expect(validate).to_be_disabled()
            expect(apply).to_be_disabled()

            screenshots(page, panel, "light")
            set_theme(page, "JupyterLab Dark", dark=True)
            screenshots(page, panel, "dark")
        finally:
            browser.close()

    # The click really applied the plan: the tables are in the notebook's database.
    server = embedded.status(nbdir / ".lockplane" / "pg")
    assert server is not None, "the notebook's embedded PostgreSQL is not running"
    with psycopg.connect(server.url("getting_started")) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' ORDER BY 1"
        ).fetchall()
    assert [t for (t,) in tables] == ["posts", "users"]
