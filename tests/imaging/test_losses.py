"""Chapter 5: the course's Dice + CE loss, written out, equals nnU-Net's loss as its trainer builds it."""

from __future__ import annotations

import copy

import pytest
import torch

from course_utils.imaging import losses as L

ARCH_4_STAGES = {
    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "arch_kwargs": {
        "n_stages": 4, "features_per_stage": [8, 16, 32, 64], "conv_op": "torch.nn.modules.conv.Conv3d",
        "kernel_sizes": [[3, 3, 3]] * 4, "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2], [1, 2, 2]],
        "n_conv_per_stage": [2, 2, 2, 2], "n_conv_per_stage_decoder": [2, 2, 2], "conv_bias": True,
        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d", "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None, "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
    },
    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
}


def make_plans(batch_dice: bool, architecture: dict | None = None, patch=(16, 16, 16)) -> dict:
    """A minimal nnU-Net v2 plans dictionary: enough for the stock trainer to build its loss and network."""
    return {
        "dataset_name": "Dataset999_Test", "plans_name": "nnUNetPlans", "original_median_spacing_after_transp": [1, 1, 1],
        "original_median_shape_after_transp": list(patch), "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {"3d_fullres": {
            "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
            "patch_size": list(patch), "median_image_size_in_voxels": list(patch), "spacing": [1.0, 1.0, 1.0],
            "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False],
            "architecture": copy.deepcopy(architecture or ARCH_4_STAGES), "batch_dice": batch_dice}},
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {},
    }


def dataset_json(n_labels: int = 2) -> dict:
    labels = {"background": 0, **{f"class{i}": i for i in range(1, n_labels)}}
    return {"channel_names": {"0": "FLAIR"}, "labels": labels, "numTraining": 4, "file_ending": ".nii.gz"}


def random_case(shape, n_classes, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(shape[0], n_classes, *shape[1:], generator=gen)
    target = torch.randint(0, n_classes, (shape[0], 1, *shape[1:]), generator=gen).float()
    return logits, target


@pytest.fixture(scope="module", params=[False, True], ids=["per-sample Dice", "batch Dice"])
def nnunet_setup(request):
    return L.nnunet_loss(make_plans(request.param), dataset_json())


# --- the pieces ---------------------------------------------------------------------------------------------


def test_softmax_one_hot_and_cross_entropy_equal_torch():
    logits, target = random_case((2, 5, 6, 7), 3, 0)
    torch.testing.assert_close(L.softmax(logits), torch.softmax(logits, 1))
    assert torch.equal(L.one_hot(target[:, 0], 3).argmax(1), target[:, 0].long())
    assert L.one_hot(target[:, 0], 3).sum(1).eq(1).all()
    torch.testing.assert_close(L.cross_entropy(logits, target), torch.nn.functional.cross_entropy(logits, target[:, 0].long()))
    torch.testing.assert_close(L.softmax(torch.tensor([[1000.0, 0.0]])), torch.tensor([[1.0, 0.0]]))  # no overflow


def test_soft_dice_by_hand():
    probs = torch.tensor([[[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.9, 1.0]]])  # [B=1, C=2, 4 voxels]
    target = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]])
    # class 1: intersection 0.9 + 1.0 = 1.9, sum p = 2.2, sum y = 2 -> (3.8 + s) / (4.2 + s)
    dice = L.soft_dice(probs, target, batch_dice=False, smooth=1.0)
    assert dice.shape == (1, 2)
    assert float(dice[0, 1]) == pytest.approx(4.8 / 5.2)
    # an absent class predicted absent scores 1 thanks to the smoothing, 0/0 without it
    zero = torch.zeros(1, 1, 4)
    assert float(L.soft_dice(zero, zero, batch_dice=False)) == 1.0
    assert torch.isnan(L.soft_dice(zero, zero, batch_dice=False, smooth=0.0)).all()


def test_batch_dice_pools_the_samples():
    logits, target = random_case((3, 6, 6, 6), 2, 1)
    probs, onehot = L.softmax(logits), L.one_hot(target[:, 0], 2)
    pooled = L.soft_dice(probs.permute(1, 0, 2, 3, 4).reshape(1, 2, -1), onehot.permute(1, 0, 2, 3, 4).reshape(1, 2, -1),
                         batch_dice=False)[0]
    torch.testing.assert_close(L.soft_dice(probs, onehot, batch_dice=True), pooled)
    assert L.soft_dice(probs, onehot, batch_dice=False).shape == (3, 2)


