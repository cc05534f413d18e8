"""The loss nnU-Net trains with, written out plainly and compared with nnU-Net's own (chapter 5).

nnU-Net's default loss for label maps is the sum of a soft Dice term and cross-entropy, computed on every
deep-supervision output of the U-Net against a target downsampled to that output's size, with weights that
halve at each coarser output (the coarsest gets none). The functions here spell out each piece in a few lines of
torch, for reading; :func:`nnunet_loss` returns nnU-Net's own loss module exactly as its stock trainer builds
it, so the chapter (and the tests) can check that the two agree on the same tensors.

Conventions are nnU-Net's: logits ``[batch, class, z, y, x]``; targets are label maps ``[batch, 1, z, y, x]``
(or ``[batch, z, y, x]``) holding class indices; the Dice term is the *negative* mean soft Dice of the
foreground classes, so a perfect prediction scores -1 and the loss can be negative. The course's versions cover
nnU-Net's default case, label maps without an ignore label; :func:`nnunet_loss` returns whatever nnU-Net builds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import CourseError
from .nnunet_data import dataset_name
from .nnunet_train import scratch_trainer

__all__ = [
    "LossInputError",
    "SMOOTH",
    "softmax",
    "one_hot",
    "soft_dice",
    "soft_dice_loss",
    "cross_entropy",
    "dice_ce_loss",
    "deep_supervision_scales",
    "deep_supervision_weights",
    "downsample_target",
    "deep_supervision_loss",
    "NnunetLoss",
    "nnunet_loss",
    "nnunet_loss_for",
    "nnunet_batch",
    "confident_logits",
    "tumour_size_experiment",
    "empty_patch_experiment",
]

#: The smoothing term nnU-Net's trainer gives its soft Dice (``'smooth': 1e-5`` in ``_build_loss``).
SMOOTH = 1e-5


class LossInputError(CourseError, ValueError):
    """Logits and targets that do not fit together (chapter 5): the message says which shapes were given."""


# --- the pieces, written out ------------------------------------------------------------------------------


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Return class probabilities exp(l_c) / sum_k exp(l_k) along dimension 1 (chapter 5).

    The largest logit is subtracted first, which changes nothing mathematically and keeps exp from overflowing.
    """
    shifted = logits - logits.amax(dim=1, keepdim=True)
    e = torch.exp(shifted)
    return e / e.sum(dim=1, keepdim=True)


def _label_map(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Return the target as an integer map [B, *spatial] matching ``logits`` [B, C, *spatial]."""
    if target.ndim == logits.ndim:
        if target.shape[1] != 1:
            raise LossInputError(f"a target with a channel axis must have one channel (a label map); got {tuple(target.shape)}.")
        target = target[:, 0]
    if tuple(target.shape) != (logits.shape[0], *logits.shape[2:]):
        raise LossInputError(
            f"target {tuple(target.shape)} does not fit logits {tuple(logits.shape)}: expected a label map of shape "
            f"{(logits.shape[0], 1, *logits.shape[2:])} (batch, 1, spatial). Downsample the target for "
            "deep-supervision outputs (downsample_target).")
    labels = target.long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]):
        raise LossInputError(
            f"target holds values {int(labels.min())}..{int(labels.max())}, outside the {logits.shape[1]} classes "
            "of the logits (nnU-Net replaces the -1 of cropped background by 0 before the loss).")
    return labels


def one_hot(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Return the one-hot encoding [B, C, *spatial] (float) of a label map [B, *spatial] of class indices (chapter 5)."""
    labels = target.long()
    classes = torch.arange(num_classes, device=labels.device).view(1, num_classes, *([1] * (labels.ndim - 1)))
    return (labels.unsqueeze(1) == classes).float()


def soft_dice(probabilities: torch.Tensor, target_one_hot: torch.Tensor, *, batch_dice: bool,
              smooth: float = SMOOTH) -> torch.Tensor:
    """Return the soft Dice (2 sum(p y) + s) / (sum(p) + sum(y) + s) of every class (chapter 5).

    Sums run over the voxels of each sample: the result is ``[B, C]``. With ``batch_dice`` (nnU-Net's
    plans option) the sums also run over the batch, as if the samples were one image: the result is ``[C]``.
    ``smooth`` keeps the ratio defined when a class is absent from both, and makes that case score 1.
    """
    if probabilities.shape != target_one_hot.shape:
        raise LossInputError(f"probabilities {tuple(probabilities.shape)} and one-hot target "
                             f"{tuple(target_one_hot.shape)} differ in shape.")
    axes = tuple(range(2, probabilities.ndim))
    intersection = (probabilities * target_one_hot).sum(axes)
    sizes = probabilities.sum(axes) + target_one_hot.sum(axes)
    if batch_dice:
        intersection, sizes = intersection.sum(0), sizes.sum(0)
    return (2 * intersection + smooth) / (sizes + smooth)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, *, batch_dice: bool, smooth: float = SMOOTH,
                   include_background: bool = False) -> torch.Tensor:
    """Return nnU-Net's Dice term: minus the mean soft Dice over the foreground classes (chapter 5).

    The mean runs over classes (and over samples unless ``batch_dice``); background is left out as in
    nnU-Net (``do_bg=False``) unless ``include_background``.
    """
    labels = _label_map(target, logits)
    dice = soft_dice(softmax(logits), one_hot(labels, logits.shape[1]), batch_dice=batch_dice, smooth=smooth)
    if not include_background:
        dice = dice[..., 1:]
    return -dice.mean()


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return the cross-entropy -log p(true class), averaged over every voxel of the batch (chapter 5)."""
    labels = _label_map(target, logits)
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_p.gather(1, labels.unsqueeze(1)).mean()


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, *, batch_dice: bool, smooth: float = SMOOTH,
                 weight_dice: float = 1.0, weight_ce: float = 1.0) -> torch.Tensor:
    """Return w_Dice * L_Dice + w_CE * L_CE, nnU-Net's ``DC_and_CE_loss`` (weights 1 and 1) (chapter 5)."""
    return (weight_dice * soft_dice_loss(logits, target, batch_dice=batch_dice, smooth=smooth)
            + weight_ce * cross_entropy(logits, target))


