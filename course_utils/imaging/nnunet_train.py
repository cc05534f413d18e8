"""Training nnU-Net's stock ``nnUNetTrainer`` with the profile's schedule, resumable (chapter 6).

The schedule and the trainer built from it are :mod:`course_utils.imaging.nnunet_trainer`, the fold folder's record
:mod:`course_utils.imaging.nnunet_records`, adoption :mod:`course_utils.imaging.nnunet_adopt`; this module trains a
fold and re-exports their public names (and the two private helpers the tests reach), where the chapter and the
command have always found them.

nnU-Net's trainer runs 1000 epochs of 250 iterations. The course builds the same stock trainer through
nnU-Net's Python API and only sets its schedule from the active profile (``NnunetSettings``), so the smoke
profile trains in minutes on a CPU and the full profile reproduces nnU-Net exactly. Resuming goes through
:func:`train_fold`, which restores the profile's schedule before loading the latest checkpoint (nnU-Net's
own ``--c`` would rebuild the trainer with 1000 epochs).

A trained model is never deleted: a fold folder holding a checkpoint the course did not write with this schedule
(a run of nnU-Net's own command line, a run with another profile) makes :func:`train_fold` stop with
:class:`TrainedModelExistsError`, which names the folder and the choices (adopt it, move it, or pass
``existing="overwrite"``). Each fold folder holds a record, ``.course-schedule``: who trained the model (the
course, with which schedule, or nnU-Net's own command, adopted by :func:`adopt_folds`) and the size, modification
time and sha256 of the ``checkpoint_final.pth`` it vouches for, so a checkpoint that something else rewrote
afterwards is detected, not passed off as the course's. ``torch.compile`` (nnU-Net's ``nnUNet_compile``, on by default on CUDA in nnU-Net) is
off unless asked for (``compile_network=True``): compiling needs a C compiler and costs minutes before the first
iteration, for iterations that then run faster on recent GPUs.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import shlex
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..plotting import keep_matplotlib_backend
from ..seeding import seed_everything
from .nnunet_adopt import _adopt_in_place, adopt_folds, check_adoption_source
from .nnunet_data import NnunetFolders, nnunet_environment
from .nnunet_records import (
    FoldRecord,
    _origin,
    _vouch,
    _write_record,
    checkpoint_binding,
    fold_record,
    fold_summary,
)
from .nnunet_trainer import (
    EXISTING_CHOICES,
    MARKER,
    PLANS,
    TRAINER,
    ModelAdoptionError,
    Schedule,
    TrainedModelExistsError,
    _iteration_bar,
    _validate,
    _validate_only,
    _validation_done,
    build_trainer,
    compile_environment,
    fold_folder,
    schedule_from,
    scratch_trainer,
)

__all__ = ["Schedule", "schedule_from", "fold_folder", "build_trainer", "scratch_trainer", "train_fold", "fold_summary",
           "TrainedModelExistsError", "ModelAdoptionError", "compile_environment", "EXISTING_CHOICES", "FoldRecord",
           "fold_record", "checkpoint_binding", "adopt_folds", "check_adoption_source", "MARKER",
           "TRAINER", "PLANS"]


def train_fold(dataset_id: int, folders: NnunetFolders, fold: int, schedule: Schedule, *,
               configuration: str = "3d_fullres", seed: int = 1234, device: Any = None, quiet: bool = True,
               existing: str = "refuse", compile_network: bool = False, save_probabilities: bool = False,
               mirroring: bool = True) -> Path:
    """Return the output folder of fold ``fold`` after training it with ``schedule`` (chapter 6).

    Idempotent: a fold finished with the same schedule is reused, and so is a model adopted with
    :func:`adopt_folds`, as long as its ``checkpoint_final.pth`` is the one its record vouches for. An interrupted
    run resumes from its ``checkpoint_latest.pth`` with the profile's schedule; a run interrupted after training but
    before its validation finished (no ``validation/summary.json``) runs the validation only, from
    ``checkpoint_final.pth``. A lock lets one process train while others wait. A progress bar counts the
    iterations; with ``quiet`` nnU-Net's own messages go to its log file only (``training_log_*.txt`` in the fold
    folder), not to the screen.

    A folder holding a checkpoint that the course did not write with ``schedule`` (nnU-Net's command line, another
    profile, a checkpoint rewritten after the course recorded it) is never deleted by default:
    ``existing="refuse"`` raises :class:`TrainedModelExistsError`; ``"reuse"`` adopts it in place when it holds
    ``checkpoint_final.pth`` (its plans checked and the choice recorded, see :func:`adopt_folds`); ``"overwrite"``
    deletes it and trains again. ``compile_network`` sets nnU-Net's ``nnUNet_compile`` (used on CUDA only).
    ``save_probabilities`` keeps the validation softmax (nnU-Net's ``--npz``), which ensembling two configurations
    needs. ``mirroring=False`` validates without test-time mirroring (nnU-Net's ``--disable_tta``; 8x fewer
    network passes in 3D).
    """
    if existing not in EXISTING_CHOICES:
        raise ValueError(f"existing={existing!r}: use one of {', '.join(EXISTING_CHOICES)}.")
    out = fold_folder(dataset_id, folders, fold, configuration)
    final = out / "checkpoint_final.pth"
    out.parent.mkdir(parents=True, exist_ok=True)
    validate = (dataset_id, folders, fold, schedule, configuration, device, quiet, compile_network, save_probabilities,
                mirroring, out)
    with open(out.parent / f".fold_{fold}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            record = fold_record(out)
            ours = record is not None and record.provenance == "course" and record.schedule == asdict(schedule)
            if final.is_file():
                vouched, reason = _vouch(record, out, schedule)
                if vouched:
                    if not _validation_done(out, save_probabilities):  # interrupted while validating: finish that only
                        _validate_only(*validate, keep_previous=record is not None and record.provenance == "adopted")
                    return out
                ours = False
            else:
                reason = _origin(record, schedule)
            if out.exists() and not ours:
                checkpoints = sorted(p.name for p in out.glob("*.pth"))
                if checkpoints and existing == "reuse" and final.is_file():
                    _adopt_in_place(dataset_id, folders, fold, configuration, out)
                    if not _validation_done(out, save_probabilities):
                        _validate_only(*validate, keep_previous=True)
                    return out
                if checkpoints and existing != "overwrite":
                    raise TrainedModelExistsError(_foreign_model_message(out, checkpoints, reason, existing))
                shutil.rmtree(out)  # no checkpoint in it (only logs), or an explicit overwrite
            out.mkdir(parents=True, exist_ok=True)
            _write_record(out, {"provenance": "course", "schedule": asdict(schedule), "checkpoint": None})
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
                    # bind the record to the checkpoint it vouches for, before the (long) validation
                    _write_record(out, {"provenance": "course", "schedule": asdict(schedule),
                                        "checkpoint": checkpoint_binding(final)})
                    _validate(trainer, save_probabilities, mirroring)
                except BaseException as exc:
                    exc.add_note(f"nnU-Net's log of this run: {trainer.log_file}")
                    raise
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return out


def _foreign_model_message(out: Path, checkpoints: list[str], origin: str, existing: str) -> str:
    reuse = ("adopt it as it is (its plans are checked and the choice recorded): train_fold(..., existing=\"reuse\"), "
             f"or `python -m course_utils.imaging.nnunet_cli adopt {shlex.quote(str(out))}`"
             if "checkpoint_final.pth" in checkpoints else
             "finish it with nnU-Net's own command (nnUNetv2_train ... --c), then adopt it with existing=\"reuse\"")
    return (f"{out} already holds a trained model ({', '.join(checkpoints)}): {origin}. The course never deletes a "
            f"model it did not write in this run (existing={existing!r}). Choose one: {reuse}; move the folder away "
            f"(e.g. `mv {shlex.quote(str(out))} {shlex.quote(str(out) + '.kept')}`) and train again; or delete it on "
            "purpose with existing=\"overwrite\". On the command line: python -m course_utils.imaging.nnunet_cli "
            "train --existing reuse|overwrite.")
