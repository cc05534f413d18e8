"""Reading nnU-Net's plans against its design table (chapter 2).

nnU-Net sorts its design decisions into *fixed* parameters (the same for every dataset), *rule-based*
parameters (computed from the dataset fingerprint by explicit rules) and *empirical* ones (chosen after
cross-validation). The chapter recomputes the rule-based ones from the fingerprint with the small functions
below, each checked against nnU-Net's own planner, and shows where nnU-Net v2's code differs from the
2021 paper's table (the low-resolution cascade threshold).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .nnunet_data import NnunetFolders, dataset_name

__all__ = [
    "ANISOTROPY_THRESHOLD", "LOWRES_THRESHOLD_V2", "LOWRES_THRESHOLD_PAPER", "load_fingerprint", "target_spacing",
    "resampled_median_shape", "initial_patch_size", "lowres_needed", "DesignRow", "design_table",
    "fingerprint_table", "plot_patch_vs_median", "list_tree",
]

ANISOTROPY_THRESHOLD = 3.0
#: nnU-Net v2 adds a 3d_lowres (cascade) configuration when the full-resolution patch covers less than 25% of
#: the median image's voxels (``ExperimentPlanner.lowres_creation_threshold``); the 2021 paper's table says 12.5%.
LOWRES_THRESHOLD_V2 = 0.25
LOWRES_THRESHOLD_PAPER = 0.125


def load_fingerprint(dataset_id: int, folders: NnunetFolders) -> dict[str, Any]:
    """Return the dataset fingerprint nnU-Net extracted (``dataset_fingerprint.json``)."""
    return json.loads((folders.preprocessed / dataset_name(dataset_id) / "dataset_fingerprint.json").read_text())


def target_spacing(spacings: Sequence[Sequence[float]], shapes: Sequence[Sequence[int]],
                   anisotropy_threshold: float = ANISOTROPY_THRESHOLD) -> np.ndarray:
    """Return the full-resolution target spacing: the median spacing per axis, except for anisotropic data
    (one axis coarser than ``threshold`` x the others and with ``threshold`` x fewer voxels), where that axis
    takes the 10th percentile of its spacings (never finer than the other axes)."""
    spacing = np.percentile(np.asarray(spacings, dtype=float), 50, axis=0)
    size = np.percentile(np.asarray(shapes, dtype=float), 50, axis=0)
    worst = int(np.argmax(spacing))
    others = [i for i in range(len(spacing)) if i != worst]
    aniso_spacing = spacing[worst] > anisotropy_threshold * max(spacing[i] for i in others)
    aniso_voxels = size[worst] * anisotropy_threshold < min(size[i] for i in others)
    if aniso_spacing and aniso_voxels:
        value = float(np.percentile(np.asarray(spacings, dtype=float)[:, worst], 10))
        coarsest_other = max(spacing[i] for i in others)
        if value < coarsest_other:
            value = max(coarsest_other, value) + 1e-5
        spacing[worst] = value
    return spacing


def resampled_median_shape(spacings: Sequence[Sequence[float]], shapes: Sequence[Sequence[int]],
                           target: Sequence[float]) -> np.ndarray:
    """Return the median image shape after resampling every case to ``target`` spacing."""
    new = [np.round(np.asarray(s, float) * np.asarray(sp, float) / np.asarray(target, float)).astype(int)
           for s, sp in zip(shapes, spacings)]
    return np.median(np.vstack(new), axis=0)


def initial_patch_size(spacing: Sequence[float], median_shape: Sequence[float]) -> np.ndarray:
    """Return the patch size nnU-Net starts from: a 256^3-voxel box shaped like the voxel aspect (larger in
    the finer axes), clipped to the median shape; the planner then shrinks it to fit the GPU budget."""
    inverse = 1.0 / np.asarray(spacing, dtype=float)
    start = np.round(inverse * (256**3 / np.prod(inverse)) ** (1 / 3))
    return np.minimum(start, np.asarray(median_shape, dtype=float))


def lowres_needed(patch_size: Sequence[int], median_shape: Sequence[float], threshold: float = LOWRES_THRESHOLD_V2) -> bool:
    """Return True when the patch covers less than ``threshold`` of the median image's voxels (cascade trigger)."""
    return float(np.prod(np.asarray(patch_size, float)) / np.prod(np.asarray(median_shape, float))) < threshold


@dataclass(frozen=True)
class DesignRow:
    """One row of the design table: the choice, its kind, nnU-Net's value, the course's derivation, agreement."""

    choice: str
    kind: str
    nnunet: str
    derived: str
    agrees: bool | None


