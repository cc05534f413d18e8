"""Shared fixtures and markers. Synthetic data comes from the package's own generators."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    # Tests always run in smoke, write under _build/, and show static figures unless a test says otherwise.
    os.environ["COURSE_PROFILE"] = os.environ.get("COURSE_PROFILE", "smoke")
    os.environ.setdefault("COURSE_WORK_DIR", str(ROOT / "_build" / "work"))  # shared with the book build
    os.environ.setdefault("MPLBACKEND", "Agg")
    # nbval runs the chapter-1 notebook on the seed's FLAIR layout; the book build runs it on the MSD
    # layout, so between them both layouts are executed and each notebook runs twice in all.
    if getattr(config.option, "nbval_lax", False) and "COURSE_MRI_DIR" not in os.environ:
        from course_utils.imaging.synthetic import synthetic_dataset
        from course_utils.profiles import chapter_settings

        # The same cases Part I's smoke chapters use (seed layout, 12 cases at 4 mm), so chapters 2-6 under
        # nbval reuse the dataset the book build converted and planned.
        smoke = chapter_settings(2, "smoke")
        os.environ["COURSE_MRI_DIR"] = str(synthetic_dataset("seed", smoke.n_cases, seed=smoke.seed,
                                                             spacing_mm=smoke.spacing_mm))


# Which notebooks nbval runs. The book build executes every notebook once (smoke, jupyter-cache; a cell that
# raises fails the build). Part I's notebooks run a second time under nbval because that run covers what the
# build's does not (the seed's FLAIR layout instead of the MSD layout). Every other notebook would only repeat
# the build's run, so when the build has executed them (tools/course.sh sets COURSE_BOOK_CACHE) nbval skips
# them and tests/test_notebooks_executed.py checks the build's cache instead: each notebook of the table of
# contents executed, without error, for its current code.
NBVAL_SECOND_RUN = ("notebooks/part1_imaging/",)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix != ".ipynb" or not os.environ.get("COURSE_BOOK_CACHE"):
        return None
    try:
        relative = collection_path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None
    if any(relative.startswith(prefix) for prefix in NBVAL_SECOND_RUN):
        return None
    return True


def _real_data() -> Path | None:
    value = os.environ.get("COURSE_REAL_DATA", "").strip()
    return Path(value) if value and Path(value).is_dir() else None


def _browser_available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    real = _real_data()
    for item in items:
        if "real_data" in item.keywords and real is None:
            item.add_marker(pytest.mark.skip(reason="COURSE_REAL_DATA is not set to a folder of real data"))
        if "browser" in item.keywords and not _browser_available() and not os.environ.get("CI"):
            item.add_marker(pytest.mark.skip(reason="no chromium/chromedriver (CI installs them; outside CI: skipped)"))
        if "gpu" in item.keywords:
            import torch

            if not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason="no CUDA GPU"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = _real_data()
    assert path is not None
    return path


@pytest.fixture(scope="session")
def synthetic_case():
    """One synthetic case at 4 mm (seed 7)."""
    from course_utils.imaging.synthetic import make_case

    return make_case("case_001", 7)


@pytest.fixture(scope="session")
def msd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from course_utils.imaging.synthetic import synthetic_dataset

    return synthetic_dataset("msd", 3, seed=11, n_test=1, root=tmp_path_factory.mktemp("msd"))


@pytest.fixture(scope="session")
def seed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from course_utils.imaging.synthetic import synthetic_dataset

    return synthetic_dataset("seed", 2, seed=21, root=tmp_path_factory.mktemp("seed"))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove the course's environment variables for a test that checks defaults."""
    for name in ("COURSE_PROFILE", "COURSE_DEVICE", "COURSE_MRI_DIR", "COURSE_STATIC_FIGURES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by selenium (Debian chromium + chromedriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
