"""Chapter 6: a model trained by nnU-Net's own command (for instance on several GPUs) is adopted after its plans
and fold layout are checked, nothing is deleted, and a checkpoint rewritten after the course recorded it is
detected. The models here are structurally faithful fakes: nnU-Net's folder layout, its model files and
checkpoints holding what nnU-Net writes into them (trainer, init arguments, epochs), without trained weights."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
import torch

from course_utils.imaging import nnunet_data as nd
from course_utils.imaging import nnunet_eval as ne
from course_utils.imaging import nnunet_train as nt
from course_utils.imaging import pipeline
from course_utils.profiles import chapter_settings

NAME = nd.dataset_name(501)
PLANS = {"dataset_name": NAME, "plans_name": "nnUNetPlans", "original_median_spacing_after_transp": [4.0, 4.0, 4.0],
         "configurations": {"3d_fullres": {"patch_size": [40, 48, 40], "batch_size": 2, "spacing": [4.0, 4.0, 4.0]},
                            "2d": {"patch_size": [48, 40], "batch_size": 40, "spacing": [4.0, 4.0]}}}
DATASET = {"channel_names": {"0": "FLAIR"}, "labels": {"background": 0, "whole tumour": 1}, "numTraining": 12,
           "file_ending": ".nii.gz"}
FINGERPRINT = {"spacings": [[4.0, 4.0, 4.0]] * 12, "shapes_after_crop": [[40, 48, 40]] * 12}
SCHEDULE = nt.Schedule(num_epochs=2, iterations_per_epoch=2, val_iterations_per_epoch=1, save_every=1)


@pytest.fixture
def course(tmp_path):
    """The course's nnU-Net folders with the plans, dataset.json and fingerprint of a planned dataset."""
    folders = nd.nnunet_folders(tmp_path / "course")
    pre = folders.preprocessed / NAME
    pre.mkdir(parents=True)
    for name, content in (("nnUNetPlans.json", PLANS), ("dataset.json", DATASET), ("dataset_fingerprint.json", FINGERPRINT)):
        (pre / name).write_text(json.dumps(content))
    return folders


def _checkpoint(path: Path, fold: int, epochs: int, configuration: str = "3d_fullres", trainer: str = "nnUNetTrainer",
                weights: float = 0.0) -> None:
    torch.save({"network_weights": {"w": torch.full((3,), weights)}, "current_epoch": epochs, "trainer_name": trainer,
                "init_args": {"plans": PLANS, "configuration": configuration, "fold": fold, "dataset_json": DATASET,
                              "device": torch.device("cpu")}}, path)


def _nnunet_model(model_dir: Path, folds=(0, 1), epochs: int = 1000, plans=PLANS, npz: bool = True) -> Path:
    """Write what nnUNetv2_train leaves in a model folder after training ``folds`` (checkpoint_latest is deleted)."""
    model_dir.mkdir(parents=True)
    for name, content in (("plans.json", plans), ("dataset.json", DATASET), ("dataset_fingerprint.json", FINGERPRINT)):
        (model_dir / name).write_text(json.dumps(content))
    for fold in folds:
        out = model_dir / f"fold_{fold}"
        (out / "validation").mkdir(parents=True)
        _checkpoint(out / "checkpoint_final.pth", fold, epochs)
        _checkpoint(out / "checkpoint_best.pth", fold, epochs - 7)
        (out / "validation" / "summary.json").write_text(json.dumps({"foreground_mean": {"Dice": 0.9 + fold / 100}}))
        if npz:
            (out / "validation" / "case_000.npz").write_bytes(b"softmax")
        (out / "training_log_2026_1_1_00_00_00.txt").write_text("Epoch 999\n")
    return model_dir


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def _ddp_results(course) -> Path:
    return ne.ddp_results_folder(course)


