"""Figures of MRI volumes: galleries, orthogonal views, overlays, histograms, a slice viewer (chapter 1).

Every function takes :class:`~course_utils.imaging.io.Volume` objects, so the aspect ratio of each view
comes from the voxel spacing, and returns a matplotlib ``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..plotting import LABEL_COLOURS, apply_style
from ..progress import static_figures
from .io import Volume

__all__ = [
    "VIEWS",
    "take_slice",
    "gallery_indices",
    "slice_gallery",
    "orthogonal_views",
    "overlay",
    "region_histograms",
    "slice_viewer",
]

#: view name -> (array axis that is fixed, spacing index of rows, spacing index of columns), spacing in x,y,z
VIEWS = {"axial": (0, 1, 0), "coronal": (1, 2, 0), "sagittal": (2, 2, 1)}


def take_slice(array: np.ndarray, view: str, index: int) -> np.ndarray:
    """Return the 2-D slice ``index`` of a ``[z, y, x]`` array in ``view`` (rows, columns)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {list(VIEWS)}, got {view!r}.")
    return np.take(array, index, axis=VIEWS[view][0])


def _aspect(volume: Volume, view: str) -> float:
    _, row, col = VIEWS[view]
    return volume.geometry.spacing[row] / volume.geometry.spacing[col]


