"""The built chapter-1 page in a real headless Chromium: figures load, no console errors, nothing external."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
PAGE = "notebooks/part1_imaging/01_mri_volumes.html"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site():
    if not (HTML / PAGE).is_file():
        pytest.fail("the book is not built: `make test` builds it before the tests (or run `make book`)")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _load(browser, url: str) -> None:
    browser.get(url)
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight);")  # trigger lazy images
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)")
    )


def test_chapter_one_figures_load_without_errors(site, browser):
    browser.get_log("browser")  # forget what earlier pages logged
    _load(browser, f"{site}/{PAGE}")
    images = browser.execute_script(
        "return Array.from(document.querySelectorAll('main img')).map(i => [i.currentSrc, i.naturalWidth]);"
    )
    figures = [src for src, width in images if ".png" in src]
    assert len(figures) >= 8, images
    broken = [src for src, width in images if width == 0]
    assert broken == [], f"images that did not load: {broken}"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name);")
    outside = [r for r in resources if urlparse(r).hostname not in ("127.0.0.1", None)]
    assert outside == [], f"the page loaded from outside the site: {outside}"


def test_maths_renders_from_the_local_mathjax(site, browser):
    _load(browser, f"{site}/{PAGE}")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length > 0"))
    scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.src).filter(s => s.includes('mathjax'));")
    assert scripts and all(s.startswith(site) for s in scripts)


def test_launch_button_only_when_a_hub_is_named(site, browser):
    """With COURSE_HUB_URL set when building, the button opens that hub through nbgitpuller; without it, none."""
    _load(browser, f"{site}/{PAGE}")
    links = browser.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.href);")
    hub = [link for link in links if "git-pull" in link]
    named = os.environ.get("COURSE_HUB_URL", "").strip()
    if named:
        assert hub and hub[0].startswith(named.rstrip("/")) and "01_mri_volumes.ipynb" in hub[0] and "repo=" in hub[0]
    else:
        assert hub == [] and not any("example.org" in link for link in links)
