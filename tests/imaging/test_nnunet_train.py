"""Chapter 6: the stock nnUNetTrainer with the profile's schedule; resuming restores that schedule."""

from __future__ import annotations

import os
import re

import pytest
import torch

from course_utils.errors import ProfileError
from course_utils.imaging import nnunet_data as nd
from course_utils.imaging import nnunet_train as nt
from course_utils.imaging.synthetic import synthetic_dataset
from course_utils.profiles import chapter_settings


def test_schedule_from_profiles():
    smoke, full = nt.schedule_from(chapter_settings(6, "smoke")), nt.schedule_from(chapter_settings(6, "full"))
    assert (full.num_epochs, full.iterations_per_epoch, full.save_every) == (1000, 250, 50)
    assert smoke.save_every == 1 and smoke.num_epochs * smoke.iterations_per_epoch <= 100


def test_interrupted_training_resumes_with_the_course_schedule(tmp_path, monkeypatch):
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    seed = synthetic_dataset("seed", 5, seed=8, root=tmp_path / "syn")
    folders = nd.nnunet_folders(tmp_path / "nn")
    nd.convert_seed_to_nnunet(seed, folders)
    nd.plan_and_preprocess(501, folders)
    schedule = nt.Schedule(num_epochs=2, iterations_per_epoch=2, val_iterations_per_epoch=1, save_every=1)

    original = nnUNetTrainer.on_epoch_end
    compile_flags = []

    def crash_after_first_epoch(self):
        original(self)
        compile_flags.append(os.environ.get("nnUNet_compile"))
        if self.current_epoch == 1:  # epoch 0 finished and checkpoint_latest.pth written
            raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(nnUNetTrainer, "on_epoch_end", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        nt.train_fold(501, folders, 0, schedule)
    out = nt.fold_folder(501, folders, 0)
    latest = torch.load(out / "checkpoint_latest.pth", weights_only=False)
    assert latest["current_epoch"] == 1 and not (out / "checkpoint_final.pth").exists()
    monkeypatch.setattr(nnUNetTrainer, "on_epoch_end", original)

    resumed = nt.train_fold(501, folders, 0, schedule)
    final = torch.load(resumed / "checkpoint_final.pth", weights_only=False)
    assert final["current_epoch"] == 2  # continued to the course's 2 epochs, not nnU-Net's 1000
    logs = "".join(p.read_text() for p in sorted(resumed.glob("training_log_*.txt")))
    epochs = [int(m) for m in re.findall(r": Epoch (\d+)\s*$", logs, flags=re.M)]
    assert epochs == [0, 1]  # epoch 0 before the interruption, epoch 1 after it: nothing trained twice
    assert 0.0 <= nt.fold_summary(resumed)["foreground_mean"]["Dice"] <= 1.0
    assert nt.train_fold(501, folders, 0, schedule) == resumed  # finished: reused
    (resumed / "validation" / "summary.json").unlink()  # as if interrupted while validating
    final_bytes = (resumed / "checkpoint_final.pth").read_bytes()
    assert nt.train_fold(501, folders, 0, schedule) == resumed
    assert 0.0 <= nt.fold_summary(resumed)["foreground_mean"]["Dice"] <= 1.0  # validation finished
    assert (resumed / "checkpoint_final.pth").read_bytes() == final_bytes  # nothing trained again
    logs = "".join(p.read_text() for p in sorted(resumed.glob("training_log_*.txt")))
    assert [int(m) for m in re.findall(r": Epoch (\d+)\s*$", logs, flags=re.M)] == [0, 1]
    assert compile_flags == ["false"]  # torch.compile off unless asked (nnU-Net's default is on, on CUDA)
    record = nt.fold_record(resumed)  # the course's record names the checkpoint it vouches for
    assert record.provenance == "course" and record.checkpoint == nt.checkpoint_binding(resumed / "checkpoint_final.pth")

    # The same fold as nnUNetv2_train leaves it in another results folder, not validated yet (as after an
    # interrupted run): adopted into a second course results folder and validated there from its final checkpoint.
    import shutil

    ddp = tmp_path / "nnUNet_results-ddp" / resumed.parent.relative_to(folders.results)
    shutil.copytree(resumed.parent, ddp, ignore=shutil.ignore_patterns(".course-schedule", "validation", "crossval*"))
    before = sorted(str(p.relative_to(ddp)) for p in ddp.rglob("*"))
    second = nd.NnunetFolders(folders.raw, folders.preprocessed, tmp_path / "second_results")
    adopted = nt.adopt_folds(501, second, tmp_path / "nnUNet_results-ddp", (0,), save_probabilities=True)
    assert 0.0 <= nt.fold_summary(adopted[0])["foreground_mean"]["Dice"] <= 1.0  # validated, as nnU-Net's --val
    assert any((adopted[0] / "validation").glob("*.npz"))  # with the softmax ensembling needs (--npz)
    assert nt.fold_record(adopted[0]).epochs == 2 and sorted(str(p.relative_to(ddp)) for p in ddp.rglob("*")) == before


def _plant_foreign_model(folders, marker=None):
    out = nt.fold_folder(501, folders, 0)
    out.mkdir(parents=True)
    (out / "checkpoint_final.pth").write_bytes(b"days of GPU time")
    (out / "checkpoint_best.pth").write_bytes(b"more")
    if marker is not None:
        (out / ".course-schedule").write_text(marker)
    return out


@pytest.mark.parametrize("marker", [None, '{"num_epochs": 1000}'])
def test_a_foreign_trained_model_is_never_deleted(tmp_path, marker):
    folders = nd.nnunet_folders(tmp_path / "nn")
    out = _plant_foreign_model(folders, marker)
    schedule = nt.Schedule(num_epochs=2, iterations_per_epoch=2, val_iterations_per_epoch=1, save_every=1)
    with pytest.raises(nt.TrainedModelExistsError) as caught:
        nt.train_fold(501, folders, 0, schedule)
    message = str(caught.value)
    assert str(out) in message and 'existing="reuse"' in message and "mv " in message and 'existing="overwrite"' in message
    assert (out / "checkpoint_final.pth").read_bytes() == b"days of GPU time"  # it survived
    assert (out / "checkpoint_best.pth").is_file()
    # Reuse adopts the model after checking it (tests/imaging/test_nnunet_adopt.py); these bytes are no nnU-Net
    # model folder (no plans.json beside the fold), so that is refused too, and still nothing is deleted.
    with pytest.raises(nt.ModelAdoptionError, match="has no plans.json"):
        nt.train_fold(501, folders, 0, schedule, existing="reuse")
    assert (out / "checkpoint_final.pth").read_bytes() == b"days of GPU time"
    with pytest.raises(ValueError, match="existing="):
        nt.train_fold(501, folders, 0, schedule, existing="delete")


def test_compile_environment_sets_and_restores(monkeypatch):
    monkeypatch.setenv("nnUNet_compile", "t")
    with nt.compile_environment(False):
        assert os.environ["nnUNet_compile"] == "false"
    assert os.environ["nnUNet_compile"] == "t"
    monkeypatch.delenv("nnUNet_compile")
    with nt.compile_environment(True):
        assert os.environ["nnUNet_compile"] == "true"
    assert "nnUNet_compile" not in os.environ
    assert not any(chapter_settings(6, p).compile_network for p in ("smoke", "lab", "full"))


def test_schedule_override_shortens_a_profile(monkeypatch):
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", '{"num_epochs": 1, "iterations_per_epoch": 2, "folds": [0, 1]}')
    lab = chapter_settings(6, "lab")
    assert (lab.num_epochs, lab.iterations_per_epoch, lab.folds) == (1, 2, (0, 1))
    assert lab.source == "dataset" and lab.spacing_mm == (1.0, 1.0, 1.0)  # the rest stays the lab profile's
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", '{"n_cases": 3}')
    with pytest.raises(ProfileError, match="unknown field"):
        chapter_settings(6, "lab")
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", "epochs=1")
    with pytest.raises(ProfileError, match="not JSON"):
        chapter_settings(6, "lab")
    monkeypatch.delenv("COURSE_SCHEDULE_OVERRIDE")
    assert chapter_settings(6, "lab").num_epochs == 100


def test_one_fold_is_not_ensembled_with_itself():
    from course_utils.imaging.nnunet_cli import prediction_runs

    assert prediction_runs((0,)) == {"fold 0": (0,)}
    assert prediction_runs((0, 1)) == {"fold 0": (0,), "fold 1": (1,), "ensemble": (0, 1)}
    full = chapter_settings(6, "full")
    assert full.extra_configurations == ("2d",) and full.train_regions and chapter_settings(6, "lab").train_regions


def test_validation_without_test_time_mirroring_clears_the_mirror_axes(monkeypatch):
    seen = []

    class Trainer:
        inference_allowed_mirroring_axes = (0, 1, 2)

        def perform_actual_validation(self, save_probabilities):
            seen.append((self.inference_allowed_mirroring_axes, save_probabilities))

    nt._validate(Trainer(), False, True)
    nt._validate(Trainer(), True, False)  # nnU-Net's --disable_tta: the predictor gets no mirror axes
    assert seen == [((0, 1, 2), False), (None, True)]
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", '{"test_time_mirroring": false}')
    assert chapter_settings(6, "lab").test_time_mirroring is False
    monkeypatch.delenv("COURSE_SCHEDULE_OVERRIDE")
    assert all(chapter_settings(6, p).test_time_mirroring for p in ("lab", "full"))
    assert chapter_settings(6, "smoke").test_time_mirroring is False  # smoke's cold budget (chapter 6, 240 s)
