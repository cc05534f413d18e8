"""Synthetic brain-tumour MRI on real anatomy, with planted ground truth (chapter 1; Part I smoke runs).

Each case starts from the MNI152 2009 template shipped inside nilearn (grey- and white-matter
probability maps of a real, skull-stripped brain at 1 mm), deformed smoothly at random, resampled to the
requested voxel size, and given four MRI contrasts (FLAIR, T1w, T1gd, T2w) with a bias field, texture and
Rician noise. A tumour of known extent is planted in white matter: an ellipsoidal core (a necrotic,
non-enhancing centre inside an enhancing rim) surrounded by irregular oedema. Labels follow MSD Task01:
1 oedema, 2 non-enhancing tumour, 3 enhancing tumour; the seed's layout keeps only whole tumour (> 0).

The truth (centre, semi-axes, volumes) is returned with each case so tests and exercises can check that a
method recovers it. See ``MNI152_NOTICE`` for the template's licence.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from ..errors import VolumeError
from ..paths import ensure_writable_dir, work_dir
from ..progress import progress
from .io import Volume, geometry_from_affine

__all__ = [
    "SEQUENCES",
    "PlantedTumour",
    "SyntheticCase",
    "MNI152_NOTICE",
    "load_mni152",
    "make_case",
    "make_cases",
    "write_seed_layout",
    "write_msd_layout",
    "synthetic_dataset",
    "load_truth",
]

SEQUENCES = ("FLAIR", "T1w", "T1gd", "T2w")
REGIONS = ("oedema", "non-enhancing tumour", "enhancing tumour")

#: Relative signal of (CSF, grey matter, white matter, oedema, non-enhancing core, enhancing rim).
_CONTRAST = {
    "FLAIR": (0.08, 0.62, 0.48, 1.00, 0.78, 0.88),
    "T1w": (0.22, 0.62, 0.85, 0.50, 0.36, 0.55),
    "T1gd": (0.22, 0.62, 0.85, 0.50, 0.30, 1.25),
    "T2w": (1.00, 0.62, 0.42, 0.90, 0.98, 0.76),
}

MNI152_NOTICE = """\
The synthetic volumes are built on the ICBM 2009a nonlinear symmetric MNI152 template, as shipped in
nilearn (mni_icbm152_*_tal_nlin_sym_09a_converted.nii.gz).
Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological Institute,
McGill University. Permission to use, copy, modify, and distribute this software and its documentation
for any purpose and without fee is hereby granted, provided that the above copyright notice appear in all
copies. The authors and McGill University make no representations about the suitability of this software
for any purpose. It is provided "as is" without express or implied warranty. The authors are not
responsible for any data loss, equipment damage, property loss, or injury to subjects or patients
resulting from the use or misuse of this software package.
References: Fonov et al., NeuroImage 54 (2011) 313-327; Fonov et al., NeuroImage 47 (2009) S102.
"""


@dataclass(frozen=True)
class PlantedTumour:
    """The ground truth of one synthetic case. Millimetres, LPS world frame, (x, y, z) order."""

    centre_mm: tuple[float, float, float]
    core_semi_axes_mm: tuple[float, float, float]
    rim_thickness_mm: float
    oedema_semi_axes_mm: tuple[float, float, float]
    volumes_ml: dict[str, float]


@dataclass(frozen=True)
class SyntheticCase:
    """One synthetic case: four co-registered sequences, the MSD-style label and the planted truth."""

    case_id: str
    images: dict[str, Volume]
    label: Volume
    truth: PlantedTumour


@functools.lru_cache(maxsize=1)
def load_mni152() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the MNI152 brain mask, grey- and white-matter maps ``[x, y, z]`` in 0..1, and the RAS affine.

    Read from nilearn's package data (no network). Cached: the files never change.
    """
    import nilearn

    folder = Path(nilearn.__file__).parent / "datasets" / "data"
    names = {k: folder / f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")}
    missing = [str(p) for p in names.values() if not p.is_file()]
    if missing:
        raise VolumeError(f"nilearn's MNI152 template files are missing ({missing}); reinstall nilearn==0.14.1.")
    t1 = nib.load(names["t1"])
    mask = (np.asarray(t1.dataobj) > 0).astype(np.float32)
    gm = np.asarray(nib.load(names["gm"]).dataobj, dtype=np.float32) / 255.0
    wm = np.asarray(nib.load(names["wm"]).dataobj, dtype=np.float32) / 255.0
    return mask, gm * mask, wm * mask, t1.affine.copy()


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], coarse: int) -> np.ndarray:
    """A smooth random field with unit standard deviation: coarse Gaussian noise upsampled with splines."""
    grid = rng.standard_normal((coarse, coarse, coarse))
    field = ndimage.zoom(grid, [s / coarse for s in shape], order=3, mode="nearest")[: shape[0], : shape[1], : shape[2]]
    field = np.pad(field, [(0, s - f) for s, f in zip(shape, field.shape)], mode="edge")
    return (field - field.mean()) / (field.std() + 1e-8)


