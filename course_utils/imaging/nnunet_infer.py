"""Sliding-window prediction with nnU-Net's predictor and evaluation on held-out cases (chapter 6).

Prediction uses nnU-Net's own ``nnUNetPredictor``: overlapping patches (half a patch apart), Gaussian
weighting of each patch towards its centre, test-time mirroring, and averaging over the folds it is given
(an ensemble when several folds are trained). Held-out cases never take part in training: in the smoke
profile they are synthetic cases made with other seeds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..device import pick_device
from ..plotting import keep_matplotlib_backend
from .io import read_volume
from .layouts import open_mri_folder
from .metrics import dice
from .nnunet_data import NnunetFolders, nnunet_environment

__all__ = ["HeldOutCase", "heldout_cases", "predict_cases", "CaseScore", "evaluate_predictions", "mean_dice"]


@dataclass(frozen=True)
class HeldOutCase:
    """A case kept out of training: its id, its input channel files (nnU-Net order) and its reference label."""

    case_id: str
    images: tuple[Path, ...]
    label: Path


def heldout_cases(settings: Any, n_cases: int = 4) -> list[HeldOutCase]:
    """Return held-out cases for the active profile: in smoke, synthetic cases with seeds never used for
    training (seed + 10000 onwards), in the seed's FLAIR layout."""
    if settings.source != "synthetic":
        raise NotImplementedError("the lab/full held-out split of MSD Task01 comes with chapter 6's manifest of ids")
    from .synthetic import synthetic_dataset

    folder = open_mri_folder(synthetic_dataset("seed", n_cases, seed=settings.seed + 10_000, spacing_mm=settings.spacing_mm))
    return [HeldOutCase(f"test_{c.case_id}", (c.image,), c.label) for c in folder.cases if c.label is not None]


def predict_cases(model_dir: Path, folders: NnunetFolders, cases: Sequence[HeldOutCase], output: Path, *,
                  folds: Sequence[int] = (0,), mirroring: bool = True, step_size: float = 0.5) -> dict[str, Path]:
    """Return {case id: predicted label file} after nnU-Net's sliding-window prediction of ``cases``.

    ``model_dir`` is the trainer folder holding ``fold_N`` subfolders; several folds are averaged (ensemble).
    """
    with keep_matplotlib_backend():
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, nnunet_environment(folders, n_proc=1):
        inputs = []
        for case in cases:
            files = []
            for channel, image in enumerate(case.images):
                target = Path(scratch) / f"{case.case_id}_{channel:04d}.nii.gz"
                shutil.copyfile(image, target) if str(image).endswith(".nii.gz") else os.symlink(image, target)
                files.append(str(target))
            inputs.append(files)
        predictor = nnUNetPredictor(tile_step_size=step_size, use_gaussian=True, use_mirroring=mirroring,
                                    device=pick_device(), verbose=False, verbose_preprocessing=False, allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(str(model_dir), use_folds=tuple(folds),
                                                       checkpoint_name="checkpoint_final.pth")
        predictor.predict_from_files(inputs, [str(output / c.case_id) for c in cases], save_probabilities=False,
                                     overwrite=True, num_processes_preprocessing=1, num_processes_segmentation_export=1)
    return {c.case_id: output / f"{c.case_id}.nii.gz" for c in cases}


@dataclass(frozen=True)
class CaseScore:
    """Dice of one predicted case against its reference (whole tumour)."""

    case_id: str
    dice: float
    predicted_ml: float
    reference_ml: float


def evaluate_predictions(predictions: dict[str, Path], cases: Sequence[HeldOutCase]) -> list[CaseScore]:
    """Return the whole-tumour Dice and volumes of every predicted case against its reference label."""
    scores = []
    for case in cases:
        reference = read_volume(case.label)
        predicted = read_volume(predictions[case.case_id])
        ml = reference.geometry.voxel_volume_mm3 / 1000
        scores.append(CaseScore(case.case_id, dice(predicted.array > 0, reference.array > 0),
                                float((predicted.array > 0).sum() * ml), float((reference.array > 0).sum() * ml)))
    return scores


def mean_dice(scores: Sequence[CaseScore]) -> float:
    """Return the mean Dice over cases."""
    return float(np.mean([s.dice for s in scores]))
