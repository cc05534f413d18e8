"""A three-plane MRI viewer with the tumour as an overlay: NiiVue in JupyterLab and on the site (chapters 1 and 6).

- In JupyterLab, :func:`three_plane_viewer` returns an ``ipyniivue`` widget (NiiVue in the notebook): the
  mouse wheel scrolls the slices, a right-drag or the window slider sets window/level, a slider sets the
  overlay's opacity.
- In the book (``COURSE_STATIC_FIGURES=1``, set by the build and CI) it returns a block of HTML: static slices
  of the chapter's own case, which the site's script (``book/_static/course_viewer/course_viewer.js``) replaces
  with the same viewer drawn by the vendored NiiVue library, loading a small downsampled synthetic case shipped
  with the site (:func:`write_site_case`). Without WebGL the static slices stay, with a one-line note.

The vendored library's version and sha256 live here, once (:data:`NIIVUE`); the book build checks them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CourseError
from ..progress import static_figures
from .io import Volume, read_volume

__all__ = ["NIIVUE", "SITE_CASE", "PAGE_BUDGET_BYTES", "VendoredFile", "three_plane_viewer", "mask_centre_fraction",
           "site_viewer_html",
           "nifti_bytes", "write_site_case", "check_vendored"]

_STATIC = Path(__file__).resolve().parents[2] / "book" / "_static"


@dataclass(frozen=True)
class VendoredFile:
    """A file copied unchanged from a pinned release: where it lives in the repository and its sha256."""

    package: str
    version: str
    path: Path
    sha256: str
    licence: str


#: NiiVue's browser bundle, the version ipyniivue 2.4.4 bundles, so notebook and site draw with the same code.
NIIVUE = VendoredFile(
    package="@niivue/niivue",
    version="0.65.0",
    path=_STATIC / "niivue" / "niivue.umd.js",
    sha256="4ad8e09ea227e0a8c3f8fe4ef17a84af7a9935cd70b1c4f453449bf114117ceb",
    licence="BSD-2-Clause",
)

#: The synthetic case the site's viewer loads: (case id, generator seed, spacing in mm).
SITE_CASE = ("site_case", 7, 3.0)
SITE_CASE_FILES = ("site_case_flair.nii.gz", "site_case_tumour.nii.gz")

#: What the viewer may add to one page: NiiVue (2.19 MB), the loader and the site case. Tested on the built site.
PAGE_BUDGET_BYTES = 2_500_000


class ViewerError(CourseError):
    """A vendored viewer file is missing or differs from the pinned release."""


def check_vendored(item: VendoredFile = NIIVUE) -> Path:
    """Return the vendored file's path after checking its sha256 against the pinned value.

    Raises :class:`ViewerError` naming the file, both hashes and how to restore it.
    """
    if not item.path.is_file():
        raise ViewerError(f"{item.path} is missing: restore it from `npm pack {item.package}@{item.version}` "
                          "(dist/niivue.umd.js) or `git checkout` it.")
    digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
    if digest != item.sha256:
        raise ViewerError(f"{item.path} has sha256 {digest}, but {item.package} {item.version} is pinned at "
                          f"{item.sha256} (course_utils/imaging/viewer.py, NIIVUE): restore the release's "
                          "dist/niivue.umd.js, or pin the new version and its sha256 there.")
    return item.path


def nifti_bytes(volume: Volume, dtype: Any = np.float32) -> bytes:
    """Return ``volume`` as gzipped NIfTI bytes (deterministic: no time stamp in the gzip header)."""
    import nibabel as nib

    image = nib.Nifti1Image(volume.array.transpose(2, 1, 0).astype(dtype), volume.geometry.affine_ras())
    image.header.set_xyzt_units("mm")
    return gzip.compress(image.to_bytes(), compresslevel=9, mtime=0)


def _as_uint8(volume: Volume) -> Volume:
    """Return ``volume`` scaled to 0-255 at its 99.5th percentile (a fifth of the bytes of float32 on the site)."""
    top = float(np.percentile(volume.array, 99.5)) or 1.0
    scaled = np.clip(np.rint(volume.array / top * 255), 0, 255).astype(np.uint8)
    return volume.like(scaled, volume.name)


def write_site_case(folder: str | Path = _STATIC / "course_viewer") -> list[Path]:
    """Return the two files written for the site's viewer: the synthetic case's FLAIR (uint8) and its tumour mask.

    Made by the course's own generator (:func:`course_utils.imaging.synthetic.make_case`, :data:`SITE_CASE`);
    the same call always writes the same bytes, which a test checks against the committed files.
    """
    from .synthetic import make_case

    case_id, seed, spacing = SITE_CASE
    case = make_case(case_id, seed, spacing_mm=(spacing, spacing, spacing))
    flair = _as_uint8(case.images["FLAIR"])
    tumour = case.label.like((case.label.array > 0).astype(np.uint8), "tumour")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, volume in zip(SITE_CASE_FILES, (flair, tumour)):
        path = folder / name
        path.write_bytes(nifti_bytes(volume, np.uint8))
        paths.append(path)
    return paths


def _figure_png(volume: Volume, label: Volume | None, title: str) -> bytes:
    import matplotlib.pyplot as plt

    from .plotting import orthogonal_views

    point = None
    if label is not None and (label.array > 0).any():
        point = np.round(np.argwhere(label.array > 0).mean(axis=0)).astype(int)
    fig = orthogonal_views(volume, point, label=label, title=title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    plt.close(fig)
    return buffer.getvalue()


class _Html:
    """An object Jupyter and myst-nb display as HTML only (no figure is kept for the page besides it)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return "three-plane viewer (HTML)"