def make_case(case_id: str, seed: int, spacing_mm: Sequence[float] = (4.0, 4.0, 4.0)) -> SyntheticCase:
    """Return one synthetic case on a grid of ``spacing_mm`` (x, y, z) covering the template's field of view.

    Deterministic for a given ``seed`` and spacing. About 0.3 s at 4 mm, 20 s at 1 mm on one core.
    """
    rng = np.random.default_rng(seed)
    spacing = np.asarray(spacing_mm, dtype=float)
    if spacing.shape != (3,) or np.any(spacing <= 0):
        raise ValueError(f"spacing_mm must be three positive numbers (x, y, z), got {spacing_mm!r}.")
    mask_t, gm_t, wm_t, affine_t = load_mni152()
    fov = np.asarray(mask_t.shape) * np.abs(np.diag(affine_t)[:3])
    shape = tuple(int(n) for n in np.ceil(fov / spacing))

    # Output grid (RAS), with a small random shift of the origin.
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = affine_t[:3, 3] + rng.uniform(-2, 2, 3)
    ijk = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"), axis=0)
    world = np.tensordot(affine[:3, :3], ijk, axes=1) + affine[:3, 3, None, None, None]

    # Random smooth deformation: small rotation and scaling about the brain centre plus a warp field.
    centre_t = affine_t[:3, :3] @ (np.asarray(ndimage.center_of_mass(mask_t))) + affine_t[:3, 3]
    angles = np.deg2rad(rng.uniform(-6, 6, 3))
    rot = _rotation(*angles) * rng.uniform(0.93, 1.07)
    warp = np.stack([_smooth_field(rng, shape, 5) for _ in range(3)]) * rng.uniform(2.0, 4.0)
    moved = np.tensordot(rot, world - centre_t[:, None, None, None], axes=1) + centre_t[:, None, None, None] + warp
    src = np.tensordot(np.linalg.inv(affine_t)[:3, :3], moved, axes=1) + np.linalg.inv(affine_t)[:3, 3, None, None, None]
    mask = ndimage.map_coordinates(mask_t, src, order=1, mode="constant") > 0.5
    gm = ndimage.map_coordinates(gm_t, src, order=1, mode="constant") * mask
    wm = ndimage.map_coordinates(wm_t, src, order=1, mode="constant") * mask
    csf = np.clip(mask - gm - wm, 0.0, 1.0)

    # Plant the tumour: centre in white matter, far enough from the brain's edge.
    core = rng.uniform(11.0, 17.0, 3)
    rim = max(float(rng.uniform(3.0, 5.0)), float(spacing.max()))
    oedema = core * rng.uniform(1.45, 1.85, 3)
    depth = ndimage.distance_transform_edt(mask, sampling=spacing)
    candidates = np.argwhere((wm > 0.5) & (depth > core.max() + 6.0))
    if len(candidates) == 0:
        candidates = np.argwhere(depth >= depth.max() * 0.8)
    centre_idx = candidates[rng.integers(len(candidates))]
    centre_ras = affine[:3, :3] @ centre_idx + affine[:3, 3]
    rel = world - centre_ras[:, None, None, None]
    rho_core = np.sqrt(sum((rel[a] / core[a]) ** 2 for a in range(3)))
    rho_inner = np.sqrt(sum((rel[a] / (core[a] - rim)) ** 2 for a in range(3)))
    rho_oed = np.sqrt(sum((rel[a] / oedema[a]) ** 2 for a in range(3))) - 0.12 * _smooth_field(rng, shape, 6)
    label = np.zeros(shape, dtype=np.uint8)
    label[(rho_oed <= 1.0) & mask & (csf < 0.6)] = 1
    label[(rho_core <= 1.0) & mask] = 3
    label[(rho_inner <= 1.0) & mask] = 2

    # Contrasts: tissue mixture, tumour regions with partial-volume edges, texture, bias field, noise.
    soft = {v: ndimage.gaussian_filter((label == v).astype(np.float32), 0.6) for v in (1, 2, 3)}
    tumour = soft[1] + soft[2] + soft[3]
    tissue_sum = np.maximum(csf + gm + wm, 1e-6)
    images: dict[str, np.ndarray] = {}
    scale = rng.uniform(400.0, 900.0)
    texture = 1.0 + 0.04 * _smooth_field(rng, shape, 12)
    for name in SEQUENCES:
        c = _CONTRAST[name]
        healthy = (csf * c[0] + gm * c[1] + wm * c[2]) / tissue_sum
        signal = healthy * np.clip(1.0 - tumour, 0.0, 1.0) + soft[1] * c[3] + soft[2] * c[4] + soft[3] * c[5]
        bias = np.exp(0.12 * _smooth_field(rng, shape, 3))
        clean = signal * texture * bias * scale
        sigma = 0.03 * scale
        noisy = np.sqrt((clean + rng.normal(0, sigma, shape)) ** 2 + rng.normal(0, sigma, shape) ** 2)
        images[name] = np.where(mask, noisy, 0.0).astype(np.float32)

    geometry = geometry_from_affine(affine)
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    volumes = {REGIONS[v - 1]: float((label == v).sum() * voxel_ml) for v in (1, 2, 3)}
    volumes["whole tumour"] = float((label > 0).sum() * voxel_ml)
    lps = np.diag([-1.0, -1.0, 1.0])
    truth = PlantedTumour(
        centre_mm=tuple(float(v) for v in lps @ centre_ras),  # type: ignore[arg-type]
        core_semi_axes_mm=tuple(float(v) for v in core),  # type: ignore[arg-type]
        rim_thickness_mm=rim,
        oedema_semi_axes_mm=tuple(float(v) for v in oedema),  # type: ignore[arg-type]
        volumes_ml=volumes,
    )
    to_zyx = lambda a: np.ascontiguousarray(a.transpose(2, 1, 0))  # noqa: E731
    vols = {k: Volume(to_zyx(v), geometry, f"{case_id} {k}") for k, v in images.items()}
    return SyntheticCase(case_id, vols, Volume(to_zyx(label), geometry, f"{case_id} label"), truth)


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def make_cases(n_cases: int, seed: int, spacing_mm: Sequence[float] = (4.0, 4.0, 4.0), prefix: str = "case") -> list[SyntheticCase]:
    """Return ``n_cases`` synthetic cases with ids ``{prefix}_001``... (case ``i`` uses seed ``seed + i``)."""
    return [
        make_case(f"{prefix}_{i + 1:03d}", seed + i, spacing_mm)
        for i in progress(range(n_cases), desc="synthetic MRI cases", leave=False)
    ]