def deep_supervision_scales(strides: Sequence[Sequence[int]]) -> list[tuple[float, ...]]:
    """Return the size of each deep-supervision output relative to the patch, finest first (chapter 5).

    One output per decoder stage: the inverse of the cumulative product of the encoder strides, without the
    bottleneck, e.g. strides 1, 2, 2, 2 give 1, 1/2, 1/4 per axis.
    """
    cumulative = np.cumprod(np.asarray(strides, dtype=float), axis=0)
    return [tuple(float(v) for v in 1.0 / row) for row in cumulative[:-1]]


def deep_supervision_weights(n_outputs: int) -> tuple[float, ...]:
    """Return nnU-Net's deep-supervision weights (chapter 5): 1/2^i for output i, finest first, the coarsest 0.

    The weights are normalised to sum to 1, as in ``nnUNetTrainer._build_loss``.
    """
    if n_outputs < 1:
        raise LossInputError(f"deep supervision needs at least one output; got {n_outputs}.")
    if n_outputs == 1:
        return (1.0,)
    weights = [1.0 / 2**i for i in range(n_outputs)]
    weights[-1] = 0.0
    total = sum(weights)
    return tuple(w / total for w in weights)


def downsample_target(target: torch.Tensor, scales: Sequence[Sequence[float]]) -> list[torch.Tensor]:
    """Return the label map [B, 1, *spatial] at each scale by nearest-neighbour picking (chapter 5).

    Output voxel i along an axis of n input and m = round(n * scale) output voxels takes input voxel
    floor((i + 1/2) * n / m): the voxel under the output voxel's centre (PyTorch's ``nearest-exact``, as in
    nnU-Net's ``DownsampleSegForDSTransform``). Labels are picked, never averaged, so no new values appear.
    """
    results = []
    spatial = target.shape[2:]
    for scale in scales:
        if len(scale) != len(spatial):
            raise LossInputError(f"scale {tuple(scale)} has {len(scale)} axes; the target has {len(spatial)} spatial axes.")
        picked = target
        for axis, (n, s) in enumerate(zip(spatial, scale)):
            m = round(n * s)
            if m == n:
                continue
            index = torch.clamp(((torch.arange(m, dtype=torch.float64) + 0.5) * n / m).floor().long(), max=n - 1)
            picked = picked.index_select(axis + 2, index.to(target.device))
        results.append(picked)
    return results


def deep_supervision_loss(outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor], *, batch_dice: bool,
                          weights: Sequence[float] | None = None, smooth: float = SMOOTH) -> torch.Tensor:
    """Return sum_i w_i * (L_Dice + L_CE)(output_i, target_i) over the deep-supervision outputs (chapter 5).

    ``outputs`` and ``targets`` are finest first; ``weights`` default to :func:`deep_supervision_weights`.
    Outputs with weight 0 are skipped, as in nnU-Net's ``DeepSupervisionWrapper``.
    """
    if len(outputs) != len(targets):
        raise LossInputError(f"{len(outputs)} outputs but {len(targets)} targets: downsample the target to every output.")
    weights = deep_supervision_weights(len(outputs)) if weights is None else tuple(weights)
    if len(weights) != len(outputs):
        raise LossInputError(f"{len(weights)} weights for {len(outputs)} outputs.")
    total = torch.zeros((), dtype=outputs[0].dtype, device=outputs[0].device)
    for w, output, target in zip(weights, outputs, targets):
        if w != 0:
            total = total + w * dice_ce_loss(output, target, batch_dice=batch_dice, smooth=smooth)
    return total


