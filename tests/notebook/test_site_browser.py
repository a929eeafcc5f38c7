"""The built site in a real browser: Debian's chromium, headless, driven by playwright.

The project's set-up installs the browser (`scripts/install_browser.sh`, run once by
`make test`), so a missing browser is a failure with that instruction, not a skip.
Playwright's own browser download is never used: it is launched with the system
chromium as `executable_path`.

Claims are judged against made-up figures (see `site_helpers`) so that the tables and a
figure are on the pages without running the experiments. A screenshot of the momentum
page is saved to test-artifacts/site.png for a person to look at.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from mlnotebook.notebook.registry import Notebook, load_notebook
from mlnotebook.notebook.site import build_site
from tests.notebook.site_helpers import SVG, passing_results

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
INSTALL_HINT = "run scripts/install_browser.sh (make test runs it) to install it"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(f"chromium is not on PATH: {INSTALL_HINT}")
    return path


def test_a_missing_browser_fails_with_the_install_instruction(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.fail.Exception, match=r"run scripts/install_browser\.sh"):
        _chromium()


@pytest.fixture(scope="module")
def notebook() -> Notebook:
    return load_notebook()


@pytest.fixture(scope="module")
def site(notebook: Notebook, tmp_path_factory: pytest.TempPathFactory) -> Path:
    entries = list(notebook.entries.values())
    results = passing_results(entries)
    momentum_experiment = notebook.get("momentum").claims[0].experiment
    figures = {momentum_experiment: {"svg": {"ravine.svg": SVG}}}
    index = build_site(notebook, tmp_path_factory.mktemp("browser") / "site", results, figures)
    return index.parent


@pytest.fixture(scope="module")
def browser() -> Iterator:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the playwright package is missing: {INSTALL_HINT}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


class _Watched:
    """A page plus every console error, uncaught exception and failed or remote request."""

    def __init__(self, browser) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        self.page.on("request", self._request)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _request(self, request) -> None:
        if urlsplit(request.url).scheme not in ("file", "data") and "127.0.0.1" not in (
            request.url
        ):
            self.problems.append(f"remote request: {request.url}")

    def open(self, url: str) -> None:
        self.problems.clear()
        self.page.goto(url, wait_until="load")
        assert self.page.evaluate("document.readyState") == "complete"


@pytest.fixture
def watched(browser) -> Iterator[_Watched]:
    watched = _Watched(browser)
    yield watched
    watched.page.close()


def _site_pages(site: Path) -> list[Path]:
    return [site / "index.html", site / "claims.html", *sorted((site / "entries").glob("*.html"))]


def test_every_page_loads_without_errors_and_its_links_exist(site: Path, watched) -> None:
    for page in _site_pages(site):
        watched.open(page.as_uri())
        assert watched.problems == [], (page.name, watched.problems)
        hrefs = watched.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        for href in hrefs:
            parts = urlsplit(href)
            if parts.scheme != "file":
                continue  # a paper's address: a link the reader may follow, never loaded
            target = Path(unquote(parts.path))
            assert target.is_file(), (page.name, href)
            if parts.fragment:
                assert parts.fragment in _ids(target), (page.name, href)


def _ids(target: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', target.read_text(encoding="utf-8")))


def test_clicking_an_entry_on_the_index_opens_it(site: Path, watched, notebook) -> None:
    watched.open((site / "index.html").as_uri())
    watched.page.click(f"ul.entries a:text-is('{notebook.get('momentum').term}')")
    watched.page.wait_for_url("**/entries/momentum.html")
    assert watched.page.locator("h1").inner_text() == notebook.get("momentum").term
    assert watched.problems == []


def test_equations_are_laid_out_as_mathml(site: Path, watched, notebook) -> None:
    pages_with_maths = 0
    for slug in notebook.entries:
        watched.open((site / "entries" / f"{slug}.html").as_uri())
        boxes = watched.page.eval_on_selector_all(
            "math",
            """maths => maths.map(m => {
                const box = m.getBoundingClientRect();
                return [box.width, box.height, getComputedStyle(m).display];
            })""",
        )
        for width, height, display in boxes:
            assert width > 0 and height > 0, slug
            assert "math" in display, (slug, display)  # MathML layout, not plain inline text
        pages_with_maths += bool(boxes)
    assert pages_with_maths >= len(notebook.entries) // 2


def test_figures_and_code_render(site: Path, watched) -> None:
    watched.open((site / "entries" / "momentum.html").as_uri())
    images = watched.page.eval_on_selector_all(
        "#figures img",
        "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().height])",
    )
    assert images, "the momentum page shows its experiment's figure"
    for complete, natural_width, height in images:
        assert complete and natural_width > 0 and height > 0
    code_height = watched.page.eval_on_selector(
        "figure.source pre", "pre => pre.getBoundingClientRect().height"
    )
    assert code_height > 100
    assert watched.page.locator("table.claims .badge").count() >= 3


def test_search_finds_momentum(site: Path, watched, notebook) -> None:
    term = notebook.get("momentum").term
    other = next(slug for slug in notebook.entries if slug != "momentum")
    watched.open((site / "entries" / f"{other}.html").as_uri())
    watched.page.fill("#search", "momentum")
    results = watched.page.locator("#search-results a")
    results.first.wait_for()
    assert term in results.all_inner_texts()
    assert results.first.inner_text() == term  # a name match ranks first
    watched.page.screenshot(path=str(_artifact("site.png")))
    watched.page.keyboard.press("Enter")
    watched.page.wait_for_url("**/entries/momentum.html")
    watched.page.fill("#search", "zzzz nothing")
    assert watched.page.locator("#search-results li.empty").is_visible()
    assert watched.problems == []


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _http_server(folder: Path) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert server.poll() is None, "python -m http.server exited"
            assert time.monotonic() < deadline, "python -m http.server did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_site_works_served_over_http(site: Path, watched, notebook) -> None:
    with _http_server(site) as address:
        watched.open(f"{address}entries/momentum.html")
        assert watched.problems == []
        assert watched.page.locator("h1").inner_text() == notebook.get("momentum").term
        assert watched.page.eval_on_selector("math", "m => m.getBoundingClientRect().width") > 0
        watched.page.fill("#search", "momentum")
        watched.page.locator("#search-results a").first.wait_for()
        watched.page.click("nav a:text-is('Claims')")
        watched.page.wait_for_url(f"{address}claims.html")
        assert watched.problems == []
