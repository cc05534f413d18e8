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


def test_foreground_oversampling_raises_the_foreground_fraction(prepared):
    small = (16, 16, 16)
    none = aug.foreground_fraction(prepared, 0.0, 30, patch_size=small)
    nnunet = aug.foreground_fraction(prepared, 0.33, 30, patch_size=small)
    always = aug.foreground_fraction(prepared, 1.0, 30, patch_size=small)
    assert none < nnunet < always == 1.0
