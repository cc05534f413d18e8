"""The U-Net nnU-Net planned, built by nnU-Net and measured stage by stage (chapter 5).

:func:`build_network` hands the ``architecture`` entry of the plans to nnU-Net's own
``get_network_from_plans``, exactly as the stock trainer does. :func:`summarize_network` then runs the network
once on a patch-sized input with forward hooks on every stage, so the table of feature-map shapes, features,
strides, kernels, convolutions and parameters is measured from the built network rather than derived by hand.
:func:`plot_unet` draws the U from that table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ..errors import CourseError
from ..plotting import apply_style, keep_matplotlib_backend
from .nnunet_data import dataset_name

__all__ = [
    "NetworkPlanError",
    "StageInfo",
    "NetworkSummary",
    "architecture_of",
    "dataset_json_of",
    "build_network",
    "build_network_for",
    "count_parameters",
    "summarize_network",
    "plot_unet",
]


class NetworkPlanError(CourseError, ValueError):
    """Plans or a network that chapter 5 cannot read: the message names what is missing."""


@dataclass(frozen=True)
class StageInfo:
    """One stage of the U-Net, measured: where it sits, what it computes, what it costs (chapter 5).

    ``output_shape`` is (features, z, y, x) for a batch of one patch; ``parameters`` counts the stage's convolutions
    with their normalisation (and, in the decoder, the transposed convolution and the segmentation head);
    ``head_shape`` is the shape of the decoder stage's segmentation output (None where none is computed).
    """

    part: str
    stage: int
    level: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    features: int
    stride: tuple[int, ...]
    kernel: tuple[int, ...]
    convs: int
    parameters: int
    head_shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class NetworkSummary:
    """The measured network: class, patch size, stages in order of computation, parameters, outputs (chapter 5)."""

    architecture: str
    patch_size: tuple[int, ...]
    input_channels: int
    num_classes: int
    stages: tuple[StageInfo, ...]
    total_parameters: int
    output_shapes: tuple[tuple[int, ...], ...]
    deep_supervision: bool

    @property
    def encoder(self) -> tuple[StageInfo, ...]:
        """Return the encoder stages, finest first (the last one is the bottleneck)."""
        return tuple(s for s in self.stages if s.part == "encoder")

    @property
    def decoder(self) -> tuple[StageInfo, ...]:
        """Return the decoder stages in order of computation, coarsest first."""
        return tuple(s for s in self.stages if s.part == "decoder")

    def table(self) -> pd.DataFrame:
        """Return the stage table as a DataFrame: one row per stage, shapes written as z x y x x."""
        rows = []
        for s in self.stages:
            rows.append({
                "part": s.part, "stage": s.stage, "resolution level": s.level,
                "feature map (z x y x x)": _shape(s.output_shape[1:]), "features": s.features,
                "stride": _shape(s.stride), "kernel": _shape(s.kernel), "convs": s.convs,
                "parameters": s.parameters,
                "output head": "-" if s.head_shape is None else f"{s.head_shape[0]} x {_shape(s.head_shape[1:])}",
            })
        return pd.DataFrame(rows).set_index(["part", "stage"])


def _shape(values: Sequence[int]) -> str:
    return " x ".join(str(int(v)) for v in values)


def architecture_of(plans: dict[str, Any], configuration: str = "3d_fullres") -> dict[str, Any]:
    """Return the ``architecture`` entry of one configuration of nnU-Net plans (class name and arguments) (chapter 5)."""
    configurations = plans.get("configurations", {})
    if configuration not in configurations:
        raise NetworkPlanError(f"the plans have no configuration {configuration!r}; they have {sorted(configurations)}.")
    config = configurations[configuration]
    if "architecture" not in config:
        raise NetworkPlanError(
            f"configuration {configuration!r} has no 'architecture' entry: these plans predate nnU-Net v2.4 "
            "(plan the dataset again with the installed nnU-Net).")
    return config["architecture"]


def dataset_json_of(prepared: Any) -> dict[str, Any]:
    """Return the ``dataset.json`` nnU-Net keeps beside the preprocessed data of a prepared dataset (chapter 5)."""
    path = prepared.folders.preprocessed / dataset_name(prepared.dataset_id) / "dataset.json"
    if not path.is_file():
        raise NetworkPlanError(f"no dataset.json at {path}: run prepare_nnunet first.")
    return json.loads(path.read_text())


def build_network(plans: dict[str, Any], dataset_json: dict[str, Any], configuration: str = "3d_fullres", *,
                  deep_supervision: bool = True) -> torch.nn.Module:
    """Return the network nnU-Net builds from its plans, through its own ``get_network_from_plans`` (chapter 5).

    Input channels and output heads are counted by nnU-Net's own helpers from ``dataset.json`` (one head per
    label including background, or per region), as in ``nnUNetTrainer.build_network_architecture``. The weights
    are nnU-Net's random initialisation; the network is on the CPU.
    """
    with keep_matplotlib_backend():
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
        from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    architecture = architecture_of(plans, configuration)
    manager = PlansManager(plans)
    config = manager.get_configuration(configuration)
    channels = determine_num_input_channels(manager, config, dataset_json)
    heads = manager.get_label_manager(dataset_json).num_segmentation_heads
    return get_network_from_plans(architecture["network_class_name"], architecture["arch_kwargs"],
                                  architecture["_kw_requires_import"], channels, heads, allow_init=True,
                                  deep_supervision=deep_supervision)


def build_network_for(prepared: Any, configuration: str = "3d_fullres", *, deep_supervision: bool = True) -> torch.nn.Module:
    """Return :func:`build_network` for a dataset made by ``prepare_nnunet`` (chapter 5)."""
    return build_network(prepared.plans, dataset_json_of(prepared), configuration, deep_supervision=deep_supervision)


def count_parameters(module: torch.nn.Module) -> int:
    """Return the number of trainable parameters of a module (shared ones counted once) (chapter 5)."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def _convs(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)
            and not isinstance(m, torch.nn.modules.conv._ConvTransposeNd)]


