"""nnU-Net's data augmentation and patch sampling, taken from its own trainer (chapter 4).

The pipeline is the one ``nnUNetTrainer.get_training_transforms`` builds for the planned configuration.
To show each transform alone, the chapter applies nnU-Net's own transform classes with nnU-Net's parameters
and the probability forced to one; nothing is re-implemented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .nnunet_data import dataset_name
from .nnunet_train import scratch_trainer

__all__ = ["AugmentationSetup", "augmentation_setup", "pipeline_steps", "single_transforms", "apply_transform",
           "load_preprocessed_case", "OVERSAMPLE_FOREGROUND", "forced_foreground", "forced_foreground_share",
           "foreground_by_position", "foreground_fraction", "centre_on_foreground", "label_agreement",
           "labels_as_trained", "plot_augmentations"]

#: nnU-Net's trainer default (``nnUNetTrainer.oversample_foreground_percent``).
OVERSAMPLE_FOREGROUND = 0.33


@dataclass(frozen=True)
class AugmentationSetup:
    """What nnU-Net's trainer decided for augmentation: rotation range, mirror axes, patch sizes, the pipeline."""

    rotation: tuple[float, float]
    dummy_2d: bool
    initial_patch_size: tuple[int, ...]
    patch_size: tuple[int, ...]
    mirror_axes: tuple[int, ...]
    transforms: Any
    use_mask_for_norm: tuple[bool, ...]


def augmentation_setup(prepared: Any, configuration: str = "3d_fullres") -> AugmentationSetup:
    """Return nnU-Net's augmentation set-up for a prepared dataset, from its stock trainer (chapter 4)."""
    dataset_json = json.loads((prepared.folders.preprocessed / dataset_name(prepared.dataset_id) / "dataset.json").read_text())
    with scratch_trainer(prepared.plans, dataset_json, configuration) as trainer:
        rotation, dummy_2d, initial, mirror = trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        config = trainer.configuration_manager
        transforms = trainer.get_training_transforms(
            config.patch_size, rotation, None, mirror, dummy_2d, use_mask_for_norm=config.use_mask_for_norm,
            is_cascaded=False, foreground_labels=trainer.label_manager.foreground_labels,
            regions=trainer.label_manager.foreground_regions if trainer.label_manager.has_regions else None,
            ignore_label=trainer.label_manager.ignore_label)
    return AugmentationSetup(tuple(float(r) for r in rotation), bool(dummy_2d), tuple(int(i) for i in initial),
                             tuple(int(p) for p in config.patch_size), tuple(mirror), transforms,
                             tuple(bool(u) for u in config.use_mask_for_norm))


def pipeline_steps(transforms: Any) -> list[tuple[str, float, Any]]:
    """Return (name, probability, transform) for each step of a composed nnU-Net pipeline, in order."""
    steps = []
    for step in getattr(transforms, "transforms", [transforms]):
        inner = getattr(step, "transform", step)
        probability = float(getattr(step, "apply_probability", 1.0))
        steps.append((type(inner).__name__, probability, inner))
    return steps


def single_transforms(setup: AugmentationSetup) -> dict[str, Any]:
    """Return nnU-Net's transforms one by one with the probability forced to one, nnU-Net's parameters.

    Elastic deformation is included to show it, though nnU-Net v2 switches it off (``p_elastic_deform=0``).
    """
    from batchgeneratorsv2.helpers.scalar_type import RandomScalar  # noqa: F401 - documents the parameter type
    from batchgeneratorsv2.transforms.intensity.brightness import MultiplicativeBrightnessTransform
    from batchgeneratorsv2.transforms.intensity.contrast import BGContrast, ContrastTransform
    from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
    from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
    from batchgeneratorsv2.transforms.noise.gaussian_blur import GaussianBlurTransform
    from batchgeneratorsv2.transforms.spatial.low_resolution import SimulateLowResolutionTransform
    from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
    from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform

    def spatial(**kwargs: Any) -> Any:
        base = dict(patch_center_dist_from_border=0, random_crop=False, p_elastic_deform=0, p_rotation=0,
                    rotation=setup.rotation, p_scaling=0, scaling=(0.7, 1.4), p_synchronize_scaling_across_axes=1,
                    bg_style_seg_sampling=False, border_mode_seg="constant", padding_value_seg=-1)
        base.update(kwargs)
        return SpatialTransform(setup.patch_size, **base)

    return {
        "rotation": spatial(p_rotation=1),
        "scaling": spatial(p_scaling=1),
        "elastic (off in nnU-Net v2)": spatial(p_elastic_deform=1, elastic_deform_scale=(0, 0.2),
                                               elastic_deform_magnitude=(0, 0.2)),
        "Gaussian noise": GaussianNoiseTransform(noise_variance=(0, 0.1), p_per_channel=1, synchronize_channels=True),
        "Gaussian blur": GaussianBlurTransform(blur_sigma=(0.5, 1.0), synchronize_channels=False, synchronize_axes=False,
                                               p_per_channel=1),
        "brightness": MultiplicativeBrightnessTransform(multiplier_range=BGContrast((0.75, 1.25)),
                                                        synchronize_channels=False, p_per_channel=1),
        "contrast": ContrastTransform(contrast_range=BGContrast((0.75, 1.25)), preserve_range=True,
                                      synchronize_channels=False, p_per_channel=1),
        "low resolution": SimulateLowResolutionTransform(scale=(0.5, 1), synchronize_channels=False,
                                                         synchronize_axes=True, ignore_axes=None,
                                                         allowed_channels=None, p_per_channel=1),
        "gamma": GammaTransform(gamma=BGContrast((0.7, 1.5)), p_invert_image=0, synchronize_channels=False,
                                p_per_channel=1, p_retain_stats=1),
        "inverted gamma": GammaTransform(gamma=BGContrast((0.7, 1.5)), p_invert_image=1, synchronize_channels=False,
                                         p_per_channel=1, p_retain_stats=1),
        "mirroring": MirrorTransform(allowed_axes=setup.mirror_axes),
    }