def _show(ax: Any, volume: Volume, view: str, index: int, *, respect_spacing: bool = True,
          label: Volume | None = None, alpha: float = 0.45, vmax: float | None = None) -> None:
    image = take_slice(volume.array, view, index)
    ax.imshow(image, origin="lower", aspect=_aspect(volume, view) if respect_spacing else 1.0,
              vmin=0, vmax=vmax if vmax is not None else np.percentile(volume.array, 99.5))
    if label is not None:
        lab = take_slice(label.array, view, index)
        values = [v for v in LABEL_COLOURS if v <= max(int(label.array.max()), 1)]
        cmap = ListedColormap([LABEL_COLOURS[v] for v in values])
        masked = np.ma.masked_where(lab == 0, lab)
        ax.imshow(masked, origin="lower", aspect=_aspect(volume, view) if respect_spacing else 1.0,
                  cmap=cmap, vmin=0.5, vmax=len(values) + 0.5, alpha=alpha, interpolation="nearest")
    code = volume.geometry.orientation
    axis_letter = {"axial": (code[0], code[1]), "coronal": (code[0], code[2]), "sagittal": (code[1], code[2])}[view]
    ax.text(0.99, 0.5, axis_letter[0], transform=ax.transAxes, color="w", ha="right", va="center", fontsize=8)
    ax.text(0.5, 0.99, axis_letter[1], transform=ax.transAxes, color="w", ha="center", va="top", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def gallery_indices(volume: Volume, n_slices: int, view: str = "axial", *, within_foreground: bool = True) -> np.ndarray:
    """Return ``n_slices`` evenly spaced slice indices, over the non-zero extent or over the whole axis.

    The seed spread slices over the whole axis (``np.linspace(0, n - 1, k)``); in a skull-stripped brain
    that spends the first and last panels on empty slices, so the course spreads them over the foreground.
    """
    axis = VIEWS[view][0]
    n = volume.array.shape[axis]
    lo, hi = 0, n - 1
    if within_foreground:
        other = tuple(a for a in range(3) if a != axis)
        occupied = np.flatnonzero(np.any(volume.array != 0, axis=other))
        if occupied.size:
            lo, hi = int(occupied[0]), int(occupied[-1])
    return np.linspace(lo, hi, n_slices).round().astype(int)


def slice_gallery(volume: Volume, n_slices: int = 8, view: str = "axial", *, label: Volume | None = None,
                  within_foreground: bool = True, ncols: int = 4) -> Figure:
    """Return a grid of ``n_slices`` evenly spaced slices of ``volume`` (optionally with ``label``)."""
    apply_style()
    indices = gallery_indices(volume, n_slices, view, within_foreground=within_foreground)
    nrows = int(np.ceil(n_slices / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.3 * nrows), squeeze=False)
    vmax = float(np.percentile(volume.array, 99.5))
    for ax, index in zip(axes.flat, indices):
        _show(ax, volume, view, int(index), label=label, vmax=vmax)
        ax.set_title(f"{view} {index}")
    for ax in axes.flat[len(indices):]:
        ax.axis("off")
    fig.suptitle(f"{volume.name}: {n_slices} {view} slices", fontsize=11)
    fig.tight_layout()
    return fig


def orthogonal_views(volume: Volume, point_zyx: Sequence[int] | None = None, *, label: Volume | None = None,
                     respect_spacing: bool = True, title: str | None = None) -> Figure:
    """Return axial, coronal and sagittal slices through ``point_zyx`` (default: centre of the volume).

    With ``respect_spacing=False`` every voxel is drawn square, which distorts anisotropic volumes.
    """
    apply_style()
    point = [int(p) for p in (point_zyx if point_zyx is not None else np.asarray(volume.shape_zyx) // 2)]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    vmax = float(np.percentile(volume.array, 99.5))
    for ax, view in zip(axes, VIEWS):
        index = point[VIEWS[view][0]]
        _show(ax, volume, view, index, label=label, respect_spacing=respect_spacing, vmax=vmax)
        ax.set_title(f"{view} (index {index})")
    sx, sy, sz = volume.geometry.spacing
    fig.suptitle(title or f"{volume.name}: spacing x,y,z = {sx:g}, {sy:g}, {sz:g} mm"
                 + ("" if respect_spacing else "  (spacing ignored)"), fontsize=11)
    fig.tight_layout()
    return fig


def overlay(volume: Volume, label: Volume, label_names: Mapping[int, str], *, view: str = "axial",
            index: int | None = None, alpha: float = 0.45) -> Figure:
    """Return the image beside the image with the label drawn over it, with a legend of label names.

    Without ``index`` the slice with the most labelled voxels is shown.
    """
    apply_style()
    axis = VIEWS[view][0]
    if index is None:
        other = tuple(a for a in range(3) if a != axis)
        index = int(np.argmax((label.array > 0).sum(axis=other)))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    _show(axes[0], volume, view, index)
    axes[0].set_title(f"{volume.name}, {view} {index}")
    _show(axes[1], volume, view, index, label=label, alpha=alpha)
    axes[1].set_title("with label")
    present = sorted(int(v) for v in np.unique(label.array) if v != 0)
    handles = [Patch(color=LABEL_COLOURS[v], label=f"{v}: {label_names.get(v, '?')}") for v in present]
    axes[1].legend(handles=handles, loc="lower left", bbox_to_anchor=(1.02, 0.0), frameon=False)
    fig.tight_layout()
    return fig


def region_histograms(volume: Volume, label: Volume, label_names: Mapping[int, str], *, bins: int = 60) -> Figure:
    """Return intensity histograms of healthy brain (non-zero, unlabelled) and of each labelled region.

    Densities, so that small regions are visible beside the large healthy one.
    """
    apply_style()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    values = volume.array
    edges = np.linspace(0, np.percentile(values[values > 0], 99.8), bins + 1)
    healthy = values[(values > 0) & (label.array == 0)]
    ax.hist(healthy, bins=edges, density=True, histtype="stepfilled", color="0.75", label="healthy brain")
    for value in sorted(int(v) for v in np.unique(label.array) if v != 0):
        ax.hist(values[label.array == value], bins=edges, density=True, histtype="step", linewidth=2,
                color=LABEL_COLOURS[value], label=f"{value}: {label_names.get(value, '?')}")
    ax.set_xlabel(f"{volume.name} intensity (scanner units)")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def slice_viewer(volume: Volume, label: Volume | None = None) -> Any:
    """Return an interactive viewer (view and slice sliders) in JupyterLab, or a static figure in the book.

    Static when ``COURSE_STATIC_FIGURES=1`` (set by the book build and CI) or when ipywidgets is missing.
    """
    try:
        import ipywidgets as widgets
    except ImportError:  # pragma: no cover - ipywidgets is pinned
        widgets = None
    if widgets is None or static_figures():
        return orthogonal_views(volume, label=label, title=f"{volume.name} (static: open the notebook to scroll)")
    apply_style()
    view = widgets.ToggleButtons(options=list(VIEWS), value="axial", description="view")
    index = widgets.IntSlider(value=volume.shape_zyx[0] // 2, min=0, max=volume.shape_zyx[0] - 1, description="slice")
    show_label = widgets.Checkbox(value=label is not None, description="label", disabled=label is None)
    out = widgets.Output()
    vmax = float(np.percentile(volume.array, 99.5))

    def redraw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 5))
            _show(ax, volume, view.value, index.value, label=label if show_label.value else None, vmax=vmax)
            ax.set_title(f"{view.value} {index.value}")
            plt.show()

    def on_view(change: Any) -> None:
        index.max = volume.array.shape[VIEWS[change["new"]][0]] - 1
        index.value = index.max // 2

    view.observe(on_view, names="value")
    for control in (view, index, show_label):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([view, show_label]), index, out])