# --- nnU-Net's own -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NnunetLoss:
    """nnU-Net's loss as its stock trainer builds it, with what it was built from (chapter 5).

    ``loss`` is a ``DeepSupervisionWrapper`` around ``DC_and_CE_loss`` (or the bare ``DC_and_CE_loss`` without
    deep supervision); ``scales`` and ``weights`` are the trainer's deep-supervision scales and weights (None
    without deep supervision); ``transforms`` are the trainer's validation transforms, which turn a cropped
    label into the target list the loss expects.
    """

    loss: torch.nn.Module
    batch_dice: bool
    scales: tuple[tuple[float, ...], ...] | None
    weights: tuple[float, ...] | None
    transforms: Any

    def __call__(self, outputs: Any, targets: Any) -> torch.Tensor:
        """Return nnU-Net's loss of ``outputs`` against ``targets`` (lists, finest first, with deep supervision)."""
        return self.loss(outputs, targets)


def nnunet_loss(plans: dict[str, Any], dataset_json: dict[str, Any], configuration: str = "3d_fullres", *,
                deep_supervision: bool = True) -> NnunetLoss:
    """Return nnU-Net's own loss for a plans dictionary, built by its stock trainer's ``_build_loss`` (chapter 5).

    That is ``MemoryEfficientSoftDiceLoss`` (smooth 1e-5, background excluded, ``batch_dice`` from the plans)
    plus cross-entropy, weights 1 and 1, wrapped for deep supervision with weights 1/2^i, the coarsest 0,
    normalised. Built on the CPU, where nnU-Net does not ``torch.compile`` the Dice term (on a GPU it does;
    the arithmetic is the same).
    """
    if configuration not in plans.get("configurations", {}):
        raise LossInputError(f"the plans have no configuration {configuration!r}; they have "
                             f"{sorted(plans.get('configurations', {}))}.")
    with scratch_trainer(plans, dataset_json, configuration) as trainer:
        trainer.enable_deep_supervision = deep_supervision
        if trainer.label_manager.has_regions:
            raise LossInputError("this dataset is region-based: nnU-Net trains it with Dice + binary cross-entropy "
                                 "(DC_and_BCE_loss), which chapter 5 does not take apart.")
        loss = trainer._build_loss()
        scales = trainer._get_deep_supervision_scales()
        transforms = trainer.get_validation_transforms(
            scales, is_cascaded=False, foreground_labels=trainer.label_manager.foreground_labels,
            regions=None, ignore_label=trainer.label_manager.ignore_label)
        batch_dice = bool(trainer.configuration_manager.batch_dice)
    weights = tuple(float(w) for w in loss.weight_factors) if deep_supervision else None
    scales_t = tuple(tuple(float(v) for v in s) for s in scales) if scales is not None else None
    return NnunetLoss(loss, batch_dice, scales_t, weights, transforms)


def _dataset_json(prepared: Any) -> dict[str, Any]:
    return json.loads((prepared.folders.preprocessed / dataset_name(prepared.dataset_id) / "dataset.json").read_text())


def nnunet_loss_for(prepared: Any, configuration: str = "3d_fullres", *, deep_supervision: bool = True) -> NnunetLoss:
    """Return :func:`nnunet_loss` for a dataset made by ``prepare_nnunet`` (its plans and dataset.json) (chapter 5)."""
    return nnunet_loss(prepared.plans, _dataset_json(prepared), configuration, deep_supervision=deep_supervision)


def nnunet_batch(prepared: Any, setup: NnunetLoss, *, batch_size: int | None = None, seed: int = 0,
                 configuration: str = "3d_fullres") -> tuple[torch.Tensor, list[torch.Tensor] | torch.Tensor]:
    """Return (images, targets) of one batch as nnU-Net's validation data loader makes it (chapter 5).

    Patches of the planned size are cut by ``nnUNetDataLoader`` with nnU-Net's foreground oversampling (0.33: the
    loader forces sample ``i`` onto foreground when ``not i < round(batch_size * 0.67)``, so with a batch
    of 2 one sample of two; it picks a foreground class, then one of its voxels, and places the box around it,
    moved where it would start outside the allowed range, so the voxel is not always centred; see
    :func:`~course_utils.imaging.augmentation.forced_foreground`), no augmentation, and passed through the
    trainer's validation transforms (``setup.transforms``): -1 becomes 0 and, with deep supervision, the target
    becomes one label map per output, finest first. The loader draws from NumPy's global random state, which
    ``seed`` sets.
    """
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = PlansManager(prepared.plans)
    config = plans.get_configuration(configuration)
    folder = prepared.folders.preprocessed / dataset_name(prepared.dataset_id) / config.data_identifier
    dataset_class = infer_dataset_class(str(folder))
    data = dataset_class(str(folder), sorted(dataset_class.get_identifiers(str(folder))))
    label_manager = plans.get_label_manager(_dataset_json(prepared))
    size = batch_size or config.batch_size
    np.random.seed(seed)
    loader = nnUNetDataLoader(data, size, config.patch_size, config.patch_size, label_manager,
                              oversample_foreground_percent=0.33, transforms=setup.transforms)
    batch = loader.generate_train_batch()
    target = batch["target"]
    if isinstance(target, list):
        target = [t.float() for t in target]
    else:
        target = target.float()
    return batch["data"].float(), target