def apply_transform(transform: Any, image: np.ndarray, seg: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (image, segmentation) after one nnU-Net transform on a channel-first patch, seeded."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    out = transform(image=torch.tensor(np.asarray(image), dtype=torch.float32),  # a copy: some transforms work in place
                    segmentation=torch.tensor(np.asarray(seg), dtype=torch.int16))
    return out["image"].numpy(), out["segmentation"].numpy()


def load_preprocessed_case(prepared: Any, case_id: str | None = None, configuration: str = "3d_fullres") -> tuple[np.ndarray, np.ndarray, str]:
    """Return (data [C, z, y, x], segmentation [1, z, y, x], case id) of one preprocessed case."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    folder = prepared.folders.preprocessed / dataset_name(prepared.dataset_id) / f"nnUNetPlans_{configuration}"
    dataset_class = infer_dataset_class(str(folder))
    ids = sorted(dataset_class.get_identifiers(str(folder)))
    chosen = case_id or ids[0]
    data, seg, _, _ = dataset_class(str(folder), [chosen]).load_case(chosen)
    return np.asarray(data), np.asarray(seg), chosen


def forced_foreground(batch_size: int, oversample: float = OVERSAMPLE_FOREGROUND) -> tuple[bool, ...]:
    """Return, for each position of a batch, whether nnU-Net's data loader forces a foreground patch there (chapter 4).

    ``nnUNetDataLoader`` forces sample ``i`` when ``not i < round(batch_size * (1 - oversample))``: the *last*
    positions, as many as rounding leaves. With the default 0.33 that is 1 of 2, 1 of 3, 2 of 5, not always a third.
    """
    if batch_size < 1 or not 0.0 <= oversample <= 1.0:
        raise ValueError(f"need batch_size >= 1 and 0 <= oversample <= 1, got {batch_size} and {oversample}.")
    first_forced = round(batch_size * (1 - oversample))
    return tuple(not i < first_forced for i in range(batch_size))


def forced_foreground_share(batch_size: int, oversample: float = OVERSAMPLE_FOREGROUND) -> float:
    """Return the share of each batch nnU-Net's loader forces onto foreground for a planned batch size (chapter 4)."""
    return sum(forced_foreground(batch_size, oversample)) / batch_size


def _loader(prepared: Any, oversample: float, batch_size: int | None, configuration: str,
            patch_size: tuple[int, ...] | None) -> Any:
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    folder = prepared.folders.preprocessed / dataset_name(prepared.dataset_id) / f"nnUNetPlans_{configuration}"
    dataset_class = infer_dataset_class(str(folder))
    data = dataset_class(str(folder), sorted(dataset_class.get_identifiers(str(folder))))
    plans = PlansManager(prepared.plans)
    dataset_json = json.loads((prepared.folders.preprocessed / dataset_name(prepared.dataset_id) / "dataset.json").read_text())
    config = plans.get_configuration(configuration)
    patch = list(patch_size) if patch_size is not None else config.patch_size
    return nnUNetDataLoader(data, batch_size or config.batch_size, patch, patch, plans.get_label_manager(dataset_json),
                            oversample_foreground_percent=oversample)


