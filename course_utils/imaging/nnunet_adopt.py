"""Adopting folds that nnU-Net's own command line trained (chapter 6): plans and fold layout checked, nothing
deleted, each adopted fold given the course's record (:mod:`course_utils.imaging.nnunet_records`).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..paths import staged_directory
from .nnunet_data import NnunetFolders, dataset_name
from .nnunet_records import _binding_holds, _checkpoint_facts, _describe, _write_record, checkpoint_binding, fold_record
from .nnunet_trainer import (
    MARKER,
    PLANS,
    TRAINER,
    ModelAdoptionError,
    Schedule,
    _validate_only,
    _validation_done,
    fold_folder,
)

__all__ = ["adopt_folds", "check_adoption_source"]


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
