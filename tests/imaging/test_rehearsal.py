"""Rehearsal of Part I's lab path on a CPU: chapters 1-6 executed with ``COURSE_PROFILE=lab`` on a small synthetic
MSD Task01 folder of realistic geometry (1 mm voxels, the MNI152 field of view, so 159 x 201 x 159 after cropping,
for which nnU-Net's planner gives a patch of 128 x 160 x 112 where MSD's 138 x 169 x 138 gets 128^3; four
sequences, labels 0-3), read through ``COURSE_MRI_DIR``, with the schedule shortened by the one
documented override ``COURSE_SCHEDULE_OVERRIDE`` (course_utils/profiles.py). Everything else is the lab
profile's: its plans (a 1-mm patch, several sliding-window tiles), its one fold, its regions dataset, its prose
and its claims. A claim about how well a model learned says why it cannot hold after a few iterations
(``at_scale``): it is still evaluated, and waived with that reason when it fails; every claim's outcome is logged
(``COURSE_CLAIMS_LOG``, ``claims-<profile>.jsonl`` in the rehearsal folder) and none may fail outright.

The second test rehearses chapter 6 with ``COURSE_PROFILE=full``, where its path differs: 2d trained beside
3d_fullres (with the softmax, ``--npz``), nnU-Net's choice between them and their ensemble, and two folds, each at 2
epochs (the BraTS regions stay off: the lab rehearsal runs them).

Slow (tens of minutes on two cores), so outside the default run. Run it with::

    COURSE_REHEARSAL=1 .venv/bin/python -m pytest -o addopts="" -p no:cacheprovider -m rehearsal -s tests/imaging/test_rehearsal.py

``COURSE_REHEARSAL_CHAPTERS`` (e.g. ``5,6``) runs a subset (the full profile's test runs when it names 6); the
folder of the run is kept under ``COURSE_REHEARSAL_DIR`` when set (default: pytest's temporary folder), with the
time of each chapter in ``times.json``.
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
# The full profile's configuration choice: its 2d beside 3d_fullres, two folds (so folds and configurations are both
# ensembled), 2 epochs; the regions are the lab rehearsal's.
FULL_SCHEDULE = {**SCHEDULE, "folds": [0, 1], "train_regions": False}
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


def _wanted() -> set[int]:
    return {int(c) for c in os.environ.get("COURSE_REHEARSAL_CHAPTERS", "1,2,3,4,5,6").split(",") if c.strip()}


def _execute(base: Path, profile: str, work: Path, schedule: dict, chapters: set[int], monkeypatch) -> list[dict]:
    """Execute Part I's ``chapters`` under ``profile`` with ``schedule``; return the claims they logged."""
    from nbclient import NotebookClient

    data = _realistic_msd_folder(base)
    claims_log = base / f"claims-{profile}.jsonl"
    claims_log.unlink(missing_ok=True)
    monkeypatch.setenv("COURSE_PROFILE", profile)
    monkeypatch.setenv("COURSE_MRI_DIR", str(data))
    monkeypatch.setenv("COURSE_WORK_DIR", str(work))
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", json.dumps(schedule))
    monkeypatch.setenv("COURSE_STATIC_FIGURES", "1")
    monkeypatch.setenv("COURSE_CLAIMS_LOG", str(claims_log))
    times_file = base / "times.json"
    times = json.loads(times_file.read_text()) if times_file.is_file() else {}
    for path in NOTEBOOKS:
        if int(path.name[:2]) not in chapters:
            continue
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        times[f"{path.stem} ({profile})"] = round(time.perf_counter() - start, 1)
        times_file.write_text(json.dumps(times, indent=2))
    claims = [json.loads(line) for line in claims_log.read_text().splitlines()] if claims_log.is_file() else []
    assert not [c for c in claims if c["outcome"] == "failed"]
    assert all(c["at_scale"] for c in claims if c["outcome"] == "waived")  # each waived claim says why
    return claims


def test_part1_lab_path_rehearsal(tmp_path, monkeypatch):
    base = Path(os.environ.get("COURSE_REHEARSAL_DIR") or tmp_path)
    base.mkdir(parents=True, exist_ok=True)
    wanted = _wanted()
    claims = _execute(base, "lab", base / "work", SCHEDULE, wanted, monkeypatch)
    from course_utils.imaging import nnunet_cli as cli

    if 6 in wanted:  # the lab path's one fold: no duplicate "ensemble" prediction, and the regions were evaluated
        chapter6 = base / "work" / "chapter6"
        assert (chapter6 / "fold_0").is_dir() and not (chapter6 / "ensemble").exists()
        assert cli.prediction_folder("fold 0", regions=True, root=base / "work").is_dir()
        statements = {c["statement"] for c in claims}
        assert "the training loss of the first fold falls" in statements  # evaluated (held or waived), not skipped


def test_part1_full_profile_configuration_choice_rehearsal(tmp_path, monkeypatch):
    if 6 not in _wanted():
        pytest.skip("COURSE_REHEARSAL_CHAPTERS leaves chapter 6 out")
    base = Path(os.environ.get("COURSE_REHEARSAL_DIR") or tmp_path)
    base.mkdir(parents=True, exist_ok=True)
    work = base / "work-full"  # its own folder: the lab rehearsal's fold, same schedule, has no softmax
    claims = _execute(base, "full", work, FULL_SCHEDULE, {6}, monkeypatch)
    from course_utils.imaging import nnunet_train as nt
    from course_utils.imaging.pipeline import prepare_nnunet
    from course_utils.profiles import chapter_settings

    settings = chapter_settings(6, "full")
    assert settings.extra_configurations == ("2d",) and settings.folds == (0, 1) and settings.num_epochs == 2
    prepared = prepare_nnunet(settings)
    results = prepared.folders.results / prepared.raw.name
    for configuration in ("3d_fullres", "2d"):
        for fold in (0, 1):
            out = nt.fold_folder(prepared.dataset_id, prepared.folders, fold, configuration)
            assert nt.fold_record(out).provenance == "course" and any((out / "validation").glob("*.npz"))
    assert "nnUNetv2_predict" in (results / "inference_instructions.txt").read_text()
    assert any(results.rglob("postprocessing.pkl"))
    assert (work / "chapter6" / "ensemble").is_dir()  # two folds: their average predicted the held-out cases
    statements = {c["statement"] for c in claims}
    assert "every trained configuration, and with two of them their ensemble, is a candidate" in statements
