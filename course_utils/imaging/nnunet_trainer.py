"""The profile's schedule and the stock ``nnUNetTrainer`` built from it (chapter 6).

nnU-Net's trainer runs 1000 epochs of 250 iterations. The course builds the same stock trainer through
nnU-Net's Python API and only sets its schedule from the active profile (``NnunetSettings``), so the smoke
profile trains in minutes on a CPU and the full profile reproduces nnU-Net exactly. ``torch.compile`` (nnU-Net's
``nnUNet_compile``, on by default on CUDA in nnU-Net) is off unless asked for (``compile_network=True``): compiling
needs a C compiler and costs minutes before the first iteration, for iterations that then run faster on recent
GPUs. Training itself is :mod:`course_utils.imaging.nnunet_train`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..device import pick_device
from ..errors import CourseError
from ..plotting import keep_matplotlib_backend
from ..progress import progress_bar
from .nnunet_data import NnunetFolders, dataset_name, load_plans, nnunet_environment

__all__ = ["EXISTING_CHOICES", "MARKER", "TrainedModelExistsError", "ModelAdoptionError", "compile_environment", "TRAINER", "PLANS", "Schedule", "schedule_from", "fold_folder", "build_trainer", "scratch_trainer"]


#: What :func:`train_fold` does with a fold folder holding checkpoints it did not write with this schedule.
EXISTING_CHOICES = ("refuse", "reuse", "overwrite")


#: The record the course keeps in each fold folder it trained or adopted.
MARKER = ".course-schedule"


class TrainedModelExistsError(CourseError, FileExistsError):
    """A fold folder already holds a model the course did not train with this schedule (chapter 6)."""


class ModelAdoptionError(CourseError, ValueError):
    """A model trained outside the course cannot be adopted: other plans, another fold layout (chapter 6)."""


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
                   out: Path, keep_previous: bool = False) -> None:
    """Run nnU-Net's validation of a fold from its ``checkpoint_final.pth`` without training (nnU-Net's ``--val``).

    ``keep_previous``: an existing ``validation/`` folder (an adopted model's own) is renamed aside first, not
    overwritten.
    """
    previous = out / "validation"
    if keep_previous and previous.is_dir() and any(previous.iterdir()):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        os.replace(previous, out / f"validation.before-course-{stamp}")
    console = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    with nnunet_environment(folders), compile_environment(compile_network), console, keep_matplotlib_backend():
        trainer = build_trainer(dataset_id, folders, fold, schedule, configuration, device)
        try:
            trainer.load_checkpoint(str(out / "checkpoint_final.pth"))
            _validate(trainer, save_probabilities, mirroring)
        except BaseException as exc:
            exc.add_note(f"nnU-Net's log of this run: {trainer.log_file}")
            raise


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
