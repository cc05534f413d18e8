"""Chapter 6: the stock nnUNetTrainer with the profile's schedule; resuming restores that schedule."""

from __future__ import annotations

import re

import pytest
import torch

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

    def crash_after_first_epoch(self):
        original(self)
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
