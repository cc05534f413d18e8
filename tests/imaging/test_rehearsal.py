"""Rehearsal of Part I's lab path on a CPU: chapters 1-6 executed with ``COURSE_PROFILE=lab`` on a small synthetic
MSD Task01 folder of realistic geometry (1 mm voxels, the MNI152 field of view, so about 140 x 170 x 140 after
cropping; four sequences, labels 0-3), read through ``COURSE_MRI_DIR``, with the schedule shortened by the one
documented override ``COURSE_SCHEDULE_OVERRIDE`` (course_utils/profiles.py). Everything else is the lab
profile's: its plans (a 1-mm patch, several sliding-window tiles), its one fold, its regions dataset, its prose
and its claims (those about how well a model learned are skipped under the override).

Slow (tens of minutes on two cores), so outside the default run. Run it with::

    COURSE_REHEARSAL=1 .venv/bin/python -m pytest -o addopts="" -p no:cacheprovider -m rehearsal -s tests/imaging/test_rehearsal.py

``COURSE_REHEARSAL_CHAPTERS`` (e.g. ``5,6``) runs a subset; the folder of the run is kept under
``COURSE_REHEARSAL_DIR`` when set (default: pytest's temporary folder), with the time of each chapter in
``times.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks" / "part1_imaging").glob("0[1-6]_*.ipynb"))
# Two short epochs, and no test-time mirroring: on a CPU a 1-mm case takes 12 tiles x 8 mirrored passes with it.
SCHEDULE = {"num_epochs": 2, "iterations_per_epoch": 1, "val_iterations_per_epoch": 1, "test_time_mirroring": False}
N_CASES = 6  # the hash-chosen fifth holds one out; five train, one validation case per fold of nnU-Net's five

pytestmark = [
    pytest.mark.rehearsal,
    pytest.mark.timeout(4 * 3600),
    pytest.mark.skipif(not os.environ.get("COURSE_REHEARSAL"), reason="slow: set COURSE_REHEARSAL=1 (see the docstring)"),
]


def _realistic_msd_folder(root: Path) -> Path:
    """Write N_CASES synthetic cases at 1 mm in MSD Task01's layout, without the synthetic truth file, so the course
    treats the folder as real data (held-out fifth, labelsTs)."""
    from course_utils.imaging.synthetic import make_cases, write_msd_layout

    folder = root / "Task01_rehearsal"
    if not (folder / ".complete").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        write_msd_layout(folder, make_cases(N_CASES, seed=4321, spacing_mm=(1.0, 1.0, 1.0), prefix="rehearsal"))
        (folder / "synthetic_truth.json").unlink()
        (folder / ".complete").write_text("ok")
    return folder


def test_part1_lab_path_rehearsal(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    base = Path(os.environ.get("COURSE_REHEARSAL_DIR") or tmp_path)
    base.mkdir(parents=True, exist_ok=True)
    data = _realistic_msd_folder(base)
    wanted = {int(c) for c in os.environ.get("COURSE_REHEARSAL_CHAPTERS", "1,2,3,4,5,6").split(",") if c.strip()}
    monkeypatch.setenv("COURSE_PROFILE", "lab")
    monkeypatch.setenv("COURSE_MRI_DIR", str(data))
    monkeypatch.setenv("COURSE_WORK_DIR", str(base / "work"))
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", json.dumps(SCHEDULE))
    monkeypatch.setenv("COURSE_STATIC_FIGURES", "1")
    times_file = base / "times.json"
    times = json.loads(times_file.read_text()) if times_file.is_file() else {}
    for path in NOTEBOOKS:
        if int(path.name[:2]) not in wanted:
            continue
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        times[path.stem] = round(time.perf_counter() - start, 1)
        times_file.write_text(json.dumps(times, indent=2))
    from course_utils.imaging import nnunet_cli as cli

    if 6 in wanted:  # the lab path's one fold: no duplicate "ensemble" prediction, and the regions were evaluated
        chapter6 = base / "work" / "chapter6"
        assert (chapter6 / "fold_0").is_dir() and not (chapter6 / "ensemble").exists()
        assert cli.prediction_folder("fold 0", regions=True, root=base / "work").is_dir()