def _nifti(volume: Volume, dtype: type) -> nib.Nifti1Image:
    array = volume.array.transpose(2, 1, 0).astype(dtype)
    image = nib.Nifti1Image(array, volume.geometry.affine_ras())
    image.header.set_xyzt_units("mm")
    return image


def _truth_json(cases: Sequence[SyntheticCase]) -> str:
    return json.dumps({c.case_id: asdict(c.truth) for c in cases}, indent=2)


def write_seed_layout(root: str | os.PathLike[str], cases: Sequence[SyntheticCase]) -> Path:
    """Write ``cases`` in the seed's layout (``CASE/CASE_fld.nii.gz``, ``CASE/CASE_seg.nii.gz``); return root.

    The label is binary whole tumour, as in the student project.
    """
    out = ensure_writable_dir(root, "synthetic dataset")
    for case in cases:
        folder = out / case.case_id
        folder.mkdir(exist_ok=True)
        nib.save(_nifti(case.images["FLAIR"], np.float32), folder / f"{case.case_id}_fld.nii.gz")
        whole = case.label.like((case.label.array > 0).astype(np.uint8))
        nib.save(_nifti(whole, np.uint8), folder / f"{case.case_id}_seg.nii.gz")
    (out / "synthetic_truth.json").write_text(_truth_json(cases))
    (out / "MNI152_NOTICE.txt").write_text(MNI152_NOTICE)
    return out


