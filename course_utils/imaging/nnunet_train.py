"""Training nnU-Net's stock ``nnUNetTrainer`` with the profile's schedule, resumable (chapter 6).

nnU-Net's trainer runs 1000 epochs of 250 iterations. The course builds the same stock trainer through
nnU-Net's Python API and only sets its schedule from the active profile (``NnunetSettings``), so the smoke
profile trains in minutes on a CPU and the full profile reproduces nnU-Net exactly. Resuming goes through
:func:`train_fold`, which restores the profile's schedule before loading the latest checkpoint (nnU-Net's
own ``--c`` would rebuild the trainer with 1000 epochs).

A trained model is never deleted: a fold folder holding a checkpoint the course did not write with this schedule
(a run of nnU-Net's own command line, a run with another profile) makes :func:`train_fold` stop with
:class:`TrainedModelExistsError`, which names the folder and the choices (reuse it, move it, or pass
``existing="overwrite"``). ``torch.compile`` (nnU-Net's ``nnUNet_compile``, on by default on CUDA in nnU-Net) is
off unless asked for (``compile_network=True``): compiling needs a C compiler and costs minutes before the first
iteration, for iterations that then run faster on recent GPUs.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..device import pick_device
from ..errors import CourseError
from ..plotting import keep_matplotlib_backend
from ..progress import progress_bar
from ..seeding import seed_everything
from .nnunet_data import NnunetFolders, dataset_name, load_plans, nnunet_environment

__all__ = ["Schedule", "schedule_from", "fold_folder", "build_trainer", "scratch_trainer", "train_fold", "fold_summary",
           "TrainedModelExistsError", "compile_environment", "EXISTING_CHOICES"]

#: What :func:`train_fold` does with a fold folder holding checkpoints it did not write with this schedule.
EXISTING_CHOICES = ("refuse", "reuse", "overwrite")


class TrainedModelExistsError(CourseError, FileExistsError):
    """A fold folder already holds a model the course did not train with this schedule (chapter 6)."""


@contextlib.contextmanager
def compile_environment(enabled: bool) -> Iterator[None]:
    """Context manager: set nnU-Net's ``nnUNet_compile`` to ``enabled`` (restored afterwards; chapter 6).

    nnU-Net compiles the network with ``torch.compile`` on CUDA unless ``nnUNet_compile`` says otherwise; it never
    compiles on the CPU or on Apple's MPS.
    """
    saved = os.environ.get("nnUNet_compile")
    os.environ["nnUNet_compile"] = "true" if enabled else "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("nnUNet_compile", None)
        else:
            os.environ["nnUNet_compile"] = saved

TRAINER = "nnUNetTrainer"
PLANS = "nnUNetPlans"


@dataclass(frozen=True)
class Schedule:
    """How long to train: epochs, iterations per epoch, validation iterations per epoch, checkpoint interval."""

    num_epochs: int
    iterations_per_epoch: int
    val_iterations_per_epoch: int
    save_every: int = 50


def schedule_from(settings: Any) -> Schedule:
    """Return the :class:`Schedule` of a chapter's ``NnunetSettings`` (checkpoints every epoch in short runs)."""
    save_every = 1 if settings.num_epochs <= 50 else 50
    return Schedule(settings.num_epochs, settings.iterations_per_epoch, settings.val_iterations_per_epoch, save_every)


def fold_folder(dataset_id: int, folders: NnunetFolders, fold: int, configuration: str = "3d_fullres") -> Path:
    """Return the folder nnU-Net writes fold ``fold`` of ``dataset_id`` to."""
    return folders.results / dataset_name(dataset_id) / f"{TRAINER}__{PLANS}__{configuration}" / f"fold_{fold}"


def build_trainer(dataset_id: int, folders: NnunetFolders, fold: int, schedule: Schedule,
                  configuration: str = "3d_fullres", device: Any = None) -> Any:
    """Return nnU-Net's stock ``nnUNetTrainer`` for one fold, with ``schedule`` applied (not yet initialised).

    Call inside :func:`~course_utils.imaging.nnunet_data.nnunet_environment`.
    """
    with keep_matplotlib_backend():
        from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    plans = load_plans(dataset_id, folders)
    plans["continue_training"] = False
    dataset_json = json.loads((folders.preprocessed / dataset_name(dataset_id) / "dataset.json").read_text())
    trainer = nnUNetTrainer(plans=plans, configuration=configuration, fold=fold, dataset_json=dataset_json,
                            device=device if device is not None else pick_device())
    trainer.num_epochs = schedule.num_epochs
    trainer.num_iterations_per_epoch = schedule.iterations_per_epoch
    trainer.num_val_iterations_per_epoch = schedule.val_iterations_per_epoch
    trainer.save_every = schedule.save_every
    return trainer


