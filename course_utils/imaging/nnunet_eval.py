"""Training curves, cross-validation, post-processing and sliding windows of a trained nnU-Net (chapter 6).

Everything here reads what nnU-Net itself wrote or runs nnU-Net's own functions: the curves come from the
logger stored in each fold's checkpoint, the cross-validation from nnU-Net's ``accumulate_cv_results`` (the
validation predictions of every fold pooled and scored again), the post-processing choice from its
``determine_postprocessing``, the sliding-window tiles and Gaussian weights from its inference code. The
course adds the HD95 of each case (chapter 5's definition), which nnU-Net's evaluation does not report, and the
Dice of the filtered predictions even when nnU-Net rejects the filter (its ``postprocessing.json`` then repeats
the unfiltered result). Choosing between configurations (2d, 3d_fullres, their ensemble) is nnU-Net's
``find_best_configuration`` (:func:`best_configuration`); averaging the folds at inference is a fixed default.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..plotting import apply_style, keep_matplotlib_backend
from .io import Volume, read_volume
from .metrics import hd95_volumes
from .nnunet_data import NnunetFolders, dataset_name, forked_worker_pools, nnunet_environment
from .nnunet_train import fold_folder

__all__ = [
    "training_curves",
    "plot_training_curves",
    "CrossValidation",
    "cross_validation",
    "PostprocessingChoice",
    "select_postprocessing",
    "filtered_dice",
    "apply_postprocessing",
    "best_configuration",
    "expected_tile_count",
    "sliding_window_tiles",
    "gaussian_importance",
    "plot_sliding_window",
    "plot_test_case",
    "ddp_command",
    "ddp_results_folder",
]


# ---------------------------------------------------------------------------------------------- curves
def training_curves(fold_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Return one row per finished epoch of a fold: losses, pseudo Dice, its moving average, learning rate, time.

    Read from the logger nnU-Net saves in ``checkpoint_final.pth`` (or ``checkpoint_latest.pth`` while a run is
    unfinished). nnU-Net's losses are negative because its Dice term is minus the soft Dice.
    """
    import torch

    folder = Path(fold_dir)
    path = next((folder / n for n in ("checkpoint_final.pth", "checkpoint_latest.pth") if (folder / n).is_file()), None)
    if path is None:
        raise FileNotFoundError(f"No checkpoint in {folder}: train the fold first (nnunet_train.train_fold).")
    log = torch.load(path, map_location="cpu", weights_only=False)["logging"]
    n = min(len(v) for v in log.values())  # epochs with every value logged
    return pd.DataFrame({
        "epoch": np.arange(n),
        "train loss": np.asarray(log["train_losses"][:n], dtype=float),
        "validation loss": np.asarray(log["val_losses"][:n], dtype=float),
        "pseudo Dice": np.asarray(log["mean_fg_dice"][:n], dtype=float),
        "EMA pseudo Dice": np.asarray(log["ema_fg_dice"][:n], dtype=float),
        "learning rate": np.asarray(log["lrs"][:n], dtype=float),
        "seconds": np.asarray(log["epoch_end_timestamps"][:n], dtype=float)
        - np.asarray(log["epoch_start_timestamps"][:n], dtype=float),
    })


def plot_training_curves(curves: Mapping[str, pd.DataFrame]) -> Figure:
    """Return a figure of the losses (left) and the pseudo Dice with its moving average (right), one colour a fold."""
    apply_style()
    fig, (loss_ax, dice_ax) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for i, (name, frame) in enumerate(curves.items()):
        colour = f"C{i}"
        loss_ax.plot(frame["epoch"], frame["train loss"], color=colour, label=f"{name} train")
        loss_ax.plot(frame["epoch"], frame["validation loss"], color=colour, ls="--", label=f"{name} validation")
        dice_ax.plot(frame["epoch"], frame["pseudo Dice"], color=colour, ls=":", marker="o", ms=3, label=f"{name} pseudo Dice")
        dice_ax.plot(frame["epoch"], frame["EMA pseudo Dice"], color=colour, label=f"{name} moving average")
    loss_ax.set(xlabel="epoch", ylabel="loss (CE - soft Dice)", title="Loss")
    dice_ax.set(xlabel="epoch", ylabel="Dice", title="Pseudo Dice on validation patches", ylim=(0, 1))
    for ax in (loss_ax, dice_ax):
        ax.legend(frameon=False)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