def summarize_network(network: torch.nn.Module, patch_size: Sequence[int], *, device: Any = None) -> NetworkSummary:
    """Return the measured :class:`NetworkSummary` of an nnU-Net U-Net for one patch (chapter 5).

    The network runs once, without gradients, on a batch of one zero patch of ``patch_size`` on ``device``
    (default: where the network is; the network is moved there and stays); forward hooks record the output shape of every encoder stage, every
    transposed convolution, decoder stage and segmentation head. The network's training/eval mode is restored.
    """
    encoder, decoder = getattr(network, "encoder", None), getattr(network, "decoder", None)
    if encoder is None or decoder is None or not all(hasattr(decoder, k) for k in ("stages", "transpconvs", "seg_layers")):
        raise NetworkPlanError(
            f"{type(network).__name__} is not an nnU-Net U-Net with encoder.stages and decoder.stages/transpconvs/"
            "seg_layers (dynamic_network_architectures' PlainConvUNet or ResidualEncoderUNet).")
    first = _convs(encoder.stages[0])[0]
    if device is None:
        device = next(network.parameters()).device
    shapes: dict[tuple[str, int], tuple[int, ...]] = {}
    handles = []

    def record(key: tuple[str, int]) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            shapes[key] = tuple(int(n) for n in output.shape[1:])
        return hook

    for i, stage in enumerate(encoder.stages):
        handles.append(stage.register_forward_hook(record(("encoder", i))))
    for i in range(len(decoder.stages)):
        handles.append(decoder.transpconvs[i].register_forward_hook(record(("up", i))))
        handles.append(decoder.stages[i].register_forward_hook(record(("decoder", i))))
        handles.append(decoder.seg_layers[i].register_forward_hook(record(("head", i))))
    was_training = network.training
    network.eval()
    try:
        x = torch.zeros((1, first.in_channels, *[int(p) for p in patch_size]), device=device)
        with torch.no_grad():
            out = network.to(device)(x)
    finally:
        for h in handles:
            h.remove()
        network.train(was_training)
    outputs = out if isinstance(out, (list, tuple)) else [out]

    stages: list[StageInfo] = []
    n = len(encoder.stages)
    previous = (first.in_channels, *[int(p) for p in patch_size])
    for i, stage in enumerate(encoder.stages):
        convs = _convs(stage)
        params = count_parameters(stage)
        if i == 0 and hasattr(encoder, "stem") and encoder.stem is not None:
            params += count_parameters(encoder.stem)
        stages.append(StageInfo("encoder", i, i, previous, shapes[("encoder", i)], shapes[("encoder", i)][0],
                                tuple(int(s) for s in convs[0].stride), tuple(int(k) for k in convs[0].kernel_size),
                                len(convs), params))
        previous = shapes[("encoder", i)]
    for i in range(len(decoder.stages)):
        convs = _convs(decoder.stages[i])
        up = decoder.transpconvs[i]
        params = count_parameters(decoder.stages[i]) + count_parameters(up) + count_parameters(decoder.seg_layers[i])
        stages.append(StageInfo("decoder", i, n - 2 - i, previous, shapes[("decoder", i)], shapes[("decoder", i)][0],
                                tuple(int(s) for s in up.stride), tuple(int(k) for k in convs[0].kernel_size),
                                len(convs), params, shapes.get(("head", i))))
        previous = shapes[("decoder", i)]
    return NetworkSummary(
        architecture=type(network).__name__, patch_size=tuple(int(p) for p in patch_size),
        input_channels=int(first.in_channels), num_classes=int(decoder.num_classes), stages=tuple(stages),
        total_parameters=count_parameters(network), output_shapes=tuple(tuple(int(v) for v in o.shape[1:]) for o in outputs),
        deep_supervision=bool(getattr(decoder, "deep_supervision", False)))


