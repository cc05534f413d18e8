"""Reading nnU-Net's plans against its design table (chapter 2).

nnU-Net sorts its design decisions into *fixed* parameters (the same for every dataset), *rule-based*
parameters (computed from the dataset fingerprint by explicit rules) and *empirical* ones (chosen after
cross-validation). The chapter recomputes the rule-based ones from the fingerprint with the small functions
below, each checked against nnU-Net 2.8.1's own planner (``default_experiment_planner.py``).
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
    "ANISOTROPY_THRESHOLD", "LOWRES_THRESHOLD_V2", "LOWRES_SPACING_STEP", "LOWRES_MIN_SHRINK", "GPU_TARGET_GB",
    "BATCH_DATASET_SHARE", "RESENC_PRESETS_GB", "load_fingerprint", "target_spacing", "resampled_median_shape",
    "initial_patch_size", "LowresSearch", "lowres_search", "lowres_needed", "normalization_scheme",
    "batch_size_cap", "DesignRow", "design_table", "fingerprint_table", "plot_patch_vs_median", "list_tree",
]

ANISOTROPY_THRESHOLD = 3.0
#: Step 1 of the cascade rule: nnU-Net v2 *searches* for a 3d_lowres configuration while the patch covers less
#: than 25% of the median image's voxels (``ExperimentPlanner.lowres_creation_threshold``).
LOWRES_THRESHOLD_V2 = 0.25
#: Each search step multiplies the low-resolution spacing by 1.03 (``spacing_increase_factor``).
LOWRES_SPACING_STEP = 1.03
#: Step 2: the configuration found is dropped unless its median image has at least 2x fewer voxels than the
#: full-resolution one ("Dropping 3d_lowres config because the image size difference ... is too small").
LOWRES_MIN_SHRINK = 2.0
#: The default planner sizes patch and batch for about 8 GB of GPU memory (``gpu_memory_target_in_gb=8``).
GPU_TARGET_GB = 8.0
#: The batch size is capped so one batch covers at most 5% of the dataset's voxels (``max_dataset_covered``).
BATCH_DATASET_SHARE = 0.05
#: Residual-encoder presets nnU-Net now recommends (``-pl nnUNetPlannerResEnc{M,L,XL}``) and the GPU memory
#: target (GB) each plans for (``residual_encoder_unet_planners.py``).
RESENC_PRESETS_GB = {"nnUNetPlannerResEncM": 8.0, "nnUNetPlannerResEncL": 24.0, "nnUNetPlannerResEncXL": 40.0}
_NORMALIZATION = {"ct": "CTNormalization", "nonorm": "NoNormalization", "zscore": "ZScoreNormalization",
                  "rescale_to_0_1": "RescaleTo01Normalization", "rgb_to_0_1": "RGBTo01Normalization"}


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


@dataclass(frozen=True)
class LowresSearch:
    """The two steps of nnU-Net v2's cascade rule for one dataset (chapter 2).

    ``searched``: step 1 ran (the full-resolution patch covers less than 25% of the median image);
    ``steps``: how many times the low-resolution spacing grew by 1.03; ``lowres_spacing``, ``lowres_median`` and
    ``lowres_patch`` where the search stopped; ``shrink``: full-resolution median voxels over low-resolution ones;
    ``kept``: step 2 kept the configuration (``shrink`` at least 2), i.e. nnU-Net plans a cascade.
    """

    searched: bool
    steps: int
    lowres_spacing: tuple[float, ...]
    lowres_median: tuple[float, ...]
    lowres_patch: tuple[int, ...]
    coverage: float
    shrink: float
    kept: bool


def lowres_search(patch_size: Sequence[int], median_shape: Sequence[float], spacing: Sequence[float] | None = None,
                  threshold: float = LOWRES_THRESHOLD_V2, step: float = LOWRES_SPACING_STEP,
                  min_shrink: float = LOWRES_MIN_SHRINK, max_steps: int = 1000) -> LowresSearch:
    """Return the outcome of nnU-Net v2's 3d_lowres search for a full-resolution patch and median shape (chapter 2).

    Follows the loop in ``ExperimentPlanner.plan_experiment``: while the patch covers less than ``threshold`` of
    the median image's voxels, the low-resolution spacing grows by ``step`` (only the axes more than 2x finer than
    the coarsest while there are any, else all axes), the median shape shrinks with it and a patch is planned for
    it. The configuration is then dropped unless the full-resolution median has at least ``min_shrink`` times the
    low-resolution median's voxels. nnU-Net re-plans the patch at every step for the same GPU budget; the course's
    model keeps the full-resolution patch and clips it to the shrinking median (a budget that fitted the patch
    still fits it). ``spacing`` defaults to isotropic.
    """
    patch = np.asarray(patch_size, dtype=float)
    median = np.asarray(median_shape, dtype=float)
    full_spacing = np.ones_like(median) if spacing is None else np.asarray(spacing, dtype=float)
    if patch.shape != median.shape or full_spacing.shape != median.shape:
        raise ValueError(f"patch {list(patch_size)}, median {list(median_shape)} and spacing need the same length.")
    lowres = full_spacing.copy()
    current_median, current_patch = median.copy(), patch.copy()
    coverage = float(np.prod(current_patch) / np.prod(current_median))
    steps = 0
    while coverage < threshold and steps < max_steps:
        finer = lowres.max() / lowres > 2
        if finer.any():
            lowres[finer] *= step
        else:
            lowres *= step
        steps += 1
        current_median = full_spacing / lowres * median
        current_patch = np.minimum(patch, np.round(current_median))
        coverage = float(np.prod(current_patch) / np.prod(current_median))
    shrink = float(np.prod(median) / np.prod(current_median))
    return LowresSearch(steps > 0, steps, tuple(float(s) for s in lowres), tuple(float(m) for m in current_median),
                        tuple(int(p) for p in current_patch), coverage, shrink, steps > 0 and shrink >= min_shrink)


def lowres_needed(patch_size: Sequence[int], median_shape: Sequence[float], spacing: Sequence[float] | None = None) -> bool:
    """Return True when nnU-Net v2 plans a 3d_lowres (cascade) configuration: the search of step 1 runs (patch
    below 25% of the median image) *and* step 2 keeps its result (at least 2x fewer voxels), chapter 2."""
    return lowres_search(patch_size, median_shape, spacing).kept


def normalization_scheme(channel_name: str) -> str:
    """Return the intensity normalisation nnU-Net applies to a channel, by its name in ``dataset.json`` (chapter 2).

    ``CT`` (any case) gets dataset-wide clipping and statistics; ``noNorm`` none; ``rescale_to_0_1`` and
    ``rgb_to_0_1`` a rescale to [0, 1]; ``zscore`` and every other name a per-image z-score.
    """
    return _NORMALIZATION.get(channel_name.casefold(), "ZScoreNormalization")


def batch_size_cap(median_shape: Sequence[float], n_cases: int, patch_size: Sequence[int],
                   share: float = BATCH_DATASET_SHARE, minimum: int = 2) -> int:
    """Return the largest batch size nnU-Net allows for a dataset: one batch covers at most ``share`` (5%) of the
    dataset's voxels (median image x number of cases), but never fewer than ``minimum`` patches (chapter 2)."""
    voxels = float(np.prod(np.asarray(median_shape, dtype=np.float64))) * n_cases
    return max(round(voxels * share / float(np.prod(np.asarray(patch_size, dtype=np.float64)))), minimum)