# --- equal to nnU-Net -------------------------------------------------------------------------------------------


def test_nnunet_loss_is_what_the_trainer_builds(nnunet_setup):
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    loss = nnunet_setup.loss
    assert isinstance(loss, DeepSupervisionWrapper) and isinstance(loss.loss, DC_and_CE_loss)
    assert isinstance(loss.loss.dc, MemoryEfficientSoftDiceLoss)
    assert loss.loss.dc.smooth == L.SMOOTH and loss.loss.dc.do_bg is False
    assert loss.loss.dc.batch_dice is nnunet_setup.batch_dice
    assert (loss.loss.weight_ce, loss.loss.weight_dice) == (1, 1)
    # 4 stages with strides 1, 2, 2, (1, 2, 2): three outputs, weights 1, 1/2, 0 normalised
    assert nnunet_setup.weights == pytest.approx((2 / 3, 1 / 3, 0.0))
    assert nnunet_setup.weights == pytest.approx(L.deep_supervision_weights(3))
    assert nnunet_setup.scales == ((1.0, 1.0, 1.0), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    strides = ARCH_4_STAGES["arch_kwargs"]["strides"]
    assert [tuple(s) for s in L.deep_supervision_scales(strides)] == list(nnunet_setup.scales)


@pytest.mark.parametrize(("shape", "n_classes"), [((2, 8, 10, 6), 2), ((3, 6, 6, 6), 4), ((2, 16, 12), 3), ((1, 5, 9, 7), 2)])
def test_dice_ce_equals_nnunet_on_random_tensors(shape, n_classes):
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    for batch_dice in (False, True):
        theirs = DC_and_CE_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                                weight_ce=1, weight_dice=1, dice_class=MemoryEfficientSoftDiceLoss)
        logits, target = random_case(shape, n_classes, seed=sum(shape) + n_classes)
        ours_in, theirs_in = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
        ours = L.dice_ce_loss(ours_in, target, batch_dice=batch_dice)
        reference = theirs(theirs_in, target)
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
        ours.backward()
        reference.backward()
        torch.testing.assert_close(ours_in.grad, theirs_in.grad, rtol=1e-4, atol=1e-8)  # same gradients too


@pytest.mark.parametrize("patch", [(16, 16, 16), (20, 24, 16)])
def test_deep_supervision_loss_equals_nnunet(nnunet_setup, patch):
    gen = torch.Generator().manual_seed(len(patch) + patch[0])
    target = torch.randint(0, 2, (2, 1, *patch), generator=gen).float()
    targets = L.downsample_target(target, nnunet_setup.scales)
    outputs = [torch.randn(2, 2, *t.shape[2:], generator=gen) for t in targets]
    ours = L.deep_supervision_loss(outputs, targets, batch_dice=nnunet_setup.batch_dice)
    torch.testing.assert_close(ours, nnunet_setup(outputs, targets), rtol=1e-5, atol=1e-6)
    # the coarsest output has weight 0: changing it changes nothing
    outputs[-1] = outputs[-1] + 5
    torch.testing.assert_close(L.deep_supervision_loss(outputs, targets, batch_dice=nnunet_setup.batch_dice), ours)


@pytest.mark.parametrize("shape", [(16, 16, 16), (41, 47, 40), (9, 13, 11)])
def test_target_downsampling_equals_nnunets_transform(shape):
    from batchgeneratorsv2.transforms.utils.deep_supervision_downsampling import DownsampleSegForDSTransform

    scales = [(1.0, 1.0, 1.0), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), (1.0, 0.5, 0.5)]
    target = torch.randint(0, 4, (2, 1, *shape), generator=torch.Generator().manual_seed(3)).to(torch.int16)
    ours = L.downsample_target(target, scales)
    transform = DownsampleSegForDSTransform(ds_scales=scales)
    for i in range(2):
        theirs = transform(segmentation=target[i])["segmentation"]
        for a, b in zip(ours, theirs):
            assert torch.equal(a[i], b)
    assert ours[0] is target and set(ours[1].unique().tolist()) <= set(target.unique().tolist())