# ---------------------------------------------------------------------------------------------- cross-validation
@dataclass(frozen=True)
class CrossValidation:
    """The pooled validation results of the trained folds.

    ``per_case``: case, fold, Dice, HD95 (mm); ``per_fold``: fold, cases, mean Dice (nnU-Net's summary of that
    fold), mean HD95; ``mean_of_folds``: the mean of the per-fold mean Dice (how the seed reports its 0.8997);
    ``pooled_dice``: nnU-Net's mean Dice over all pooled cases; ``folder``: the pooled predictions.
    """

    per_case: pd.DataFrame
    per_fold: pd.DataFrame
    mean_of_folds: float
    pooled_dice: float
    n_cases_total: int
    folder: Path


def _fold_of_cases(folders: NnunetFolders, dataset_id: int) -> dict[str, int]:
    splits = json.loads((folders.preprocessed / dataset_name(dataset_id) / "splits_final.json").read_text())
    return {case: fold for fold, split in enumerate(splits) for case in split["val"]}


def _case_id(path: str, ending: str = ".nii.gz") -> str:
    name = Path(path).name
    return name[: -len(ending)] if name.endswith(ending) else name


def cross_validation(dataset_id: int, folders: NnunetFolders, folds: Sequence[int],
                     configuration: str = "3d_fullres") -> CrossValidation:
    """Return the cross-validation of the trained ``folds``: nnU-Net's pooled evaluation plus HD95 per case.

    The pooled predictions go to ``crossval_results_folds_0_1_...`` beside the folds (as nnU-Net's
    ``nnUNetv2_find_best_configuration`` does); they are pooled again only when a fold was retrained.
    """
    folds = sorted(set(int(f) for f in folds))
    model_dir = fold_folder(dataset_id, folders, folds[0], configuration).parent
    missing = [f for f in folds if not (fold_folder(dataset_id, folders, f, configuration) / "validation" / "summary.json").is_file()]
    if missing:
        raise FileNotFoundError(f"Folds {missing} of {model_dir} have no validation results: train them first (train_fold).")
    merged = model_dir / f"crossval_results_folds_{'_'.join(str(f) for f in folds)}"
    key = json.dumps({f: (fold_folder(dataset_id, folders, f, configuration) / "checkpoint_final.pth").stat().st_mtime_ns
                      for f in folds})
    stamp = merged / ".course-key"
    if not (stamp.is_file() and stamp.read_text() == key and (merged / "summary.json").is_file()):
        with nnunet_environment(folders) as env, keep_matplotlib_backend(), contextlib.redirect_stdout(io.StringIO()):
            from nnunetv2.evaluation.accumulate_cv_results import accumulate_cv_results

            accumulate_cv_results(str(model_dir), str(merged), folds, num_processes=_cores(env), overwrite=True)
        stamp.write_text(key)
    summary = json.loads((merged / "summary.json").read_text())
    fold_of = _fold_of_cases(folders, dataset_id)
    rows = []
    for entry in summary["metric_per_case"]:
        case = _case_id(entry["prediction_file"])
        label_key = next(iter(entry["metrics"]))
        pred, ref = read_volume(entry["prediction_file"]), read_volume(entry["reference_file"])
        rows.append({"case": case, "fold": fold_of.get(case, -1), "Dice": float(entry["metrics"][label_key]["Dice"]),
                     "HD95 (mm)": hd95_volumes(_binary(pred), _binary(ref), case_id=case)})
    per_case = pd.DataFrame(rows).sort_values(["fold", "case"], ignore_index=True)
    per_fold = []
    for f in folds:
        fold_summary = json.loads((fold_folder(dataset_id, folders, f, configuration) / "validation" / "summary.json").read_text())
        cases = per_case[per_case["fold"] == f]
        per_fold.append({"fold": f, "cases": len(cases), "mean Dice": float(fold_summary["foreground_mean"]["Dice"]),
                         "mean HD95 (mm)": float(np.nanmean(cases["HD95 (mm)"])) if len(cases) else float("nan")})
    per_fold_frame = pd.DataFrame(per_fold)
    return CrossValidation(per_case, per_fold_frame, float(per_fold_frame["mean Dice"].mean()),
                           float(summary["foreground_mean"]["Dice"]), len(fold_of), merged)