@contextlib.contextmanager
def scratch_trainer(plans: dict[str, Any], dataset_json: dict[str, Any], configuration: str = "3d_fullres") -> Iterator[Any]:
    """Yield nnU-Net's stock trainer built on the CPU for inspection only (chapters 4 and 5): its loss, its
    transforms, its decisions. The trainer's constructor creates a fold folder and a log file under
    ``nnUNet_results``; here that is a throw-away folder, so no real results folder is touched."""
    with keep_matplotlib_backend():
        from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    import torch

    plans = copy.deepcopy(plans)
    plans["continue_training"] = False
    with tempfile.TemporaryDirectory(prefix="course-trainer-") as scratch:
        root = Path(scratch)
        folders = NnunetFolders(root / "nnUNet_raw", root / "nnUNet_preprocessed", root / "nnUNet_results")
        with nnunet_environment(folders), contextlib.redirect_stdout(io.StringIO()):
            trainer = nnUNetTrainer(plans=plans, configuration=configuration, fold=0, dataset_json=dataset_json,
                                    device=torch.device("cpu"))
        yield trainer


def train_fold(dataset_id: int, folders: NnunetFolders, fold: int, schedule: Schedule, *,
               configuration: str = "3d_fullres", seed: int = 1234, device: Any = None, quiet: bool = True,
               existing: str = "refuse", compile_network: bool = False, save_probabilities: bool = False,
               mirroring: bool = True) -> Path:
    """Return the output folder of fold ``fold`` after training it with ``schedule`` (chapter 6).

    Idempotent: a fold finished with the same schedule is reused. An interrupted run resumes from its
    ``checkpoint_latest.pth`` with the profile's schedule; a run interrupted after training but before its
    validation finished (no ``validation/summary.json``) runs the validation only, from ``checkpoint_final.pth``. A lock lets one process train while others wait.
    A progress bar counts the iterations; with ``quiet`` nnU-Net's own messages go to its log file only
    (``training_log_*.txt`` in the fold folder), not to the screen.

    A folder holding a checkpoint that the course did not write with ``schedule`` (nnU-Net's command line, another
    profile) is never deleted by default: ``existing="refuse"`` raises :class:`TrainedModelExistsError`;
    ``"reuse"`` returns that folder as it is when it holds ``checkpoint_final.pth``; ``"overwrite"`` deletes it and
    trains again. ``compile_network`` sets nnU-Net's ``nnUNet_compile`` (used on CUDA only). ``save_probabilities``
    keeps the validation softmax (nnU-Net's ``--npz``), which ensembling two configurations needs. ``mirroring=False``
    validates without test-time mirroring (nnU-Net's ``--disable_tta``; 8x fewer network passes in 3D).
    """
    if existing not in EXISTING_CHOICES:
        raise ValueError(f"existing={existing!r}: use one of {', '.join(EXISTING_CHOICES)}.")
    out = fold_folder(dataset_id, folders, fold, configuration)
    stamp = json.dumps(asdict(schedule), sort_keys=True)
    marker = out / ".course-schedule"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".fold_{fold}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            ours = marker.is_file() and marker.read_text() == stamp
            if (out / "checkpoint_final.pth").is_file() and ours:
                if not _validation_done(out, save_probabilities):  # interrupted while validating: finish that only
                    _validate_only(dataset_id, folders, fold, schedule, configuration, device, quiet,
                                   compile_network, save_probabilities, mirroring, out)
                return out
            if out.exists() and not ours:
                checkpoints = sorted(p.name for p in out.glob("*.pth"))
                if checkpoints and existing == "reuse" and (out / "checkpoint_final.pth").is_file():
                    return out
                if checkpoints and existing != "overwrite":
                    raise TrainedModelExistsError(_foreign_model_message(out, checkpoints, marker, stamp, existing))
                shutil.rmtree(out)  # no checkpoint in it (only logs), or an explicit overwrite
            out.mkdir(parents=True, exist_ok=True)
            marker.write_text(stamp)
            seed_everything(seed + fold)
            console = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
            with nnunet_environment(folders), compile_environment(compile_network), console, keep_matplotlib_backend():
                trainer = build_trainer(dataset_id, folders, fold, schedule, configuration, device)
                try:
                    latest = out / "checkpoint_latest.pth"
                    if latest.is_file():
                        trainer.load_checkpoint(str(latest))  # initialises with our schedule, restores the epoch
                    else:
                        trainer.initialize()
                    with _iteration_bar(trainer, schedule, fold):
                        trainer.run_training()
                    _validate(trainer, save_probabilities, mirroring)
                except BaseException as exc:
                    exc.add_note(f"nnU-Net's log of this run: {trainer.log_file}")
                    raise
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return out


