"""Draw the course map on the landing page: parts, chapters, what each builds on, where a reader can start.

    .venv/bin/python tools/course_map.py            # writes book/_static/course_map.svg
    .venv/bin/python tools/course_map.py --check    # exit status 1 if the committed figure is out of date

The map is data (``CHAPTERS``, ``NEEDS``, ``HELPS``, ``STARTS`` below), drawn with matplotlib into an SVG with
no date and fixed element ids, so the same data always gives the same bytes and tests/test_course_map.py can
check that the committed figure matches it.
"""

from __future__ import annotations

import argparse
import io
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "_static" / "course_map.svg"

# Short titles for the boxes (the profiles' titles are longer); checked against course_utils.profiles by the test.
CHAPTERS = {
    1: "MRI volumes", 2: "Dataset format and plans", 3: "Preprocessing", 4: "Augmentation",
    5: "Network, loss, metrics", 6: "Training, inference, evaluation",
    7: "Corpus and tokenizers", 8: "Counting: n-grams, PPMI, SVD", 9: "Skip-gram", 10: "BERT MLM with LoRA",
    11: "Exploring embeddings",
    12: "Chinese medical NER", 13: "BioRED relations", 14: "Entity linking",
}
PARTS = {"Part I: Imaging": (1, 6), "Part II: Word representations": (7, 11), "Part III: Information extraction": (12, 14)}
# (a, b): chapter b uses what chapter a built (read a first).
# Drawn without the edges the chain already implies (2 -> 5 through 3 and 4, and so on).
NEEDS = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6),
         (7, 8), (8, 9), (9, 10), (10, 11), (8, 11)]
# (a, b): background from another part that helps with b, but b explains what it uses.
HELPS = [(9, 12), (10, 12), (10, 13), (12, 13), (10, 14), (11, 14)]
# Chapters a reader can start from: the first of Parts I and II, and each chapter of Part III (each explains
# the encoder it fine-tunes; Part II is background, not a prerequisite).
STARTS = (1, 7, 12, 13, 14)

POSITION = {1: (0, 2), 2: (1, 2), 3: (2, 2), 4: (3, 2), 5: (4, 2), 6: (5, 2),
            7: (0, 1), 8: (1, 1), 9: (2, 1), 10: (3, 1), 11: (4, 1),
            12: (2, 0), 13: (3, 0), 14: (4, 0)}
COLOURS = {"Part I: Imaging": "#d8e6f3", "Part II: Word representations": "#e4f1dc",
           "Part III: Information extraction": "#f6e3cf"}


def _part(chapter: int) -> str:
    return next(name for name, (lo, hi) in PARTS.items() if lo <= chapter <= hi)


def draw():
    """Return the matplotlib figure of the course map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    plt.rcParams["svg.hashsalt"] = "course-map"
    plt.rcParams["svg.fonttype"] = "path"
    xs, ys = 1.55, 1.45  # spacing of the grid
    w, h = 1.3, 0.72
    fig, ax = plt.subplots(figsize=(10.5, 5.6))
    ax.set_xlim(-w / 2 - 0.1, 5 * xs + w / 2 + 0.1)
    ax.set_ylim(-h / 2 - 0.45, 2 * ys + h / 2 + 0.45)
    ax.set_axis_off()

    def centre(c: int) -> tuple[float, float]:
        x, y = POSITION[c]
        return x * xs, y * ys

    boxes = {}
    for c, title in CHAPTERS.items():
        x, y = centre(c)
        start = c in STARTS
        box = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                             facecolor=COLOURS[_part(c)], edgecolor="#1b7837" if start else "#555555",
                             linewidth=2.6 if start else 1.0, zorder=2)
        ax.add_patch(box)
        boxes[c] = box
        ax.text(x, y + 0.17, f"{c}", ha="center", va="center", fontsize=11, fontweight="bold", zorder=3)
        ax.text(x, y - 0.1, "\n".join(textwrap.wrap(title, 18)), ha="center", va="center", fontsize=8.2, zorder=3)
    for name, (lo, _hi) in PARTS.items():
        x = min(centre(c)[0] for c in CHAPTERS if _part(c) == name)
        ax.text(x - w / 2, centre(lo)[1] + h / 2 + 0.18, name, ha="left", va="center", fontsize=10,
                fontweight="bold", color="#333333")

    def arrow(a: int, b: int, dashed: bool) -> None:
        (xa, ya), (xb, yb) = centre(a), centre(b)
        bend = 0.0
        if ya == yb and abs(xb - xa) > xs + 1e-6:
            bend = -0.3  # pass over the boxes between
        ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), patchA=boxes[a], patchB=boxes[b],
                                     arrowstyle="-|>", mutation_scale=12, linewidth=1.0,
                                     linestyle=(0, (4, 3)) if dashed else "-", color="#777777" if dashed else "#333333",
                                     connectionstyle=f"arc3,rad={bend}", zorder=1))

    for a, b in NEEDS:
        arrow(a, b, dashed=False)
    for a, b in HELPS:
        arrow(a, b, dashed=True)
    ax.text(-w / 2, -h / 2 - 0.3,
            "Solid arrow: builds on (read first).   Dashed: helpful background from another part.   "
            "Green border: a chapter you can start from.", fontsize=8.5, color="#333333", ha="left", va="center")
    fig.tight_layout(pad=0.2)
    return fig


def render() -> bytes:
    """Return the SVG bytes of the course map (deterministic: no date, fixed ids)."""
    import matplotlib.pyplot as plt

    fig = draw()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed figure is out of date")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the SVG (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    svg = render()
    if args.check:
        if not args.out.is_file() or args.out.read_bytes() != svg:
            print(f"error: {args.out} is out of date; run .venv/bin/python tools/course_map.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".svg.tmp")
    tmp.write_bytes(svg)
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