def test_no_deep_supervision_gives_the_bare_loss():
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss

    setup = L.nnunet_loss(make_plans(False), dataset_json(3), deep_supervision=False)
    assert isinstance(setup.loss, DC_and_CE_loss) and setup.weights is None and setup.scales is None
    logits, target = random_case((2, 8, 8, 8), 3, 9)
    torch.testing.assert_close(setup(logits, target), L.dice_ce_loss(logits, target, batch_dice=False))


def test_perfect_prediction_reaches_the_minimum(nnunet_setup):
    target = torch.zeros(2, 1, 16, 16, 16)
    target[0, 0, 4:9, 5:11, 3:8] = 1  # sample 1 has no foreground: the smoothing makes its Dice 1
    targets = L.downsample_target(target, nnunet_setup.scales)
    outputs = [L.confident_logits(t[:, 0].long(), 2, margin=50.0) for t in targets]
    assert float(L.cross_entropy(outputs[0], targets[0])) == pytest.approx(0.0, abs=1e-12)
    assert float(L.soft_dice_loss(outputs[0], targets[0], batch_dice=False)) == pytest.approx(-1.0, abs=1e-7)
    assert float(L.deep_supervision_loss(outputs, targets, batch_dice=nnunet_setup.batch_dice)) == pytest.approx(-1.0, abs=1e-6)
    assert float(nnunet_setup(outputs, targets)) == pytest.approx(-1.0, abs=1e-6)
    wrong = [L.confident_logits(1 - t[:, 0].long(), 2, margin=50.0) for t in targets]
    assert float(nnunet_setup(wrong, targets)) > 10  # everything wrong: large CE, Dice near 0


def test_deep_supervision_weights_rule():
    assert L.deep_supervision_weights(1) == (1.0,)
    assert L.deep_supervision_weights(2) == (1.0, 0.0)
    assert L.deep_supervision_weights(5) == pytest.approx((8 / 15, 4 / 15, 2 / 15, 1 / 15, 0.0))
    assert sum(L.deep_supervision_weights(6)) == pytest.approx(1.0)
    with pytest.raises(L.LossInputError, match="at least one output"):
        L.deep_supervision_weights(0)


def test_bad_inputs_get_clear_errors():
    logits, target = random_case((2, 8, 8, 8), 2, 0)
    with pytest.raises(L.LossInputError, match=r"does not fit logits.*downsample_target"):
        L.dice_ce_loss(logits, target[:, :, ::2, ::2, ::2], batch_dice=False)
    with pytest.raises(L.LossInputError, match="outside the 2 classes"):
        L.cross_entropy(logits, target - 1)
    with pytest.raises(L.LossInputError, match="one channel"):
        L.cross_entropy(logits, torch.cat([target, target], 1))
    with pytest.raises(L.LossInputError, match="2 outputs but 1 targets"):
        L.deep_supervision_loss([logits, logits], [target], batch_dice=False)
    with pytest.raises(L.LossInputError, match="no configuration '2d'"):
        L.nnunet_loss(make_plans(False), dataset_json(), "2d")
    regions = dataset_json()
    regions["labels"] = {"background": 0, "whole tumour": [1, 2, 3], "core": [2, 3]}
    regions["regions_class_order"] = [1, 2]
    with pytest.raises(L.LossInputError, match="region-based"):
        L.nnunet_loss(make_plans(False), regions)


# --- the experiments ------------------------------------------------------------------------------------------------


def test_tumour_size_experiment_dice_ignores_size_ce_does_not():
    table = L.tumour_size_experiment(radii=(2.0, 4.0, 8.0))
    assert table["tumour voxels"].is_monotonic_increasing
    assert table["found (%)"].between(50, 65).all()
    assert table["cross-entropy"].is_monotonic_increasing
    assert table["cross-entropy"].iloc[-1] > 20 * table["cross-entropy"].iloc[0]
    dice = table["Dice term"]
    assert (dice.max() - dice.min()) < 0.1 and dice.between(-0.8, -0.6).all()


def test_empty_patch_experiment_dice_gradient_vanishes():
    table = L.empty_patch_experiment()
    grads = table["gradient norm"]
    assert grads["Dice term per sample, empty patch"] < 1e-3 * grads["cross-entropy, empty patch"]
    assert grads["Dice term, batch Dice with a tumour patch"] > 100 * grads["Dice term per sample, empty patch"]
    assert table.loc["Dice term per sample, empty patch", "loss"] == pytest.approx(0.0, abs=1e-4)  # worst possible
