"""Training nnU-Net's stock ``nnUNetTrainer`` with the profile's schedule, resumable (chapter 6).

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
import copy
import datetime
import fcntl
import hashlib
import io
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..device import pick_device
from ..errors import CourseError
from ..paths import staged_directory
from ..plotting import keep_matplotlib_backend
from ..progress import progress_bar
from ..seeding import seed_everything
from .nnunet_data import NnunetFolders, dataset_name, load_plans, nnunet_environment

__all__ = ["Schedule", "schedule_from", "fold_folder", "build_trainer", "scratch_trainer", "train_fold", "fold_summary",
           "TrainedModelExistsError", "ModelAdoptionError", "compile_environment", "EXISTING_CHOICES", "FoldRecord",
           "fold_record", "checkpoint_binding", "adopt_folds", "check_adoption_source", "MARKER"]

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


# ---------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class FoldRecord:
    """What the course knows about a fold folder (its ``.course-schedule`` record; chapter 6).

    ``provenance``: ``"course"`` (trained by :func:`train_fold` with ``schedule``) or ``"adopted"`` (trained by
    nnU-Net's own command, taken over by :func:`adopt_folds` from ``source``); ``checkpoint``: the size,
    modification time and sha256 of the ``checkpoint_final.pth`` it vouches for (None while training runs, and in
    records written before the course kept them); ``epochs``: the epochs the adopted checkpoint was trained for.
    """

    provenance: str
    schedule: dict[str, int] | None
    checkpoint: dict[str, Any] | None
    source: str | None = None
    epochs: int | None = None
    adopted: str | None = None


def fold_record(fold_dir: str | os.PathLike[str]) -> FoldRecord | None:
    """Return the course's record of a fold folder, or None when it has none (or one that cannot be read)."""
    path = Path(fold_dir) / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    if "provenance" not in data and "num_epochs" in data:  # the schedule alone: a record of an earlier course version
        return FoldRecord("course", data, None)
    return FoldRecord(str(data.get("provenance")), data.get("schedule"), data.get("checkpoint"), data.get("source"),
                      data.get("epochs"), data.get("adopted"))


def checkpoint_binding(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return what identifies a checkpoint file: its name, size, modification time (ns) and sha256 (chapter 6)."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    stat = path.stat()
    return {"file": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}


def _binding_holds(binding: dict[str, Any], fold_dir: Path) -> bool:
    """Whether the checkpoint in ``fold_dir`` is the one ``binding`` names (same size and time, or same content)."""
    path = fold_dir / str(binding.get("file", "checkpoint_final.pth"))
    if not path.is_file() or path.stat().st_size != binding.get("size"):
        return False
    if path.stat().st_mtime_ns == binding.get("mtime_ns"):
        return True
    return checkpoint_binding(path)["sha256"] == binding.get("sha256")  # copied without its time: compare content


def _write_record(fold_dir: Path, record: dict[str, Any]) -> None:
    """Write a fold's record atomically (a reader sees the old one or the new one, never half of one)."""
    tmp = fold_dir / f"{MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(record, sort_keys=True, indent=1))
    os.replace(tmp, fold_dir / MARKER)


def _checkpoint_facts(path: Path) -> dict[str, Any]:
    """Return the trainer, configuration, fold and epochs recorded inside an nnU-Net checkpoint."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ModelAdoptionError(f"{path} is not a readable nnU-Net checkpoint ({type(exc).__name__}: {exc}). Adopt "
                                 "only folders nnUNetv2_train wrote; a checkpoint still being written cannot be "
                                 "read: wait until the training has finished.") from None
    if not isinstance(checkpoint, dict) or "init_args" not in checkpoint:
        raise ModelAdoptionError(f"{path} holds no nnU-Net training state (no init_args): it is not a checkpoint "
                                 "that nnUNetv2_train wrote.")
    args = checkpoint["init_args"]
    return {"trainer": checkpoint.get("trainer_name"), "configuration": args.get("configuration"),
            "fold": args.get("fold"), "epochs": int(checkpoint.get("current_epoch", -1))}


def _vouch(record: FoldRecord | None, out: Path, schedule: Schedule) -> tuple[bool, str]:
    """Return (whether the course vouches for the ``checkpoint_final.pth`` in ``out``, why not when it does not)."""
    if record is None or record.provenance not in ("course", "adopted"):
        return False, _origin(record, schedule)
    if record.provenance == "course" and record.schedule != asdict(schedule):
        return False, _origin(record, schedule)
    if record.checkpoint is not None:
        if _binding_holds(record.checkpoint, out):
            return True, ""
        return False, ("its checkpoint_final.pth changed after the course recorded it (size, time and sha256 differ "
                       "from the record in .course-schedule): something else, such as nnU-Net's own command line, "
                       "wrote into this folder")
    if record.provenance == "course":  # trained before the record named its checkpoint: read the checkpoint itself
        facts = _checkpoint_facts(out / "checkpoint_final.pth")
        if facts["trainer"] == TRAINER and facts["epochs"] == schedule.num_epochs:
            _write_record(out, {"provenance": "course", "schedule": asdict(schedule),
                                "checkpoint": checkpoint_binding(out / "checkpoint_final.pth")})
            return True, ""
        return False, (f"its checkpoint_final.pth holds {facts['epochs']} epochs of {facts['trainer']}, not the "
                       f"{schedule.num_epochs} epochs the course's record says it trained")
    return False, "it was adopted, but its record names no checkpoint"


def _origin(record: FoldRecord | None, schedule: Schedule) -> str:
    if record is None:
        return "the course did not train it (nnU-Net's command line, or another tool)"
    if record.provenance == "course":
        return (f"the course trained it with another schedule ({json.dumps(record.schedule, sort_keys=True)}, this "
                f"run asks for {json.dumps(asdict(schedule), sort_keys=True)})")
    return f"the course adopted it from {record.source}, and it is not the model the record names"


# ---------------------------------------------------------------------------------------------- adoption
_MODEL_FILES = ("plans.json", "dataset.json", "dataset_fingerprint.json")


def adopt_folds(dataset_id: int, folders: NnunetFolders, source: str | os.PathLike[str], folds: Sequence[int], *,
                configuration: str = "3d_fullres", schedule: Schedule | None = None, save_probabilities: bool = False,
                mirroring: bool = True, device: Any = None, quiet: bool = True,
                compile_network: bool = False) -> dict[int, Path]:
    """Return {fold: folder} after adopting ``folds`` of a model trained by nnU-Net's own command (chapter 6).

    ``source`` is the ``nnUNet_results`` folder that ``nnUNetv2_train`` wrote to (for instance the one of
    :func:`~course_utils.imaging.nnunet_eval.ddp_command`), its dataset folder, its
    ``nnUNetTrainer__nnUNetPlans__<configuration>`` folder or one fold folder. The model is checked first: the
    same trainer, plans identifier and configuration, and plans, ``dataset.json`` and dataset fingerprint equal to
    the course's (a model planned for other data or another patch would predict nonsense, or nothing); each fold
    must hold ``fold_N/checkpoint_final.pth`` of that fold. Then every fold is copied into the course's fold folder
    (the training checkpoints ``checkpoint_latest``/``checkpoint_best`` stay in ``source``) with a record naming
    its provenance and binding it to its ``checkpoint_final.pth``; :func:`train_fold` reuses it from then on. A fold
    without ``validation/summary.json`` (or without the softmax files that ``save_probabilities`` needs) is
    validated from its final checkpoint, as nnU-Net's ``--val`` (``--npz``) would. Nothing is deleted: ``source``
    is only read, and a course fold folder that already holds another model stops the adoption with
    :class:`ModelAdoptionError`. Adopting the same folder again does nothing.
    """
    model_dir = _locate_model_dir(Path(source), dataset_id, configuration)
    _check_model_files(model_dir, dataset_id, folders)
    target_dir = fold_folder(dataset_id, folders, 0, configuration).parent
    present = sorted(p.name for p in model_dir.glob("fold_*") if (p / "checkpoint_final.pth").is_file())
    missing = [int(f) for f in folds if f"fold_{int(f)}" not in present]
    if missing:
        raise ModelAdoptionError(f"{model_dir} holds no finished fold(s) {missing} (no fold_N/checkpoint_final.pth; "
                                 f"finished: {', '.join(present) or 'none'}). Finish them with nnU-Net's command "
                                 "(nnUNetv2_train ... --c), or adopt only the finished ones (--folds).")
    facts = {int(f): _checkpoint_facts(model_dir / f"fold_{int(f)}" / "checkpoint_final.pth") for f in folds}
    for fold, fact in facts.items():
        wanted = {"trainer": TRAINER, "configuration": configuration, "fold": fold}
        if any(fact[k] != v for k, v in wanted.items()):
            raise ModelAdoptionError(f"{model_dir / f'fold_{fold}' / 'checkpoint_final.pth'} was trained as "
                                     f"{fact['trainer']}, configuration {fact['configuration']!r}, fold {fact['fold']}; "
                                     f"the course adopts {TRAINER}, configuration {configuration!r}, fold {fold} only.")
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in _MODEL_FILES:  # the model's plans beside its folds, as nnU-Net keeps them for inference
        if not (target_dir / name).is_file():
            shutil.copy2(model_dir / name, target_dir / name)
    schedule = schedule or Schedule(1, 1, 1)  # validation does not depend on the schedule
    adopted = {}
    for fold in facts:
        out = fold_folder(dataset_id, folders, fold, configuration)
        with open(out.parent / f".fold_{fold}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                _adopt_one(model_dir / f"fold_{fold}", out, facts[fold]["epochs"])
                if not _validation_done(out, save_probabilities):
                    _validate_only(dataset_id, folders, fold, schedule, configuration, device, quiet, compile_network,
                                   save_probabilities, mirroring, out, keep_previous=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        adopted[fold] = out
    return adopted


def _adopt_one(source: Path, out: Path, epochs: int) -> None:
    """Copy one finished fold into the course's fold folder ``out`` with its adoption record (or adopt in place)."""
    if source.resolve() == out.resolve():
        record = fold_record(out)
        if not (record and record.checkpoint and _binding_holds(record.checkpoint, out)):
            _write_record(out, _adoption_record("in place", epochs, out / "checkpoint_final.pth"))
        return
    record = fold_record(out)
    if (out / "checkpoint_final.pth").is_file():
        if record and record.provenance == "adopted" and record.source == str(source.resolve()) \
                and record.checkpoint and _binding_holds(record.checkpoint, out) \
                and record.checkpoint["sha256"] == checkpoint_binding(source / "checkpoint_final.pth")["sha256"]:
            return  # adopted before, unchanged on both sides
        raise ModelAdoptionError(f"{out} already holds a model ({_describe(record)}); the course never overwrites one. "
                                 f"Move it away first (e.g. `mv {shlex.quote(str(out))} "
                                 f"{shlex.quote(str(out) + '.kept')}`), then adopt {source} again.")
    if any(out.glob("*.pth")):
        raise ModelAdoptionError(f"{out} holds an unfinished training ({', '.join(p.name for p in out.glob('*.pth'))});"
                                 f" move it away first (e.g. `mv {shlex.quote(str(out))} "
                                 f"{shlex.quote(str(out) + '.kept')}`), then adopt {source} again.")
    skip = shutil.ignore_patterns("checkpoint_latest.pth", "checkpoint_best.pth", MARKER, f"{MARKER}.tmp-*")
    with staged_directory(out) as tmp:  # the fold folder appears whole, with its record, or not at all
        shutil.copytree(source, tmp, ignore=skip, dirs_exist_ok=True, copy_function=shutil.copy2)
        record_dict = _adoption_record(str(source.resolve()), epochs, tmp / "checkpoint_final.pth")
        _write_record(tmp, record_dict)


def _adopt_in_place(dataset_id: int, folders: NnunetFolders, fold: int, configuration: str, out: Path) -> None:
    """Adopt the model nnU-Net's command wrote into the course's own fold folder ``out`` (``existing="reuse"``)."""
    _check_model_files(out.parent, dataset_id, folders)
    facts = _checkpoint_facts(out / "checkpoint_final.pth")
    if (facts["trainer"], facts["configuration"], facts["fold"]) != (TRAINER, configuration, fold):
        raise ModelAdoptionError(f"{out / 'checkpoint_final.pth'} was trained as {facts['trainer']}, configuration "
                                 f"{facts['configuration']!r}, fold {facts['fold']}: not this fold of this model.")
    _write_record(out, _adoption_record("in place", facts["epochs"], out / "checkpoint_final.pth"))


def _adoption_record(source: str, epochs: int, checkpoint: Path) -> dict[str, Any]:
    return {"provenance": "adopted", "source": source, "trained_by": "nnUNetv2_train (nnU-Net's command line)",
            "epochs": epochs, "schedule": None, "adopted": datetime.datetime.now().isoformat(timespec="seconds"),
            "checkpoint": checkpoint_binding(checkpoint)}


def _describe(record: FoldRecord | None) -> str:
    if record is None:
        return "no course record: trained by another tool"
    if record.provenance == "adopted":
        return f"adopted from {record.source}"
    return f"trained by the course with {json.dumps(record.schedule, sort_keys=True)}"


def _locate_model_dir(source: Path, dataset_id: int, configuration: str) -> Path:
    """Return the ``nnUNetTrainer__nnUNetPlans__<configuration>`` folder that ``source`` is or holds."""
    wanted = f"{TRAINER}__{PLANS}__{configuration}"
    if not source.is_dir():
        raise ModelAdoptionError(f"{source} is not a folder. Give the nnUNet_results folder nnUNetv2_train wrote to, "
                                 f"or its {dataset_name(dataset_id)}/{wanted} folder.")
    candidates = [source.parent if source.name.startswith("fold_") else source, source / wanted,
                  source / dataset_name(dataset_id) / wanted]
    for candidate in candidates:
        if candidate.name == wanted and candidate.is_dir():
            return candidate
    found = sorted(str(p.relative_to(source)) for p in source.glob("**/*__*__*") if p.is_dir())[:5]
    raise ModelAdoptionError(f"{source} holds no {dataset_name(dataset_id)}/{wanted} folder (trainer {TRAINER}, "
                             f"plans {PLANS}, configuration {configuration!r}); found: {', '.join(found) or 'nothing'}. "
                             "The course adopts models of its own dataset, trainer, plans and configuration only.")


def _read_json(path: Path) -> Any:
    """Return the JSON in ``path`` of a model to adopt, or raise :class:`ModelAdoptionError` naming the file."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelAdoptionError(f"{path} is not readable JSON ({exc}). nnUNetv2_train writes this file whole; copy "
                                 "the model folder again from where it was trained, then adopt it.") from None


def check_adoption_source(source: str | os.PathLike[str]) -> Path:
    """Return ``source`` as a Path after the checks that need no prepared dataset, or raise
    :class:`ModelAdoptionError` naming the folder or file: it must be a folder, not empty, hold at least one finished
    fold (``fold_N/checkpoint_final.pth``) and its model files (plans.json, dataset.json,
    dataset_fingerprint.json) must be readable JSON (chapter 6's ``adopt``; run before any work is done)."""
    folder = Path(source)
    hint = "Give the nnUNet_results folder nnUNetv2_train wrote to (or its model or fold folder)."
    if not folder.exists():
        raise ModelAdoptionError(f"{folder} does not exist. {hint}")
    if not folder.is_dir():
        raise ModelAdoptionError(f"{folder} is a file, not a folder. {hint}")
    if not any(folder.iterdir()):
        raise ModelAdoptionError(f"{folder} is empty. {hint}")
    base = folder.parent if folder.name.startswith("fold_") else folder
    if not any(base.glob("fold_*/checkpoint_final.pth")) and not any(base.glob("**/fold_*/checkpoint_final.pth")):
        raise ModelAdoptionError(f"{folder} holds no finished fold (no fold_N/checkpoint_final.pth under it). Wait until "
                                 "nnUNetv2_train has finished (or finish it with its --c option), then adopt the folder.")
    for name in _MODEL_FILES:
        for path in [base / name, *base.glob(f"**/{name}")]:
            if path.is_file():
                _read_json(path)
    return folder


def _check_model_files(model_dir: Path, dataset_id: int, folders: NnunetFolders) -> None:
    """Raise :class:`ModelAdoptionError` unless ``model_dir``'s plans, dataset.json and fingerprint are the course's."""
    ours_dir = folders.preprocessed / dataset_name(dataset_id)
    for name, ours_name in zip(_MODEL_FILES, (f"{PLANS}.json", "dataset.json", "dataset_fingerprint.json")):
        theirs_path, ours_path = model_dir / name, ours_dir / ours_name
        if not theirs_path.is_file():
            raise ModelAdoptionError(f"{model_dir} has no {name}: it is not a model folder nnUNetv2_train wrote (it "
                                     "copies plans.json, dataset.json and dataset_fingerprint.json there).")
        theirs, ours = _read_json(theirs_path), json.loads(ours_path.read_text())
        if name == "plans.json":
            theirs.pop("continue_training", None)
        differences = _differences(theirs, ours)
        if differences:
            raise ModelAdoptionError(
                f"{theirs_path} differs from the course's {ours_path}: {'; '.join(differences[:4])}"
                f"{' ...' if len(differences) > 4 else ''}. The model was planned for other data or with other "
                "settings, so the course will not adopt it; train it again from the course's nnUNet_preprocessed "
                "(the command chapter 6 prints).")


def _differences(theirs: Any, ours: Any, where: str = "") -> list[str]:
    """Return where two JSON values differ, as 'key.path: theirs vs ours' lines."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        found = []
        for key in sorted(set(theirs) | set(ours), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in theirs or key not in ours:
                found.append(f"{path}: {'missing there' if key not in theirs else 'missing here'}")
            else:
                found.extend(_differences(theirs[key], ours[key], path))
        return found
    if theirs != ours:
        return [f"{where or 'value'}: {json.dumps(theirs)[:60]} there vs {json.dumps(ours)[:60]} here"]
    return []


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
