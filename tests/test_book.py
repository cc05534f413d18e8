"""The book: a notebook that raises fails the build; the built site is offline and complete."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
JB = Path(sys.executable).with_name("jupyter-book")


def _book(tmp_path: Path, source: str) -> Path:
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copytree(ROOT / "book" / "_ext", book / "book" / "_ext")
    shutil.copy(ROOT / "book" / "references.bib", book / "book" / "references.bib")
    for static in ("niivue", "course_viewer"):  # the build checks the vendored viewer before anything else
        shutil.copytree(ROOT / "book" / "_static" / static, book / "book" / "_static" / static)
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: chapter\n")
    (book / "index.md").write_text("# Test book\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Chapter"), nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "chapter.ipynb")
    return book


def _build(book: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(JB), "build", str(book), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True, timeout=600)


def test_a_notebook_that_raises_fails_the_build(tmp_path):
    failing = _build(_book(tmp_path, "raise RuntimeError('planted failure')"))
    assert failing.returncode != 0, failing.stdout[-2000:]
    output = failing.stdout + failing.stderr
    assert "Executing notebook failed" in output or "Execution Failed" in output, output[-2000:]
    report = next((tmp_path / "book" / "_build" / "html" / "reports").glob("*.err.log"))
    assert "planted failure" in report.read_text()


def _built() -> Path:
    page = HTML / "notebooks" / "part1_imaging" / "01_mri_volumes.html"
    if not page.is_file():
        pytest.skip("the book is not built (run `make book`; `make test` builds it first)")
    return page


def test_built_site_loads_nothing_from_the_internet():
    _built()
    external = re.compile(r"""<(?:script|link|img)[^>]+(?:src|href)=["'](https?:)?//""", re.I)
    offenders = {p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html") if external.search(p.read_text())}
    assert offenders == set()
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_chapter_page_has_executed_figures_and_resolved_glue():
    text = _built().read_text()
    assert len(re.findall(r"<img[^>]+src=\"[^\"]+\.png\"", text)) >= 8
    assert "{glue" not in text and "not attempted yet" in text
    assert "nbgitpuller" not in text or "git-pull" in text
    if not os.environ.get("COURSE_HUB_URL"):
        assert "git-pull" not in text  # no hub named when building: no launch button
    assert "Traceback" not in text


def test_launch_button_only_for_a_named_hub(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        from course_book import launch_hub_url
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    assert launch_hub_url("", "") == ""
    assert launch_hub_url("", "https://hub.example.org") == ""  # a placeholder is no hub
    assert launch_hub_url("https://hub.uni.edu", "") == "https://hub.uni.edu"
    assert launch_hub_url("", "https://jupyter.uni.edu/") == "https://jupyter.uni.edu/"
    assert 'jupyterhub_url: ""' in (ROOT / "_config.yml").read_text()
    # The built book (test_chapter_page_has_executed_figures_and_resolved_glue) checks the unset case.
    book = _book(tmp_path, "print('hello')")
    shutil.copytree(ROOT / "book" / "_static", book / "book" / "_static", dirs_exist_ok=True)
    monkeypatch.setenv("COURSE_HUB_URL", "https://hub.uni.edu")
    built = _build(book)
    assert built.returncode == 0, built.stdout[-2000:]
    assert "https://hub.uni.edu/hub/user-redirect/git-pull" in (book / "_build" / "html" / "chapter.html").read_text()


def test_build_never_reads_the_virtual_environment():
    _built()
    assert not any(".venv" in p.as_posix() for p in HTML.rglob("*"))
    sources = (HTML / "_sources").rglob("*") if (HTML / "_sources").is_dir() else []
    assert not any("site-packages" in p.as_posix() for p in sources)


def test_data_page_lists_every_manifest():
    _built()
    from course_utils.data import list_manifests, load_manifest

    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", (HTML / "book" / "data.html").read_text()))
    for name in list_manifests():
        m = load_manifest(name)
        assert f"{name}: {m.title}" in text, name
        assert m.licence.split()[0] in text
    assert "python -m course_utils.data fetch msd_task01" in text
    assert "python -m course_utils.data convert brats_flair_seed" in text


def test_every_chapter_page_renders_its_solutions_and_no_stray_blocks():
    _built()
    pages = sorted((HTML / "notebooks").rglob("*.html"))
    assert len(pages) >= 6
    empty_block = re.compile(r"<pre><span></span>\s*</pre>")
    for page in pages:
        text = page.read_text()
        assert not empty_block.search(text), f"{page.name}: an empty code block (a fence left open?)"
        assert "Traceback" not in text and "{eval}" not in text, page.name
        exercises = len(re.findall(r'<section id="exercise-\d', text))
        assert exercises >= 1 and text.count("<details") >= exercises, f"{page.name}: a solution dropdown is missing"
