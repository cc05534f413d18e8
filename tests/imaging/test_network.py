"""Chapter 5: the planned U-Net built by nnU-Net, measured with hooks; parameters checked by a closed formula."""

from __future__ import annotations

import copy

import matplotlib
import numpy as np
import pytest
import torch

from course_utils.imaging import losses as L
from course_utils.imaging import network as N
from course_utils.imaging.pipeline import prepare_nnunet
from course_utils.profiles import chapter_settings


def architecture(strides, features, conv="Conv3d", norm="InstanceNorm3d", kernel=None, convs=2):
    dim = len(strides[0])
    n = len(strides)
    return {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": n, "features_per_stage": list(features), "conv_op": f"torch.nn.modules.conv.{conv}",
            "kernel_sizes": kernel or [[3] * dim] * n, "strides": [list(s) for s in strides],
            "n_conv_per_stage": [convs] * n, "n_conv_per_stage_decoder": [convs] * (n - 1), "conv_bias": True,
            "norm_op": f"torch.nn.modules.instancenorm.{norm}", "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None, "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }


def plans_with(arch, patch):
    return {"dataset_name": "Dataset999_Test", "plans_name": "nnUNetPlans", "transpose_forward": [0, 1, 2],
            "transpose_backward": [0, 1, 2], "configurations": {"3d_fullres": {
                "patch_size": list(patch), "architecture": copy.deepcopy(arch), "batch_dice": False,
                "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False]}}}


DATASET_JSON = {"channel_names": {"0": "FLAIR"}, "labels": {"background": 0, "tumour": 1}, "numTraining": 2,
                "file_ending": ".nii.gz"}


def formula_parameters(arch, in_channels, n_classes):
    """Independent count: conv k^d * c_in * c_out + c_out bias, affine norm 2 c_out, transposed conv s^d c_in c_out +
    c_out, one 1x1 head per decoder stage."""
    kw = arch["arch_kwargs"]
    feats, kernels, strides = kw["features_per_stage"], kw["kernel_sizes"], kw["strides"]
    total, c_in = 0, in_channels
    for f, k, convs in zip(feats, kernels, kw["n_conv_per_stage"]):
        for _ in range(convs):
            total += int(np.prod(k)) * c_in * f + f + 2 * f
            c_in = f
    for s in range(1, len(feats)):
        below, skip = feats[-s], feats[-(s + 1)]
        total += int(np.prod(strides[-s])) * below * skip + skip  # transposed conv
        c_in = 2 * skip
        for _ in range(kw["n_conv_per_stage_decoder"][s - 1]):
            total += int(np.prod(kernels[-(s + 1)])) * c_in * skip + skip + 2 * skip
            c_in = skip
        total += skip * n_classes + n_classes  # segmentation head
    return total


@pytest.fixture(scope="module")
def prepared():
    return prepare_nnunet(chapter_settings(5, "smoke"))


# --- hand-made plans -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("strides", "features", "patch"), [
    ([[1, 1, 1], [2, 2, 2], [2, 2, 2]], [4, 8, 16], (16, 24, 16)),
    ([[1, 1, 1], [1, 2, 2], [2, 2, 2], [1, 2, 2]], [4, 8, 16, 16], (8, 32, 24)),  # anisotropic pooling
])
def test_summary_is_measured_and_matches_the_plans(strides, features, patch):
    arch = architecture(strides, features)
    net = N.build_network(plans_with(arch, patch), DATASET_JSON)
    summary = N.summarize_network(net, patch)
    cumulative = np.cumprod(np.asarray(strides), axis=0)
    for stage, factor, f, s in zip(summary.encoder, cumulative, features, strides):
        assert stage.output_shape == (f, *[p // c for p, c in zip(patch, factor)])
        assert stage.stride == tuple(s) and stage.kernel == (3, 3, 3) and stage.convs == 2
    assert [d.level for d in summary.decoder] == list(range(len(strides) - 2, -1, -1))
    for d in summary.decoder:
        assert d.output_shape == summary.encoder[d.level].output_shape  # each decoder stage meets its skip
        assert d.stride == tuple(strides[d.level + 1])
    assert summary.total_parameters == formula_parameters(arch, 1, 2) == N.count_parameters(net)
    assert sum(s.parameters for s in summary.stages) == summary.total_parameters
    scales = L.deep_supervision_scales(strides)
    assert summary.output_shapes == tuple((2, *[round(p * sc) for p, sc in zip(patch, scale)]) for scale in scales)
    assert [d.head_shape for d in summary.decoder][::-1] == list(summary.output_shapes)
    assert summary.deep_supervision and summary.num_classes == 2 and summary.input_channels == 1


def test_without_deep_supervision_one_output_same_parameters():
    arch = architecture([[1, 1, 1], [2, 2, 2], [2, 2, 2]], [4, 8, 16])
    with_ds = N.summarize_network(N.build_network(plans_with(arch, (16, 16, 16)), DATASET_JSON), (16, 16, 16))
    net = N.build_network(plans_with(arch, (16, 16, 16)), DATASET_JSON, deep_supervision=False)
    net.train()
    without = N.summarize_network(net, (16, 16, 16))
    assert net.training  # mode restored
    assert without.output_shapes == ((2, 16, 16, 16),) and not without.deep_supervision
    assert [d.head_shape for d in without.decoder] == [None, (2, 16, 16, 16)]
    assert without.total_parameters == with_ds.total_parameters  # the heads exist either way


def test_two_dimensional_network_and_several_channels():
    arch = architecture([[1, 1], [2, 2], [2, 2]], [4, 8, 16], conv="Conv2d", norm="InstanceNorm2d")
    dataset = dict(DATASET_JSON, channel_names={"0": "FLAIR", "1": "T1w"}, labels={"background": 0, "a": 1, "b": 2})
    summary = N.summarize_network(N.build_network(plans_with(arch, (32, 24)), dataset), (32, 24))
    assert summary.input_channels == 2 and summary.num_classes == 3
    assert summary.encoder[-1].output_shape == (16, 8, 6)
    assert summary.total_parameters == formula_parameters(arch, 2, 3)
    table = summary.table()
    assert list(table.index.get_level_values("part")) == ["encoder"] * 3 + ["decoder"] * 2
    assert table.loc[("encoder", 2), "feature map (z x y x x)"] == "8 x 6"


def test_plot_unet_draws_every_stage():
    arch = architecture([[1, 1, 1], [2, 2, 2], [2, 2, 2]], [4, 8, 16])
    summary = N.summarize_network(N.build_network(plans_with(arch, (16, 16, 16)), DATASET_JSON), (16, 16, 16))
    fig = N.plot_unet(summary, loss_weights=L.deep_supervision_weights(2))
    assert isinstance(fig, matplotlib.figure.Figure)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "16\n4 x 4 x 4" in texts and texts.count("4\n16 x 16 x 16") == 2  # bottleneck; first encoder + last decoder
    assert any("weight 0.00" in t for t in texts) and any("weight 1.00" in t for t in texts)
    matplotlib.pyplot.close(fig)


def test_errors_name_what_is_missing():
    with pytest.raises(N.NetworkPlanError, match=r"no configuration '2d'.*3d_fullres"):
        N.architecture_of(plans_with(architecture([[1, 1, 1], [2, 2, 2]], [4, 8]), (8, 8, 8)), "2d")
    old = plans_with(architecture([[1, 1, 1], [2, 2, 2]], [4, 8]), (8, 8, 8))
    del old["configurations"]["3d_fullres"]["architecture"]
    with pytest.raises(N.NetworkPlanError, match="predate nnU-Net v2.4"):
        N.architecture_of(old)
    with pytest.raises(N.NetworkPlanError, match="not an nnU-Net U-Net"):
        N.summarize_network(torch.nn.Conv3d(1, 2, 3), (8, 8, 8))


# --- the smoke dataset's own plans --------------------------------------------------------------------------------


def test_planned_network_equals_the_trainers(prepared):
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = prepared.plans
    config = plans["configurations"]["3d_fullres"]
    net = N.build_network_for(prepared)
    manager = PlansManager(plans)
    theirs = nnUNetTrainer.build_network_architecture(manager, manager.get_configuration("3d_fullres"), 1, 2, True)
    assert type(net) is type(theirs) and type(net).__name__ == "PlainConvUNet"
    assert [tuple(p.shape) for p in net.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    summary = N.summarize_network(net, config["patch_size"])
    kwargs = config["architecture"]["arch_kwargs"]
    assert [s.features for s in summary.encoder] == kwargs["features_per_stage"]
    assert summary.total_parameters == formula_parameters(config["architecture"], 1, 2)
    assert min(summary.encoder[-1].output_shape[1:]) >= 4  # the planner stops pooling at 4 voxels
    loss = L.nnunet_loss_for(prepared)
    assert len(summary.output_shapes) == len(loss.scales) == len(loss.weights) == kwargs["n_stages"] - 1


def test_nnunet_batch_and_loss_on_the_planned_network(prepared):
    config = prepared.plans["configurations"]["3d_fullres"]
    setup = L.nnunet_loss_for(prepared)
    images, targets = L.nnunet_batch(prepared, setup, seed=2)
    assert images.shape == (config["batch_size"], 1, *config["patch_size"])
    assert isinstance(targets, list) and len(targets) == len(setup.scales)
    assert set(targets[0].unique().tolist()) <= {0.0, 1.0} and targets[0].sum() > 0  # -1 replaced; tumour present
    for ours, theirs in zip(L.downsample_target(targets[0], setup.scales), targets):
        assert torch.equal(ours, theirs)  # our downsampling is what the trainer's transforms gave
    torch.manual_seed(0)
    outputs = N.build_network_for(prepared)(images)
    ours = L.deep_supervision_loss(outputs, targets, batch_dice=setup.batch_dice)
    torch.testing.assert_close(ours, setup(outputs, targets), rtol=1e-5, atol=1e-6)
    assert N.dataset_json_of(prepared)["labels"] == {"background": 0, "whole tumour": 1}