def site_viewer_html(volume: Volume, label: Volume | None = None, *, title: str = "") -> str:
    """Return the HTML block the book shows: static slices of ``volume`` that the site's NiiVue script replaces.

    The static slices (a PNG inside the page) stay where WebGL is missing, with a one-line note saying so.
    """
    name = title or volume.name
    png = base64.b64encode(_figure_png(volume, label, f"{name}: static slices")).decode("ascii")
    alt = html.escape(f"{name}: axial, coronal and sagittal slices" + (" with the tumour outlined" if label else ""))
    return (
        '<div class="course-niivue" data-viewer="static">'
        f'<img class="course-niivue-fallback" alt="{alt}" src="data:image/png;base64,{png}">'
        '<p class="course-niivue-note">Static slices. The interactive viewer needs JavaScript and WebGL 2 '
        "(and in JupyterLab shows this chapter's own case).</p>"
        "</div>"
    )


def _volume(value: Volume | str | Path | None) -> Volume | None:
    return value if value is None or isinstance(value, Volume) else read_volume(value)


def mask_centre_fraction(mask: Volume) -> tuple[float, float, float] | None:
    """Return the centre of a mask's voxels as NiiVue's crosshair fractions (RAS order, 0-1), None if empty.

    The array is (z, y, x) as :class:`~course_utils.imaging.io.Volume` holds it; NiiVue reorients every volume to
    RAS, so an axis the affine flips is counted from the other end (chapter 1's viewer opens on the tumour).
    """
    import nibabel as nib

    voxels = np.argwhere(np.asarray(mask.array) > 0)
    if len(voxels) == 0:
        return None
    centre_xyz = voxels.mean(axis=0)[::-1]
    shape_xyz = np.asarray(mask.array.shape)[::-1]
    fraction = [0.0, 0.0, 0.0]
    for axis, (ras_axis, direction) in enumerate(nib.orientations.io_orientation(mask.geometry.affine_ras())):
        f = (centre_xyz[axis] + 0.5) / shape_xyz[axis]
        fraction[int(ras_axis)] = float(f if direction > 0 else 1.0 - f)
    return fraction[0], fraction[1], fraction[2]


def three_plane_viewer(volume: Volume | str | Path, label: Volume | str | Path | None = None, *,
                       prediction: Volume | str | Path | None = None, height: int = 420, title: str = "") -> Any:
    """Return a three-plane viewer of ``volume`` with ``label`` (red) and ``prediction`` (green) as overlays.

    In JupyterLab: NiiVue through ``ipyniivue`` with a window slider and an opacity slider (scroll to move
    through the slices, right-drag for window/level). In the book and CI (``COURSE_STATIC_FIGURES=1``): the HTML
    of :func:`site_viewer_html`, which the site turns into the same viewer. Volumes or NIfTI paths.
    """
    volume, label, prediction = _volume(volume), _volume(label), _volume(prediction)
    if static_figures():
        return _Html(site_viewer_html(volume, label, title=title))
    import ipywidgets as widgets
    from ipyniivue import NiiVue

    image = _as_uint8(volume)
    viewer = NiiVue(height=height, back_color=(0.0, 0.0, 0.0, 1.0), crosshair_color=(0.3, 0.8, 1.0, 0.7),
                    show_3d_crosshair=True)
    layers = [{"data": nifti_bytes(image, np.uint8), "name": f"{volume.name or 'image'}.nii.gz", "colormap": "gray",
               "cal_min": 0.0, "cal_max": 255.0}]
    for overlay, colour in ((label, "red"), (prediction, "green")):
        if overlay is not None:
            mask = overlay.like((overlay.array > 0).astype(np.uint8), overlay.name)
            layers.append({"data": nifti_bytes(mask, np.uint8), "name": f"{colour}_{overlay.name or 'mask'}.nii.gz",
                           "colormap": colour, "opacity": 0.5, "cal_min": 0.0, "cal_max": 1.0})
    viewer.load_volumes(layers)
    focus = label if label is not None else prediction
    if focus is not None and (centre := mask_centre_fraction(focus)) is not None:
        viewer.scene.crosshair_pos = list(centre)  # open on the tumour, not on the volume's centre
    window = widgets.IntRangeSlider(value=(0, 255), min=0, max=255, description="window", continuous_update=False)
    opacity = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="overlay")

    def on_window(change: Any) -> None:
        viewer.volumes[0].cal_min, viewer.volumes[0].cal_max = (float(v) for v in change["new"])

    def on_opacity(change: Any) -> None:
        for layer in viewer.volumes[1:]:
            layer.opacity = float(change["new"])

    window.observe(on_window, names="value")
    opacity.observe(on_opacity, names="value")
    return widgets.VBox([widgets.HBox([window, opacity]), viewer])
