"""Real-data guards (run when COURSE_REAL_DATA points at the shared folder of real public data).

The Ruijin diabetes corpus has no clear licence: none of its text may reach fixtures, notebook outputs or
the built site. And no real data file may be committed: the course gets data through its manifests.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.real_data


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / p for p in out.stdout.split("\0") if p]


def _ruijin_snippets(real_data: Path, n: int = 400, length: int = 16) -> list[str]:
    folder = real_data / "ruijin_diabetes"
    if not folder.is_dir():
        pytest.skip("no ruijin_diabetes folder in COURSE_REAL_DATA")
    rng = random.Random(0)
    texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))]
    snippets = []
    while len(snippets) < n:
        text = rng.choice(texts).replace("\n", "")
        if len(text) > length:
            start = rng.randrange(len(text) - length)
            piece = text[start : start + length]
            if sum(ord(c) > 0x2E80 for c in piece) >= length // 2:  # mostly CJK: not a shared number or word
                snippets.append(piece)
    return snippets


def test_no_ruijin_text_in_the_project_or_the_site(real_data):
    snippets = _ruijin_snippets(real_data)
    files = [p for p in _tracked_files() if p.is_file()]
    site = ROOT / "_build" / "html"
    if site.is_dir():
        files += [p for p in site.rglob("*") if p.suffix in {".html", ".txt", ".js", ".json", ".ipynb"}]
    leaks = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8").replace("\n", "")
        except (UnicodeDecodeError, OSError):
            continue
        leaks += [(path, s) for s in snippets if s in text]
    assert leaks == [], f"Ruijin text found in: {sorted({str(p) for p, _ in leaks})}"


def test_no_real_data_file_is_committed(real_data):
    data_files = [p for p in real_data.rglob("*") if p.is_file() and p.stat().st_size > 2048]
    hashes = subprocess.run(["git", "hash-object", "--stdin-paths"], input="\n".join(map(str, data_files)),
                            capture_output=True, text=True, check=True).stdout.split()
    staged = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    committed = {line.split()[1] for line in staged.splitlines() if line}
    leaked = [str(p) for p, h in zip(data_files, hashes) if h in committed]
    assert leaked == [], f"real data files committed into the project: {leaked}"


# Folders of COURSE_REAL_DATA, the manifests whose `verify` they face, and the problems each copy must show:
# the shared copies are partial (BioRED and NCBI-disease without their test sets, Ruijin with 327 of the 363
# documents of the full training set), and verify must find exactly that. UMNSRS and MayoSRS are not here:
# the shared copies come from another distribution (wvlib) than the manifests' files.
REAL_FOLDERS = {
    "biored": ("biored", ["Test.PubTator"]),
    "litcoin": ("litcoin", []),
    "ncbi_disease": ("ncbi_disease", ["NCBItestset"]),
    "bio_simlex": ("word_similarity", []),
    "ruijin_diabetes": ("ruijin_diabetes", ["327 by brat_documents, expected 363"]),
}


@pytest.mark.parametrize("name", sorted(REAL_FOLDERS))
def test_verify_on_the_real_files(real_data, name):
    from course_utils.data import verify

    folder_name, expected_problems = REAL_FOLDERS[name]
    folder = real_data / folder_name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not in COURSE_REAL_DATA")
    report = verify(name, folder)
    assert report.checked, "verify checked nothing"
    for problem in report.problems:
        assert any(e in problem for e in expected_problems), f"unexpected problem: {problem}\n{report}"
    for expected in expected_problems:
        assert any(expected in p for p in report.problems), f"verify missed: {expected}\n{report}"