def test_a_model_trained_by_nnunets_command_is_adopted_and_then_reused(course):
    source_root = _ddp_results(course)
    model_dir = _nnunet_model(source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres")
    before = _snapshot(source_root)
    adopted = nt.adopt_folds(501, course, source_root, (0, 1))
    assert adopted == {f: nt.fold_folder(501, course, f) for f in (0, 1)}
    assert _snapshot(source_root) == before  # the source is only read: nothing moved, changed or deleted
    for fold, out in adopted.items():
        record = nt.fold_record(out)
        assert record.provenance == "adopted" and record.source == str((model_dir / f"fold_{fold}").resolve())
        assert record.epochs == 1000 and record.schedule is None
        assert record.checkpoint == nt.checkpoint_binding(out / "checkpoint_final.pth")
        assert record.checkpoint["sha256"] == nt.checkpoint_binding(model_dir / f"fold_{fold}" / "checkpoint_final.pth")["sha256"]
        assert not (out / "checkpoint_best.pth").exists()  # the training checkpoints stay where nnU-Net wrote them
        assert nt.fold_summary(out)["foreground_mean"]["Dice"] == pytest.approx(0.9 + fold / 100)
    assert json.loads((adopted[0].parent / "plans.json").read_text()) == PLANS  # beside the folds, for inference
    # The notebook's training call now takes the adopted folds as they are: nothing is trained.
    for fold, out in adopted.items():
        assert nt.train_fold(501, course, fold, SCHEDULE) == out
    assert nt.adopt_folds(501, course, source_root, (0, 1)) == adopted  # again: nothing to do
    assert _snapshot(source_root) == before


def test_the_fold_folder_or_trainer_folder_can_be_named(course, tmp_path):
    model_dir = _nnunet_model(tmp_path / "elsewhere" / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres", folds=(0,))
    assert nt.adopt_folds(501, course, model_dir / "fold_0", (0,)) == {0: nt.fold_folder(501, course, 0)}


def test_a_model_with_other_plans_is_refused_and_nothing_is_written(course):
    source_root = _ddp_results(course)
    other = json.loads(json.dumps(PLANS))
    other["configurations"]["3d_fullres"]["patch_size"] = [32, 32, 32]
    _nnunet_model(source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres", plans=other)
    before = _snapshot(source_root)
    with pytest.raises(nt.ModelAdoptionError, match=r"configurations\.3d_fullres\.patch_size: \[32, 32, 32\] there"):
        nt.adopt_folds(501, course, source_root, (0,))
    assert not nt.fold_folder(501, course, 0).exists() and _snapshot(source_root) == before
    # another dataset fingerprint: data the course did not plan
    (source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "plans.json").write_text(json.dumps(PLANS))
    (source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "dataset_fingerprint.json").write_text(
        json.dumps({**FINGERPRINT, "spacings": [[1.0, 1.0, 1.0]] * 12}))
    with pytest.raises(nt.ModelAdoptionError, match="dataset_fingerprint.json differs"):
        nt.adopt_folds(501, course, source_root, (0,))
    assert not nt.fold_folder(501, course, 0).exists()


def test_the_fold_layout_is_checked(course, tmp_path):
    source_root = _ddp_results(course)
    model_dir = _nnunet_model(source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres", folds=(0,))
    with pytest.raises(nt.ModelAdoptionError, match=r"no finished fold\(s\) \[1\].*finished: fold_0"):
        nt.adopt_folds(501, course, source_root, (0, 1))
    with pytest.raises(nt.ModelAdoptionError, match="holds no Dataset501_BraTSFlairSeed/nnUNetTrainer__nnUNetPlans__2d"):
        nt.adopt_folds(501, course, source_root, (0,), configuration="2d")
    _checkpoint(model_dir / "fold_0" / "checkpoint_final.pth", fold=3, epochs=1000)  # a checkpoint of another fold
    with pytest.raises(nt.ModelAdoptionError, match="fold 3; the course adopts nnUNetTrainer, configuration '3d_fullres', fold 0"):
        nt.adopt_folds(501, course, source_root, (0,))
    (model_dir / "fold_0" / "checkpoint_final.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(nt.ModelAdoptionError, match="not a readable nnU-Net checkpoint"):
        nt.adopt_folds(501, course, source_root, (0,))
    assert not nt.fold_folder(501, course, 0).exists()


def test_adoption_never_replaces_a_model_in_the_course_fold_folder(course):
    out = nt.fold_folder(501, course, 0)
    out.mkdir(parents=True)
    _checkpoint(out / "checkpoint_final.pth", 0, SCHEDULE.num_epochs, weights=5.0)
    nt._write_record(out, {"provenance": "course", "schedule": SCHEDULE.__dict__,
                           "checkpoint": nt.checkpoint_binding(out / "checkpoint_final.pth")})
    before = _snapshot(out)
    source_root = _ddp_results(course)
    _nnunet_model(source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres", folds=(0,))
    with pytest.raises(nt.ModelAdoptionError, match="already holds a model .*trained by the course.*never overwrites"):
        nt.adopt_folds(501, course, source_root, (0,))
    assert _snapshot(out) == before


def test_a_checkpoint_changed_after_the_course_recorded_it_is_detected(course):
    source_root = _ddp_results(course)
    _nnunet_model(source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres", folds=(0,))
    out = nt.adopt_folds(501, course, source_root, (0,))[0]
    _checkpoint(out / "checkpoint_final.pth", 0, 1000, weights=1.0)  # e.g. nnUNetv2_train run into this folder again
    changed = (out / "checkpoint_final.pth").read_bytes()
    with pytest.raises(nt.TrainedModelExistsError, match="changed after the course recorded it"):
        nt.train_fold(501, course, 0, SCHEDULE)
    assert (out / "checkpoint_final.pth").read_bytes() == changed  # refused, not deleted
    # The course's own record binds its checkpoint the same way.
    nt._write_record(out, {"provenance": "course", "schedule": SCHEDULE.__dict__,
                           "checkpoint": nt.checkpoint_binding(out / "checkpoint_final.pth")})
    assert nt.train_fold(501, course, 0, SCHEDULE) == out  # vouched for: reused
    _checkpoint(out / "checkpoint_final.pth", 0, SCHEDULE.num_epochs, weights=2.0)
    with pytest.raises(nt.TrainedModelExistsError, match="changed after the course recorded it"):
        nt.train_fold(501, course, 0, SCHEDULE)
    # Same content, another time stamp (copied without -p): still the checkpoint the record names.
    nt._write_record(out, {"provenance": "course", "schedule": SCHEDULE.__dict__,
                           "checkpoint": nt.checkpoint_binding(out / "checkpoint_final.pth")})
    os.utime(out / "checkpoint_final.pth", ns=(1, 1))
    assert nt.train_fold(501, course, 0, SCHEDULE) == out


@pytest.mark.parametrize("epochs, vouched", [(SCHEDULE.num_epochs, True), (1000, False)])
def test_a_record_without_its_checkpoint_is_checked_against_the_checkpoint(course, epochs, vouched):
    """Records written before the course bound them to a checkpoint hold the schedule only."""
    out = nt.fold_folder(501, course, 0)
    (out / "validation").mkdir(parents=True)
    (out / "validation" / "summary.json").write_text(json.dumps({"foreground_mean": {"Dice": 0.5}}))
    _checkpoint(out / "checkpoint_final.pth", 0, epochs)
    (out / nt.MARKER).write_text(json.dumps(SCHEDULE.__dict__, sort_keys=True))
    if vouched:
        assert nt.train_fold(501, course, 0, SCHEDULE) == out
        assert nt.fold_record(out).checkpoint == nt.checkpoint_binding(out / "checkpoint_final.pth")  # now bound
    else:
        with pytest.raises(nt.TrainedModelExistsError, match="holds 1000 epochs of nnUNetTrainer, not the 2 epochs"):
            nt.train_fold(501, course, 0, SCHEDULE)
        assert (out / "checkpoint_final.pth").is_file()


def test_reuse_adopts_a_model_nnunet_wrote_into_the_course_folder(course):
    """What the command printed before the fix did: nnUNetv2_train into the course's own results folder."""
    model_dir = nt.fold_folder(501, course, 0).parent
    _nnunet_model(model_dir, folds=(0,))
    out = model_dir / "fold_0"
    with pytest.raises(nt.TrainedModelExistsError, match="the course did not train it"):
        nt.train_fold(501, course, 0, SCHEDULE)
    assert nt.train_fold(501, course, 0, SCHEDULE, existing="reuse") == out
    record = nt.fold_record(out)
    assert record.provenance == "adopted" and record.source == "in place" and record.epochs == 1000
    assert nt.train_fold(501, course, 0, SCHEDULE) == out  # recorded: reopening the chapter reuses it
    assert (out / "checkpoint_best.pth").is_file()


def test_ddp_command_trains_into_its_own_folder_with_npz_compile_and_quoted_paths(tmp_path):
    folders = nd.nnunet_folders(tmp_path / "a work dir" / "it's here")
    keyed = pipeline._keyed(folders, chapter_settings(6, "full"))
    command = ne.ddp_command(502, 3, 2, keyed)
    words = shlex.split(command)
    env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    assert env["nnUNet_raw"] == str(folders.raw) and env["nnUNet_preprocessed"] == str(folders.preprocessed)
    assert env["nnUNet_results"] == str(ne.ddp_results_folder(keyed)) != str(keyed.results)
    assert not Path(env["nnUNet_results"]).is_relative_to(keyed.results)  # never the course's fold folders
    assert env["nnUNet_compile"] == "false"
    assert words[len(env):] == ["nnUNetv2_train", "502", "3d_fullres", "3", "-tr", "nnUNetTrainer", "-p", "nnUNetPlans",
                                "-num_gpus", "2", "--npz"]
    assert "nnUNet_compile=true" in ne.ddp_command(502, 0, 4, keyed, "2d", compile_network=True)
    assert ne.ddp_command(502, 0, 1) == ("nnUNet_compile=false nnUNetv2_train 502 3d_fullres 0 -tr nnUNetTrainer "
                                         "-p nnUNetPlans -num_gpus 1 --npz")
    with pytest.raises(ValueError, match="at least 1"):
        ne.ddp_command(502, 0, 0)


def test_lab_and_full_train_into_their_own_results_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.delenv("COURSE_SCHEDULE_OVERRIDE", raising=False)
    source = tmp_path / "Task01_BrainTumour"
    lab, full = (pipeline.nnunet_folders_for(source, chapter_settings(6, p)) for p in ("lab", "full"))
    assert (lab.raw, lab.preprocessed) == (full.raw, full.preprocessed)  # one conversion and preprocessing
    assert lab.results.name == "lab" and full.results.name == "full" and lab.results != full.results
    assert pipeline.results_key(chapter_settings(6, "smoke")) == "smoke"
    # A finished lab fold, with the course's record: the full profile's fold folder is elsewhere, and empty.
    out = nt.fold_folder(502, lab, 0)
    out.mkdir(parents=True)
    _checkpoint(out / "checkpoint_final.pth", 0, 100)
    assert not nt.fold_folder(502, full, 0).exists()
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", '{"num_epochs": 2, "iterations_per_epoch": 1, "val_iterations_per_epoch": 1}')
    rehearsal = chapter_settings(6, "full")
    assert pipeline.results_key(rehearsal) == "schedule-2x1-val1"  # a rehearsal never mixes with a real run


def test_the_command_line_adopts_a_folder(course, monkeypatch, capsys):
    from course_utils.imaging import nnunet_cli as cli
    from course_utils.imaging.pipeline import PreparedDataset

    monkeypatch.setattr(cli, "prepare_nnunet", lambda settings, regions=False: PreparedDataset(501, course, course.raw / NAME, PLANS))
    source_root = _ddp_results(course)
    _nnunet_model(source_root / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres", folds=(0, 1))
    assert cli.main(["adopt", str(source_root)]) == 0  # the smoke profile's folds 0 and 1
    out = capsys.readouterr().out
    assert "fold 0:" in out and "fold 1:" in out and "1000 epochs" in out and "validation Dice 0.9000" in out
    assert nt.fold_record(nt.fold_folder(501, course, 1)).provenance == "adopted"
    with pytest.raises(SystemExit):
        cli.main(["adopt"])  # the folder is required
    with pytest.raises(SystemExit):
        cli.main(["train", str(source_root)])  # and only adopt takes one
    command = cli.adopt_command(source_root, "full", work=Path("/a work/dir"))
    assert shlex.split(command) == ["COURSE_PROFILE=full", "COURSE_WORK_DIR=/a work/dir", "python", "-m",
                                    "course_utils.imaging.nnunet_cli", "adopt", str(source_root)]


_NNUNET_ENTRY = """
import sys
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

start = nnUNetTrainer.on_train_start


def short(self):  # nnU-Net's own command and trainer, with a schedule of seconds instead of days
    self.num_epochs, self.num_iterations_per_epoch, self.num_val_iterations_per_epoch = 1, 2, 1
    start(self)


nnUNetTrainer.on_train_start = short
from nnunetv2.run.run_training import run_training_entry

sys.argv = ["nnUNetv2_train", *sys.argv[1:]]
run_training_entry()
"""


@pytest.mark.timeout(1800)
def test_the_printed_command_runs_nnunet_into_its_own_folder_and_the_result_is_adopted(tmp_path):
    """The command chapter 6 prints, run through nnU-Net's own entry point (one process, on the CPU, one epoch): it
    reads the course's data, writes beside the course's results, and the chapter adopts what it wrote."""
    import subprocess
    import sys

    from course_utils.imaging.synthetic import synthetic_dataset

    seed = synthetic_dataset("seed", 5, seed=8, root=tmp_path / "syn")
    folders = nd.nnunet_folders(tmp_path / "a work dir" / "nnunet")
    nd.convert_seed_to_nnunet(seed, folders)
    nd.plan_and_preprocess(501, folders)
    words = shlex.split(ne.ddp_command(501, 0, 1, folders))
    at = words.index("nnUNetv2_train")
    env = {**os.environ, **dict(w.split("=", 1) for w in words[:at]), "nnUNet_n_proc_DA": "1", "nnUNet_def_n_proc": "1"}
    done = subprocess.run([sys.executable, "-c", _NNUNET_ENTRY, *words[at + 1:], "-device", "cpu"], env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    written = ne.ddp_results_folder(folders) / NAME / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "fold_0"
    assert (written / "checkpoint_final.pth").is_file() and any((written / "validation").glob("*.npz"))
    assert not nt.fold_folder(501, folders, 0).exists()  # the course's fold folder was not touched
    before = _snapshot(ne.ddp_results_folder(folders))
    out = nt.adopt_folds(501, folders, ne.ddp_results_folder(folders), (0,), save_probabilities=True)[0]
    assert _snapshot(ne.ddp_results_folder(folders)) == before
    record = nt.fold_record(out)
    assert record.provenance == "adopted" and record.epochs == 1 and record.source == str(written.resolve())
    assert nt.fold_summary(out) == json.loads((written / "validation" / "summary.json").read_text())  # nnU-Net's own
    assert nt.train_fold(501, folders, 0, SCHEDULE, save_probabilities=True) == out  # used as it is
