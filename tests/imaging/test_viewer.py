"""The three-plane viewer (chapters 1 and 6): the vendored NiiVue's pin, the site case, both outputs, the build check."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sys
from pathlib import Path

import pytest

from course_utils.imaging import viewer

ROOT = Path(__file__).resolve().parents[2]


def test_vendored_niivue_matches_its_pin_and_ships_its_licence():
    path = viewer.check_vendored()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == viewer.NIIVUE.sha256
    assert "BSD 2-Clause" in (path.parent / "LICENSE").read_text()
    assert viewer.NIIVUE.version in (path.parent / "README.md").read_text()


def test_a_changed_bundle_is_refused_with_both_hashes(tmp_path):
    copy = tmp_path / "niivue.umd.js"
    copy.write_bytes(viewer.NIIVUE.path.read_bytes() + b"\n")
    with pytest.raises(viewer.ViewerError, match=r"sha256 [0-9a-f]{64}.*pinned at " + viewer.NIIVUE.sha256):
        viewer.check_vendored(dataclasses.replace(viewer.NIIVUE, path=copy))
    with pytest.raises(viewer.ViewerError, match="is missing"):
        viewer.check_vendored(dataclasses.replace(viewer.NIIVUE, path=tmp_path / "absent.js"))


def test_the_book_build_stops_on_a_changed_bundle(tmp_path):
    """course_book checks the bundle under the book's source folder; a mismatch is an ExtensionError."""
    from sphinx.errors import ExtensionError

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import course_book
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    assert len(course_book._viewer_files(ROOT)) == 5
    shutil.copytree(ROOT / "book" / "_static", tmp_path / "book" / "_static")
    bundle = tmp_path / "book" / "_static" / "niivue" / "niivue.umd.js"
    bundle.write_bytes(bundle.read_bytes()[:-10])
    with pytest.raises(ExtensionError, match="failed its check.*pinned at"):
        course_book._viewer_files(tmp_path)


def test_the_site_case_is_the_generators_output_and_small(tmp_path):
    written = viewer.write_site_case(tmp_path)
    committed = ROOT / "book" / "_static" / "course_viewer"
    for path in written:
        assert path.read_bytes() == (committed / path.name).read_bytes(), f"{path.name}: rerun write_site_case()"
    assert sum(p.stat().st_size for p in written) < 150_000
    import nibabel as nib

    flair, tumour = (nib.load(p) for p in written)
    assert flair.shape == tumour.shape and flair.header.get_zooms() == (3.0, 3.0, 3.0)
    assert 0 < int(tumour.get_fdata().sum()) < tumour.get_fdata().size // 10


def test_book_output_is_static_slices_with_a_note(synthetic_case, monkeypatch):
    monkeypatch.setenv("COURSE_STATIC_FIGURES", "1")
    shown = viewer.three_plane_viewer(synthetic_case.images["FLAIR"], synthetic_case.label)
    text = shown._repr_html_()
    assert text.startswith('<div class="course-niivue" data-viewer="static">')
    assert 'src="data:image/png;base64,' in text and "WebGL" in text
    assert len(text) < 80_000  # the static slices stay a small part of the page's budget
    assert "http" not in text.replace("data:image/png", "")


def test_jupyterlab_output_is_niivue_with_window_and_opacity(synthetic_case, monkeypatch, tmp_path):
    pytest.importorskip("ipyniivue")
    monkeypatch.delenv("COURSE_STATIC_FIGURES", raising=False)
    from course_utils.imaging.io import write_volume

    label_file = write_volume(synthetic_case.label, tmp_path / "label.nii.gz")
    box = viewer.three_plane_viewer(synthetic_case.images["FLAIR"], label_file, prediction=synthetic_case.label)
    (window, opacity), nv = box.children[0].children, box.children[1]
    assert [v.colormap for v in nv.volumes] == ["gray", "red", "green"]
    window.value = (20, 180)
    opacity.value = 0.25
    assert (nv.volumes[0].cal_min, nv.volumes[0].cal_max) == (20.0, 180.0)
    assert [v.opacity for v in nv.volumes[1:]] == [0.25, 0.25]
    assert nv.scene.crosshair_pos == pytest.approx(list(viewer.mask_centre_fraction(synthetic_case.label)))


def test_the_viewer_opens_on_the_mask_centre_in_niivue_ras_fractions():
    import numpy as np

    from course_utils.imaging.io import Geometry, Volume

    mask = np.zeros((4, 5, 6), np.uint8)
    mask[1, 2, 3] = 1  # array (z, y, x): voxel x = 3, y = 2, z = 1
    lps = Volume(mask, Geometry(spacing=(1.0, 1.0, 1.0)))  # identity in LPS: x and y run against RAS
    assert viewer.mask_centre_fraction(lps) == pytest.approx((1 - 3.5 / 6, 1 - 2.5 / 5, 1.5 / 4))
    ras = Volume(mask, Geometry(spacing=(1.0, 1.0, 1.0), direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0)))
    assert viewer.mask_centre_fraction(ras) == pytest.approx((3.5 / 6, 2.5 / 5, 1.5 / 4))
    assert viewer.mask_centre_fraction(Volume(np.zeros((4, 5, 6)), Geometry(spacing=(1.0, 1.0, 1.0)))) is None
