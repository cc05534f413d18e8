import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.imaging import plotting as mri  # noqa: E402
from course_utils.imaging.layouts import MSD_LABELS  # noqa: E402
from course_utils.imaging.resample import resample_to_spacing  # noqa: E402


def test_gallery_indices_avoid_empty_slices(synthetic_case):
    flair = synthetic_case.images["FLAIR"]
    whole = mri.gallery_indices(flair, 8, within_foreground=False)
    fg = mri.gallery_indices(flair, 8)
    assert whole[0] == 0 and whole[-1] == flair.shape_zyx[0] - 1
    assert all(flair.array[i].any() for i in fg)
    assert not all(flair.array[i].any() for i in whole)


def test_gallery_has_one_panel_per_slice(synthetic_case):
    fig = mri.slice_gallery(synthetic_case.images["FLAIR"], 6, ncols=4, label=synthetic_case.label)
    assert isinstance(fig, Figure)
    assert sum(ax.has_data() for ax in fig.axes) == 6


def test_orthogonal_views_aspect_comes_from_spacing(synthetic_case):
    thick = resample_to_spacing(synthetic_case.images["FLAIR"], (4.0, 4.0, 10.0))
    right = mri.orthogonal_views(thick)
    wrong = mri.orthogonal_views(thick, respect_spacing=False)
    assert [ax.get_aspect() for ax in right.axes] == pytest.approx([1.0, 2.5, 2.5])
    assert [ax.get_aspect() for ax in wrong.axes] == [1.0, 1.0, 1.0]
    assert "spacing ignored" in wrong.texts[0].get_text()


def test_overlay_legend_names_present_labels(synthetic_case):
    fig = mri.overlay(synthetic_case.images["FLAIR"], synthetic_case.label, MSD_LABELS)
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert texts == ["1: oedema", "2: non-enhancing tumour", "3: enhancing tumour"]


def test_region_histograms_have_one_curve_per_region(synthetic_case):
    fig = mri.region_histograms(synthetic_case.images["FLAIR"], synthetic_case.label, MSD_LABELS)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == "healthy brain" and len(labels) == 4


def test_take_slice_views(synthetic_case):
    arr = synthetic_case.label.array
    assert mri.take_slice(arr, "axial", 3).shape == arr.shape[1:]
    assert mri.take_slice(arr, "sagittal", 3).shape == arr.shape[:2]
    with pytest.raises(ValueError, match="view must be"):
        mri.take_slice(arr, "oblique", 0)


def test_viewer_is_static_in_the_book_and_a_widget_in_lab(synthetic_case, monkeypatch):
    flair, label = synthetic_case.images["FLAIR"], synthetic_case.label
    monkeypatch.setenv("COURSE_STATIC_FIGURES", "1")
    assert isinstance(mri.slice_viewer(flair, label), Figure)
    monkeypatch.setenv("COURSE_STATIC_FIGURES", "0")
    import ipywidgets

    viewer = mri.slice_viewer(flair, label)
    assert isinstance(viewer, ipywidgets.VBox)
    view, show_label = viewer.children[0].children
    slider = viewer.children[1]
    view.value = "sagittal"  # the slider follows the view's axis
    assert slider.max == flair.shape_zyx[2] - 1 and slider.value == slider.max // 2
    np.testing.assert_equal(show_label.value, True)


def test_backend_switched_by_an_import_is_restored():
    import matplotlib as mpl

    from course_utils.plotting import keep_matplotlib_backend

    before = mpl.get_backend()
    mpl.use("svg")
    try:
        with keep_matplotlib_backend():
            mpl.use("agg")  # what nnU-Net's logger does when it is imported
        assert mpl.get_backend() == "svg"
    finally:
        mpl.use(before)