def plot_unet(summary: NetworkSummary, *, loss_weights: Sequence[float] | None = None) -> Figure:
    """Return a schematic of the measured U-Net drawn from its stage table (chapter 5).

    One box per stage with its features and feature-map size, strided convolutions down, transposed convolutions
    up, skip connections across, and the segmentation outputs (with their deep-supervision loss weights when
    ``loss_weights`` is given, finest first).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    apply_style()
    encoder, decoder = summary.encoder, summary.decoder
    n = len(encoder)
    spacing_x, spacing_y = 1.45, 1.25
    span_x, span_y = 2 * (n - 1) * spacing_x + 2.8, (n - 1) * spacing_y + 2.0
    width = min(12.0, 1.1 * span_x)
    fig, ax = plt.subplots(figsize=(width, width * span_y / span_x + 0.5))
    max_features = max(s.features for s in summary.stages)
    finest = float(np.prod(summary.patch_size))

    def box(x: float, y: float, stage: StageInfo, colour: str) -> tuple[float, float, float, float]:
        width = 0.6 + 0.4 * np.log2(stage.features) / np.log2(max_features)
        height = 0.3 + 0.45 * (float(np.prod(stage.output_shape[1:])) / finest) ** (1 / 3)
        ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="0.25", linewidth=0.8))
        ax.text(x, y, f"{stage.features}\n{_shape(stage.output_shape[1:])}", ha="center", va="center", fontsize=7.5)
        return x - width / 2, x + width / 2, y - height / 2, y + height / 2

    def arrow(start: tuple[float, float], end: tuple[float, float], **style: Any) -> None:
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, linewidth=0.9,
                                     shrinkA=0, shrinkB=0, **style))

    enc_boxes = {}
    for s in encoder:
        enc_boxes[s.level] = box(s.level * spacing_x, -s.level * spacing_y, s,
                                 "#fde0c5" if s.stage < n - 1 else "#f4a582")
    ax.text((n - 1) * spacing_x, enc_boxes[n - 1][2] - 0.08, "bottleneck", ha="center", va="top", fontsize=7, color="0.3")
    for i in range(n - 1):
        left, right, bottom, top = enc_boxes[i]
        nxt = enc_boxes[i + 1]
        arrow(((left + right) / 2 + 0.1, bottom), ((nxt[0] + nxt[1]) / 2 - 0.15, nxt[3]), color="0.3")
        ax.text((right + nxt[0]) / 2 + 0.15, (bottom + nxt[3]) / 2, f"stride {_shape(encoder[i + 1].stride)}",
                fontsize=6.5, color="0.3", ha="left", va="center")
    dec_boxes = {}
    below = enc_boxes[n - 1]
    weights = list(loss_weights) if loss_weights is not None else None
    for s in decoder:
        x = (2 * (n - 1) - s.level) * spacing_x
        y = -s.level * spacing_y
        dec_boxes[s.level] = box(x, y, s, "#d1e5f0")
        arrow(((below[0] + below[1]) / 2 + 0.15, below[3]), ((dec_boxes[s.level][0] + dec_boxes[s.level][1]) / 2 - 0.1,
                                                             dec_boxes[s.level][2]), color="#2166ac")
        skip = enc_boxes[s.level]
        arrow((skip[1], y), (dec_boxes[s.level][0], y), color="0.45", linestyle=(0, (3, 2)))
        if s.head_shape is not None:
            output_index = s.level  # outputs are returned finest first: level 0 is output 0
            label = f"output {output_index}\n{_shape(s.head_shape[1:])}"
            if weights is not None and output_index < len(weights):
                label += f"\nweight {weights[output_index]:.2f}"
            right = dec_boxes[s.level][1]
            arrow((right, y), (right + 0.35, y), color="#1b7837")
            ax.text(right + 0.4, y, label, fontsize=6.5, va="center", ha="left", color="#1b7837")
        below = dec_boxes[s.level]
    ax.text(0, 0.75, f"input {summary.input_channels} x {_shape(summary.patch_size)}", ha="center", fontsize=8)
    ax.plot([], [], color="0.3", label="strided conv (down)")
    ax.plot([], [], color="#2166ac", label="transposed conv (up)")
    ax.plot([], [], color="0.45", linestyle=(0, (3, 2)), label="skip: concatenate")
    ax.plot([], [], color="#1b7837", label="1x1x1 conv: class logits")
    ax.legend(loc="lower left", frameon=False, fontsize=7)
    ax.set_xlim(-1.2, 2 * (n - 1) * spacing_x + 1.6)
    ax.set_ylim(-(n - 1) * spacing_y - 0.9, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{summary.architecture}: {n} resolution stages, {summary.total_parameters:,} parameters "
                 "(boxes: features, feature-map size)")
    fig.tight_layout()
    return fig