def _binary(volume: Volume) -> Volume:
    """Return the whole-tumour mask volume (every label above 0) of a label volume."""
    return Volume((volume.array > 0).astype(np.uint8), volume.geometry, volume.name)


def _cores(_: Any = None) -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# ---------------------------------------------------------------------------------------------- post-processing
@dataclass(frozen=True)
class PostprocessingChoice:
    """nnU-Net's post-processing decision on the pooled cross-validation.

    ``keep_largest_component``: whether keeping only the largest connected tumour component is applied;
    ``dice_before``: mean Dice of the pooled predictions as they are; ``dice_after``: the mean Dice of nnU-Net's
    final choice (equal to ``dice_before`` when the filter is rejected); ``dice_filtered``: the mean Dice of the
    predictions with only the largest component kept, whether chosen or not (what the filter would have done);
    ``pickle_file``: the saved decision.
    """

    keep_largest_component: bool
    dice_before: float
    dice_after: float
    pickle_file: Path
    dice_filtered: float = float("nan")


def filtered_dice(prediction_folder: Path, reference_folder: Path, plans_file: Path, dataset_json_file: Path) -> float:
    """Return the mean foreground Dice of the predictions in ``prediction_folder`` after keeping only the largest
    foreground component (nnU-Net's ``remove_all_but_largest_component_from_segmentation``), scored as nnU-Net's
    evaluation scores (per label or region: Dice per case, NaN where both are empty and left out; then the mean
    over labels or regions). Chapter 6."""
    with keep_matplotlib_backend():
        from nnunetv2.postprocessing.remove_connected_components import (
            remove_all_but_largest_component_from_segmentation,
        )
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    manager = PlansManager(str(plans_file)).get_label_manager(json.loads(Path(dataset_json_file).read_text()))
    groups = manager.foreground_regions if manager.has_regions else manager.foreground_labels
    per_group: dict[int, list[float]] = {i: [] for i in range(len(groups))}
    files = sorted(Path(prediction_folder).glob("*.nii.gz"))
    if not files:
        raise FileNotFoundError(f"No predictions (*.nii.gz) in {prediction_folder}.")
    for path in files:
        pred = read_volume(path).array
        ref = read_volume(Path(reference_folder) / path.name).array
        kept = remove_all_but_largest_component_from_segmentation(pred, manager.foreground_labels)
        for i, group in enumerate(groups):
            values = group if isinstance(group, (tuple, list)) else (group,)
            p, r = np.isin(kept, values), np.isin(ref, values)
            total = int(p.sum() + r.sum())
            per_group[i].append(float("nan") if total == 0 else 2.0 * float((p & r).sum()) / total)
    return float(np.mean([np.nanmean(v) for v in per_group.values()]))