def write_msd_layout(
    root: str | os.PathLike[str], cases: Sequence[SyntheticCase], test_cases: Sequence[SyntheticCase] = ()
) -> Path:
    """Write ``cases`` (and unlabelled ``test_cases``) in MSD Task01's exact layout; return root.

    ``imagesTr/ID.nii.gz`` are 4-D (x, y, z, 4: FLAIR, T1w, T1gd, T2w), ``labelsTr/ID.nii.gz`` hold
    0-3, and ``dataset.json`` has the keys and names MSD ships.
    """
    out = ensure_writable_dir(root, "synthetic dataset")
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (out / sub).mkdir(exist_ok=True)
    for case, folder in [(c, "imagesTr") for c in cases] + [(c, "imagesTs") for c in test_cases]:
        stack = np.stack([case.images[s].array.transpose(2, 1, 0) for s in SEQUENCES], axis=-1)
        image = nib.Nifti1Image(stack.astype(np.float32), case.label.geometry.affine_ras())
        image.header.set_xyzt_units("mm")
        nib.save(image, out / folder / f"{case.case_id}.nii.gz")
        if folder == "imagesTr":
            nib.save(_nifti(case.label, np.uint8), out / "labelsTr" / f"{case.case_id}.nii.gz")
    meta = {
        "name": "BRATS",
        "description": "Gliomas segmentation tumour and oedema in on brain images",
        "reference": "https://www.med.upenn.edu/sbia/brats2017.html",
        "licence": "CC-BY-SA 4.0",
        "release": "2.0 04/05/2018",
        "tensorImageSize": "4D",
        "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
        "numTraining": len(cases),
        "numTest": len(test_cases),
        "training": [
            {"image": f"./imagesTr/{c.case_id}.nii.gz", "label": f"./labelsTr/{c.case_id}.nii.gz"} for c in cases
        ],
        "test": [f"./imagesTs/{c.case_id}.nii.gz" for c in test_cases],
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=4))
    (out / "synthetic_truth.json").write_text(_truth_json(list(cases) + list(test_cases)))
    (out / "MNI152_NOTICE.txt").write_text(MNI152_NOTICE)
    return out


def synthetic_dataset(
    layout: str,
    n_cases: int,
    *,
    seed: int = 1234,
    spacing_mm: Sequence[float] = (4.0, 4.0, 4.0),
    n_test: int = 0,
    root: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the folder of a synthetic dataset in ``layout`` ("seed" or "msd"), generating it once.

    The folder name encodes every parameter, so a second call with the same arguments does no work. It is
    written to a temporary sibling and renamed into place, so an interrupted run leaves nothing
    half-written, and two processes racing for it both end with the same complete folder.
    """
    if layout not in ("seed", "msd"):
        raise ValueError(f"layout must be 'seed' or 'msd', got {layout!r}.")
    if n_cases < 1 or n_test < 0:
        raise ValueError(f"need n_cases >= 1 and n_test >= 0, got {n_cases} and {n_test}.")
    key = json.dumps([layout, n_cases, seed, [float(s) for s in spacing_mm], n_test, _VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    parent = ensure_writable_dir(Path(root) if root is not None else work_dir() / "synthetic_mri", "synthetic dataset")
    spacing_txt = "x".join(f"{s:g}" for s in spacing_mm)
    target = parent / f"{layout}_{n_cases}cases_{spacing_txt}mm_seed{seed}_{digest}"
    if (target / ".complete").is_file():
        return target
    prefix = "BRATS" if layout == "msd" else "case"
    cases = make_cases(n_cases + n_test, seed, spacing_mm, prefix)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.tmp-"))
    try:
        if layout == "msd":
            write_msd_layout(tmp, cases[:n_cases], cases[n_cases:])
        else:
            write_seed_layout(tmp, cases[:n_cases])
            if n_test:
                write_seed_layout(tmp / "test", cases[n_cases:])
        (tmp / ".complete").write_text(key)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / ".complete").is_file():  # a stale, incomplete folder: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


_VERSION = 1  # bump when the generator changes, so cached datasets are rebuilt


def load_truth(folder: str | os.PathLike[str]) -> dict[str, PlantedTumour] | None:
    """Return the planted truth of a synthetic dataset folder (``None`` for real data without it)."""
    path = Path(folder) / "synthetic_truth.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    return {
        case_id: PlantedTumour(
            centre_mm=tuple(t["centre_mm"]),
            core_semi_axes_mm=tuple(t["core_semi_axes_mm"]),
            rim_thickness_mm=float(t["rim_thickness_mm"]),
            oedema_semi_axes_mm=tuple(t["oedema_semi_axes_mm"]),
            volumes_ml=dict(t["volumes_ml"]),
        )
        for case_id, t in raw.items()
    }