def foreground_by_position(prepared: Any, oversample: float, n_batches: int = 20, seed: int = 0, *,
                           batch_size: int | None = None, configuration: str = "3d_fullres",
                           patch_size: tuple[int, ...] | None = None) -> np.ndarray:
    """Return, per position in the batch, the fraction of patches nnU-Net's loader samples that hold foreground.

    ``batch_size`` defaults to the planned one and ``patch_size`` to the planned patch (chapter 4). A forced
    position always holds foreground: the loader picks a foreground class, then one of its voxels, and starts the
    box half a patch before it (moved up where that would start below the allowed range, so near the image's
    edge the voxel is not centred).
    """
    loader = _loader(prepared, oversample, batch_size, configuration, patch_size)
    np.random.seed(seed)
    hits = np.zeros(loader.batch_size)
    for _ in range(n_batches):
        target = np.asarray(loader.generate_train_batch()["target"])
        hits += [(sample > 0).any() for sample in target]
    return hits / n_batches


def foreground_fraction(prepared: Any, oversample: float, n_batches: int = 20, seed: int = 0,
                        configuration: str = "3d_fullres", patch_size: tuple[int, ...] | None = None,
                        batch_size: int | None = None) -> float:
    """Return the fraction of patches nnU-Net's data loader samples that contain any foreground voxel,
    for a given foreground oversampling (nnU-Net trains with 0.33); ``patch_size`` overrides the planned patch and
    ``batch_size`` the planned batch size (chapter 4)."""
    return float(foreground_by_position(prepared, oversample, n_batches, seed, batch_size=batch_size,
                                        configuration=configuration, patch_size=patch_size).mean())


def centre_on_foreground(image: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (image, seg) of the same shape shifted so the foreground's centre of mass sits in the middle, the
    space shifted in filled with zeros (image) and -1 (seg); unchanged when there is no foreground (chapter 4)."""
    spots = np.argwhere(np.asarray(seg)[0] > 0)
    if spots.size == 0:
        return np.asarray(image), np.asarray(seg)
    shape = np.asarray(seg.shape[1:])
    centre = np.round(spots.mean(axis=0)).astype(int)
    pad = [(0, 0)] + [(int(n // 2), int(n - n // 2)) for n in shape]
    box = (slice(None),) + tuple(slice(int(c), int(c + n)) for c, n in zip(centre, shape))
    return (np.pad(np.asarray(image), pad)[box], np.pad(np.asarray(seg), pad, constant_values=-1)[box])


def label_agreement(transform: Any, image: np.ndarray, seg: np.ndarray, seed: int = 0) -> float:
    """Return the Dice between a transform's output label and the tumour as the image saw it (chapter 4).

    The tumour mask rides along as an extra image channel through the same call, so it undergoes exactly what the
    image undergoes; thresholded at 0.5 it must match the transformed label where the transform moves the label
    with the image. 1.0 when neither holds tumour.
    """
    indicator = (np.asarray(seg)[:1] > 0).astype(np.float32)
    out_image, out_seg = apply_transform(transform, np.concatenate([np.asarray(image, np.float32), indicator]), seg, seed)
    seen, labelled = out_image[-1] > 0.5, out_seg[0] > 0
    total = int(seen.sum() + labelled.sum())
    return 1.0 if total == 0 else 2.0 * float((seen & labelled).sum()) / total


def labels_as_trained(data: np.ndarray, seg: np.ndarray, patch_size: tuple[int, ...],
                      use_mask_for_norm: tuple[bool, ...] | list[bool], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return the label of a preprocessed case as the loss sees it: after nnU-Net's validation pipeline (whole case)
    and after its training pipeline (one augmented patch), both from ``nnUNetTrainer`` (chapter 3).

    Both pipelines end their label handling with ``RemoveLabelTansform(-1, 0)``: the -1 cropping wrote outside the
    brain arrives as 0, background, in cross-entropy and Dice.
    """
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    validation = nnUNetTrainer.get_validation_transforms(None)
    training = nnUNetTrainer.get_training_transforms(tuple(patch_size), (-np.pi / 6, np.pi / 6), None, (0, 1, 2), False,
                                                     use_mask_for_norm=list(use_mask_for_norm))
    _, validated = apply_transform(validation, data, seg, seed)
    _, trained = apply_transform(training, data, seg, seed)
    return validated, trained


def plot_augmentations(original: np.ndarray, results: dict[str, tuple[np.ndarray, np.ndarray]], ncols: int = 4) -> Any:
    """Return a grid of the central axial slice of the original patch and of each augmented one, with its label."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from ..plotting import LABEL_COLOURS, apply_style

    apply_style()
    panels = [("original", original, None), *[(name, img, seg) for name, (img, seg) in results.items()]]
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.5 * nrows), squeeze=False)
    lo, hi = np.percentile(original, [0.5, 99.5])
    for ax, (name, img, seg) in zip(axes.flat, panels):
        middle = img.shape[1] // 2
        ax.imshow(img[0, middle], cmap="gray", vmin=lo, vmax=hi, origin="lower")
        if seg is not None:
            mask = np.ma.masked_where(seg[0, middle] <= 0, seg[0, middle])
            ax.imshow(mask, cmap=ListedColormap([LABEL_COLOURS[1]]), alpha=0.35, origin="lower")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
