"""The built book as a reader's browser shows it (headless Chromium over the smoke-tier book that
tests/test_notebooks.py builds): every page loads and runs its scripts, no table or figure is wider than
the content column, no cell shows an error, every interactive table has loaded, and no machine path, tool
chatter or raw identifier header reaches the reader."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_notebooks import NOTEBOOKS, build_smoke_book

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHECK_SCRIPT = f"<script>{Path(__file__).with_name('book_check.js').read_text()}</script>"
RESULT = re.compile(r'data-book-check="([^"]*)"')

pytestmark = [pytest.mark.notebook,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed and could not be "
                                 "(`make test` runs `apt-get install -y chromium` where it can): browser check "
                                 "skipped")]


@pytest.fixture(scope="module")
def built_book(smoke_book):
    html_dir = smoke_book / "_build" / "html"
    if not (html_dir / "executed" / "07_results.html").exists():
        build_smoke_book(smoke_book)
    return html_dir


def browser_check(page: Path) -> dict:
    """Load a copy of ``page`` (beside it, so its assets resolve) with ``CHECK_SCRIPT`` in headless Chromium
    at a laptop's window size; return what the script found."""
    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(page.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    try:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", "--window-size=1280,1400",
             "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    found = RESULT.search(result.stdout)
    assert found, f"{page.name}: the page did not load in Chromium ({result.stderr[-1500:]})"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_chapter_loads_fits_the_column_and_shows_no_error(stem, built_book):
    check = browser_check(built_book / "executed" / f"{stem}.html")
    assert check["article"], f"{stem}: no content column found"
    assert check["wide"] == [], f"{stem}: wider than the content column: {check['wide']}"
    assert check["errors"] == [], f"{stem}: error outputs: {check['errors']}"
    assert check["unloaded"] == [], f"{stem}: interactive tables that never loaded: {check['unloaded']}"
    assert check["machinePaths"] == [], f"{stem}: machine paths shown to the reader: {check['machinePaths']}"
    assert check["chatter"] == [], f"{stem}: tool chatter shown to the reader: {check['chatter']}"
    assert check["identifiers"] == [], f"{stem}: raw identifiers as column headers: {check['identifiers']}"
    assert check["runNames"] == [], f"{stem}: run folder names instead of their titles: {check['runNames']}"


def test_the_browser_check_finds_an_unloaded_table_a_machine_path_a_raw_header_and_a_run_name(tmp_path):
    """The check must be able to fail: a page with each fault it looks for."""
    page = tmp_path / "faults.html"
    page.write_text("<html><body><main><p>Loading ITables v2 from the internet...</p><p>/tmp/secret/x.png</p>"
                    "<table><tr><th>difference_pp</th><th>Accuracy (%)</th></tr>"
                    "<tr><td>exp_base_seed2</td><td>1</td></tr></table>"
                    "<pre>make train CONFIG=params/cpu/runs/exp_base.yaml  # results/runs/exp_base_seed1/</pre>"
                    "</main></body></html>")
    check = browser_check(page)
    assert check["unloaded"] and check["machinePaths"] == ["/tmp/secret/x.png"]
    assert check["identifiers"] == ["difference_pp"]
    assert check["runNames"] == ["exp_base_seed2"]  # the one in code is allowed
