"""The record the course keeps in each fold folder, ``.course-schedule`` (chapter 6).

It says who trained the model (the course, with which schedule, or nnU-Net's own command, adopted) and holds the
size, modification time and sha256 of the ``checkpoint_final.pth`` it vouches for, so a checkpoint that something
else rewrote afterwards is detected, not passed off as the course's.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .nnunet_trainer import MARKER, TRAINER, ModelAdoptionError, Schedule

__all__ = ["FoldRecord", "fold_record", "checkpoint_binding", "fold_summary"]


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


def _describe(record: FoldRecord | None) -> str:
    if record is None:
        return "no course record: trained by another tool"
    if record.provenance == "adopted":
        return f"adopted from {record.source}"
    return f"trained by the course with {json.dumps(record.schedule, sort_keys=True)}"


def fold_summary(fold_dir: Path) -> dict[str, Any]:
    """Return nnU-Net's validation summary of a trained fold (``validation/summary.json``)."""
    path = Path(fold_dir) / "validation" / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"No validation summary at {path}: train the fold first (train_fold).")
    return json.loads(path.read_text())