def select_postprocessing(cv: CrossValidation, dataset_id: int, folders: NnunetFolders) -> PostprocessingChoice:
    """Return nnU-Net's post-processing choice, made by ``determine_postprocessing`` on the pooled validation.

    nnU-Net keeps the largest connected component only where that raises the mean Dice without lowering any
    label's; the decision is saved as ``postprocessing.pkl`` beside the pooled predictions. The Dice of the
    filtered predictions is computed again here (:func:`filtered_dice`), so a rejected filter shows its effect.
    """
    pickle_file = cv.folder / "postprocessing.pkl"
    report = cv.folder / "postprocessing.json"
    gt = folders.preprocessed / dataset_name(dataset_id) / "gt_segmentations"
    if not (pickle_file.is_file() and report.is_file()
            and report.stat().st_mtime_ns >= (cv.folder / ".course-key").stat().st_mtime_ns):
        with nnunet_environment(folders) as env, keep_matplotlib_backend(), contextlib.redirect_stdout(io.StringIO()):
            from nnunetv2.postprocessing.remove_connected_components import determine_postprocessing

            determine_postprocessing(str(cv.folder), str(gt), str(cv.folder / "plans.json"), str(cv.folder / "dataset.json"),
                                     num_processes=_cores(env), keep_postprocessed_files=False)
    result = json.loads(report.read_text())
    filtered = filtered_dice(cv.folder, gt, cv.folder / "plans.json", cv.folder / "dataset.json")
    return PostprocessingChoice(bool(result["postprocessing_fns"]), float(result["input_folder"]["foreground_mean"]["Dice"]),
                                float(result["postprocessed"]["foreground_mean"]["Dice"]), pickle_file, filtered)


def apply_postprocessing(choice: PostprocessingChoice, predictions: Mapping[str, Path], output: Path,
                         plans_file: Path, dataset_json_file: Path) -> dict[str, Path]:
    """Return {case id: post-processed label file}: nnU-Net's chosen post-processing applied to ``predictions``.

    When nnU-Net chose none, the files are copied unchanged, so callers can always read from ``output``.
    """
    with open(choice.pickle_file, "rb") as handle:
        functions, kwargs = pickle.load(handle)
    source = {Path(p).parent for p in predictions.values()}
    if len(source) != 1:
        raise ValueError("apply_postprocessing expects the predictions of one folder.")
    output.mkdir(parents=True, exist_ok=True)
    with keep_matplotlib_backend(), contextlib.redirect_stdout(io.StringIO()), forked_worker_pools():
        from nnunetv2.postprocessing.remove_connected_components import apply_postprocessing_to_folder

        apply_postprocessing_to_folder(str(source.pop()), str(output), functions, kwargs, str(plans_file),
                                       str(dataset_json_file), num_processes=min(_cores(), len(predictions)))
    return {case: output / Path(path).name for case, path in predictions.items()}


# ---------------------------------------------------------------------------------------------- sliding window
def expected_tile_count(image_shape: Sequence[int], patch_size: Sequence[int], step_size: float = 0.5) -> int:
    """Return how many tiles a sliding window needs, by the formula alone: per axis ceil((size - patch) / (patch *
    step)) + 1 on the image padded to at least a patch, multiplied over the axes (chapter 6)."""
    count = 1
    for size, patch in zip(image_shape, patch_size):
        size, patch = max(int(size), int(patch)), int(patch)
        count *= int(np.ceil((size - patch) / (patch * step_size))) + 1
    return count


def sliding_window_tiles(image_shape: Sequence[int], patch_size: Sequence[int], step_size: float = 0.5) -> list[tuple[int, ...]]:
    """Return the start corner of every tile nnU-Net's sliding window visits (its ``compute_steps_for_sliding_window``).

    Tiles are ``patch_size`` large and at most ``step_size`` of a patch apart; the first and last touch the borders.
    An image smaller than the patch along an axis is padded by nnU-Net first, so it gets one tile on that axis.
    """
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

    padded = tuple(max(int(i), int(p)) for i, p in zip(image_shape, patch_size))
    steps = compute_steps_for_sliding_window(padded, tuple(int(p) for p in patch_size), step_size)
    grids = np.meshgrid(*steps, indexing="ij")
    return [tuple(int(g.flat[k]) for g in grids) for k in range(grids[0].size)]


