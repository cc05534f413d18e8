"""Chapter 4: nnU-Net's augmentation pipeline from its trainer; single transforms; foreground oversampling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_utils.imaging import augmentation as aug
from course_utils.imaging.pipeline import prepare_nnunet
from course_utils.profiles import chapter_settings


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    import os

    os.environ.pop("COURSE_MRI_DIR", None)
    settings = dataclasses.replace(chapter_settings(4, "smoke"), n_cases=5, seed=6)
    return prepare_nnunet(settings, root=tmp_path_factory.mktemp("aug") / "nn")


def test_pipeline_is_nnunets(prepared):
    setup = aug.augmentation_setup(prepared)
    names = [name for name, _, _ in aug.pipeline_steps(setup.transforms)]
    assert names[0] == "SpatialTransform" and "MirrorTransform" in names and names.count("GammaTransform") == 2
    probabilities = dict((n, p) for n, p, _ in aug.pipeline_steps(setup.transforms) if n != "GammaTransform")
    assert probabilities["GaussianNoiseTransform"] == pytest.approx(0.1)
    assert probabilities["SimulateLowResolutionTransform"] == pytest.approx(0.25)
    assert setup.rotation == pytest.approx((-np.pi / 6, np.pi / 6))  # +-30 degrees for isotropic 3-D patches
    assert setup.mirror_axes == (0, 1, 2) and not setup.dummy_2d
    assert all(i >= p for i, p in zip(setup.initial_patch_size, setup.patch_size))  # room to rotate and scale


def test_each_transform_changes_the_patch_as_it_should(prepared):
    setup = aug.augmentation_setup(prepared)
    data, seg, _ = aug.load_preprocessed_case(prepared)
    transforms = aug.single_transforms(setup)
    assert set(transforms) >= {"rotation", "scaling", "Gaussian noise", "Gaussian blur", "brightness", "contrast",
                               "low resolution", "gamma", "mirroring"}
    for name, transform in transforms.items():
        img, out_seg = aug.apply_transform(transform, data, seg, seed=3)
        if name in ("rotation", "scaling") or name.startswith("elastic"):
            assert img.shape[1:] == setup.patch_size  # spatial transforms cut the patch
        else:
            assert img.shape == data.shape
            assert not np.allclose(img, data), name
            if name != "mirroring":
                np.testing.assert_array_equal(out_seg, seg)  # intensity transforms leave the label alone
    mirrored, mirrored_seg = aug.apply_transform(transforms["mirroring"], data, seg, seed=3)
    np.testing.assert_array_equal(np.sort(mirrored.ravel()), np.sort(data.ravel()))  # a permutation of the voxels
    assert (mirrored_seg > 0).sum() == (seg > 0).sum()
    again, _ = aug.apply_transform(transforms["Gaussian noise"], data, seg, seed=3)
    first, _ = aug.apply_transform(transforms["Gaussian noise"], data, seg, seed=3)
    np.testing.assert_array_equal(again, first)  # seeded


def test_forced_foreground_follows_nnunets_loader_rule():
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

    for batch_size in range(1, 13):
        loader = nnUNetDataLoader.__new__(nnUNetDataLoader)  # only the rule, no data
        loader.batch_size, loader.oversample_foreground_percent = batch_size, 0.33
        theirs = tuple(loader._oversample_last_XX_percent(i) for i in range(batch_size))
        assert aug.forced_foreground(batch_size) == theirs
    assert aug.forced_foreground(2) == (False, True) and aug.forced_foreground_share(2) == 0.5  # not a third
    assert aug.forced_foreground_share(3) == pytest.approx(1 / 3) and aug.forced_foreground_share(5) == 0.4
    assert aug.forced_foreground(1) == (False,)  # batch size 1: round(0.67) = 1, nothing forced
    with pytest.raises(ValueError, match="batch_size"):
        aug.forced_foreground(0)


def test_foreground_oversampling_raises_the_foreground_fraction(prepared):
    small = (16, 16, 16)
    none = aug.foreground_fraction(prepared, 0.0, 30, patch_size=small)
    nnunet = aug.foreground_fraction(prepared, 0.33, 30, patch_size=small)
    always = aug.foreground_fraction(prepared, 1.0, 30, patch_size=small)
    assert none < nnunet < always == 1.0
    by_position = aug.foreground_by_position(prepared, 0.33, 30, batch_size=3, patch_size=small)
    forced = np.array(aug.forced_foreground(3))
    assert np.all(by_position[forced] == 1.0) and np.all(by_position[~forced] < 1.0)  # the last sample is forced


def test_spatial_transforms_move_the_label_with_the_image(prepared):
    setup = aug.augmentation_setup(prepared)
    data, seg, _ = aug.load_preprocessed_case(prepared)
    data, seg = aug.centre_on_foreground(data, seg)
    assert (seg > 0).any()
    transforms = aug.single_transforms(setup)
    for name in ("rotation", "scaling", "mirroring"):
        assert aug.label_agreement(transforms[name], data, seg, seed=3) > 0.9, name

    shift = max(4, seg.shape[1] // 4)

    def image_only(image, segmentation):  # a broken spatial transform: moves the image, leaves the label behind
        return {"image": image.roll(shift, dims=1), "segmentation": segmentation}

    assert aug.label_agreement(image_only, data, seg) < 0.5  # the check catches a label left behind


def test_centre_on_foreground_moves_the_tumour_to_the_middle():
    seg = np.zeros((1, 20, 20, 20), np.int8)
    seg[0, 2:5, 3:6, 14:17] = 1
    image = seg.astype(np.float32) * 5
    out_image, out_seg = aug.centre_on_foreground(image, seg)
    assert out_seg.shape == seg.shape and (out_seg > 0).sum() == 27
    np.testing.assert_allclose(np.argwhere(out_seg[0] > 0).mean(axis=0), [10, 10, 10])
    assert out_seg.min() == -1 and out_image[out_seg > 0].min() == 5


def test_minus_one_reaches_the_loss_as_background(prepared):
    data, seg, _ = aug.load_preprocessed_case(prepared)
    assert (seg == -1).any()  # cropping marked the background outside the brain
    config = prepared.plans["configurations"]["3d_fullres"]
    validated, trained = aug.labels_as_trained(data, seg, tuple(config["patch_size"]), config["use_mask_for_norm"], seed=2)
    np.testing.assert_array_equal(validated[seg == -1], 0)  # -1 became 0, not "never trained on"
    np.testing.assert_array_equal(validated[seg >= 0], seg[seg >= 0])
    assert trained.min() >= 0 and trained.shape[1:] == tuple(config["patch_size"])
