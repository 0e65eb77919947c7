"""End to end: ``streamlit run`` as a subprocess on loopback, driven by headless Chromium.

Uses Debian's chromium (``scripts/ensure_chromium.sh`` installs it) through Playwright's
``executable_path``; Playwright's own browser download does not work here. Screenshots of the
Fleet and Model pages are saved under ``artifacts/`` for CI to keep. With ``CI=true`` a missing
browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelhealth.dashboard.launch import streamlit_command
from tests.conftest import free_port
from tests.dashboard.conftest import ROOT, Deployment, write_learned_rules

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip


def _need_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], check=True)
        return
    pytest.skip("no /usr/bin/chromium: run scripts/ensure_chromium.sh (CI does)")


@pytest.fixture(scope="module")
def server(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(deployment.argv(), tmp_path_factory)


def _serve(argv: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run`` the app with ``argv`` on a free loopback port until the test ends."""
    _need_browser()
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    cmd = streamlit_command(argv, port, "127.0.0.1", python=sys.executable)
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1400},
        )
        yield ctx
        ctx.close()


def _open(browser: object, url: str, charts: int, name: str) -> object:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
        timeout=90_000,
    )
    # Streamlit shows a "running" widget while the script runs; wait until it is gone
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )
    page.wait_for_timeout(1500)  # plotly's draw transition
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)
    return page


def _assert_clean(page: object) -> None:
    exceptions = page.locator('[data-testid="stException"]').count()  # type: ignore[attr-defined]
    errors = page.locator('[data-testid="stAlertContentError"]').count()  # type: ignore[attr-defined]
    assert exceptions == 0 and errors == 0, page.inner_text("body")  # type: ignore[attr-defined]


def test_fleet_page_renders_in_chromium(server: str, browser: object) -> None:
    page = _open(browser, server + "/", charts=2, name="fleet")
    _assert_clean(page)
    assert page.locator("h1", has_text="Fleet").count() == 1  # type: ignore[attr-defined]
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # type: ignore[attr-defined]
    legend = page.locator(".js-plotly-plot .legendtext").all_text_contents()  # type: ignore[attr-defined]
    assert {"churn", "fraud", "ranker", "search"} <= set(legend)
    shot = ARTIFACTS / "dashboard-fleet.png"
    assert shot.stat().st_size > 20_000
    page.close()  # type: ignore[attr-defined]


def test_model_page_renders_in_chromium(server: str, browser: object) -> None:
    page = _open(browser, server + "/model", charts=5, name="model")
    _assert_clean(page)
    assert page.locator("h1", has_text="Model: churn").count() == 1  # type: ignore[attr-defined]
    lines = page.locator('[data-testid="stPlotlyChart"] .scatterlayer .trace')  # type: ignore[attr-defined]
    assert lines.count() >= 10  # latency (5 lines), qps, score band…
    bars = page.locator('[data-testid="stPlotlyChart"] .barlayer .trace')  # type: ignore[attr-defined]
    assert bars.count() >= 2  # feature histogram: current over baseline
    assert (ARTIFACTS / "dashboard-model.png").stat().st_size > 20_000
    page.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def learned_server(
    deployment: Deployment, learned_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The dashboard with one config holding a learned rule (fraud p99 per version)."""
    rules = tmp_path_factory.mktemp("learned-rules")
    write_learned_rules(rules, learned_model_dir)
    argv = deployment.argv()
    argv[argv.index("--rules") + 1] = str(rules)
    yield from _serve(argv, tmp_path_factory)


def test_learned_band_renders_in_chromium(learned_server: str, browser: object) -> None:
    page = _open(browser, learned_server + "/configs", charts=1, name="configs-learned")
    _assert_clean(page)
    legend = page.locator(".js-plotly-plot .legendtext").all_text_contents()  # type: ignore[attr-defined]
    assert {"value", "expected", "expected band", "alert"} <= set(legend)
    assert (ARTIFACTS / "dashboard-configs-learned.png").stat().st_size > 20_000
    page.close()  # type: ignore[attr-defined]


def test_chromium_binary_is_the_debian_one() -> None:
    _need_browser()
    out = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30)
    assert "Chromium" in out.stdout
    assert shutil.which("chromium") is not None
