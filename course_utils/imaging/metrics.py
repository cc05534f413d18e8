"""Overlap between segmentations (chapter 1 uses Dice to measure a mistake; chapter 5 defines the
metrics in full and checks them against nnU-Net's)."""

from __future__ import annotations

import numpy as np

__all__ = ["dice"]


def dice(a: np.ndarray, b: np.ndarray, *, empty: float = 1.0) -> float:
    """Return the Dice coefficient 2|A and B| / (|A| + |B|) of two binary masks (``empty`` when both are empty)."""
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}.")
    a, b = a.astype(bool), b.astype(bool)
    total = int(a.sum() + b.sum())
    return float(empty) if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)
