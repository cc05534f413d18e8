"""Chapter 4 exercises (augmentation): checkers and their solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = ["SPATIAL", "INTENSITY", "moves_label_solution", "check_moves_label"]

SPATIAL = ("rotation", "scaling", "elastic deformation", "mirroring")
INTENSITY = ("Gaussian noise", "Gaussian blur", "brightness", "contrast", "low resolution", "gamma")


def moves_label_solution(name: str) -> bool:
    """Solution to exercise 4.1: spatial transforms move the label with the image; intensity ones do not."""
    return name in SPATIAL


def check_moves_label(fn: Callable[[str], Any]) -> Feedback:
    """Check exercise 4.1 on every transform of nnU-Net's pipeline."""
    name = "Exercise 4.1, which transforms move the label"
    wrong = []
    for transform in SPATIAL + INTENSITY:
        answer, stop = attempt(name, fn, transform)
        if stop:
            return stop
        if bool(answer) != moves_label_solution(transform):
            wrong.append(transform)
    if not wrong:
        return Feedback(name, CORRECT, "Right: only geometry changes must be applied to the label.")
    hint = ("Low resolution only blurs intensities (it downsamples and upsamples the image in place); the label "
            "keeps its voxels." if "low resolution" in wrong else
            "Mirroring flips the image: the label must flip with it." if "mirroring" in wrong else "")
    return Feedback(name, INCORRECT, f"Check: {', '.join(wrong)}. {hint}".strip())