def _validation_done(out: Path, save_probabilities: bool) -> bool:
    """Whether nnU-Net's validation of a trained fold finished (its summary written; softmax kept if asked)."""
    validation = out / "validation"
    if not (validation / "summary.json").is_file():
        return False
    return not save_probabilities or any(validation.glob("*.npz"))


def _validate(trainer: Any, save_probabilities: bool, mirroring: bool) -> None:
    """Run nnU-Net's validation of a trained fold, without test-time mirroring unless ``mirroring``."""
    if not mirroring:  # what nnU-Net's --disable_tta does: no mirror axes for the predictor
        trainer.inference_allowed_mirroring_axes = None
    trainer.perform_actual_validation(save_probabilities=save_probabilities)


def _validate_only(dataset_id: int, folders: NnunetFolders, fold: int, schedule: Schedule, configuration: str,
                   device: Any, quiet: bool, compile_network: bool, save_probabilities: bool, mirroring: bool,
                   out: Path) -> None:
    """Run nnU-Net's validation of a fold from its ``checkpoint_final.pth`` without training (nnU-Net's ``--val``)."""
    console = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    with nnunet_environment(folders), compile_environment(compile_network), console, keep_matplotlib_backend():
        trainer = build_trainer(dataset_id, folders, fold, schedule, configuration, device)
        try:
            trainer.load_checkpoint(str(out / "checkpoint_final.pth"))
            _validate(trainer, save_probabilities, mirroring)
        except BaseException as exc:
            exc.add_note(f"nnU-Net's log of this run: {trainer.log_file}")
            raise


def _foreign_model_message(out: Path, checkpoints: list[str], marker: Path, stamp: str, existing: str) -> str:
    origin = (f"the course trained it with another schedule ({marker.read_text()}, this run asks for {stamp})"
              if marker.is_file() else "the course did not train it (nnU-Net's command line, or another tool)")
    reuse = ("reuse it as it is: train_fold(..., existing=\"reuse\") "
             if "checkpoint_final.pth" in checkpoints else
             "finish it with nnU-Net's own command (nnUNetv2_train ... --c), then reuse it with existing=\"reuse\" ")
    return (f"{out} already holds a trained model ({', '.join(checkpoints)}): {origin}. The course never deletes a "
            f"model it did not write in this run (existing={existing!r}). Choose one: {reuse}; move the folder away "
            f"(e.g. `mv {out} {out}.kept`) and train again; or delete it on purpose with existing=\"overwrite\". "
            "On the command line: python -m course_utils.imaging.nnunet_cli train --existing reuse|overwrite.")


@contextlib.contextmanager
def _iteration_bar(trainer: Any, schedule: Schedule, fold: int) -> Any:
    """Advance a progress bar on every training and validation iteration of ``trainer`` (this instance only),
    showing the epoch and nnU-Net's exponential moving average of the pseudo Dice."""
    remaining = max(0, schedule.num_epochs - trainer.current_epoch)
    per_epoch = schedule.iterations_per_epoch + schedule.val_iterations_per_epoch
    bar = progress_bar(remaining * per_epoch, desc=f"fold {fold}", unit="it")
    train_step, validation_step, on_epoch_end = trainer.train_step, trainer.validation_step, trainer.on_epoch_end

    def counted(step: Any) -> Any:
        def run(batch: Any) -> Any:
            result = step(batch)
            bar.update(1)
            return result
        return run

    def epoch_end() -> None:
        on_epoch_end()
        ema = trainer.logger.local_logger.my_fantastic_logging["ema_fg_dice"]
        bar.set_postfix(epoch=f"{trainer.current_epoch}/{schedule.num_epochs}", ema_dice=f"{ema[-1]:.3f}" if ema else "-")

    trainer.train_step, trainer.validation_step, trainer.on_epoch_end = counted(train_step), counted(validation_step), epoch_end
    try:
        yield bar
    finally:
        trainer.train_step, trainer.validation_step, trainer.on_epoch_end = train_step, validation_step, on_epoch_end
        bar.close()


def fold_summary(fold_dir: Path) -> dict[str, Any]:
    """Return nnU-Net's validation summary of a trained fold (``validation/summary.json``)."""
    path = Path(fold_dir) / "validation" / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"No validation summary at {path}: train the fold first (train_fold).")
    return json.loads(path.read_text())