# --- experiments: why Dice + cross-entropy -------------------------------------------------------------------


def confident_logits(prediction: torch.Tensor, num_classes: int = 2, margin: float = 12.0) -> torch.Tensor:
    """Return logits [B, C, *spatial] that predict the label map ``prediction`` [B, *spatial] (chapter 5).

    The predicted class gets a logit ``margin`` above the others: probability 1/(1 + (C-1) e^-margin).
    """
    return margin * one_hot(prediction, num_classes)


def _ball(shape: Sequence[int], radius: float) -> torch.Tensor:
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) - (n - 1) / 2 for n in shape], indexing="ij")
    return sum(g**2 for g in grids) <= radius**2


def tumour_size_experiment(radii: Sequence[float] = (1.5, 3.0, 6.0, 10.0), shape: Sequence[int] = (32, 32, 32),
                           margin: float = 12.0) -> pd.DataFrame:
    """Return CE, Dice term and their sum when half of a tumour is missed, for several tumour sizes (chapter 5).

    A confident prediction finds only half of a ball-shaped tumour, for balls of several radii in one patch. The
    predicted half is the part of the ball with z at or below the centre; everything else is predicted
    background. One row per radius: tumour voxels, share of the patch, the two terms and their sum.
    """
    rows = []
    for radius in radii:
        tumour = _ball(shape, radius)
        z = torch.arange(shape[0], dtype=torch.float64).view(-1, *([1] * (len(shape) - 1)))
        found = tumour & (z <= (shape[0] - 1) / 2)
        target = tumour.long()[None, None]
        logits = confident_logits(found.long()[None], 2, margin)
        ce = float(cross_entropy(logits, target))
        dice_term = float(soft_dice_loss(logits, target, batch_dice=False))
        rows.append({"radius (voxels)": radius, "tumour voxels": int(tumour.sum()),
                     "share of patch (%)": 100.0 * float(tumour.float().mean()), "found (%)": 100.0 * float(found.sum() / tumour.sum()),
                     "cross-entropy": ce, "Dice term": dice_term, "sum": ce + dice_term})
    return pd.DataFrame(rows)


def empty_patch_experiment(shape: Sequence[int] = (24, 24, 24), false_positive_radius: float = 2.0,
                           tumour_radius: float = 5.0) -> pd.DataFrame:
    """Return loss terms and gradient norms on a patch without tumour that holds a false positive (chapter 5).

    The network predicts a small false-positive blob (probability 1/2) in an empty patch. Rows: cross-entropy; Dice term per sample (``batch_dice=False``) on the empty patch alone; Dice term with
    ``batch_dice=True`` on a batch of the empty patch and a patch holding a ball of ``tumour_radius`` predicted
    perfectly. Columns: the loss value and the gradient norm with respect to the empty patch's logits.
    """
    blob = _ball(shape, false_positive_radius)
    empty_target = torch.zeros((1, 1, *shape))
    empty_logits = torch.where(blob, 0.0, 12.0)  # background logit: 0 on the blob (p = 1/2), 12 elsewhere
    empty_logits = torch.stack([empty_logits, torch.zeros(shape)])[None].float()
    tumour = _ball(shape, tumour_radius).long()
    other_logits = confident_logits(tumour[None], 2, 12.0)
    other_target = tumour[None, None].float()

    def measure(name: str, fn: Any, batch: bool) -> dict[str, Any]:
        logits = empty_logits.clone().requires_grad_(True)
        if batch:
            value = fn(torch.cat([logits, other_logits]), torch.cat([empty_target, other_target]))
        else:
            value = fn(logits, empty_target)
        value.backward()
        return {"term": name, "loss": float(value.detach()), "gradient norm": float(logits.grad.norm())}

    return pd.DataFrame([
        measure("cross-entropy, empty patch", cross_entropy, False),
        measure("Dice term per sample, empty patch", lambda x, y: soft_dice_loss(x, y, batch_dice=False), False),
        measure("Dice term, batch Dice with a tumour patch", lambda x, y: soft_dice_loss(x, y, batch_dice=True), True),
    ]).set_index("term")
