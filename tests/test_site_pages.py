"""Every page of the built site in a real headless Chromium (issue 30).

Each page is opened once (a module fixture records what the browser saw) and the tests assert, over all pages: no
console errors, no request leaving the site, every image loads, maths renders, every internal link and anchor
resolves, the search page finds a chapter by a word in it, and no path of the machine that built the site shows.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}

pytestmark = pytest.mark.browser


def site_pages(html: Path = HTML) -> list[str]:
    """Return every page of the built site (relative paths), the theme's own assets left out."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not SKIP_DIRS & set(p.relative_to(html).parts[:-1]))


def toc_files(root: Path = ROOT) -> list[str]:
    """Return every file named in ``_toc.yml`` (without suffix)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8")))
    return found


_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")


@functools.cache
def _anchors(path: Path) -> frozenset[str]:
    return frozenset(_ID.findall(path.read_text(encoding="utf-8", errors="replace")))


@dataclass
class Seen:
    """What the browser saw on one page."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    n_maths: int = 0
    maths_rendered: int = 0
    maths_errors: int = 0
    links: list[str] = field(default_factory=list)
    seconds: float = 0.0


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").is_file():
        pytest.fail("the book is not built: `make test` builds it before the tests (or run `make book`)")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


_LOOK = """
const maths = document.querySelectorAll('main .math, main span.math, main div.math');
return {
  images: Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete && i.naturalWidth > 0]),
  resources: performance.getEntriesByType('resource').map(r => r.name),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  maths: maths.length,
  rendered: document.querySelectorAll('main mjx-container').length,
  merrors: document.querySelectorAll('mjx-merror').length,
};
"""


@pytest.fixture(scope="module")
def visited(site, browser) -> dict[str, Seen]:
    """Open every page once; return what was seen, by page."""
    from selenium.webdriver.support.ui import WebDriverWait

    seen: dict[str, Seen] = {}
    for page in site_pages():
        start = time.perf_counter()
        browser.get_log("browser")  # forget what the previous page logged
        browser.get(f"{site}/{page}")
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight);")  # lazy images
        WebDriverWait(browser, 30, poll_frequency=0.05).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"))
        if browser.execute_script("return document.querySelectorAll('main .math').length") > 0:
            try:
                WebDriverWait(browser, 30, poll_frequency=0.05).until(lambda d: d.execute_script(
                    "return document.querySelectorAll('main mjx-container').length >= "
                    "document.querySelectorAll('main .math').length"))
            except Exception:  # noqa: BLE001 - the maths test reports what did not render
                pass
        look = browser.execute_script(_LOOK)
        record = Seen(
            errors=[e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"],
            outside=[r for r in look["resources"] if urlparse(r).hostname not in ("127.0.0.1", None)],
            broken_images=[src[:120] for src, ok in look["images"] if not ok],
            n_maths=look["maths"], maths_rendered=look["rendered"], maths_errors=look["merrors"],
            links=look["links"],
        )
        record.seconds = time.perf_counter() - start
        seen[page] = record
    return seen


def test_every_page_of_the_toc_is_built():
    pages = set(site_pages())
    missing = [f for f in toc_files() if f"{Path(f).with_suffix('').as_posix()}.html" not in pages]
    assert missing == [], f"toc entries with no page: {missing}"
    assert {"index.html", "search.html"} <= pages


def test_no_console_errors_on_any_page(visited):
    errors = {page: s.errors for page, s in visited.items() if s.errors}
    assert errors == {}, errors
    slowest = sorted(visited.items(), key=lambda kv: -kv[1].seconds)[:3]
    print(f"{len(visited)} pages opened in {sum(s.seconds for s in visited.values()):.1f} s; slowest: "
          + ", ".join(f"{page} {s.seconds:.1f} s" for page, s in slowest), file=sys.stderr)


def test_no_request_leaves_the_site(visited):
    outside = {page: s.outside for page, s in visited.items() if s.outside}
    assert outside == {}, outside


def test_every_image_loads(visited):
    broken = {page: s.broken_images for page, s in visited.items() if s.broken_images}
    assert broken == {}, broken


def test_maths_renders_wherever_there_is_maths(visited):
    with_maths = {page: s for page, s in visited.items() if s.n_maths}
    assert with_maths, "no page has maths: the check would be empty"
    bad = {page: (s.n_maths, s.maths_rendered, s.maths_errors) for page, s in with_maths.items()
           if s.maths_rendered < s.n_maths or s.maths_errors}
    assert bad == {}, f"page: (maths, rendered, errors): {bad}"


def test_every_internal_link_and_anchor_resolves(site, visited):
    bad: dict[str, list[str]] = {}
    for page, s in visited.items():
        for link in set(s.links):
            url = urlparse(link)
            if not link.startswith(site) or url.scheme not in ("http", "https"):
                continue
            path = unquote(url.path).lstrip("/")
            target = HTML / path
            if path == "" or target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                bad.setdefault(page, []).append(f"{link} (no file)")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _anchors(target):
                bad.setdefault(page, []).append(f"{link} (no anchor)")
    assert bad == {}, bad


def test_search_finds_a_chapter_by_a_word_in_it(site, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{site}/search.html?q=sagittal")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return document.querySelectorAll('#search-results ul.search li a').length > 0"))
    hits = browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href);")
    assert any("01_mri_volumes" in hit for hit in hits), hits


def test_the_site_shows_no_path_of_the_building_machine():
    """The folders of the machine that built the site: the course's own, home, the virtual environment."""
    folders = {str(ROOT), str(ROOT.resolve()), sys.prefix, os.path.realpath(sys.prefix)}
    home = str(Path.home())
    if len(Path(home).parts) > 1:
        folders.add(home)
    for name in ("COURSE_REAL_DATA", "COURSE_MRI_DIR", "COURSE_DATA_DIR", "COURSE_WORK_DIR"):
        if os.environ.get(name, "").strip():
            folders.add(str(Path(os.environ[name]).resolve()))
    pattern = re.compile("|".join(re.escape(f) + r"(?=[/\\\s'\"`),:;<&\]]|$)" for f in sorted(folders, key=len, reverse=True)))
    files = [p for p in HTML.rglob("*") if p.suffix in (".html", ".js", ".txt") and p.is_file()
             and "_static" not in p.relative_to(HTML).parts]
    shown = {}
    for path in files:
        hits = sorted(set(pattern.findall(path.read_text(encoding="utf-8", errors="replace"))))
        if hits:
            shown[path.relative_to(HTML).as_posix()] = hits
    assert shown == {}, f"absolute paths of this machine on the site: {shown}"
