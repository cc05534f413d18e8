"""Sliding-window prediction with nnU-Net's predictor and evaluation on held-out cases (chapter 6).

Prediction uses nnU-Net's own ``nnUNetPredictor``: overlapping patches (half a patch apart), Gaussian
weighting of each patch towards its centre, test-time mirroring, and averaging over the folds it is given
(an ensemble when several folds are trained). Held-out cases never take part in training: in the smoke
profile they are synthetic cases made with other seeds; on real data, the cases conversion kept out of
``imagesTr`` (:mod:`~course_utils.imaging.holdout`).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..device import pick_device
from ..errors import DatasetLayoutError
from ..plotting import keep_matplotlib_backend
from ..progress import progress
from .checks import check_pair
from .io import read_volume
from .layouts import open_mri_folder
from .metrics import BRATS_REGIONS, dice, dice_brats_regions, hd95
from .nnunet_data import NnunetFolders, copy_nifti, nnunet_environment
from .pipeline import PreparedDataset, part1_source
from .synthetic import load_truth, synthetic_dataset

__all__ = ["HeldOutCase", "heldout_cases", "predict_cases", "predict_heldout", "CaseScore", "evaluate_predictions",
           "scores_frame", "mean_dice", "mean_hd95", "count_undefined_hd95", "evaluate_regions"]


@dataclass(frozen=True)
class HeldOutCase:
    """A case kept out of training: its id, its input channel files (nnU-Net order) and its reference label."""

    case_id: str
    images: tuple[Path, ...]
    label: Path


def heldout_cases(prepared: PreparedDataset, settings: Any, n_synthetic: int = 4) -> list[HeldOutCase]:
    """Return the held-out test cases of a prepared dataset (never trained on).

    Real data: the cases conversion put into the raw dataset's ``imagesTs``/``labelsTs`` (for MSD Task01 the
    committed list of :mod:`~course_utils.imaging.holdout`). Synthetic data: ``n_synthetic`` cases generated with
    seeds never used for training (``settings.seed + 10000`` onwards), in the seed's FLAIR layout.
    """
    images, labels = prepared.raw / "imagesTs", prepared.raw / "labelsTs"
    if labels.is_dir():
        cases = []
        for label in sorted(labels.glob("*.nii.gz")):
            case_id = label.name[: -len(".nii.gz")]
            channels = tuple(sorted(images.glob(f"{case_id}_[0-9][0-9][0-9][0-9].nii.gz")))
            if not channels:
                raise DatasetLayoutError(f"{images}: no image for held-out case {case_id!r}; convert the dataset again.")
            cases.append(HeldOutCase(case_id, channels, label))
        return cases
    if load_truth(part1_source(settings)) is None:
        raise DatasetLayoutError(
            f"{prepared.raw} has no held-out test cases (labelsTs) and its source is not synthetic: convert it with "
            "prepare_nnunet, which holds the test cases out.")
    folder = open_mri_folder(synthetic_dataset("seed", n_synthetic, seed=settings.seed + 10_000, spacing_mm=settings.spacing_mm))
    return [HeldOutCase(f"test_{c.case_id}", (c.image,), c.label) for c in folder.cases if c.label is not None]


def predict_cases(model_dir: Path, folders: NnunetFolders, cases: Sequence[HeldOutCase], output: Path, *,
                  folds: Sequence[int] = (0,), mirroring: bool = True, step_size: float = 0.5,
                  chunk_size: int = 8) -> dict[str, Path]:
    """Return {case id: predicted label file} after nnU-Net's sliding-window prediction of ``cases``.

    ``model_dir`` is the trainer folder holding ``fold_N`` subfolders; several folds are averaged (ensemble).
    Cases go to nnU-Net's predictor ``chunk_size`` at a time, so a progress bar can count them.
    """
    with keep_matplotlib_backend():
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    output.mkdir(parents=True, exist_ok=True)
    chunks = [list(cases[i:i + chunk_size]) for i in range(0, len(cases), chunk_size)]
    with tempfile.TemporaryDirectory() as scratch, nnunet_environment(folders, n_proc=1):
        inputs = {}
        for case in cases:
            inputs[case.case_id] = [str(copy_nifti(image, Path(scratch) / f"{case.case_id}_{channel:04d}.nii.gz"))
                                    for channel, image in enumerate(case.images)]
        with contextlib.redirect_stdout(io.StringIO()):  # nnU-Net narrates every case; the result is the files
            predictor = nnUNetPredictor(tile_step_size=step_size, use_gaussian=True, use_mirroring=mirroring,
                                        device=pick_device(), verbose=False, verbose_preprocessing=False,
                                        allow_tqdm=False)
            predictor.initialize_from_trained_model_folder(str(model_dir), use_folds=tuple(folds),
                                                           checkpoint_name="checkpoint_final.pth")
        for chunk in progress(chunks, desc=f"predicting {len(cases)} cases, folds {tuple(folds)}", unit="batch",
                              leave=False):
            with contextlib.redirect_stdout(io.StringIO()):
                predictor.predict_from_files([inputs[c.case_id] for c in chunk], [str(output / c.case_id) for c in chunk],
                                             save_probabilities=False, overwrite=True, num_processes_preprocessing=1,
                                             num_processes_segmentation_export=1)
    return {c.case_id: output / f"{c.case_id}.nii.gz" for c in cases}


def predict_heldout(model_dir: Path, folders: NnunetFolders, cases: Sequence[HeldOutCase], output: Path, *,
                    folds: Sequence[int] = (0,), mirroring: bool = True) -> dict[str, Path]:
    """Return {case id: predicted label file} of ``cases`` by the ``folds`` of ``model_dir``, predicting only when
    ``output`` does not already hold them for these folds and checkpoints (chapter 6).

    The chapter's command line (``python -m course_utils.imaging.nnunet_cli predict``) and the notebook share
    ``output``, so predictions made by the command are read, not made again. ``mirroring=False`` skips test-time
    mirroring (nnU-Net's ``--disable_tta``).
    """
    stamp = json.dumps({"folds": [int(f) for f in folds], "cases": [c.case_id for c in cases], "mirroring": mirroring,
                        "checkpoints": {int(f): (Path(model_dir) / f"fold_{f}" / "checkpoint_final.pth").stat().st_mtime_ns
                                        for f in folds}}, sort_keys=True)
    marker = Path(output) / ".course-predicted"
    files = {c.case_id: Path(output) / f"{c.case_id}.nii.gz" for c in cases}
    Path(output).mkdir(parents=True, exist_ok=True)
    with open(Path(output).parent / f".{Path(output).name}.lock", "w") as handle:  # one process predicts, others wait
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if marker.is_file() and marker.read_text() == stamp and all(p.is_file() for p in files.values()):
                return files
            marker.unlink(missing_ok=True)
            predicted = predict_cases(model_dir, folders, cases, Path(output), folds=folds, mirroring=mirroring)
            marker.write_text(stamp)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return predicted


@dataclass(frozen=True)
class CaseScore:
    """Whole-tumour scores of one predicted case against its reference: Dice, HD95 (mm) and both volumes (ml)."""

    case_id: str
    dice: float
    hd95_mm: float
    predicted_ml: float
    reference_ml: float


def evaluate_predictions(predictions: dict[str, Path], cases: Sequence[HeldOutCase]) -> list[CaseScore]:
    """Return the whole-tumour Dice, HD95 and volumes of every predicted case against its reference label.

    HD95 follows chapter 5 (symmetric, millimetres from the spacing); a case where exactly one of prediction and
    reference is empty gets NaN, and :func:`scores_frame` counts such cases.
    """
    scores = []
    for case in cases:
        reference = read_volume(case.label)
        predicted = read_volume(predictions[case.case_id])
        ref, pred = reference.array > 0, predicted.array > 0
        check_pair(reference, predicted, case.case_id)
        ml = reference.geometry.voxel_volume_mm3 / 1000
        scores.append(CaseScore(case.case_id, dice(pred, ref), hd95(pred, ref, reference.geometry.spacing_zyx),
                                float(pred.sum() * ml), float(ref.sum() * ml)))
    return scores


def scores_frame(scores: Sequence[CaseScore]) -> pd.DataFrame:
    """Return the scores as a table, one row a case, with a last row of means (HD95 over the cases where it is defined)."""
    frame = pd.DataFrame([{"case": s.case_id, "Dice": s.dice, "HD95 (mm)": s.hd95_mm, "predicted (ml)": s.predicted_ml,
                           "reference (ml)": s.reference_ml} for s in scores])
    mean = {"case": "mean", "Dice": frame["Dice"].mean(), "HD95 (mm)": np.nanmean(frame["HD95 (mm)"]) if len(frame) else np.nan,
            "predicted (ml)": frame["predicted (ml)"].mean(), "reference (ml)": frame["reference (ml)"].mean()}
    return pd.concat([frame, pd.DataFrame([mean])], ignore_index=True)


def mean_dice(scores: Sequence[CaseScore]) -> float:
    """Return the mean Dice over cases."""
    return float(np.mean([s.dice for s in scores]))


def count_undefined_hd95(scores: Sequence[CaseScore]) -> int:
    """Return how many cases have no HD95 (NaN: exactly one of prediction and reference is empty)."""
    return int(sum(not np.isfinite(s.hd95_mm) for s in scores))


def evaluate_regions(predictions: dict[str, Path], cases: Sequence[HeldOutCase]) -> pd.DataFrame:
    """Return the Dice of the BraTS regions (WT whole tumour, TC tumour core, ET enhancing tumour) of every case,
    one row a case, from predicted and reference MSD label maps (1 oedema, 2 non-enhancing, 3 enhancing; chapter 6).

    A region absent from both prediction and reference scores 1 (the BraTS convention).
    """
    rows = []
    for case in cases:
        reference, predicted = read_volume(case.label), read_volume(predictions[case.case_id])
        check_pair(reference, predicted, case.case_id)
        rows.append({"case": case.case_id, **dice_brats_regions(predicted.array, reference.array)})
    return pd.DataFrame(rows, columns=["case", *BRATS_REGIONS])


def mean_hd95(scores: Sequence[CaseScore]) -> float:
    """Return the mean HD95 in mm over the cases where it is defined (NaN when none is)."""
    values = [s.hd95_mm for s in scores if np.isfinite(s.hd95_mm)]
    return float(np.mean(values)) if values else float("nan")
