"""Chapter 11 exercises (exploring and evaluating embeddings): checkers and their solutions.

11.1 Spearman's rho with tied ranks, as similarity sets need it (ratings tie often); 11.2 the k-NN recall of a
map, the measurement that replaces judging a t-SNE picture by eye.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr

from ..text.explore import knn_recall
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "spearman_solution",
    "spearman_cases",
    "check_spearman",
    "knn_recall_solution",
    "recall_cases",
    "check_knn_recall",
]


# --- 11.1 Spearman with ties ----------------------------------------------------------------------------------


def spearman_solution(human: np.ndarray, model: np.ndarray) -> float:
    """Solution to exercise 11.1: Pearson's correlation of the average ranks (ties share their mean rank)."""

    def ranks(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        order = np.argsort(values, kind="mergesort")
        r = np.empty(len(values))
        r[order] = np.arange(1, len(values) + 1)
        for v in np.unique(values):  # ties: every member gets the mean of the ranks they occupy
            tied = values == v
            r[tied] = r[tied].mean()
        return r

    rh, rm = ranks(human), ranks(model)
    rh, rm = rh - rh.mean(), rm - rm.mean()
    return float(rh @ rm / np.sqrt((rh @ rh) * (rm @ rm)))


def spearman_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (human ratings, model cosines) cases for exercise 11.1 (chapter 11): ratings with many ties, as in
    UMNSRS and Bio-SimLex, and one case without ties."""
    rng = np.random.default_rng(11)
    cases = []
    for n, levels in ((30, 5), (60, 3), (25, 0)):
        human = rng.integers(0, levels, n).astype(float) if levels else rng.normal(size=n)
        model = np.round(0.5 * human + rng.normal(0, 1, n), 1)  # rounding makes ties among the cosines too
        cases.append((human, model))
    return cases


def check_spearman(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Feedback:
    """Check exercise 11.1 against scipy's ``spearmanr`` (average ranks for ties), with hints for common slips."""
    name = "Exercise 11.1, Spearman's rho with ties"
    for human, model in spearman_cases():
        answer, stop = attempt(name, fn, human.copy(), model.copy())
        if stop:
            return stop
        try:
            got = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"Return one number (a float); got {type(answer).__name__}.")
        expected = float(spearmanr(human, model).statistic)
        if abs(got - expected) < 1e-9:
            continue
        ordinal = _ordinal_spearman(human, model)
        if abs(got - float(pearsonr(human, model).statistic)) < 1e-9:
            hint = "That is Pearson's r of the raw values. Replace each list by its ranks first."
        elif abs(got - ordinal) < 1e-9:
            hint = ("Tied values got different ranks (1, 2, 3 ... by position). Give tied values the mean of the ranks "
                    "they occupy, as scipy.stats.rankdata does by default.")
        else:
            hint = f"Expected {expected:.4f}, got {got:.4f}: rank both lists (ties averaged), then correlate the ranks."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Equal to scipy.stats.spearmanr on ratings with and without ties.")


def _ordinal_spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx = np.argsort(np.argsort(x, kind="mergesort"), kind="mergesort").astype(float)
    ry = np.argsort(np.argsort(y, kind="mergesort"), kind="mergesort").astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


# --- 11.2 k-NN recall ------------------------------------------------------------------------------------------


def knn_recall_solution(high: np.ndarray, low: np.ndarray, k: int) -> float:
    """Solution to exercise 11.2: mean share of each point's k nearest neighbours in ``high`` kept in ``low``
    (Euclidean distances, a point is not its own neighbour)."""

    def neighbours(x: np.ndarray) -> np.ndarray:
        d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1, kind="stable")[:, :k]

    a, b = neighbours(np.asarray(high, float)), neighbours(np.asarray(low, float))
    return float(np.mean([len(set(ra) & set(rb)) / k for ra, rb in zip(a, b)]))


def recall_cases() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """Return (description, high, low, k) cases for exercise 11.2 (chapter 11)."""
    rng = np.random.default_rng(12)
    high = rng.normal(size=(120, 6))
    projected = high[:, :2]
    return [
        ("the identity map", high, high.copy(), 5),
        ("a map that keeps only two of six dimensions", high, projected, 5),
        ("a map with its rows shuffled", high, projected[rng.permutation(120)], 10),
    ]


def check_knn_recall(fn: Callable[[np.ndarray, np.ndarray, int], Any]) -> Feedback:
    """Check exercise 11.2 against the course's ``knn_recall``, with hints for common slips."""
    name = "Exercise 11.2, k-NN recall"
    for description, high, low, k in recall_cases():
        answer, stop = attempt(name, fn, high.copy(), low.copy(), k)
        if stop:
            return stop
        try:
            got = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"Return one number between 0 and 1; got {type(answer).__name__}.")
        expected = knn_recall(high, low, k, normalize_high=False)
        if abs(got - expected) < 1e-9:
            continue
        with_self = (expected * k + 1) / (k + 1)
        if abs(got - with_self) < 1e-9:
            hint = "Each point counted itself as a neighbour. Leave the point out (its distance to itself is 0)."
        elif abs(got - expected * k) < 1e-9:
            hint = "That is the number of shared neighbours; divide by k to get a share."
        else:
            hint = f"On {description} (k={k}) expected {expected:.4f}, got {got:.4f}."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Equal to the course's knn_recall: 1 for the identity, near k/(n-1) for a shuffled map.")
