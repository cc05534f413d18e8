"""Chapter 6, section 6.5: the full profile's empirical configuration choice (2d beside 3d_fullres, their ensemble,
post-processing), executed at smoke size: the smoke dataset, the full profile's ``extra_configurations`` and a
schedule of one epoch of two iterations, set by the documented override ``COURSE_SCHEDULE_OVERRIDE``.

Everything runs in a private work folder, so the choice is made afresh each time (about 2-3 CPU minutes); the
synthetic cases themselves are the shared smoke ones.
"""

from __future__ import annotations

import json
import pickle

import pytest

from course_utils.imaging import nnunet_cli as cli
from course_utils.imaging import nnunet_train as nt
from course_utils.imaging.synthetic import synthetic_dataset
from course_utils.profiles import chapter_settings

OVERRIDE = {"num_epochs": 1, "iterations_per_epoch": 2, "val_iterations_per_epoch": 1, "folds": [0, 1],
            "extra_configurations": ["2d"], "test_time_mirroring": False}


@pytest.mark.timeout(1800)
def test_full_profiles_configuration_choice_runs_at_smoke_size(tmp_path, monkeypatch):
    smoke = chapter_settings(6, "smoke")
    cases = synthetic_dataset("seed", smoke.n_cases, seed=smoke.seed, spacing_mm=smoke.spacing_mm)  # shared, cached
    monkeypatch.setenv("COURSE_MRI_DIR", str(cases))
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", json.dumps(OVERRIDE))
    settings = chapter_settings(6, "smoke")
    assert settings.extra_configurations == chapter_settings(6, "full").extra_configurations == ("2d",)

    chosen, candidates = cli.choose_configuration(settings)  # what chapter 6's section 6.5 calls

    prepared, trained = cli.run_train(settings)  # reused: every fold exists, with its record
    assert "schedule-1x2-val1" in str(prepared.folders.results)  # not the smoke model's folder
    for configuration in ("3d_fullres", "2d"):
        for fold in (0, 1):
            out = nt.fold_folder(prepared.dataset_id, prepared.folders, fold, configuration)
            assert nt.fold_record(out).provenance == "course"
            assert any((out / "validation").glob("*.npz"))  # the softmax the ensemble needs (nnU-Net's --npz)
    names = set(candidates.index)
    assert {"nnUNetTrainer__nnUNetPlans__3d_fullres", "nnUNetTrainer__nnUNetPlans__2d"} <= names
    ensembles = [n for n in names if n.startswith("ensemble")]
    assert len(ensembles) == 1 and "2d" in ensembles[0] and "3d_fullres" in ensembles[0]
    assert candidates.between(0, 1).all() and len(candidates) == 3
    winner = str(candidates.idxmax())
    parts = chosen.split(" + ")
    assert set(parts) <= {"3d_fullres", "2d"} and all(p in winner for p in parts)  # the best pooled Dice wins
    assert (len(parts) == 2) == winner.startswith("ensemble")
    # nnU-Net also decided the winner's post-processing and wrote how to predict with it.
    results = prepared.folders.results / prepared.raw.name
    instructions = (results / "inference_instructions.txt").read_text()
    assert "nnUNetv2_predict" in instructions and all(f"-c {p}" in instructions for p in parts)
    pickles = sorted(results.rglob("postprocessing.pkl"))
    assert pickles
    with open(pickles[0], "rb") as handle:
        functions, kwargs = pickle.load(handle)
    assert len(functions) == len(kwargs)
