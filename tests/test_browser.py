"""The built chapter pages in a real headless Chromium: figures load, no console errors, nothing external, and the
three-plane MRI viewer (chapters 1 and 6) draws, slices and stays within its size budget (every page: test_site_pages)."""

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


VIEWER_PAGES = ("notebooks/part1_imaging/01_mri_volumes.html", "notebooks/part1_imaging/06_training_inference_evaluation.html")

# Reads the viewer's WebGL canvas right after a draw (NiiVue keeps no drawing buffer between frames): its size,
# the pixels brighter than the black background, the red ones (the tumour overlay) and a hash of all of them.
_SNAPSHOT = """
const nv = document.querySelector('.course-niivue').niivue;
nv.drawScene();
const gl = nv.gl, w = gl.drawingBufferWidth, h = gl.drawingBufferHeight, px = new Uint8Array(w * h * 4);
gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
let lit = 0, red = 0, hash = 0;
for (let i = 0; i < px.length; i += 4) {
  if (px[i] + px[i + 1] + px[i + 2] > 30) lit++;
  if (px[i] > px[i + 1] + 60 && px[i] > px[i + 2] + 60) red++;
  hash = (Math.imul(hash, 31) + px[i] + 7 * px[i + 1] + 13 * px[i + 2]) | 0;
}
return [w, h, lit, red, hash];
"""

_MOVE = """
const [name, value] = arguments;
const input = document.querySelector(`.course-niivue input[aria-label="${name}"]`);
input.value = String(value);
input.dispatchEvent(new Event('input'));
"""


@pytest.mark.parametrize("page", VIEWER_PAGES, ids=["ch01", "ch06"])
def test_three_plane_viewer_draws_slices_and_stays_on_the_site(site, browser, page, record_property):
    """WebGL 2 (headless Chromium draws it in software): the canvas shows the case and the red tumour, and the
    slice and window sliders change the pixels. Without WebGL: the static slices and the one-line note."""
    from selenium.webdriver.support.ui import WebDriverWait

    from course_utils.imaging.viewer import PAGE_BUDGET_BYTES

    browser.get_log("browser")
    _load(browser, f"{site}/{page}")
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "const b = document.querySelector('.course-niivue'); return b !== null && b.dataset.viewer !== 'static';"))
    path = browser.execute_script("return document.querySelector('.course-niivue').dataset.viewer;")
    webgl = browser.execute_script("try { return !!document.createElement('canvas').getContext('webgl2'); } "
                                   "catch (e) { return false; }")
    record_property("viewer_path", path)
    print(f"{page}: the viewer ran the {path} path (WebGL 2 available: {webgl})")
    note = browser.execute_script("return document.querySelector('.course-niivue-note').textContent;")
    if webgl:
        assert path == "webgl", note
        w, h, lit, red, first = browser.execute_script(_SNAPSHOT)
        assert w > 100 and h > 100 and lit > 0.05 * w * h and red > 50, (w, h, lit, red)
        browser.execute_script(_MOVE, "axial slice", 0.3)
        *_, lit_moved, _, moved = browser.execute_script(_SNAPSHOT)
        assert moved != first and lit_moved > 0.05 * w * h, "moving the axial slice changed no pixel"
        browser.execute_script(_MOVE, "window", 60)
        *_, windowed = browser.execute_script(_SNAPSHOT)
        assert windowed != moved, "narrowing the window changed no pixel"
        browser.execute_script(_MOVE, "tumour opacity", 0)
        assert browser.execute_script(_SNAPSHOT)[3] < red, "a transparent overlay still draws red"
    else:
        assert path == "fallback", note
        assert "WebGL" in note
        assert browser.execute_script("return document.querySelector('.course-niivue-fallback').naturalWidth > 0;")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
    sizes = browser.execute_script("return performance.getEntriesByType('resource').map(r => [r.name, r.transferSize]);")
    outside = [name for name, _ in sizes if urlparse(name).hostname not in ("127.0.0.1", None)]
    assert outside == [], f"the page loaded from outside the site: {outside}"
    # Sizes of the files on the site (a script cached by an earlier page has no size in the browser's timings).
    urls = {name for name, _ in sizes} | set(browser.execute_script("return Array.from(document.scripts).map(s => s.src);"))
    files = {HTML / urlparse(u).path.lstrip("/") for u in urls if "/_static/niivue/" in u or "/_static/course_viewer/" in u}
    assert {f.name for f in files} >= {"niivue.umd.js", "course_viewer.js"} | ({"site_case_flair.nii.gz"} if webgl else set())
    viewer_bytes = sum(f.stat().st_size for f in files)
    viewer_bytes += browser.execute_script("return document.querySelector('.course-niivue').outerHTML.length;")
    record_property("viewer_bytes", viewer_bytes)
    assert 2_000_000 < viewer_bytes <= PAGE_BUDGET_BYTES, f"the viewer adds {viewer_bytes} bytes to the page"


def test_pages_without_a_viewer_do_not_load_niivue(site, browser):
    _load(browser, f"{site}/index.html")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name);")
    assert not [r for r in resources if "niivue" in r]


def test_without_webgl_the_viewer_leaves_static_slices_and_a_note(site):
    """A Chromium started with WebGL switched off (--disable-3d-apis) takes the fallback path."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-3d-apis", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        _load(driver, f"{site}/{VIEWER_PAGES[0]}")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "return document.querySelector('.course-niivue').dataset.viewer !== 'static';"))
        path, note, shown = driver.execute_script(
            "const b = document.querySelector('.course-niivue'), i = b.querySelector('.course-niivue-fallback');"
            "return [b.dataset.viewer, b.querySelector('.course-niivue-note').textContent, !i.hidden && i.naturalWidth > 0];")
        assert (path, shown) == ("fallback", True) and "no WebGL" in note, (path, note)
        assert driver.execute_script("return document.querySelector('.course-niivue canvas') === null;")
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()