def design_table(plans: dict[str, Any], fingerprint: dict[str, Any], configuration: str = "3d_fullres") -> list[DesignRow]:
    """Return the design table of a planned dataset: fixed choices, and rule-based ones recomputed here."""
    config = plans["configurations"][configuration]
    spacings, shapes = fingerprint["spacings"], fingerprint["shapes_after_crop"]
    order = plans.get("transpose_forward", [0, 1, 2])
    spacing = target_spacing(spacings, shapes)[order]
    median = resampled_median_shape(spacings, shapes, target_spacing(spacings, shapes))[order]
    patch = config["patch_size"]
    arch = config["architecture"]["arch_kwargs"]
    covered = float(np.prod(patch) / np.prod(config["median_image_size_in_voxels"]))
    rows = [
        DesignRow("learning rate", "fixed", "poly schedule from 0.01", "-", None),
        DesignRow("loss", "fixed", "Dice + cross-entropy", "-", None),
        DesignRow("optimiser", "fixed", "SGD, Nesterov momentum 0.99", "-", None),
        DesignRow("training", "fixed", "1000 epochs x 250 iterations, foreground oversampling 33%", "-", None),
        DesignRow("architecture template", "fixed", f"{config['architecture']['network_class_name'].rsplit('.', 1)[-1]}, "
                  "instance norm, leaky ReLU, deep supervision", "-", None),
        DesignRow("intensity normalisation", "rule-based", ", ".join(config["normalization_schemes"]),
                  "z-score per image (not CT)", config["normalization_schemes"][0] == "ZScoreNormalization"),
        DesignRow("target spacing", "rule-based", str([round(float(s), 4) for s in config["spacing"]]),
                  str([round(float(s), 4) for s in spacing]), bool(np.allclose(config["spacing"], spacing))),
        DesignRow("median shape after resampling", "rule-based", str(config["median_image_size_in_voxels"]),
                  str([float(m) for m in median]), bool(np.allclose(config["median_image_size_in_voxels"], median))),
        DesignRow("patch size", "rule-based", str(patch), f"starts at {[int(i) for i in initial_patch_size(spacing, median)]}, "
                  f"padded to a multiple of 2^(pooling steps)", None),
        DesignRow("topology", "rule-based", f"{arch['n_stages']} stages, features {arch['features_per_stage']}", "-", None),
        DesignRow("batch size", "rule-based", str(config["batch_size"]), "at least 2", config["batch_size"] >= 2),
        DesignRow("3d cascade", "rule-based", "yes" if "3d_lowres" in plans["configurations"] else "no",
                  f"patch covers {covered:.0%} of the median image; v2 adds lowres below 25%, the paper said 12.5%",
                  ("3d_lowres" in plans["configurations"]) == (covered < LOWRES_THRESHOLD_V2) or None),
        DesignRow("post-processing", "empirical", "chosen after cross-validation (chapter 6)", "-", None),
        DesignRow("ensemble selection", "empirical", "chosen after cross-validation (chapter 6)", "-", None),
    ]
    return rows


def fingerprint_table(fingerprint: dict[str, Any], case_ids: Sequence[str] | None = None) -> Any:
    """Return a pandas DataFrame of each case's spacing (mm) and shape after cropping, z, y, x order."""
    import pandas as pd

    rows = []
    for i, (spacing, shape) in enumerate(zip(fingerprint["spacings"], fingerprint["shapes_after_crop"])):
        rows.append({"case": case_ids[i] if case_ids else i, "spacing z": spacing[0], "spacing y": spacing[1],
                     "spacing x": spacing[2], "shape z": shape[0], "shape y": shape[1], "shape x": shape[2]})
    return pd.DataFrame(rows).set_index("case")


def plot_patch_vs_median(plans: dict[str, Any], configuration: str = "3d_fullres") -> Figure:
    """Return a bar chart of the median image size against the planned patch size, per axis (voxels)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    config = plans["configurations"][configuration]
    median, patch = config["median_image_size_in_voxels"], config["patch_size"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = np.arange(3)
    ax.bar(x - 0.2, median, 0.4, label="median image (after resampling)", color="0.7")
    ax.bar(x + 0.2, patch, 0.4, label="patch", color="#1b9e77")
    ax.set_xticks(x, ["z", "y", "x"])
    ax.set_ylabel("voxels")
    covered = float(np.prod(patch) / np.prod(median))
    ax.set_title(f"{configuration}: the patch holds {covered:.0%} of the median image's voxels")
    ax.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def list_tree(root: str | Path, limit: int = 6) -> str:
    """Return an indented listing of a folder, at most ``limit`` entries per folder (chapter 2)."""
    base = Path(root)
    lines = [base.name + "/"]

    def walk(folder: Path, depth: int) -> None:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        for entry in entries[:limit]:
            lines.append("    " * depth + entry.name + ("/" if entry.is_dir() else ""))
            if entry.is_dir():
                walk(entry, depth + 1)
        if len(entries) > limit:
            lines.append("    " * depth + f"... ({len(entries) - limit} more)")

    walk(base, 1)
    return "\n".join(lines)