@dataclass(frozen=True)
class DesignRow:
    """One row of the design table: the choice, its kind, nnU-Net's value, the course's derivation, agreement."""

    choice: str
    kind: str
    nnunet: str
    derived: str
    agrees: bool | None


def design_table(plans: dict[str, Any], fingerprint: dict[str, Any], configuration: str = "3d_fullres",
                 dataset_json: dict[str, Any] | None = None) -> list[DesignRow]:
    """Return the design table of a planned dataset: fixed choices, and rule-based ones recomputed here (chapter 2).

    ``dataset_json`` (the raw dataset's) gives the channel names and number of cases; without it the channels
    are assumed not to be CT and the batch-size cap is not recomputed.
    """
    config = plans["configurations"][configuration]
    spacings, shapes = fingerprint["spacings"], fingerprint["shapes_after_crop"]
    order = plans.get("transpose_forward", [0, 1, 2])
    spacing = target_spacing(spacings, shapes)[order]
    median = resampled_median_shape(spacings, shapes, target_spacing(spacings, shapes))[order]
    patch = config["patch_size"]
    arch = config["architecture"]["arch_kwargs"]
    channels = list((dataset_json or {}).get("channel_names", {}).values())
    schemes = [normalization_scheme(c) for c in channels] if channels else None
    search = lowres_search(patch, config["median_image_size_in_voxels"], config["spacing"])
    cascade = "3d_lowres" in plans["configurations"]
    if search.searched:
        cascade_text = (f"patch covers {np.prod(patch) / np.prod(config['median_image_size_in_voxels']):.0%} of the "
                        f"median image (< 25%): the search coarsened the spacing {search.steps} times by 1.03; the "
                        f"low-res median has {search.shrink:.1f}x fewer voxels, kept only from 2x")
    else:
        cascade_text = (f"patch covers {np.prod(patch) / np.prod(config['median_image_size_in_voxels']):.0%} of the "
                        "median image (>= 25%): no search")
    if dataset_json is not None:
        cap = batch_size_cap(config["median_image_size_in_voxels"], int(dataset_json["numTraining"]), patch)
        batch_text, batch_ok = f"at least 2, at most {cap} (5% of the dataset's voxels)", 2 <= config["batch_size"] <= cap
    else:
        batch_text, batch_ok = "at least 2", config["batch_size"] >= 2
    rows = [
        DesignRow("learning rate", "fixed", "poly schedule from 0.01", "-", None),
        DesignRow("loss", "fixed", "Dice + cross-entropy", "-", None),
        DesignRow("optimiser", "fixed", "SGD, Nesterov momentum 0.99", "-", None),
        DesignRow("training", "fixed", "1000 epochs x 250 iterations, foreground oversampling 33% (a parameter: 1 of 2 samples at batch 2)", "-", None),
        DesignRow("architecture template", "fixed", f"{config['architecture']['network_class_name'].rsplit('.', 1)[-1]}, "
                  "instance norm, leaky ReLU, deep supervision", "-", None),
        DesignRow("fold ensemble at inference", "fixed", "the 5 fold models' logits averaged", "-", None),
        DesignRow("intensity normalisation", "rule-based", ", ".join(config["normalization_schemes"]),
                  ", ".join(schemes) + " (from the channel names)" if schemes else "z-score per image (not CT)",
                  config["normalization_schemes"] == schemes if schemes else
                  config["normalization_schemes"][0] == "ZScoreNormalization"),
        DesignRow("target spacing", "rule-based", str([round(float(s), 4) for s in config["spacing"]]),
                  str([round(float(s), 4) for s in spacing]), bool(np.allclose(config["spacing"], spacing))),
        DesignRow("median shape after resampling", "rule-based", str(config["median_image_size_in_voxels"]),
                  str([float(m) for m in median]), bool(np.allclose(config["median_image_size_in_voxels"], median))),
        DesignRow("patch size", "rule-based", str(patch), f"starts at {[int(i) for i in initial_patch_size(spacing, median)]}, "
                  f"shrunk to fit {GPU_TARGET_GB:.0f} GB, padded to a multiple of 2^(pooling steps)", None),
        DesignRow("topology", "rule-based", f"{arch['n_stages']} stages, features {arch['features_per_stage']}", "-", None),
        DesignRow("batch size", "rule-based", str(config["batch_size"]), batch_text, bool(batch_ok)),
        DesignRow("3d cascade", "rule-based", "yes" if cascade else "no", cascade_text, cascade == search.kept),
        DesignRow("post-processing", "empirical", "largest component kept or not, chosen on cross-validation (chapter 6)",
                  "-", None),
        DesignRow("configuration", "empirical", "2d, 3d_fullres, cascade or a pair of them, chosen on cross-validation "
                  "(nnUNetv2_find_best_configuration, chapter 6)", "-", None),
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