def gaussian_importance(patch_size: Sequence[int]) -> np.ndarray:
    """Return nnU-Net's Gaussian weight map for one patch (``compute_gaussian``: sigma 1/8 of the patch, max 1)."""
    import torch
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian

    weights = compute_gaussian(tuple(int(p) for p in patch_size), sigma_scale=1.0 / 8, value_scaling_factor=1.0,
                               dtype=torch.float32, device=torch.device("cpu"))
    return weights.numpy()


def plot_sliding_window(image_shape: Sequence[int], patch_size: Sequence[int], step_size: float = 0.5) -> Figure:
    """Return a figure of the sliding window on the middle slice of axis 0: the tiles, one patch's Gaussian
    weights, and the summed weight every voxel gets (the denominator nnU-Net divides the summed logits by)."""
    apply_style()
    shape, patch = [max(int(i), int(p)) for i, p in zip(image_shape, patch_size)], [int(p) for p in patch_size]
    tiles = sliding_window_tiles(shape, patch, step_size)
    gauss = gaussian_importance(patch)
    total = np.zeros(shape, dtype=np.float64)
    for start in tiles:
        total[tuple(slice(s, s + p) for s, p in zip(start, patch))] += gauss
    z = shape[0] // 2
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    axes[0].imshow(np.zeros(shape[1:]), cmap="gray_r", vmin=0, vmax=1)
    seen = set()
    for start in tiles:
        if not start[0] <= z < start[0] + patch[0] or start[1:] in seen:
            continue
        seen.add(start[1:])
        axes[0].add_patch(_rectangle(start[2], start[1], patch[2], patch[1], f"C{len(seen) % 10}"))
    axes[0].set(title=f"{len(seen)} tiles through this slice ({len(tiles)} in all)", xlim=(-1, shape[2]), ylim=(shape[1], -1))
    axes[1].imshow(gauss[patch[0] // 2], cmap="magma")
    axes[1].set_title(f"Gaussian weight of one {'x'.join(map(str, patch))} patch")
    image = axes[2].imshow(total[z], cmap="magma")
    axes[2].set_title("summed weight per voxel")
    fig.colorbar(image, ax=axes[2], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _rectangle(x: int, y: int, width: int, height: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), width, height, fill=False, lw=1.5, ec=colour)


# ---------------------------------------------------------------------------------------------- test cases
def plot_test_case(image: str | os.PathLike[str], reference: str | os.PathLike[str],
                   predictions: Mapping[str, str | os.PathLike[str]]) -> Figure:
    """Return the axial slice with most reference tumour, with the reference outline (yellow) and, one panel
    each, the outline of every prediction in ``predictions`` (name -> label file), its Dice in the title."""
    from .metrics import dice

    apply_style()
    ref = read_volume(reference)
    img = read_volume(image)
    z = int(np.argmax((ref.array > 0).sum(axis=(1, 2))))
    fig, axes = plt.subplots(1, len(predictions), figsize=(3.3 * len(predictions), 3.6), squeeze=False,
                             layout="constrained")
    vmax = float(np.percentile(img.array, 99.5))
    sx, sy, _ = img.geometry.spacing
    for ax, (name, path) in zip(axes[0], predictions.items()):
        pred = read_volume(path)
        ax.imshow(img.array[z], cmap="gray", vmin=0, vmax=vmax, aspect=sy / sx)
        ax.contour(ref.array[z] > 0, levels=[0.5], colors="#ffd92f", linewidths=1.5)
        if (pred.array[z] > 0).any():
            ax.contour(pred.array[z] > 0, levels=[0.5], colors="#e7298a", linewidths=1.2, linestyles="--")
        ax.set_title(f"{name}: Dice {dice(pred.array > 0, ref.array > 0):.3f}")
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], color="#ffd92f", label="reference"), Line2D([], [], color="#e7298a", ls="--", label="prediction")]
    axes[0][-1].legend(handles=handles, loc="lower right", frameon=False, labelcolor="white")
    fig.suptitle(f"{Path(reference).name.split('.')[0]}, axial slice {z}", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------- configurations
def best_configuration(dataset_id: int, folders: NnunetFolders, configurations: Sequence[str],
                       folds: Sequence[int]) -> tuple[str, pd.Series]:
    """Return nnU-Net's empirical choice between trained configurations and their pairwise ensembles (chapter 6):
    the winner's name and the pooled cross-validation Dice of every candidate.

    Runs nnU-Net's ``find_best_configuration`` (what ``nnUNetv2_find_best_configuration`` does) on the folds of
    ``configurations`` trained with the stock trainer; it also determines the winner's post-processing.
    """
    with nnunet_environment(folders) as env, keep_matplotlib_backend(), contextlib.redirect_stdout(io.StringIO()):
        from nnunetv2.evaluation.find_best_configuration import find_best_configuration

        models = tuple({"plans": "nnUNetPlans", "configuration": c, "trainer": "nnUNetTrainer"} for c in configurations)
        result = find_best_configuration(dataset_id, models, allow_ensembling=len(models) > 1, num_processes=_cores(env),
                                         overwrite=False, folds=tuple(int(f) for f in folds), strict=True)
    scores = pd.Series(result["all_results"], name="pooled cross-validation Dice", dtype=float)
    chosen = result["best_model_or_ensemble"]["selected_model_or_models"]
    return " + ".join(m["configuration"] for m in chosen), scores


# ---------------------------------------------------------------------------------------------- multi-GPU
def ddp_results_folder(folders: NnunetFolders) -> Path:
    """Return the ``nnUNet_results`` folder that :func:`ddp_command` trains into: beside the course's, never it
    (``<results>-ddp``), so nnU-Net's command cannot overwrite a fold the course trained (chapter 6)."""
    return folders.results.with_name(f"{folders.results.name}-ddp")


def ddp_command(dataset_id: int, fold: int, num_gpus: int, folders: NnunetFolders | None = None,
                configuration: str = "3d_fullres", *, compile_network: bool = False) -> str:
    """Return the shell command that trains one fold on ``num_gpus`` GPUs with nnU-Net's DDP (chapter 6).

    nnU-Net spawns one process per GPU (``-num_gpus``) and splits each planned batch between them; the batch
    is not enlarged. Its command line builds the stock trainer with nnU-Net's own schedule (1000 epochs of 250
    iterations), which is the ``full`` profile's. The command sets ``nnUNet_compile`` to the profile's
    ``compile_network`` (nnU-Net would compile by default on CUDA), keeps the validation softmax (``--npz``, which
    choosing an ensemble of configurations needs) and, with ``folders``, reads the course's raw and preprocessed
    data but writes into :func:`ddp_results_folder`, never into the course's own fold folders; the chapter then
    adopts the result (``python -m course_utils.imaging.nnunet_cli adopt``) after checking it. Every path is
    quoted for the shell.
    """
    if num_gpus < 1:
        raise ValueError(f"num_gpus must be at least 1, got {num_gpus}.")
    env = []
    if folders is not None:
        env = [f"nnUNet_raw={shlex.quote(str(folders.raw))}",
               f"nnUNet_preprocessed={shlex.quote(str(folders.preprocessed))}",
               f"nnUNet_results={shlex.quote(str(ddp_results_folder(folders)))}"]
    env.append(f"nnUNet_compile={'true' if compile_network else 'false'}")
    command = ["nnUNetv2_train", str(int(dataset_id)), shlex.quote(configuration), str(int(fold)), "-tr", "nnUNetTrainer",
               "-p", "nnUNetPlans", "-num_gpus", str(int(num_gpus)), "--npz"]
    return " ".join(env + command)
